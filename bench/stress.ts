// `npm run stress`: the reliability suite (not part of `npm test`). A real Node-RED (through
// node-red-node-test-helper) with the tiny models runs: a fuzzer over every node, bursts at the
// default queue limit, redeploys during inference and a soak, and prints one table.
// Sizes: STRESS_FUZZ (cases, default 2000), STRESS_BURSTS (default "100,1000"),
// STRESS_REDEPLOYS (default 50), STRESS_SOAK (messages, default 2000), STRESS_KEEP_SPY_HISTORY=1.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Node, NodeMessage } from 'node-red';
import helper, { type TestFlows } from 'node-red-node-test-helper';
import { AgeRuntime, RUNTIME_DEFAULTS } from '../lib/runtime/runtime';
import { LAYERS, STYLE } from '../lib/sam/latent';

/* eslint-disable @typescript-eslint/no-require-imports -- Node-RED node modules are CommonJS files loaded by path */
const ROOT = join(__dirname, '..', '..');
const TINY = join(ROOT, 'test', 'fixtures', 'models', 'tiny');
const pkg = require(join(ROOT, 'package.json')) as { 'node-red': { nodes: Record<string, string> } };
const NODES = [
  ...Object.values(pkg['node-red'].nodes).map((file) => require(join(ROOT, file)) as (RED: unknown) => void),
  require(join(ROOT, 'node_modules', '@node-red', 'nodes', 'core', 'common', '25-catch.js')) as (RED: unknown) => void,
];
/* eslint-enable @typescript-eslint/no-require-imports */

helper.init(require.resolve('node-red'));

const FUZZ = Number(process.env.STRESS_FUZZ ?? 2000);
const BURSTS = (process.env.STRESS_BURSTS ?? '100,1000').split(',').map(Number).filter((n) => n > 0);
const REDEPLOYS = Number(process.env.STRESS_REDEPLOYS ?? 50);
const SOAK = Number(process.env.STRESS_SOAK ?? 2000);
/** An answer later than this is counted lost. */
const ANSWER_TIMEOUT_MS = 120_000;
/** Text that only libvips or a decoder library writes: never allowed in an answer. */
const RAW_DECODER_TEXT = /vips|libpng|libjpeg|libspng|jpegload|pngload|webpload|heifload|gifload|tiffload|Input buffer|Unknown error|bad seek|corrupt header|Premature end|Not a JPEG|\n/;

let uncaught = 0;
process.on('uncaughtException', () => uncaught++);
process.on('unhandledRejection', () => uncaught++);

const runtimes: AgeRuntime[] = [];
const create = AgeRuntime.create.bind(AgeRuntime);
AgeRuntime.create = (options) => {
  const runtime = create(options);
  runtimes.push(runtime);
  return runtime;
};

interface Row {
  phase: string;
  cases: number;
  served: number;
  refused: number;
  errors: number;
  lost: number;
  double: number;
  uncaught: number;
  raw: number;
  rssStartMb: number;
  rssPeakMb: number;
  rssEndMb: number;
  seconds: number;
  note: string;
}

const mb = (): number => Math.round(process.memoryUsage().rss / 2 ** 20);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Samples RSS every 100 ms while a phase runs. */
function sampler(): { peak: () => number; stop: () => void } {
  let peak = mb();
  const timer = setInterval(() => (peak = Math.max(peak, mb())), 100);
  return { peak: () => peak, stop: () => clearInterval(timer) };
}

/** STRESS_KEEP_SPY_HISTORY=1 keeps the helper's spy history, to see the harness's own growth. */
const KEEP_SPY_HISTORY = process.env.STRESS_KEEP_SPY_HISTORY === '1';

/** Frees what the test helper's sinon spies keep: every call, with its message (see BENCHMARKS.md). */
function forgetSpyHistory(): void {
  if (KEEP_SPY_HISTORY) return;
  (helper as unknown as { _sandbox?: { resetHistory(): void } })._sandbox?.resetHistory();
}

