// Every node against hostile input and load, in a real Node-RED with the tiny models: one
// decode path (same limits and messages everywhere), bounded latents and strips, a broken
// optional model, quiet redeploys and admission at the first node of a chain.
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import faceAlignNode from '../nodes/face-align/face-align';
import ageEncodeNode from '../nodes/age-encode/age-encode';
import ageGenerateNode from '../nodes/age-generate/age-generate';
import ageRegressNode from '../nodes/age-regress/age-regress';
import pathOptimizeNode from '../nodes/path-optimize/path-optimize';
import { checkLatent, LAYERS, STYLE } from '../lib/sam/latent';
import { checkStripWidth } from '../lib/sam/strip';
import { FIXTURES, TINY_MODELS } from './paths';
import { catchNode, helper, useNodeRed, type CaughtMessage } from './node-helpers';

const NODES = [ageRuntimeNode, faceAlignNode, ageEncodeNode, ageGenerateNode, ageRegressNode, pathOptimizeNode, catchNode];
const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
const latentOf = (ages: number[]): { dims: number[]; data: Float32Array; ages: number[] } => ({ dims: [ages.length, LAYERS, STYLE], data: new Float32Array(ages.length * LAYERS * STYLE), ages });
const placement = { transform: [[1, 0, 0], [0, 1, 0]], size: 256 };

type Answer = { kind: 'out' | 'error'; msg: NodeMessage & Partial<CaughtMessage> };

/** Loads runtime -> node under test -> helper `out`, and a catch node on every node -> helper `errors`. */
async function load(nodes: object[], runtime: object = {}): Promise<{ first: Node; out: Node; errors: Node }> {
  const ids = nodes.map((n) => (n as { id: string }).id);
  const flow = [
    { id: 'flow', type: 'tab' },
    { id: 'rt', z: 'flow', type: 'age-runtime', name: 'tiny', modelDir: TINY_MODELS, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50, ...runtime },
    ...nodes.map((n) => ({ z: 'flow', runtime: 'rt', ...n })),
    { id: 'out', z: 'flow', type: 'helper' },
    { id: 'catcher', z: 'flow', type: 'catch', scope: ids, wires: [['errors']] },
    { id: 'errors', z: 'flow', type: 'helper' },
  ] as TestFlows;
  await helper.load(NODES, flow);
  return { first: helper.getNode(ids[0]), out: helper.getNode('out'), errors: helper.getNode('errors') };
}

/** The next answer of either kind. */
function answer(out: Node, errors: Node): Promise<Answer> {
  return new Promise((resolve) => {
    const onOut = (msg: Answer['msg']): void => finish('out', msg);
    const onError = (msg: Answer['msg']): void => finish('error', msg);
    const finish = (kind: Answer['kind'], msg: Answer['msg']): void => {
      (out as unknown as EventEmitter).removeListener('input', onOut);
      (errors as unknown as EventEmitter).removeListener('input', onError);
      resolve({ kind, msg });
    };
    out.once('input', onOut);
    errors.once('input', onError);
  });
}

const NODE_CASES: Array<{ name: string; node: object; msg: (image: Buffer) => object; field: string }> = [
  { name: 'age-encode', node: { id: 'n', type: 'age-encode', targetAge: '50', mixing: 'none', wires: [['out']] }, msg: (image) => ({ payload: image }), field: 'msg.payload' },
  { name: 'age-regress', node: { id: 'n', type: 'age-regress', backend: 'onnx', input: 'aligned', wires: [['out']] }, msg: (image) => ({ payload: image }), field: 'msg.payload' },
  { name: 'path-optimize', node: { id: 'n', type: 'path-optimize', ages: '20,60', budget: 20, wires: [['out']] }, msg: (image) => ({ payload: image }), field: 'msg.payload' },
  { name: 'age-generate paste-back', node: { id: 'n', type: 'age-generate', mode: 'paste-back', format: 'png', size: 256, wires: [['out']] }, msg: (image) => ({ latent: latentOf([50]), original: image, face: placement }), field: 'msg.original' },
  { name: 'age-generate strip', node: { id: 'n', type: 'age-generate', mode: 'strip', format: 'png', size: 256, labels: false, wires: [['out']] }, msg: (image) => ({ latent: latentOf([50]), aligned: image }), field: 'msg.aligned' },
];

describe('hostile input: one decode path for every node', function () {
  useNodeRed();
  let huge: Buffer;
  let truncated: Buffer;
  before(async function () {
    huge = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: 'black' } }).png({ compressionLevel: 9 }).toBuffer();
    const jpeg = await sharp(photo).jpeg().toBuffer();
    truncated = jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
  });

  for (const { name, node, msg, field } of NODE_CASES) {
    it(`${name} refuses oversized and broken images with the decoder's own messages`, async function () {
      const { first, out, errors } = await load([node]);
      const cases: Array<[Buffer, string]> = [
        [huge, 'ImageInputError: Image is 8000x6000 (48 megapixels), over the limit of 40 megapixels'],
        [truncated, `ImageInputError: JPEG image data in ${field} is truncated or corrupt`],
        [Buffer.from('this is not an image at all'), `ImageInputError: Image format of ${field} not recognised: expected JPEG, PNG, WebP, GIF, TIFF or AVIF`],
      ];
      for (const [image, message] of cases) {
        const got = answer(out, errors);
        first.receive(msg(image) as NodeMessage);
        const { kind, msg: received } = await got;
        assert.equal(kind, 'error', `${name} refused the image`);
        assert.equal(received.error?.message, message);
      }
    });
  }

  it('concurrent broken decodes each get their own message, never libvips text', async function () {
    const { first, out, errors } = await load([NODE_CASES[0].node]);
    const png = await sharp(photo).png().toBuffer();
    const inputs = Array.from({ length: 24 }, (_, i) => (i % 2 ? truncated : png.subarray(0, Math.floor(png.length * 0.5))));
    const seen: string[] = [];
    (errors as unknown as EventEmitter).on('input', (m: CaughtMessage) => seen.push(m.error.message));
    const done = new Promise<void>((resolve) => {
      const check = (): void => void (seen.length >= inputs.length && resolve());
      (errors as unknown as EventEmitter).on('input', check);
      (out as unknown as EventEmitter).on('input', () => assert.fail('a broken image was accepted'));
    });
    for (const image of inputs) first.receive({ payload: image } as NodeMessage);
    await done;
    for (const message of seen) {
      assert.match(message, /^ImageInputError: (JPEG|PNG) image data in msg\.payload is truncated or corrupt$/);
    }
  });
});

