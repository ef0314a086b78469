// The project's side of the full-size speed benchmark (`npm run bench:full`, driven by
// bench/full.py, which times SAM's PyTorch code in the same run). Everything runs through the
// project's runtime, the code users run: its worker, its session options, its pixel work.
//
// usage: node dist/bench/full.js <model-folder> [--threads 2] [--runs 5] [--pipeline-runs 3]
//          [--only a,b] [--wait-idle S] [--json FILE] [--profile DIR]
//
// Per graph (median of --runs after a warm-up; `<role>.int8.onnx` too where the folder has it):
//   inversion, aging, generator (1024), generator-512, generator-256, age (DEX)
// Pipelines (median of --pipeline-runs after a warm-up), from the aligned astronaut:
//   one-age, one-age-fast   encode at 40, render (full: generator; fast: generator-256), DEX age
//   lifespan, lifespan-fast the same for 11 ages (one inversion, one batched aging run)
// Each gives wall ms, the ms inside onnxruntime's session.run (the worker's counter) and the
// share outside it. --profile DIR writes onnxruntime's per-node profile of every graph, with the
// runtime's own session options.
import { readFileSync, readdirSync, renameSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { AgeRuntime, RUNTIME_DEFAULTS, type ModelSession, type RuntimeOptions } from '../lib/runtime/runtime';
import { sessionOptions } from '../lib/runtime/session-options';
import { SamModels } from '../lib/sam/models';
import { ENCODER_SIZE, encodeAges } from '../lib/sam/encode';
import { imageToTensor } from '../lib/sam/image';
import { render, RENDER_BATCH, type GeneratorName } from '../lib/sam/render';
import { LAYERS, STYLE } from '../lib/sam/latent';
import { measureAges } from '../lib/sam/measure';
import type { TensorMap } from '../lib/tensor';
import { median, ROOT } from './util';

const LIFESPAN_AGES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
const GRAPHS = ['inversion', 'aging', 'generator', 'generator-512', 'generator-256', 'age'];

interface Options {
  folder: string;
  threads: number;
  runs: number;
  pipelineRuns: number;
  only?: Set<string>;
  waitIdle: number;
  json?: string;
  profile?: string;
}

function parse(argv: string[]): Options {
  const o: Partial<Options> & { threads: number; runs: number; pipelineRuns: number; waitIdle: number } = { threads: 2, runs: 5, pipelineRuns: 3, waitIdle: 0 };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--threads') o.threads = Number(value());
    else if (a === '--runs') o.runs = Number(value());
    else if (a === '--pipeline-runs') o.pipelineRuns = Number(value());
    else if (a === '--only') o.only = new Set(value().split(','));
    else if (a === '--wait-idle') o.waitIdle = Number(value());
    else if (a === '--json') o.json = value();
    else if (a === '--profile') o.profile = resolve(value());
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else rest.push(a);
  }
  if (rest.length !== 1) throw new Error('usage: node dist/bench/full.js <model-folder> [options]');
  return { ...o, folder: resolve(rest[0]) };
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** CPU seconds all processes of the machine have used (Linux /proc/stat), 0 where unavailable. */
function machineBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'ascii').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100; // user nice system irq softirq steal; USER_HZ 100
  } catch {
    return 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
const r1 = (x: number): number => Math.round(x * 10) / 10;

/** Times of one case. */
interface Timing {
  median_ms: number;
  min_ms: number;
  first_ms: number;
  runs_ms: number[];
  /** Median ms inside onnxruntime's session.run per run. */
  ort_ms: number;
  /** Share of the wall time outside onnxruntime. */
  outside_share: number;
  cpu_ms: number;
  others_ms: number[];
  shared_runs: number;
  runs: number;
  load: number;
}

/**
 * One warm-up call, then `runs` timed calls, each after waiting (at most `waitIdle` s) for a
 * second in which other processes used under a tenth of a core.
 */
async function timed(runtime: AgeRuntime, fn: () => Promise<unknown>, runs: number, opts: Options): Promise<Timing> {
  const t0 = performance.now();
  await fn();
  const first = performance.now() - t0;
  const walls: number[] = [];
  const orts: number[] = [];
  const cpu: number[] = [];
  const others: number[] = [];
  for (let i = 0; i < runs; i++) {
    const waitStart = performance.now();
    while (opts.waitIdle && performance.now() - waitStart < opts.waitIdle * 1000) {
      const b = machineBusySeconds();
      const c = cpuMs();
      await sleep(1000);
      if ((machineBusySeconds() - b) * 1000 - (cpuMs() - c) < 100) break;
    }
    const ortBefore = (await runtime.stats()).runMs;
    const b = machineBusySeconds();
    const c = cpuMs();
    const t = performance.now();
    await fn();
    const wall = performance.now() - t;
    const used = cpuMs() - c;
    walls.push(wall);
    cpu.push(used);
    others.push(Math.max(0, (machineBusySeconds() - b) * 1000 - used));
    orts.push((await runtime.stats()).runMs - ortBefore);
  }
  const wall = median(walls);
  return {
    median_ms: r1(wall),
    min_ms: r1(Math.min(...walls)),
    first_ms: r1(first),
    runs_ms: walls.map(r1),
    ort_ms: r1(median(orts)),
    outside_share: Number((1 - median(orts) / wall).toFixed(3)),
    cpu_ms: r1(median(cpu)),
    others_ms: others.map(Math.round),
    shared_runs: walls.filter((w, i) => others[i] > 0.1 * w * opts.threads).length,
    runs,
    load: r1(loadavg()[0]),
  };
}

/** Deterministic pseudo-random floats in [lo, hi). */
function filled(n: number, lo: number, hi: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return a;
}

/** Inputs of one graph, batch 1. */
function feedsOf(name: string): TensorMap {
  if (name === 'inversion') return { image: { dims: [1, 3, 256, 256], data: filled(3 * 256 * 256, -1, 1, 1) } };
  if (name === 'aging') return { image: { dims: [1, 3, 256, 256], data: filled(3 * 256 * 256, -1, 1, 1) }, age: { dims: [1], data: Float32Array.of(40) } };
  if (name === 'age') return { image: { dims: [1, 3, 224, 224], data: filled(3 * 224 * 224, -1, 1, 2) } };
  return { latent: { dims: [1, 18, 512], data: filled(18 * 512, -1, 1, 3) } };
}

/** The graph files of the folder: each role's float32 file and its int8 variant where present. */
function graphFiles(folder: string): Array<{ name: string; file: string }> {
  const found: Array<{ name: string; file: string }> = [];
  for (const name of GRAPHS) {
    for (const [label, file] of [[name, `${name}.onnx`], [`${name}.int8`, `${name}.int8.onnx`]]) {
      if (existsSync(join(folder, file))) found.push({ name: label, file: join(folder, file) });
    }
  }
  return found;
}

async function profile(opts: Options): Promise<void> {
  mkdirSync(opts.profile as string, { recursive: true });
  for (const { name, file } of graphFiles(opts.folder)) {
    const session = await ort.InferenceSession.create(file, { ...sessionOptions('cpu', opts.threads), enableProfiling: true, profileFilePrefix: join(opts.profile as string, name) });
    const feeds = Object.fromEntries(Object.entries(feedsOf(name.replace('.int8', ''))).map(([k, t]) => [k, new ort.Tensor('float32', t.data, t.dims)]));
    for (let i = 0; i <= opts.runs; i++) await session.run(feeds);
    session.endProfiling();
    await session.release();
    const out = readdirSync(opts.profile as string).find((f) => f.startsWith(`${name}_`) && f.endsWith('.json'));
    if (out) renameSync(join(opts.profile as string, out), join(opts.profile as string, `${name}.json`));
    process.stdout.write(`profiled ${name}\n`);
  }
}

/** Where the runtime has a `precision` setting and the folder int8 files: a runtime on `auto` (int8 where a variant passed its report, float32 elsewhere: a folder rarely has every role in int8). */
function int8Runtime(opts: Options): Partial<RuntimeOptions> | undefined {
  if (!('precision' in RUNTIME_DEFAULTS) || !readdirSync(opts.folder).some((f) => f.endsWith('.int8.onnx'))) return undefined;
  return { provider: 'cpu', threads: opts.threads, modelDir: opts.folder, precision: 'auto' } as Partial<RuntimeOptions>;
}

/** The four pipelines through a runtime's models, named with `suffix`. */
async function pipelines(runtime: AgeRuntime, opts: Options, suffix: string, report: (name: string, t: Timing) => void): Promise<void> {
  const wanted = (name: string): boolean => !opts.only || opts.only.has(name);
  const models = new SamModels(runtime);
  try {
    const photo = readFileSync(join(ROOT, 'test', 'fixtures', 'astronaut.png'));
    const image = await imageToTensor(photo, ENCODER_SIZE);
    const code = LAYERS * STYLE;
    // Batch by batch, as age-generate renders: a lifespan at 1024 never sits in one 138 MB tensor.
    const pipeline = (ages: number[], variant: GeneratorName) => async (): Promise<number[]> => {
      const latent = await encodeAges(models, image, ages);
      const measured: number[] = [];
      for (let start = 0; start < ages.length; start += RENDER_BATCH) {
        const n = Math.min(RENDER_BATCH, ages.length - start);
        const images = await render(models, latent.data.subarray(start * code, (start + n) * code), n, variant);
        measured.push(...(await measureAges(models, images, 'onnx', true)));
      }
      return measured;
    };
    const cases: Array<[string, number[], GeneratorName]> = [
      ['one-age', [40], 'generator'],
      ['one-age-fast', [40], 'generator-256'],
      ['lifespan', LIFESPAN_AGES, 'generator'],
      ['lifespan-fast', LIFESPAN_AGES, 'generator-256'],
    ];
    for (const [name, ages, variant] of cases) {
      if (wanted(name)) report(name + suffix, await timed(runtime, pipeline(ages, variant), opts.pipelineRuns, opts));
    }
  } finally {
    await models.release();
  }
}

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  if (opts.profile) return profile(opts);
  const wanted = (name: string): boolean => !opts.only || opts.only.has(name);
  const runtime = AgeRuntime.create({ provider: 'cpu', threads: opts.threads, modelDir: opts.folder });
  const results: Record<string, unknown> = {
    engine: `project runtime on onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length },
    threads: opts.threads,
    batch: 1,
    times: {} as Record<string, Timing>,
  };
  const times = results.times as Record<string, Timing>;
  const report = (name: string, t: Timing): void => {
    times[name] = t;
    process.stdout.write(
      `${name.padEnd(20)} ${t.median_ms.toFixed(1).padStart(9)} ms  min ${t.min_ms.toFixed(1).padStart(9)}  onnxruntime ${t.ort_ms.toFixed(1).padStart(9)} ms  ` +
        `outside ${(100 * t.outside_share).toFixed(1)}%  (first ${t.first_ms}, cpu ${t.cpu_ms} ms, shared runs ${t.shared_runs}/${t.runs}, load ${t.load}, runs ${JSON.stringify(t.runs_ms)})\n`,
    );
  };
  try {
    const sessions: ModelSession[] = [];
    for (const { name, file } of graphFiles(opts.folder)) {
      if (!wanted(name)) continue;
      const session = await runtime.acquire(file);
      sessions.push(session);
      const base = feedsOf(name.replace('.int8', ''));
      // A fresh copy each run, handed over (transferred), as the project's own code does.
      const feeds = (): TensorMap => Object.fromEntries(Object.entries(base).map(([k, t]) => [k, { dims: t.dims, data: t.data.slice() }]));
      report(name, await timed(runtime, () => session.run(feeds(), { transfer: true }), opts.runs, opts));
    }
    await Promise.all(sessions.map((s) => s.release()));
    await pipelines(runtime, opts, '', report);
  } finally {
    await runtime.close();
  }
  const int8 = int8Runtime(opts);
  if (int8) {
    const runtime8 = AgeRuntime.create(int8);
    try {
      await pipelines(runtime8, opts, '.int8', report);
    } finally {
      await runtime8.close();
    }
  }
  if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2));
}

main().catch((err: Error) => {
  process.stderr.write(`bench full: ${err.message}\n`);
  process.exitCode = 1;
});