/** Seeded PRNG (mulberry32), so a run can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const runtimeNode = { id: 'rt', z: 'f', type: 'age-runtime', name: 'tiny', modelDir: TINY, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: RUNTIME_DEFAULTS.queueLimit };
const tab = { id: 'f', type: 'tab' };

/** Answers per message id, from the `out` and `errors` helpers. */
function answers(): { counts: Map<number, number>; kinds: Map<number, string>; raw: string[]; refusedAt: string[] } {
  const counts = new Map<number, number>();
  const kinds = new Map<number, string>();
  const raw: string[] = [];
  const refusedAt: string[] = [];
  const note = (msg: NodeMessage & { sid?: number }, kind: string): void => {
    if (msg.sid === undefined) return;
    counts.set(msg.sid, (counts.get(msg.sid) ?? 0) + 1);
    kinds.set(msg.sid, kind);
  };
  (helper.getNode('out') as unknown as NodeJS.EventEmitter).on('input', (msg: NodeMessage & { sid?: number }) => note(msg, 'out'));
  (helper.getNode('errors') as unknown as NodeJS.EventEmitter).on('input', (msg: NodeMessage & { sid?: number; error: { message: string; code?: string; source?: { id: string } } }) => {
    if (RAW_DECODER_TEXT.test(msg.error.message)) raw.push(msg.error.message);
    if (msg.error.code === 'EBUSY') refusedAt.push(msg.error.source?.id ?? '?');
    note(msg, msg.error.code === 'EBUSY' ? 'busy' : 'error');
  });
  return { counts, kinds, raw, refusedAt };
}

async function waitAll(counts: Map<number, number>, ids: number[], timeout = ANSWER_TIMEOUT_MS): Promise<void> {
  const started = Date.now();
  while (ids.some((id) => !counts.has(id)) && Date.now() - started < timeout) await sleep(20);
  await sleep(200); // late doubles
}

// ---- inputs --------------------------------------------------------------------------

interface Images {
  photo: Buffer;
  face: Buffer;
  jpeg: Buffer;
  png: Buffer;
}

async function images(): Promise<Images> {
  const photo = await sharp(readFileSync(join(ROOT, 'test', 'fixtures', 'astronaut.png'))).resize(256).png().toBuffer();
  const face = await sharp(photo).resize(256, 256).png().toBuffer();
  return { photo, face, jpeg: await sharp(photo).jpeg().toBuffer(), png: photo };
}

/** A PNG whose header claims a size of w x h (the rest is the small image's data). */
function forgedPng(png: Buffer, w: number, h: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(w, 16);
  out.writeUInt32BE(h, 20);
  return out;
}

function hostileImage(rnd: () => number, img: Images): unknown {
  const pick = Math.floor(rnd() * 12);
  const src = rnd() < 0.5 ? img.jpeg : img.png;
  switch (pick) {
    case 0: return Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 4096) }, () => Math.floor(rnd() * 256)));
    case 1: return src.subarray(0, Math.floor(rnd() * src.length));
    case 2: {
      const flipped = Buffer.from(src);
      for (let i = 0; i < 1 + rnd() * 20; i++) flipped[Math.floor(rnd() * flipped.length)] ^= 1 << Math.floor(rnd() * 8);
      return flipped;
    }
    case 3: return forgedPng(img.png, 65500, 65500);
    case 4: return forgedPng(img.png, 1 + Math.floor(rnd() * 20000), 1 + Math.floor(rnd() * 20000));
    case 5: return ['a string', 42, null, { an: 'object' }, [1, 2, 3], Buffer.alloc(0), true][Math.floor(rnd() * 7)];
    case 6: return Buffer.concat([src.subarray(0, 64), Buffer.alloc(Math.floor(rnd() * 1000))]);
    default: return pick < 10 ? img.face : img.photo;
  }
}

function hostileAges(rnd: () => number): unknown {
  return [undefined, undefined, undefined, -500, 1e9, 'abc', '0:100:0.5', [], Array.from({ length: 200 }, () => 50), NaN, '20,60', 50][Math.floor(rnd() * 12)];
}

/** @param single one code only (paste-back answers one message per code) */
function hostileLatent(rnd: () => number, single: boolean): unknown {
  const k = single ? 1 : 1 + Math.floor(rnd() * 3);
  const good = { dims: [k, LAYERS, STYLE], data: new Float32Array(k * LAYERS * STYLE), ages: Array.from({ length: k }, (_, i) => i * 30) };
  switch (Math.floor(rnd() * 8)) {
    case 0: return null;
    case 1: return { ...good, dims: [300, LAYERS, STYLE] };
    case 2: return { ...good, data: Array.from({ length: k * LAYERS * STYLE }, (_, i) => (i === 7 ? null : 0)) };
    case 3: return { ...good, ages: good.ages.map(() => -500) };
    case 4: return { ...good, data: new Float32Array(10) };
    case 5: return { ...good, data: good.data.map(() => NaN) };
    default: return good;
  }
}

// ---- phases --------------------------------------------------------------------------

