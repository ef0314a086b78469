// The runtime's failure paths and its admission, with the real worker and the test op module:
// uncopyable jobs and results, error classes across the thread, a bounded close, busy at the
// door and model folders confined to their roots.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgeRuntime, RuntimeError } from '../lib/runtime/runtime';
import { ContractError } from '../lib/contracts/contracts';
import { FIXTURES, TINY_MODELS } from './paths';

const TEST_OPS = join(FIXTURES, 'ops', 'test-ops.js');

/** Fails after `ms` instead of hanging, so a wedged queue shows as a failure. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('runtime: failure paths', function () {
  let runtime: AgeRuntime;
  afterEach(async function () {
    await runtime?.close();
  });

  it('a job whose arguments cannot be copied fails alone and the queue keeps moving', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', opModules: [TEST_OPS] });
    await assert.rejects(
      within(5000, runtime.call('test.echo', { callback: () => 1 }), 'the uncopyable job'),
      { name: 'RuntimeError', code: 'ECLONE', message: 'the arguments of runtime operation "test.echo" cannot be copied to the worker (functions, symbols and class instances cannot be sent)' },
    );
    assert.equal(await within(5000, runtime.call('test.echo', 2), 'the next job'), 2);
  });

  it('a result that cannot be copied back is a clear job error, not a crash', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', opModules: [TEST_OPS] });
    await assert.rejects(within(5000, runtime.call('test.uncloneable', null), 'the uncopyable result'), {
      name: 'RuntimeError',
      code: 'ECLONE',
      message: 'the result of runtime operation "test.uncloneable" cannot be copied back from the worker',
    });
    assert.equal(await runtime.call('test.echo', 3), 3);
    assert.equal((await runtime.stats()).restarts, 0, 'the worker did not crash');
  });

  it('errors keep their class and code across the thread', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', opModules: [TEST_OPS] });
    const err = await runtime.call('test.range', null).then(
      () => assert.fail('test.range resolved'),
      (e: unknown) => e as RangeError & { code?: string },
    );
    assert.ok(err instanceof RangeError, `a RangeError, not ${(err as Error).constructor.name}`);
    assert.equal(err.code, 'ETEST');
    assert.equal(err.message, 'test.range is out of range');
  });

  it('close waits a bounded time for the job in flight, then ends the worker', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', opModules: [TEST_OPS], closeTimeout: 300 } as never);
    const long = runtime.call('test.sleep', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await within(3000, runtime.close(), 'close');
    assert.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`);
    await assert.rejects(long, { code: 'ECLOSED' });
    assert.equal(runtime.running, false);
  });
});

describe('runtime: admission at the door', function () {
  let runtime: AgeRuntime;
  afterEach(async function () {
    await runtime?.close();
  });

  it('admits up to the limit, refuses the rest with EBUSY and a retry time, and never refuses an admitted message', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', queueLimit: 2, opModules: [TEST_OPS] });
    const { admission } = runtime as unknown as { admission: { enter(t?: unknown): unknown; leave(t: unknown): void; run<T>(t: unknown, fn: () => Promise<T>): Promise<T> } };
    const first = admission.enter();
    const second = admission.enter();
    assert.throws(() => admission.enter(), (err: RuntimeError & { retryAfter?: number }) => {
      assert.equal(err.code, 'EBUSY');
      assert.ok(Number.isInteger(err.retryAfter) && err.retryAfter! >= 1, `retryAfter ${err.retryAfter}`);
      assert.match(err.message, /^age runtime is busy \(2 messages in progress\); try again in \d+ s$/);
      return true;
    });
    // An admitted message comes back (the next node of its chain): it is never refused, and its jobs run past the job limit.
    assert.deepEqual(admission.enter(first), first);
    const results = await admission.run(first, () => Promise.all(Array.from({ length: 10 }, (_, i) => runtime.call('test.echo', i))));
    assert.deepEqual(results, [...Array(10).keys()]);
    admission.leave(first);
    admission.leave(first);
    admission.leave(second);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(admission.enter(), 'slots free again once messages leave');
  });

  it('jobs outside any message are refused with EBUSY past the queue limit', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', queueLimit: 5, opModules: [TEST_OPS] });
    const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => runtime.call('test.echo', i)));
    const refused = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason as RuntimeError & { retryAfter: number });
    assert.equal(refused.length, 3);
    for (const err of refused) {
      assert.equal(err.code, 'EBUSY');
      assert.equal(err.message, `age runtime is busy (5 jobs waiting); try again in ${err.retryAfter} s`);
    }
  });
});

describe('runtime: confined model folders', function () {
  let root: string;
  let runtime: AgeRuntime | undefined;
  beforeEach(function () {
    root = mkdtempSync(join(tmpdir(), 'age-roots-'));
  });
  afterEach(async function () {
    await runtime?.close();
    runtime = undefined;
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses a model file symlinked out of its folder, naming the setting', async function () {
    const dir = join(root, 'models');
    cpSync(TINY_MODELS, dir, { recursive: true });
    rmSync(join(dir, 'age.onnx'));
    const outside = mkdtempSync(join(tmpdir(), 'age-outside-'));
    try {
      writeFileSync(join(outside, 'secret'), 'not for onnxruntime');
      symlinkSync(join(outside, 'secret'), join(dir, 'age.onnx'));
      runtime = AgeRuntime.create({ provider: 'cpu', modelDir: dir, modelRoots: [root] } as never);
      await assert.rejects(runtime.openModel('age'), (err: ContractError) => {
        assert.equal(err.code, 'ECONFINED');
        assert.equal(err.message, 'model file age.onnx resolves outside the allowed model folders; allow its folder in settings.js ageModelRoots, or set ageConfineModels: false');
        return true;
      });
      assert.ok(await runtime.openModel('aging'), 'files inside the folder still open');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses a model folder outside the roots, by .. or absolute path', async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', modelDir: join(root, '..', 'elsewhere'), modelRoots: [root] } as never);
    await assert.rejects(runtime.openModel('aging'), {
      code: 'ECONFINED',
      message: 'model folder lies outside the allowed model folders (the Node-RED user directory and settings.js ageModelRoots); move it there, allow it in ageModelRoots, or set ageConfineModels: false',
    });
  });

  it('accepts a folder symlinked inside a root (what npm start links)', async function () {
    mkdirSync(join(root, 'models'));
    symlinkSync(TINY_MODELS, join(root, 'models', 'sam-ffhq'), 'dir');
    runtime = AgeRuntime.create({ provider: 'cpu', modelDir: join(root, 'models', 'sam-ffhq'), modelRoots: [root] } as never);
    const age = await runtime.openModel('age');
    assert.equal(age.entry?.name, 'age');
  });
});
