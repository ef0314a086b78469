// onnxruntime-node side of the full-size speed benchmark (the PyTorch side is bench_full.py).
//
// usage: node tools/export/bench_full.mjs <model-folder> [--threads 2] [--inter 1] [--runs 5]
//          [--pipeline-runs 3] [--batch 1] [--render-batch 1] [--only a,b] [--wait-idle S]
//          [--exec sequential|parallel] [--no-arena] [--no-mem-pattern] [--no-spin]
//          [--config key=value]... [--opt disabled|basic|extended|all] [--profile DIR] [--json FILE]
//
// <model-folder> is an export of tools/export/export.py (with --dex for age.onnx). One session per
// model with intraOpNumThreads --threads, interOpNumThreads --inter (1, as lib/runtime/worker.ts
// sets it; it matters only with --exec parallel), graphOptimizationLevel --opt ('all') and the
// other session options as given (--config sets session config entries such as
// session.intra_op.allow_spinning=0). Times, median of --runs after one warm-up run, batch --batch:
//   inversion, aging, generator (1024), generator-256, age (DEX)
// and two end-to-end pipelines (median of --pipeline-runs after one warm-up):
//   one-age   inversion + aging + generator 1024 + 256 face pool + resize to 224 (in JS) + DEX
//   lifespan  one inversion + aging batched over 11 ages + 11 generator renders (batches of
//             --render-batch) + pool/resize + DEX batched over 11
// Each figure also gives the min, the warm-up (first) run, the process CPU time per run (close to
// threads x wall time when the cores were ours; spinning threads count too), per run `others`: CPU
// time other processes used meanwhile (/proc/stat; near 0 on an idle machine), the number of runs
// shared with other processes, and the load average. --wait-idle S waits up to S seconds before
// every timed run for a second in which other processes used under 10% of a core.
// --profile DIR writes onnxruntime's per-node JSON profile of --runs runs (after a warm-up) of
// every model into DIR instead of timing.
import * as ort from 'onnxruntime-node';
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

const LIFESPAN_AGES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
const MODELS = ['inversion', 'aging', 'generator', 'generator-256', 'age'];

function parse(argv) {
  const opts = {
    threads: 2, inter: 1, runs: 5, pipelineRuns: 3, batch: 1, renderBatch: 1,
    exec: 'sequential', arena: true, memPattern: true, spin: true, opt: 'all', config: {},
  };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--threads') opts.threads = Number(value());
    else if (a === '--inter') opts.inter = Number(value());
    else if (a === '--runs') opts.runs = Number(value());
    else if (a === '--pipeline-runs') opts.pipelineRuns = Number(value());
    else if (a === '--batch') opts.batch = Number(value());
    else if (a === '--render-batch') opts.renderBatch = Number(value());
    else if (a === '--only') opts.only = new Set(value().split(','));
    else if (a === '--exec') opts.exec = value();
    else if (a === '--no-arena') opts.arena = false;
    else if (a === '--no-mem-pattern') opts.memPattern = false;
    else if (a === '--no-spin') opts.spin = false;
    else if (a === '--config') {
      const [key, v] = value().split('=');
      opts.config[key] = v;
    }
    else if (a === '--opt') opts.opt = value();
    else if (a === '--profile') opts.profile = resolve(value());
    else if (a === '--json') opts.json = value();
    else if (a === '--wait-idle') opts.waitIdle = Number(value());
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else rest.push(a);
  }
  if (rest.length !== 1) throw new Error('usage: node tools/export/bench_full.mjs <model-folder> [options]');
  opts.folder = rest[0];
  return opts;
}

const opts = parse(process.argv.slice(2));
const wanted = (name) => !opts.only || opts.only.has(name);

function sessionOptions(profilePrefix) {
  const o = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: opts.opt,
    intraOpNumThreads: opts.threads,
    interOpNumThreads: opts.inter,
    executionMode: opts.exec,
    enableCpuMemArena: opts.arena,
    enableMemPattern: opts.memPattern,
  };
  // Session config entries (onnxruntime_session_options_config_keys.h), given flat as
  // "a.b.c": "v" and passed nested as { a: { b: { c: "v" } } }. The intra-op pool's threads
  // spin while waiting for work unless session.intra_op.allow_spinning is "0".
  const config = { ...opts.config };
  if (!opts.spin) {
    config['session.intra_op.allow_spinning'] = '0';
    config['session.inter_op.allow_spinning'] = '0';
  }
  for (const [key, v] of Object.entries(config)) {
    const path = key.split('.');
    let at = (o.extra ??= {});
    for (const part of path.slice(0, -1)) at = at[part] ??= {};
    at[path[path.length - 1]] = v;
  }
  if (profilePrefix) {
    o.enableProfiling = true;
    o.profileFilePrefix = profilePrefix;
  }
  return o;
}

