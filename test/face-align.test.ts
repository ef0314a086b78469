// The face-align node in a real Node-RED runtime: helper nodes on both outputs, a Catch node
// for errors, real photos; detection runs in the age-runtime's worker thread.
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import faceAlignNode from '../nodes/face-align/face-align';
import { FIXTURES, requireNodeRed, SHARED_TESTDATA, TINY_MODELS } from './paths';
import { catchNode, helper, logged, next, useNodeRed, type CaughtMessage } from './node-helpers';
import { skipBecause } from './skip';

const splitJoinNodes = requireNodeRed('@node-red/nodes/core/sequence/17-split.js') as (RED: unknown) => void;

const photo = readFileSync(join(FIXTURES, 'astronaut.png'));

interface Face {
  score: number;
  box: { x: number; y: number; width: number; height: number };
  landmarks: Array<[number, number]>;
  quad: Array<[number, number]>;
  transform: [[number, number, number], [number, number, number]];
  size: number;
  found: number;
}
type Aligned = NodeMessage & { payload: Buffer; face: Face; original: Buffer; parts?: { id: string; index: number; count: number; type: string } };
type Status = { fill?: string; shape?: string; text?: string };

/** Loads [runtime ->] face-align -> (aligned, no face) helpers, and a catch node -> errors. */
async function load(align: object = {}, options: { runtime?: boolean; join?: boolean } = {}): Promise<{ fa: Node; out: Node; noFace: Node; errors: Node; statuses: Status[] }> {
  const withRuntime = options.runtime ?? true;
  const flow = [
    { id: 'flow', type: 'tab' },
    ...(withRuntime ? [{ id: 'rt', z: 'flow', type: 'age-runtime', name: 'cpu', modelDir: TINY_MODELS, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 }] : []),
    {
      id: 'fa',
      z: 'flow',
      type: 'face-align',
      runtime: withRuntime ? 'rt' : '',
      size: 256,
      mode: 'largest',
      detector: 'ssd',
      minConfidence: 0.5,
      minFaceSize: 20,
      maxPixels: 40000000,
      ...align,
      wires: [[options.join ? 'joiner' : 'out'], ['noFace']],
    },
    ...(options.join ? [{ id: 'joiner', z: 'flow', type: 'join', mode: 'auto', wires: [['out']] }] : []),
    { id: 'out', z: 'flow', type: 'helper' },
    { id: 'noFace', z: 'flow', type: 'helper' },
    { id: 'catcher', z: 'flow', type: 'catch', scope: ['fa'], wires: [['errors']] },
    { id: 'errors', z: 'flow', type: 'helper' },
  ] as TestFlows;
  await helper.load([ageRuntimeNode, faceAlignNode, catchNode, splitJoinNodes], flow);
  const fa = helper.getNode('fa');
  const statuses: Status[] = [];
  (fa as unknown as EventEmitter).on('call:status', (call: { args: [Status] }) => statuses.push(call.args[0]));
  return { fa, out: helper.getNode('out'), noFace: helper.getNode('noFace'), errors: helper.getNode('errors'), statuses };
}

function checkFace(face: Face, size: number): void {
  assert.ok(face.score > 0.5 && face.score <= 1);
  assert.equal(face.landmarks.length, 68);
  assert.equal(face.quad.length, 4);
  assert.equal(face.transform.length, 2);
  assert.ok(face.transform.every((row) => row.length === 3 && row.every(Number.isFinite)));
  assert.equal(face.size, size);
  assert.ok(Number.isInteger(face.found) && face.found >= 1, `found ${face.found}`);
  for (const k of ['x', 'y', 'width', 'height'] as const) assert.ok(Number.isFinite(face.box[k]));
}