describe('hostile input: latents, strips and models', function () {
  useNodeRed();

  it('a latent carries at most 101 codes, numbers only, ages 0 to 100', function () {
    assert.throws(() => checkLatent(latentOf(Array.from({ length: 102 }, () => 50))), { name: 'RangeError', message: 'Expected msg.latent to carry at most 101 codes but it carries 102' });
    const withNull = { ...latentOf([50]), data: Array.from({ length: LAYERS * STYLE }, (_, i) => (i === 5 ? null : 0)) };
    assert.throws(() => checkLatent(withNull), { name: 'TypeError', message: 'Expected msg.latent.data to hold numbers but item 5 is null' });
    assert.throws(() => checkLatent(latentOf([-500])), { name: 'RangeError', message: 'Expected msg.latent.ages to be between 0 and 100 years but received -500' });
  });

  it('a strip too large for sharp is refused before rendering', function () {
    assert.throws(() => checkStripWidth(300, 1024, 'png'), {
      name: 'RangeError',
      message: 'A strip of 300 faces at 1024 px is 307200x1024 (314.6 megapixels), more than sharp can process (268.4 megapixels); give fewer ages or choose a smaller size',
    });
    assert.equal(checkStripWidth(102, 1024, 'png'), 102 * 1024);
  });

  it('a corrupt optional age model is an error, not a silent fallback to face-api', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'age-broken-'));
    try {
      cpSync(TINY_MODELS, dir, { recursive: true });
      writeFileSync(join(dir, 'age.onnx'), 'this is not an onnx model');
      const { first, out, errors } = await load([{ id: 'n', type: 'age-regress', backend: 'auto', input: 'aligned', wires: [['out']] }], { modelDir: dir });
      const got = answer(out, errors);
      first.receive({ payload: photo } as NodeMessage);
      const { kind, msg } = await got;
      assert.equal(kind, 'error', 'the broken model was reported');
      assert.match(msg.error!.message, /^ContractError: cannot load model .*age\.onnx/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('under load: admission at the door and quiet redeploys', function () {
  useNodeRed();

  it('a burst is admitted at the first node; every admitted message finishes', async function () {
    this.timeout(240_000);
    const chain = [
      { id: 'fa', type: 'face-align', size: 256, mode: 'largest', detector: 'tiny', minConfidence: 0.3, minFaceSize: 20, maxPixels: 40000000, wires: [['enc'], []] },
      { id: 'enc', type: 'age-encode', targetAge: '30,70', mixing: 'none', wires: [['gen']] },
      { id: 'gen', type: 'age-generate', mode: 'strip', format: 'png', size: 256, labels: false, wires: [['out']] },
    ];
    const { first, out, errors } = await load(chain, { queueLimit: 6 });
    const burst = 24;
    let results = 0;
    const refused: CaughtMessage[] = [];
    (out as unknown as EventEmitter).on('input', () => results++);
    (errors as unknown as EventEmitter).on('input', (m: CaughtMessage) => refused.push(m));
    for (let i = 0; i < burst; i++) first.receive({ payload: photo } as NodeMessage);
    const started = Date.now();
    while (results + refused.length < burst) {
      assert.ok(Date.now() - started < 200_000, `answered ${results + refused.length} of ${burst}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(results, 6, 'every admitted message finished');
    assert.equal(refused.length, burst - 6);
    for (const m of refused) {
      assert.equal(m.error.source?.id, 'fa', 'refused at the first node');
      assert.equal((m.error as { code?: string }).code, 'EBUSY');
      assert.ok(Number.isInteger((m as { retryAfter?: number }).retryAfter), 'msg.retryAfter set for an HTTP reply');
    }
  });

  it('a redeploy during work ends every node quietly', async function () {
    const chain = [
      { id: 'enc', type: 'age-encode', targetAge: '0:100:10', mixing: 'none', wires: [['gen']] },
      { id: 'gen', type: 'age-generate', mode: 'sequence', format: 'png', size: 256, wires: [['out']] },
    ];
    await load(chain);
    const reported: unknown[] = [];
    for (const id of ['enc', 'gen']) {
      const node = helper.getNode(id) as Node & { error: (...args: unknown[]) => void };
      const original = node.error.bind(node);
      node.error = (...args: unknown[]) => {
        reported.push(args[0]);
        original(...args);
      };
    }
    for (let i = 0; i < 8; i++) helper.getNode('enc').receive({ payload: photo } as NodeMessage);
    await new Promise((resolve) => setTimeout(resolve, 30));
    await helper.unload();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(reported.map(String), [], 'no red error on close');
  });
});
