import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import ageGenerateNode from '../nodes/age-generate/age-generate';
import { AgeRuntime } from '../lib/runtime/runtime';
import { SamModels } from '../lib/sam/models';
import { ENCODER_SIZE, encodeAges } from '../lib/sam/encode';
import { imageToTensor } from '../lib/sam/image';
import type { Latent } from '../lib/sam/latent';
import type { Affine } from '../lib/align/ffhq';
import { FIXTURES, requireNodeRed, TINY_MODELS } from './paths';
import { catchNode, helper, logged, next, text, textPattern, useNodeRed, type CaughtMessage } from './node-helpers';

const joinNode = requireNodeRed('@node-red/nodes/core/sequence/17-split.js') as (RED: unknown) => void;

const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
const AGES = [0, 25, 50, 75, 100];

type Output = NodeMessage & { targetAge: number | number[]; parts?: { id: string; index: number; count: number; type: string }; latent: Latent; render: { mode: string; rendered: number; resolution: number } };

/** The tiny generator's band for age a: 2t - 1 with t = (0.8a + 12)/100, as an 8-bit value. */
const bandValue = (a: number): number => ((2 * ((0.8 * a + 12) / 100) - 1 + 1) / 2) * 255;

/**
 * Mean of the tiny render's age band (top eighth; rows clear of the resize's ringing) of an image
 * tile, over rows 2% to `until` of its side (lower for renders upscaled more).
 */
async function bandOf(image: Buffer, left = 0, size = 256, until = 0.1): Promise<number> {
  const { data, info } = await sharp(image).extract({ left, top: 0, width: size, height: size }).raw().toBuffer({ resolveWithObject: true });
  let sum = 0;
  let n = 0;
  for (let y = Math.round(size * 0.02); y < Math.round(size * until); y++) {
    for (let x = 0; x < size; x++, n += 3) {
      for (let c = 0; c < 3; c++) sum += data[(y * size + x) * info.channels + c];
    }
  }
  return sum / n;
}

/** Collects the next `count` messages of a helper node. */
function collect<T>(node: Node, count: number): Promise<T[]> {
  return new Promise((resolve) => {
    const got: T[] = [];
    const take = (msg: T): void => {
      got.push(msg);
      if (got.length === count) {
        (node as unknown as EventEmitter).removeListener('input', take);
        resolve(got);
      }
    };
    (node as unknown as EventEmitter).on('input', take);
  });
}

/** Loads runtime -> age-generate -> helper (and -> join -> joined), a catch node -> errors. */
async function load(generate: object = {}, modelDir = TINY_MODELS): Promise<{ gen: Node; out: Node; joined: Node; errors: Node; statuses: Array<{ fill?: string; text?: string }> }> {
  const flow = [
    { id: 'flow', type: 'tab' },
    { id: 'rt', z: 'flow', type: 'age-runtime', name: 'tiny', modelDir, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 },
    { id: 'gen', z: 'flow', type: 'age-generate', runtime: 'rt', mode: 'sequence', format: 'png', size: 256, labels: true, animationFormat: 'gif', frames: 3, delay: 100, loop: 0, feather: 0.3, ...generate, wires: [['out', 'joiner']] },
    { id: 'out', z: 'flow', type: 'helper' },
    { id: 'joiner', z: 'flow', type: 'join', mode: 'auto', wires: [['joined']] },
    { id: 'joined', z: 'flow', type: 'helper' },
    { id: 'catcher', z: 'flow', type: 'catch', scope: ['gen'], wires: [['errors']] },
    { id: 'errors', z: 'flow', type: 'helper' },
  ] as TestFlows;
  await helper.load([ageRuntimeNode, ageGenerateNode, catchNode, joinNode], flow);
  const gen = helper.getNode('gen');
  const statuses: Array<{ fill?: string; text?: string }> = [];
  (gen as unknown as EventEmitter).on('call:status', (call: { args: [{ fill?: string; text?: string }] }) => statuses.push(call.args[0]));
  return { gen, out: helper.getNode('out'), joined: helper.getNode('joined'), errors: helper.getNode('errors'), statuses };
}

