import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AgeRuntime, RuntimeError, cudaLibrariesInstalled, resolveProvider, validateRuntimeOptions } from '../lib/runtime/runtime';
import { ContractError, readModelFolder } from '../lib/contracts/contracts';
import { FIXTURES, TINY_MODELS } from './paths';

const TEST_OPS = join(FIXTURES, 'ops', 'test-ops.js');
const HEAVY = join(FIXTURES, 'models', 'heavy', 'heavy.onnx');
const CUDA_HINT = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm install';

/** An input for the tiny age model whose top band reads as `years`. */
function ageImage(years: number): Float32Array {
  return new Float32Array(3 * 224 * 224).fill((years / 100) * 2 - 1);
}

describe('runtime: provider choice', function () {
  it('auto without CUDA libraries uses CPU and warns once', function () {
    assert.deepEqual(resolveProvider('auto', false), { provider: 'cpu', warning: `CUDA libraries not installed, using CPU (on a GPU machine: ${CUDA_HINT})` });
    assert.deepEqual(resolveProvider('auto', true), { provider: 'cuda' });
    assert.deepEqual(resolveProvider('cpu', true), { provider: 'cpu' });
  });

  it('cuda without CUDA libraries is a clear error', function () {
    assert.throws(() => resolveProvider('cuda', false), {
      name: 'RuntimeError',
      code: 'ENOCUDA',
      message: `CUDA execution provider requested, but onnxruntime-node has no CUDA libraries; install them on a GPU machine with: ${CUDA_HINT}`,
    });
  });

  it('on this CPU-only machine a runtime reports cpu', async function () {
    if (cudaLibrariesInstalled()) this.skip(); // a GPU install would rightly pick CUDA
    const runtime = AgeRuntime.create({ provider: 'auto', opModules: [TEST_OPS] });
    try {
      assert.equal(runtime.provider, 'cpu');
      assert.equal(runtime.warnings.length, 1);
      assert.equal((await runtime.stats()).provider, 'cpu');
      assert.throws(() => AgeRuntime.create({ provider: 'cuda' }), { code: 'ENOCUDA' });
    } finally {
      await runtime.close();
    }
  });

  it('rejects bad settings with exact messages', function () {
    assert.throws(() => validateRuntimeOptions({ provider: 'gpu' as never }), { name: 'RangeError', message: 'Expected one of auto, cuda, cpu for provider but received "gpu" of type string' });
    assert.throws(() => validateRuntimeOptions({ threads: -1 }), { name: 'RangeError', message: 'Expected an integer between 0 and 256 for threads but received -1 of type number' });
    assert.throws(() => validateRuntimeOptions({ queueLimit: 0 }), { name: 'RangeError', message: 'Expected a positive integer for queueLimit but received 0 of type number' });
    assert.throws(() => validateRuntimeOptions({ deviceId: 1.5 }), { name: 'RangeError', message: 'Expected a non-negative integer for deviceId but received 1.5 of type number' });
    assert.throws(() => validateRuntimeOptions({ modelDir: '' }), { name: 'TypeError', message: 'Expected a folder path for modelDir but received "" of type string' });
  });
});