// Deterministic pseudo-random floats in [lo, hi).
function filled(n, lo, hi, seed = 1) {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return a;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// CPU seconds all processes of the machine have used (Linux /proc/stat: user nice system irq
// softirq steal), 0 where unavailable.
function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'ascii').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// Waits (at most opts.waitIdle seconds) until other processes used under 10% of one core for a
// whole second, so that a timed run starts on a quiet machine; returns the seconds waited.
async function waitIdle() {
  if (!opts.waitIdle) return 0;
  const start = performance.now();
  while (performance.now() - start < opts.waitIdle * 1000) {
    const b = machineBusySeconds();
    const c = cpuMs();
    await sleep(1000);
    if ((machineBusySeconds() - b) * 1000 - (cpuMs() - c) < 100) break;
  }
  return (performance.now() - start) / 1000;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r1 = (x) => Math.round(x * 10) / 10;

// One warm-up call (its time is first_ms), then `runs` timed calls (each after waitIdle): median
// and min wall ms, every
// wall ms, median CPU ms of this process, and per run the CPU ms that other processes used
// meanwhile (others_ms; a run with others above a tenth of its wall time x threads was shared).
async function timed(fn, runs) {
  const t0 = performance.now();
  await fn();
  const first = performance.now() - t0;
  const walls = [];
  const cpus = [];
  const others = [];
  for (let i = 0; i < runs; i++) {
    await waitIdle();
    const b = machineBusySeconds();
    const c = cpuMs();
    const t = performance.now();
    await fn();
    const wall = performance.now() - t;
    const cpu = cpuMs() - c;
    walls.push(wall);
    cpus.push(cpu);
    others.push(Math.max(0, (machineBusySeconds() - b) * 1000 - cpu));
  }
  const shared = walls.filter((w, i) => others[i] > 0.1 * w * opts.threads).length;
  return {
    median_ms: r1(median(walls)), min_ms: r1(Math.min(...walls)), first_ms: r1(first),
    runs_ms: walls.map(r1), cpu_ms: r1(median(cpus)),
    others_ms: others.map(Math.round), shared_runs: shared, runs, load: r1(loadavg()[0]),
  };
}

// SAM's face pool (1024 -> 256, 4x4 average) then bilinear to 224 (half-pixel centres, as
// torch's interpolate with align_corners=False): [n,3,1024,1024] -> [n,3,224,224].
function toAgeInput(data, n) {
  const big = 1024;
  const mid = 256;
  const out = 224;
  const pooled = new Float32Array(mid * mid);
  const result = new Float32Array(n * 3 * out * out);
  const scale = mid / out;
  for (let plane = 0; plane < n * 3; plane++) {
    const src = plane * big * big;
    for (let y = 0; y < mid; y++) {
      for (let x = 0; x < mid; x++) {
        let sum = 0;
        for (let dy = 0; dy < 4; dy++) {
          const row = src + (4 * y + dy) * big + 4 * x;
          sum += data[row] + data[row + 1] + data[row + 2] + data[row + 3];
        }
        pooled[y * mid + x] = sum / 16;
      }
    }
    const dst = plane * out * out;
    for (let y = 0; y < out; y++) {
      const fy = Math.max(0, (y + 0.5) * scale - 0.5);
      const y0 = Math.min(mid - 1, Math.floor(fy));
      const y1 = Math.min(mid - 1, y0 + 1);
      const wy = fy - y0;
      for (let x = 0; x < out; x++) {
        const fx = Math.max(0, (x + 0.5) * scale - 0.5);
        const x0 = Math.min(mid - 1, Math.floor(fx));
        const x1 = Math.min(mid - 1, x0 + 1);
        const wx = fx - x0;
        const top = pooled[y0 * mid + x0] * (1 - wx) + pooled[y0 * mid + x1] * wx;
        const bottom = pooled[y1 * mid + x0] * (1 - wx) + pooled[y1 * mid + x1] * wx;
        result[dst + y * out + x] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return result;
}

const sessions = {};
const loadMs = {};
async function open(name, profileDir) {
  const prefix = profileDir ? join(profileDir, name) : undefined;
  const t = performance.now();
  sessions[name] = await ort.InferenceSession.create(join(opts.folder, `${name}.onnx`), sessionOptions(prefix));
  loadMs[name] = Math.round(performance.now() - t);
}

const image = new ort.Tensor('float32', filled(3 * 256 * 256, -1, 1, 1), [1, 3, 256, 256]);
const age40 = new ort.Tensor('float32', new Float32Array([40]), [1]);

// `n` copies of a tensor's data along a new batch axis.
function repeat(tensor, n) {
  const data = new Float32Array(n * tensor.data.length);
  for (let i = 0; i < n; i++) data.set(tensor.data, i * tensor.data.length);
  return new ort.Tensor('float32', data, [n, ...tensor.dims.slice(1)]);
}

function add(a, b) {
  const out = new Float32Array(b.data.length);
  const per = a.data.length;
  for (let i = 0; i < out.length; i++) out[i] = a.data[i % per] + b.data[i];
  return new ort.Tensor('float32', out, b.dims);
}

async function oneAge() {
  const { latent } = await sessions.inversion.run({ image });
  const { delta } = await sessions.aging.run({ image, age: age40 });
  const { image: render } = await sessions.generator.run({ latent: add(latent, delta) });
  return sessions.age.run({ image: new ort.Tensor('float32', toAgeInput(render.data, 1), [1, 3, 224, 224]) });
}

async function lifespan() {
  const n = LIFESPAN_AGES.length;
  const { latent } = await sessions.inversion.run({ image });
  const { delta } = await sessions.aging.run({
    image: repeat(image, n),
    age: new ort.Tensor('float32', Float32Array.from(LIFESPAN_AGES), [n]),
  });
  const codes = add(latent, delta);
  const per = 18 * 512;
  const faces = new Float32Array(n * 3 * 224 * 224);
  for (let i = 0; i < n; i += opts.renderBatch) {
    const m = Math.min(opts.renderBatch, n - i);
    const some = new ort.Tensor('float32', codes.data.slice(i * per, (i + m) * per), [m, 18, 512]);
    const { image: render } = await sessions.generator.run({ latent: some });
    faces.set(toAgeInput(render.data, m), i * 3 * 224 * 224);
  }
  return sessions.age.run({ image: new ort.Tensor('float32', faces, [n, 3, 224, 224]) });
}

const results = {
  engine: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
  threads: opts.threads,
  batch: opts.batch,
  render_batch: opts.renderBatch,
  options: {
    interOpNumThreads: opts.inter, executionMode: opts.exec, enableCpuMemArena: opts.arena,
    enableMemPattern: opts.memPattern, graphOptimizationLevel: opts.opt,
    allowSpinning: opts.spin, config: opts.config,
  },
  times: {},
  load_ms: loadMs,
};
const report = (name, r) => {
  results.times[name] = r;
  const ms = (x) => x.toFixed(1).padStart(9);
  console.log(`${name.padEnd(14)} ${ms(r.median_ms)} ms  min ${ms(r.min_ms)}  first ${ms(r.first_ms)}  (cpu ${r.cpu_ms} ms, `
    + `shared runs ${r.shared_runs}/${r.runs}, load ${r.load}, runs ${JSON.stringify(r.runs_ms)}, `
    + `others ${JSON.stringify(r.others_ms)})`);
};

const needs = new Set(MODELS.filter(wanted));
if (wanted('one-age') || wanted('lifespan')) for (const m of ['inversion', 'aging', 'generator', 'age']) needs.add(m);
// Per-graph inputs, batch --batch (the same sample repeated).
const b = opts.batch;
const latent = repeat(new ort.Tensor('float32', filled(18 * 512, -1, 1, 3), [1, 18, 512]), b);
const face224 = repeat(new ort.Tensor('float32', filled(3 * 224 * 224, -1, 1, 2), [1, 3, 224, 224]), b);
const images = repeat(image, b);
const ages = repeat(age40, b);
const feeds = {
  inversion: () => ({ image: images }),
  aging: () => ({ image: images, age: ages }),
  generator: () => ({ latent }),
  'generator-256': () => ({ latent }),
  age: () => ({ image: face224 }),
};

if (opts.profile) {
  // One profiled session per model, --runs runs after a warm-up; the files are renamed to <model>.json.
  mkdirSync(opts.profile, { recursive: true });
  for (const name of needs) {
    await open(name, opts.profile);
    for (let i = 0; i <= opts.runs; i++) await sessions[name].run(feeds[name]());
    sessions[name].endProfiling();
    await sessions[name].release();
    // onnxruntime names the file <prefix>_<timestamp>.json.
    const file = readdirSync(opts.profile).find((f) => f.startsWith(`${name}_`) && f.endsWith('.json'));
    if (file) renameSync(join(opts.profile, file), join(opts.profile, `${name}.json`));
    console.log(`profiled ${name}`);
  }
  process.exit(0);
}

for (const name of needs) await open(name);
for (const name of MODELS) {
  if (wanted(name)) report(name, await timed(() => sessions[name].run(feeds[name]()), opts.runs));
}
if (wanted('one-age')) report('one-age', await timed(oneAge, opts.pipelineRuns));
if (wanted('lifespan')) report('lifespan', await timed(lifespan, opts.pipelineRuns));
if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2));
for (const s of Object.values(sessions)) await s.release();