const FUZZ_NODES = [
  { id: 'fa', type: 'face-align', size: 256, mode: 'largest', detector: 'tiny', minConfidence: 0.3, minFaceSize: 20, maxPixels: 40000000, wires: [['out'], ['out']] },
  { id: 'enc', type: 'age-encode', targetAge: '20,60', mixing: 'none', wires: [['out']] },
  { id: 'gen', type: 'age-generate', mode: 'strip', format: 'png', size: 256, labels: false, wires: [['out']] },
  { id: 'paste', type: 'age-generate', mode: 'paste-back', format: 'jpeg', size: 256, wires: [['out']] },
  { id: 'reg', type: 'age-regress', backend: 'onnx', input: 'auto', wires: [['out']] },
  { id: 'opt', type: 'path-optimize', ages: '20,60', budget: 2, wires: [['out']] },
];

async function load(nodes: object[], runtime: object = {}): Promise<void> {
  const flow = [
    tab,
    { ...runtimeNode, ...runtime },
    ...nodes.map((n) => ({ z: 'f', runtime: 'rt', ...n })),
    { id: 'out', z: 'f', type: 'helper' },
    { id: 'catcher', z: 'f', type: 'catch', scope: null, uncaught: false, wires: [['errors']] },
    { id: 'errors', z: 'f', type: 'helper' },
  ];
  await helper.load(NODES, flow as TestFlows);
}

async function fuzz(img: Images): Promise<Row> {
  await load(FUZZ_NODES);
  const seen = answers();
  const rnd = random(15);
  const start = mb();
  const rss = sampler();
  const t0 = Date.now();
  const before = uncaught;
  const ids: number[] = [];
  const samples: number[] = [];
  for (let sid = 0; sid < FUZZ; sid++) {
    const node = FUZZ_NODES[sid % FUZZ_NODES.length];
    const msg: Record<string, unknown> = { sid, payload: hostileImage(rnd, img), targetAge: hostileAges(rnd) };
    if (node.type === 'age-generate') Object.assign(msg, { latent: hostileLatent(rnd, node.id === 'paste'), aligned: hostileImage(rnd, img), original: hostileImage(rnd, img), face: rnd() < 0.8 ? { transform: [[1, 0, 0], [0, 1, 0]], size: 256 } : { transform: [[0, 0, 0], [0, 0, 0]], size: -1 } });
    if (node.type === 'age-regress' && rnd() < 0.5) msg.face = {};
    ids.push(sid);
    (helper.getNode(node.id) as Node).receive(msg as NodeMessage);
    await waitAll(seen.counts, [sid], ANSWER_TIMEOUT_MS);
    if (sid % 100 === 99) forgetSpyHistory();
    if (sid % 200 === 199) samples.push(mb());
  }
  await sleep(500);
  rss.stop();
  const history = KEEP_SPY_HISTORY ? 'spy history kept' : 'spy history cleared every 100';
  const row = tally('fuzz', ids, seen, start, rss.peak(), t0, uncaught - before, `6 nodes, seeded; ${history}; RSS every 200: ${samples.join(' ')}`);
  await helper.unload();
  return row;
}

function tally(phase: string, ids: number[], seen: ReturnType<typeof answers>, start: number, peak: number, t0: number, uncaughtNow: number, note: string): Row {
  const kinds = ids.map((id) => seen.kinds.get(id));
  return {
    phase,
    cases: ids.length,
    served: kinds.filter((k) => k === 'out').length,
    refused: kinds.filter((k) => k === 'busy').length,
    errors: kinds.filter((k) => k === 'error').length,
    lost: ids.filter((id) => !seen.counts.has(id)).length,
    double: ids.filter((id) => (seen.counts.get(id) ?? 0) > 1).length,
    uncaught: uncaughtNow,
    raw: seen.raw.length,
    rssStartMb: start,
    rssPeakMb: peak,
    rssEndMb: mb(),
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    note,
  };
}

const CHAIN = [
  { id: 'fa', type: 'face-align', size: 256, mode: 'largest', detector: 'tiny', minConfidence: 0.3, minFaceSize: 20, maxPixels: 40000000, wires: [['enc'], ['out']] },
  { id: 'enc', type: 'age-encode', targetAge: '30,70', mixing: 'none', wires: [['gen']] },
  { id: 'gen', type: 'age-generate', mode: 'strip', format: 'jpeg', size: 256, labels: false, wires: [['out']] },
];