describe('age-generate node', function () {
  let latent: Latent;
  let aligned: Buffer;

  before(async function () {
    const runtime = AgeRuntime.create({ provider: 'cpu', modelDir: TINY_MODELS, threads: 1 });
    const models = new SamModels(runtime);
    try {
      aligned = await sharp(photo).resize(256, 256).png().toBuffer();
      latent = await encodeAges(models, await imageToTensor(aligned, ENCODER_SIZE), AGES);
    } finally {
      await models.release();
      await runtime.close();
    }
  });

  useNodeRed();

  it('sequence: one image per age, with parts the join node rebuilds and each age in its band', async function () {
    const { gen, out, joined, statuses } = await load();
    const got = collect<Output>(out, AGES.length);
    const rebuilt = next<NodeMessage & { payload: Buffer[] }>(joined);
    gen.receive({ payload: 'ignored', latent } as NodeMessage);
    const msgs = await got;
    const ids = new Set(msgs.map((m) => m.parts?.id));
    assert.equal(ids.size, 1, 'one sequence id');
    for (const [k, msg] of msgs.entries()) {
      assert.deepEqual({ index: msg.parts?.index, count: msg.parts?.count, type: msg.parts?.type }, { index: k, count: AGES.length, type: 'array' });
      assert.equal(msg.targetAge, AGES[k]);
      assert.deepEqual(msg.latent.dims, [1, 18, 512]);
      assert.deepEqual(msg.latent.ages, [AGES[k]]);
      const meta = await sharp(msg.payload as Buffer).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 256]);
      const band = await bandOf(msg.payload as Buffer);
      assert.ok(Math.abs(band - bandValue(AGES[k])) < 2, `age ${AGES[k]}: band ${band}, expected ${bandValue(AGES[k])}`);
    }
    assert.equal(msgs[0].render.resolution, 64, 'tiny generator renders 64 px');
    const all = await rebuilt;
    assert.equal(all.payload.length, AGES.length);
    all.payload.forEach((image, k) => assert.ok(image.equals(msgs[k].payload as Buffer), `join keeps age order (${k})`));
    assert.deepEqual(statuses[0], { fill: 'blue', shape: 'dot', text: await text('age-generate.status.rendering', { count: AGES.length }) });
    assert.equal(statuses.at(-1)?.fill, 'green');
  });

  it('sequence takes a plain number array (JSON) and writes JPEG and WebP at 512', async function () {
    for (const format of ['jpeg', 'webp']) {
      const { gen, out } = await load({ format, size: '512' });
      const got = collect<Output>(out, 2);
      gen.receive({ latent: { dims: [2, 18, 512], data: Array.from(latent.data.subarray(0, 2 * 18 * 512)), ages: [0, 25] } } as NodeMessage);
      for (const msg of await got) {
        const meta = await sharp(msg.payload as Buffer).metadata();
        assert.deepEqual([meta.format, meta.width], [format, 512]);
      }
      await helper.unload();
    }
  });

  it('quality fast renders with the generator of the output size, full always with the whole one', async function () {
    // Tiny resolutions: generator 64 (stands for 1024), generator-512 48, generator-256 32.
    for (const [quality, size, resolution] of [['fast', 256, 32], ['fast', 512, 48], ['fast', 1024, 64], ['full', 256, 64]] as const) {
      const { gen, out } = await load({ quality, size });
      const got = collect<Output>(out, 2);
      gen.receive({ latent: { dims: [2, 18, 512], data: latent.data.slice(0, 2 * 18 * 512), ages: AGES.slice(0, 2) } } as NodeMessage);
      const msgs = await got;
      assert.equal(msgs[0].render.resolution, resolution, `${quality} at ${size}`);
      for (const [k, msg] of msgs.entries()) {
        const meta = await sharp(msg.payload as Buffer).metadata();
        assert.equal(meta.width, size);
        const band = await bandOf(msg.payload as Buffer, 0, size, 0.05);
        assert.ok(Math.abs(band - bandValue(AGES[k])) < 2, `${quality} at ${size}: the same designed age band (${band})`);
      }
      await helper.unload();
    }
  });

  it('strip: the input face then each age, tiles x size wide, each tile in its band', async function () {
    const { gen, out } = await load({ mode: 'strip' });
    const got = next<Output>(out);
    gen.receive({ latent, aligned } as NodeMessage);
    const msg = await got;
    const meta = await sharp(msg.payload as Buffer).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', (AGES.length + 1) * 256, 256]);
    assert.deepEqual(msg.targetAge, AGES);
    assert.equal(msg.parts, undefined);
    for (const [k, a] of AGES.entries()) {
      const band = await bandOf(msg.payload as Buffer, (k + 1) * 256);
      assert.ok(Math.abs(band - bandValue(a)) < 2, `tile of age ${a}: band ${band}`);
    }
    const first = await sharp(msg.payload as Buffer).extract({ left: 0, top: 0, width: 256, height: 200 }).raw().toBuffer();
    const input = await sharp(aligned).extract({ left: 0, top: 0, width: 256, height: 200 }).raw().toBuffer();
    let diff = 0;
    for (let i = 0; i < first.length; i++) diff += Math.abs(first[i] - input[i]);
    assert.ok(diff / first.length < 2, 'the first tile is the input face');

    const bare = next<Output>(out);
    gen.receive({ latent } as NodeMessage);
    assert.equal((await sharp((await bare).payload as Buffer).metadata()).width, AGES.length * 256, 'no input face: ages only');
  });

  it('animation: interpolated frames with the frame time, GIF and WebP', async function () {
    for (const animationFormat of ['gif', 'webp']) {
      const { gen, out, statuses } = await load({ mode: 'animation', animationFormat, frames: 3, delay: 150, loop: 2 });
      const got = next<Output>(out);
      gen.receive({ latent } as NodeMessage);
      const msg = await got;
      const frames = (AGES.length - 1) * 4 + 1;
      const meta = await sharp(msg.payload as Buffer).metadata();
      assert.equal(meta.format, animationFormat);
      assert.equal(meta.pages, frames);
      assert.deepEqual(meta.delay, Array(frames).fill(150));
      assert.equal(meta.loop, 2);
      assert.equal(msg.render.rendered, frames);
      // Frame 2 lies halfway between ages 0 and 25: its band shows age 12.5.
      const page = await sharp(msg.payload as Buffer, { page: 2 }).png().toBuffer();
      assert.ok(Math.abs((await bandOf(page)) - bandValue(12.5)) < 3);
      const done = await textPattern('age-generate.status.animation');
      assert.ok(statuses.some((s) => done.test(s.text ?? '')), `statuses: ${JSON.stringify(statuses)}`);
      await helper.unload();
    }
  });

  it('paste-back: the photo keeps its size and changes only around the face', async function () {
    // The astronaut in a larger photo; the "aligned square" sits on her face, turned 10 degrees.
    const original = await sharp(photo).extend({ top: 40, bottom: 60, left: 100, right: 20, background: '#336699' }).jpeg({ quality: 95 }).toBuffer();
    const r = (10 * Math.PI) / 180;
    const s = 0.9;
    const transform: Affine = [
      [s * Math.cos(r), -s * Math.sin(r), 170],
      [s * Math.sin(r), s * Math.cos(r), 60],
    ];
    const face = { score: 0.99, box: { x: 200, y: 100, width: 150, height: 180 }, transform, size: 256 };
    const { gen, out } = await load({ mode: 'paste-back', format: 'png' });
    const got = collect<Output>(out, 2);
    gen.receive({ latent: { dims: [2, 18, 512], data: latent.data.slice(0, 2 * 18 * 512), ages: [0, 100] }, original, face } as NodeMessage);
    const msgs = await got;
    const source = await sharp(original).raw().toBuffer();
    for (const msg of msgs) {
      const { data, info } = await sharp(msg.payload as Buffer).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height], [632, 612]);
      // The aligned square's corners in the photo bound the only pixels that may change.
      const corners = [[0, 0], [255, 0], [0, 255], [255, 255]].map(([x, y]) => [transform[0][0] * x + transform[0][1] * y + transform[0][2], transform[1][0] * x + transform[1][1] * y + transform[1][2]]);
      const [x0, x1] = [Math.min(...corners.map((c) => c[0])), Math.max(...corners.map((c) => c[0]))];
      const [y0, y1] = [Math.min(...corners.map((c) => c[1])), Math.max(...corners.map((c) => c[1]))];
      let outside = 0;
      let inside = 0;
      let insideCount = 0;
      for (let y = 0; y < info.height; y++) {
        for (let x = 0; x < info.width; x++) {
          const i = (y * info.width + x) * 3;
          const d = Math.abs(data[i] - source[i]) + Math.abs(data[i + 1] - source[i + 1]) + Math.abs(data[i + 2] - source[i + 2]);
          if (x < x0 || x > x1 || y < y0 || y > y1) outside += d;
          else if (Math.hypot(x - (x0 + x1) / 2, y - (y0 + y1) / 2) < 60) {
            inside += d;
            insideCount++;
          }
        }
      }
      assert.equal(outside, 0, 'nothing changes away from the face');
      assert.ok(inside / insideCount > 30, `the face itself changes (${inside / insideCount} per pixel)`);
    }
    assert.deepEqual(msgs.map((m) => m.targetAge), [0, 100]);
    assert.deepEqual(msgs.map((m) => m.parts?.index), [0, 1]);
    assert.ok(!(msgs[0].payload as Buffer).equals(msgs[1].payload as Buffer), 'each age is its own picture');
  });

  it('gives each bad message its exact error and a red status, then keeps working', async function () {
    const { gen, out, errors, statuses } = await load();
    const one = { dims: [1, 18, 512], data: latent.data.slice(0, 18 * 512), ages: [30] };
    const nan = Float32Array.from(one.data);
    nan[7] = NaN;
    const cases: Array<[object, string, string]> = [
      [{}, 'TypeError', 'Expected msg.latent to be { dims: [K,18,512], data, ages } but received undefined'],
      [{ latent: 'codes' }, 'TypeError', 'Expected msg.latent to be { dims: [K,18,512], data, ages } but received string'],
      [{ latent: { ...one, dims: [1, 18, 500] } }, 'RangeError', 'Expected msg.latent.dims to be [K,18,512] but received [1,18,500]'],
      [{ latent: { ...one, data: 'x' } }, 'TypeError', 'Expected msg.latent.data to be a Float32Array or an array of numbers'],
      [{ latent: { ...one, data: one.data.subarray(0, 10) } }, 'RangeError', 'Expected msg.latent.data to hold 9216 values for dims [1,18,512] but it holds 10'],
      [{ latent: { ...one, data: nan } }, 'RangeError', 'Expected msg.latent.data to hold finite numbers but it holds NaN or Infinity'],
      [{ latent: { ...one, ages: [30, 40] } }, 'RangeError', 'Expected msg.latent.ages to list 1 ages, one per code'],
    ];
    for (const [msg, name, message] of cases) {
      const got = next<CaughtMessage>(errors);
      gen.receive(msg as NodeMessage);
      const caught = await got;
      assert.equal(caught.error.message, `${name}: ${message}`, 'Node-RED prefixes the error class');
      assert.equal(statuses.at(-1)?.fill, 'red');
      assert.equal(statuses.at(-1)?.text, message.length > 60 ? `${message.slice(0, 59)}…` : message);
    }
    const good = next<Output>(out);
    gen.receive({ latent: one } as NodeMessage);
    assert.equal((await good).targetAge, 30);
  });

  it('says what each mode is missing', async function () {
    const one = { dims: [1, 18, 512], data: latent.data.slice(0, 18 * 512), ages: [30] };
    const cases: Array<[object, object, string]> = [
      [{ mode: 'animation' }, { latent: one }, 'RangeError: Expected at least 2 ages in msg.latent for an animation but received 1'],
      [{ mode: 'paste-back' }, { latent: one, face: { transform: [[1, 0, 0], [0, 1, 0]], size: 256 } }, 'TypeError: Expected msg.original to be the original photo as an image Buffer but received undefined'],
      [{ mode: 'paste-back' }, { latent: one, original: photo }, "TypeError: Expected msg.face to be face-align's face ({ transform, size, ... }) but received undefined"],
      [{ mode: 'strip', size: 1024, format: 'webp' }, { latent: { dims: [16, 18, 512], data: new Float32Array(16 * 18 * 512), ages: Array(16).fill(1) }, aligned }, 'RangeError: A strip of 17 faces at 1024 px is 17408 px wide, more than WEBP can store (16383); choose PNG or a smaller size'],
    ];
    for (const [config, msg, message] of cases) {
      const { gen, errors } = await load(config);
      const got = next<CaughtMessage>(errors);
      gen.receive(msg as NodeMessage);
      assert.equal((await got).error.message, message);
      await helper.unload();
    }
  });

  it('names the missing generator and the export command', async function () {
    const folder = mkdtempSync(join(tmpdir(), 'age-generate-'));
    try {
      for (const file of ['inversion', 'aging']) for (const ext of ['onnx', 'json']) cpSync(join(TINY_MODELS, `${file}.${ext}`), join(folder, `${file}.${ext}`));
      const { gen, errors, statuses } = await load({}, folder);
      const got = next<CaughtMessage>(errors);
      gen.receive({ latent } as NodeMessage);
      assert.equal(
        (await got).error.message,
        `ContractError: model file missing: ${join(folder, 'generator.onnx')} (role "generator"); export the SAM models with: npx age-transform export --sam sam_ffhq_aging.pt --out ${folder}`,
      );
      assert.equal(statuses.at(-1)?.fill, 'red');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('reports bad settings at deploy, by name', async function () {
    await load({ size: 300 });
    const errors = logged('gen', 'error');
    assert.deepEqual(errors, ['Expected one of 1024, 512, 256 for size but received 300 of type number']);
  });

  it('a node dropped with its defaults works (1024 PNG, one per age)', async function () {
    const { gen, out } = await load({ mode: undefined, format: undefined, size: undefined, labels: undefined, animationFormat: undefined, frames: undefined, delay: undefined, loop: undefined, feather: undefined });
    const got = next<Output>(out);
    gen.receive({ latent: { dims: [1, 18, 512], data: latent.data.slice(0, 18 * 512), ages: [0] } } as NodeMessage);
    const meta = await sharp((await got).payload as Buffer).metadata();
    assert.deepEqual([meta.format, meta.width], ['png', 1024]);
  });
});