describe('runtime: worker and queue', function () {
  let runtime: AgeRuntime;
  afterEach(async function () {
    await runtime?.close();
  });

  it('shares one session per model file and releases it with the last user', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', modelDir: TINY_MODELS });
    const [a, b] = await Promise.all([runtime.openModel('age'), runtime.openModel('age')]);
    const c = await runtime.openModel('identity');
    let stats = await runtime.stats();
    assert.equal(stats.sessionsCreated, 2);
    assert.equal(stats.sessionsOpen, 2);
    const [ra, rb] = await Promise.all([a.run({ image: { dims: [1, 3, 224, 224], data: ageImage(30) } }), b.run({ image: { dims: [1, 3, 224, 224], data: ageImage(60) } })]);
    assert.ok(Math.abs(ra.age.data[0] - 30) < 1, `age ${ra.age.data[0]}`);
    assert.ok(Math.abs(rb.age.data[0] - 60) < 1, `age ${rb.age.data[0]}`);
    await a.release();
    assert.equal((await runtime.stats()).sessionsOpen, 2, 'b still holds the age session');
    await b.release();
    await c.release();
    stats = await runtime.stats();
    assert.equal(stats.sessionsOpen, 0);
    assert.equal(stats.sessionsCreated, 2);
    await assert.rejects(a.run({}), { code: 'ECLOSED' });
  });

  it('keeps the main thread responsive while a heavy model runs', async function () {
    // One inference thread leaves the other core to the main thread: what is measured is that
    // inference runs off the main thread, not how the OS shares one core among busy threads.
    runtime = AgeRuntime.create({ provider: 'cpu', threads: 1 });
    const heavy = await runtime.acquire(HEAVY);
    const side = 128;
    const feeds = { x: { dims: [1, 64, side, side], data: new Float32Array(64 * side * side).fill(0.01) } };
    await heavy.run(feeds); // warm-up: first run allocates
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const started = performance.now();
    let runs = 0;
    while (performance.now() - started < 1000) {
      await heavy.run(feeds);
      runs += 1;
    }
    delay.disable();
    const busyMs = performance.now() - started;
    assert.ok(busyMs >= 1000, `the worker was busy ${busyMs} ms`);
    const p99 = delay.percentile(99) / 1e6;
    assert.ok(p99 < 50, `event-loop delay p99 ${p99.toFixed(1)} ms over ${runs} heavy runs`);
  });

  it('answers exactly the jobs that fit the queue and rejects the rest', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', queueLimit: 50, opModules: [TEST_OPS] });
    const settled = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => runtime.call<{ i: number }>('test.echo', { i })));
    const done = settled.flatMap((s, i) => (s.status === 'fulfilled' ? [[i, s.value.i]] : []));
    const refused = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    assert.equal(done.length, 50);
    assert.deepEqual(done, Array.from({ length: 50 }, (_, i) => [i, i]), 'the first 50 are answered, each with its own result');
    assert.equal(refused.length, 150);
    for (const r of refused) {
      assert.ok(r.reason instanceof RuntimeError);
      assert.equal(r.reason.code, 'EBUSY');
      assert.equal(r.reason.message, `age runtime is busy (50 jobs waiting); try again in ${r.reason.retryAfter} s`);
    }
    assert.equal(runtime.pending, 0);
    assert.deepEqual(await runtime.call('test.echo', { again: true }), { again: true }, 'the queue takes jobs again once drained');
  });

  it('runs model jobs from a full queue without mixing up results', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', queueLimit: 50, modelDir: TINY_MODELS });
    const age = await runtime.openModel('age');
    const settled = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => age.run({ image: { dims: [1, 3, 224, 224], data: ageImage(i % 100) } })));
    const answered = settled.map((s, i) => [i, s.status === 'fulfilled' ? s.value.age.data[0] : null] as const).filter(([, a]) => a !== null);
    assert.equal(answered.length, 50);
    for (const [i, measured] of answered) assert.ok(Math.abs((measured as number) - (i % 100)) < 1, `job ${i} got age ${measured}`);
    assert.equal(settled.filter((s) => s.status === 'rejected' && (s.reason as RuntimeError).code === 'EBUSY').length, 150);
    await age.release();
  });

  it('rejects the job of a crashed worker, restarts it and loses no queued job', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', opModules: [TEST_OPS], modelDir: TINY_MODELS });
    const age = await runtime.openModel('age');
    const crash = runtime.call('test.exit', null);
    const queuedCall = runtime.call('test.echo', 'after');
    const queuedRun = age.run({ image: { dims: [1, 3, 224, 224], data: ageImage(40) } });
    await assert.rejects(crash, { name: 'RuntimeError', code: 'ECRASHED', message: 'age runtime worker crashed (exit code 7); job rejected, worker restarted' });
    assert.equal(await queuedCall, 'after');
    const result = await queuedRun;
    assert.ok(Math.abs(result.age.data[0] - 40) < 1, 'the restarted worker reloads the session');
    await assert.rejects(runtime.call('test.fail', null), { message: 'test.fail was called' });
    const stats = await runtime.stats();
    assert.equal(stats.restarts, 1);
    await age.release();
  });

  it('close waits for the run in flight, rejects queued jobs and ends the worker', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', opModules: [TEST_OPS] });
    const heavy = await runtime.acquire(HEAVY);
    const side = 96;
    const inFlight = heavy.run({ x: { dims: [1, 64, side, side], data: new Float32Array(64 * side * side) } });
    const queued = runtime.call('test.echo', 1);
    const closing = runtime.close();
    await assert.rejects(queued, { code: 'ECLOSED', message: 'age runtime is closed; job rejected' });
    const result = await inFlight;
    assert.deepEqual(result.y.dims, [1, 64, side, side]);
    await closing;
    assert.equal(runtime.running, false);
    await assert.rejects(runtime.call('test.echo', 2), { code: 'ECLOSED' });
  });
});