async function burst(img: Images, size: number): Promise<Row> {
  await load(CHAIN);
  const seen = answers();
  // One message first, so the row measures the burst and not loading the models (face-api, sessions).
  const cold = mb();
  const warm = new Promise((resolve) => (helper.getNode('out') as unknown as NodeJS.EventEmitter).once('input', resolve));
  (helper.getNode('fa') as Node).receive({ payload: img.photo } as NodeMessage);
  await warm;
  await sleep(300); // its ticket expires
  const start = mb();
  const rss = sampler();
  const t0 = Date.now();
  const before = uncaught;
  const ids = Array.from({ length: size }, (_, i) => i);
  for (const sid of ids) (helper.getNode('fa') as Node).receive({ sid, payload: img.photo } as NodeMessage);
  await waitAll(seen.counts, ids);
  rss.stop();
  const late = seen.refusedAt.filter((at) => at !== 'fa').length;
  const row = tally(`burst ${size}`, ids, seen, start, rss.peak(), t0, uncaught - before, `limit ${RUNTIME_DEFAULTS.queueLimit}; refused after admission: ${late}; RSS before the warm-up message ${cold}`);
  await helper.unload();
  forgetSpyHistory();
  return row;
}

async function redeploys(img: Images): Promise<Row> {
  const start = mb();
  const rss = sampler();
  const t0 = Date.now();
  const before = uncaught;
  let redErrors = 0;
  let slowCloses = 0;
  let longestClose = 0;
  /** Workers alive while a round's flow is deployed, at most: one means no earlier round left its worker. */
  let mostAlive = 0;
  for (let round = 0; round < REDEPLOYS; round++) {
    await load([
      { id: 'enc', type: 'age-encode', targetAge: '0:100:10', mixing: 'none', wires: [['gen']] },
      { id: 'gen', type: 'age-generate', mode: 'sequence', format: 'png', size: 256, wires: [['out']] },
    ]);
    for (const id of ['enc', 'gen']) {
      const node = helper.getNode(id) as Node & { error: (...args: unknown[]) => void };
      const original = node.error.bind(node);
      node.error = (...args: unknown[]) => {
        redErrors++;
        original(...args);
      };
    }
    for (let i = 0; i < 5; i++) (helper.getNode('enc') as Node).receive({ payload: img.face } as NodeMessage);
    await sleep(20 + (round % 5) * 20);
    mostAlive = Math.max(mostAlive, runtimes.filter((r) => r.running).length);
    const closing = Date.now();
    await helper.unload();
    const took = Date.now() - closing;
    longestClose = Math.max(longestClose, took);
    if (took >= 15_000) slowCloses++;
    forgetSpyHistory();
  }
  await sleep(300);
  rss.stop();
  const alive = runtimes.filter((r) => r.running).length;
  return {
    phase: 'redeploys',
    cases: REDEPLOYS,
    served: REDEPLOYS - slowCloses,
    refused: 0,
    errors: redErrors,
    lost: 0,
    double: 0,
    uncaught: uncaught - before,
    raw: 0,
    rssStartMb: start,
    rssPeakMb: rss.peak(),
    rssEndMb: mb(),
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    note: `close timeouts ${slowCloses}, longest close ${longestClose} ms, workers alive during a round at most ${mostAlive}, after the last unload ${alive}`,
  };
}

async function soak(img: Images): Promise<Row> {
  await load([
    { id: 'enc', type: 'age-encode', targetAge: '30,70', mixing: 'none', wires: [['gen']] },
    { id: 'gen', type: 'age-generate', mode: 'strip', format: 'jpeg', size: 256, labels: false, wires: [['out']] },
  ]);
  const seen = answers();
  const t0 = Date.now();
  const before = uncaught;
  const ids: number[] = [];
  const samples: number[] = [];
  let start = 0;
  let peak = 0;
  // Four in flight, as a steady stream of kiosk requests; RSS after the first 100 (warm).
  for (let sid = 0; sid < SOAK; sid += 4) {
    const batch = [sid, sid + 1, sid + 2, sid + 3].filter((i) => i < SOAK);
    for (const id of batch) {
      ids.push(id);
      (helper.getNode('enc') as Node).receive({ sid: id, payload: img.face } as NodeMessage);
    }
    await waitAll(seen.counts, batch);
    if (sid % 100 === 96) {
      forgetSpyHistory();
      const now = mb();
      samples.push(now);
      if (sid === 96) start = now;
      peak = Math.max(peak, now);
    }
  }
  const row = tally('soak', ids, seen, start, peak, t0, uncaught - before, `RSS every 100: ${samples.join(' ')}`);
  await helper.unload();
  return row;
}

async function main(): Promise<void> {
  const img = await images();
  await new Promise<void>((resolve) => helper.startServer(() => resolve()));
  const rows: Row[] = [];
  if (FUZZ > 0) rows.push(await fuzz(img));
  for (const size of BURSTS) rows.push(await burst(img, size));
  if (REDEPLOYS > 0) rows.push(await redeploys(img));
  if (SOAK > 0) rows.push(await soak(img));
  await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  console.log(`\nstress: node ${process.version}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}, tiny models, 1 inference thread`);
  console.table(rows);
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