describe('face-align node', function () {
  this.timeout(60_000);
  useNodeRed();

  it('aligns the portrait: PNG on output 1 with msg.face and msg.original', async function () {
    const { fa, out, noFace, statuses } = await load();
    noFace.on('input', () => assert.fail('no-face output used'));
    const got = next<Aligned>(out);
    fa.receive({ payload: photo, topic: 'me' });
    const msg = await got;
    const meta = await sharp(msg.payload).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 256]);
    checkFace(msg.face, 256);
    assert.equal(msg.original, photo);
    assert.equal(msg.topic, 'me', 'other properties pass through');
    const last = statuses.at(-1)!;
    assert.equal(last.fill, 'green');
    assert.match(last.text ?? '', /^1 of 1 faces, \d+ ms$/);
  });

  it('sends every face of a group photo as a sequence the join node rebuilds', async function () {
    const file = join(SHARED_TESTDATA, 'photos', 'group5.jpg');
    if (!existsSync(file)) {
      skipBecause(this, '../shared/testdata/photos/group5.jpg not found');
    }
    const { fa, out, statuses } = await load({ mode: 'all', size: 512 }, { join: true });
    const got = next<NodeMessage & { payload: Buffer[]; face: Face }>(out);
    fa.receive({ payload: readFileSync(file) });
    const joined = await got;
    assert.ok(Array.isArray(joined.payload), 'join made an array');
    assert.equal(joined.payload.length, 5);
    for (const png of joined.payload) assert.equal((await sharp(png).metadata()).width, 512);
    assert.match(statuses.at(-1)!.text ?? '', /^5 of 5 faces, \d+ ms$/);
  });

  it('numbers the sequence with msg.parts', async function () {
    const file = join(SHARED_TESTDATA, 'photos', 'group1.jpg');
    if (!existsSync(file)) {
      skipBecause(this, '../shared/testdata/photos/group1.jpg not found');
    }
    const { fa, out } = await load({ mode: 'all' });
    const messages: Aligned[] = [];
    const all = new Promise<void>((resolve) =>
      out.on('input', (m: NodeMessage) => {
        if (messages.push(m as Aligned) === 3) resolve();
      }),
    );
    fa.receive({ payload: readFileSync(file) });
    await all;
    assert.deepEqual(messages.map((m) => m.parts!.index), [0, 1, 2]);
    assert.deepEqual(messages.map((m) => m.face.found), [3, 3, 3], 'each face says how many the photo holds');
    assert.ok(messages.every((m) => m.parts!.count === 3 && m.parts!.type === 'array' && m.parts!.id === messages[0]!.parts!.id));
    messages.forEach((m) => checkFace(m.face, 256));
    assert.ok(messages[0]!.face.box.x < messages[1]!.face.box.x && messages[1]!.face.box.x < messages[2]!.face.box.x, 'left to right');
  });

  it('sends the input unchanged on output 2 with msg.face = null when there is no face', async function () {
    const { fa, out, noFace, statuses } = await load();
    out.on('input', () => assert.fail('aligned output used'));
    const sky = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#6699cc' } }).png().toBuffer();
    const got = next<NodeMessage & { face: null }>(noFace);
    fa.receive({ payload: sky, topic: 'sky' });
    const msg = await got;
    assert.equal(msg.payload, sky);
    assert.equal(msg.face, null);
    assert.equal(msg.topic, 'sky');
    const last = statuses.at(-1)!;
    assert.equal(last.fill, 'yellow');
    assert.match(last.text ?? '', /^no face, \d+ ms$/);
  });

  it('gives each bad input its own error and a red status, then processes the next message', async function () {
    const { fa, out, errors, statuses } = await load({}, { runtime: false });
    const jpeg = await sharp(photo).jpeg().toBuffer();
    const huge = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: 'black' } }).png({ compressionLevel: 9 }).toBuffer();
    const dot = await sharp({ create: { width: 1, height: 1, channels: 3, background: 'white' } }).png().toBuffer();
    const cases: Array<[unknown, string]> = [
      [Buffer.alloc(0), 'ImageInputError: Image Buffer in msg.payload is empty (0 bytes)'],
      [Buffer.from('GIF89a but not really an image'), 'ImageInputError: Image format of msg.payload not recognised: expected JPEG, PNG, WebP, GIF, TIFF or AVIF'],
      [jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), 'ImageInputError: JPEG image data in msg.payload is truncated or corrupt'],
      ['photo.jpg', 'ImageInputError: Expected msg.payload to be an image Buffer but received string'],
      [{ file: 'photo.jpg' }, 'ImageInputError: Expected msg.payload to be an image Buffer but received object'],
      [huge, 'ImageInputError: Image is 8000x6000 (48 megapixels), over the limit of 40 megapixels'],
      [dot, 'ImageInputError: Image is 1x1 pixels, too small to hold a face (at least 32x32 needed)'],
    ];
    for (const [payload, message] of cases) {
      const caught = next<CaughtMessage>(errors);
      fa.receive({ payload } as NodeMessage);
      assert.equal((await caught).error.message, message);
      const red = statuses.at(-1)!;
      assert.equal(red.fill, 'red');
      const text = message.replace(/^ImageInputError: /, '');
      assert.equal(red.text, text.length > 60 ? `${text.slice(0, 59)}…` : text);
      const good = next<Aligned>(out);
      fa.receive({ payload: photo });
      checkFace((await good).face, 256);
    }
  });

  it("resample 'sam' samples the quad straight to the output size: same placement, other pixels", async function () {
    const aligned = async (resample: string): Promise<Aligned> => {
      const { fa, out } = await load({ resample });
      const got = next<Aligned>(out);
      fa.receive({ payload: photo });
      const msg = await got;
      await helper.unload();
      return msg;
    };
    const ffhq = await aligned('ffhq');
    const sam = await aligned('sam');
    assert.deepEqual(sam.face.quad, ffhq.face.quad);
    const [a, b] = await Promise.all([ffhq, sam].map((m) => sharp(m.payload).raw().toBuffer()));
    assert.equal(a!.length, b!.length);
    assert.ok(!a!.equals(b!), 'the two resamplings give different pixels');
  });

  it('refuses bad settings at deploy with a message in the log', async function () {
    await load({ size: 300 });
    const errorsLogged = logged('fa', 'error');
    assert.deepEqual(errorsLogged, ['invalid face-align settings: Expected one of 256, 512, 1024 for size but received 300 of type number']);
  });

  it('refuses an unknown resample at deploy', async function () {
    await load({ resample: 'nearest' });
    const errorsLogged = logged('fa', 'error');
    assert.deepEqual(errorsLogged, ["invalid face-align settings: Expected 'ffhq' or 'sam' for resample but received nearest of type string"]);
  });
});