describe('model contracts', function () {
  let dir: string;
  let runtime: AgeRuntime;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'age-models-'));
    cpSync(TINY_MODELS, dir, { recursive: true });
    runtime = AgeRuntime.create({ provider: 'cpu', modelDir: dir });
  });
  afterEach(async function () {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the tiny models pass their contracts', async function () {
    const entries = readModelFolder(dir, ['inversion', 'aging', 'generator', 'mapping', 'age', 'identity']);
    assert.equal(entries.size, 8);
    for (const name of entries.keys()) await (await runtime.openModel(name)).release();
  });

  it('a missing folder', async function () {
    const missing = join(dir, 'nope');
    assert.throws(() => readModelFolder(missing), { name: 'ContractError', code: 'ENOFOLDER', message: `model folder not found: ${missing}; export the SAM models with: npx age-transform export --sam sam_ffhq_aging.pt --out ${missing}` });
  });

  it('a missing file', async function () {
    rmSync(join(dir, 'aging.onnx'));
    const file = join(dir, 'aging.onnx');
    await assert.rejects(runtime.openModel('aging'), {
      code: 'ENOFILE',
      message: `model file missing: ${file} (role "aging"); export the SAM models with: npx age-transform export --sam sam_ffhq_aging.pt --out ${dir}`,
    });
    assert.equal(await runtime.openModel('aging', false), undefined);
  });

  it('a corrupt ONNX file', async function () {
    const file = join(dir, 'mapping.onnx');
    writeFileSync(file, readFileSync(file).subarray(0, 100));
    await assert.rejects(runtime.openModel('mapping'), (err: ContractError) => {
      assert.equal(err.code, 'ECORRUPT');
      assert.match(err.message, new RegExp(`^cannot load model ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+`));
      return true;
    });
  });

  it('a manifest that does not match its contract', async function () {
    const file = join(dir, 'aging.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    manifest.inputs.age.shape = ['N', 1];
    writeFileSync(file, JSON.stringify(manifest));
    await assert.rejects(runtime.openModel('aging'), {
      code: 'EMANIFEST',
      message: `manifest ${file} does not match the "aging" contract: expected image: float32 [N,3,256,256]; age: float32 [N]; delta: float32 [N,18,512], found image: float32 [N,3,256,256]; age: float32 [N,1]; delta: float32 [N,18,512]`,
    });
  });

  it('a model whose graph does not match its contract', async function () {
    // The mapping graph put where the age model belongs, under a valid age manifest.
    copyFileSync(join(dir, 'mapping.onnx'), join(dir, 'age.onnx'));
    const file = join(dir, 'age.onnx');
    await assert.rejects(runtime.openModel('age'), {
      code: 'ESIGNATURE',
      message: `model ${file} does not match the "age" contract: expected image: float32 [N,3,224,224] -> age: float32 [N]; probs: float32 [N,101], found z: float32 [N,512] -> w: float32 [N,512]`,
    });
    assert.equal((await runtime.stats()).sessionsOpen, 0, 'the rejected session is released');
  });
});
