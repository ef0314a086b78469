import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import type { AgeRuntimeConfigNode } from '../nodes/shared/runtime-client';
import { AgeRuntime, cudaLibrariesInstalled } from '../lib/runtime/runtime';
import { TINY_MODELS } from './paths';
import { helper, logged, useNodeRed } from './node-helpers';
import { skipBecause } from './skip';

/** Stand-ins for client nodes: the config node only needs their identity. */
const client = (id: string): Node => ({ id }) as unknown as Node;


describe('age-runtime config node', function () {
  useNodeRed();

  const flow = (extra: object = {}): TestFlows => [{ id: 'rt', type: 'age-runtime', name: 'shared runtime', modelDir: TINY_MODELS, provider: 'auto', deviceId: 0, threads: 1, queueLimit: 50, ...extra } as TestFlows[number]];

  it('auto reports cpu and warns once, however many nodes use it', async function () {
    if (cudaLibrariesInstalled()) skipBecause(this, 'CUDA libraries are installed, so auto rightly picks CUDA');
    await helper.load(ageRuntimeNode, flow());
    const config = helper.getNode('rt') as AgeRuntimeConfigNode;
    const first = config.register(client('a'));
    const second = config.register(client('b'));
    assert.equal(first, second, 'one runtime per config');
    assert.equal(first.provider, 'cpu');
    assert.equal(logged('rt', 'warn').length, 1);
    assert.match(logged('rt', 'warn')[0], /^CUDA libraries not installed, using CPU/);
    const res = await helper.request().get('/age-runtime/rt').expect(200);
    assert.equal(res.body.provider, 'cpu');
    assert.equal(res.body.requested, 'auto');
    assert.equal(res.body.clients, 2);
  });

  it('cuda requested without CUDA libraries fails with a clear error', async function () {
    if (cudaLibrariesInstalled()) skipBecause(this, 'CUDA libraries are installed, so cuda is a valid request');
    await helper.load(ageRuntimeNode, flow({ provider: 'cuda' }));
    const config = helper.getNode('rt') as AgeRuntimeConfigNode;
    assert.throws(() => config.register(client('a')), { code: 'ENOCUDA', message: /^CUDA execution provider requested, but onnxruntime-node has no CUDA libraries/ });
  });

  it('two nodes share one session per model, and the last one out ends the worker', async function () {
    await helper.load(ageRuntimeNode, flow({ provider: 'cpu' }));
    const config = helper.getNode('rt') as AgeRuntimeConfigNode;
    const a = client('a');
    const b = client('b');
    const runtime = config.register(a);
    assert.equal(config.register(b), runtime);
    const sessions = await Promise.all([runtime.openModel('generator'), runtime.openModel('generator'), runtime.openModel('aging'), runtime.openModel('aging')]);
    const stats = await runtime.stats();
    assert.equal(stats.sessionsCreated, 2, 'generator and aging, once each');
    await Promise.all(sessions.map((s) => s.release()));
    await config.deregister(a);
    assert.equal(runtime.running, true, 'b still uses it');
    await config.deregister(b);
    assert.equal(runtime.running, false);
    assert.equal(runtime.closed, true);
  });

  it('a redeploy closes the worker', async function () {
    await helper.load(ageRuntimeNode, flow({ provider: 'cpu' }));
    const runtime = (helper.getNode('rt') as AgeRuntimeConfigNode).register(client('a'));
    await helper.unload();
    assert.equal(runtime.running, false);
  });

  it('reports bad settings by name', async function () {
    await helper.load(ageRuntimeNode, flow({ queueLimit: '0' }));
    const config = helper.getNode('rt') as AgeRuntimeConfigNode;
    assert.throws(() => config.register(client('a')), { message: 'Expected a positive integer for queueLimit but received 0 of type number' });
    const errors = logged('rt', 'error');
    assert.deepEqual(errors, ['invalid runtime settings: Expected a positive integer for queueLimit but received 0 of type number']);
    const res = await helper.request().get('/age-runtime/nope').expect(404);
    assert.ok(res.body.error);
  });

  /** The runtime's state as the editor asks for it, once `ready` says it is there. */
  async function stateWhen(ready: (body: { warmUp: { state: string } }) => boolean, seconds = 60): Promise<Record<string, unknown> & { warmUp: Record<string, unknown> }> {
    const until = Date.now() + seconds * 1000;
    for (;;) {
      const { body } = await helper.request().get('/age-runtime/rt').expect(200);
      if (ready(body) || Date.now() > until) return body;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('warm-up loads and runs every model of the folder twice before any request', async function () {
    await helper.load(ageRuntimeNode, flow({ provider: 'cpu', warmUp: true }));
    const runtime = (helper.getNode('rt') as AgeRuntimeConfigNode).register(client('a'));
    const state = await stateWhen((b) => b.warmUp.state !== 'warming');
    const files = readdirSync(TINY_MODELS).filter((f) => f.endsWith('.onnx')).map((f) => f.replace(/\.onnx$/, ''));
    assert.equal(state.warmUp.state, 'ready');
    assert.deepEqual([...(state.warmUp.models as string[])].sort(), files.sort());
    const stats = await runtime.stats();
    assert.equal(stats.sessionsOpen, files.length, 'every model stays loaded');
    assert.equal(stats.runs, 2 * files.length);
    assert.match(logged('rt', 'info').find((m) => m.startsWith('warmed up')) ?? '', /^warmed up inversion, aging, generator, generator-512, generator-256, mapping, age, identity and face-api \(ssdMobilenetv1, faceLandmark68Net, ageGenderNet, faceRecognitionNet\) in \d+\.\d s$/);
    // A node's request finds the warm session: nothing is created again.
    const generator = await runtime.openModel('generator');
    assert.equal((await runtime.stats()).sessionsCreated, files.length);
    await generator.release();
  });

  it('without warm-up nothing loads until a node asks', async function () {
    await helper.load(ageRuntimeNode, flow({ provider: 'cpu' }));
    const runtime = (helper.getNode('rt') as AgeRuntimeConfigNode).register(client('a'));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await runtime.stats()).sessionsCreated, 0);
    const { body } = await helper.request().get('/age-runtime/rt').expect(200);
    assert.deepEqual(body.warmUp, { state: 'off' });
  });

  it('a redeploy during the warm-up ends it quietly and leaves no worker', async function () {
    await helper.load(ageRuntimeNode, flow({ provider: 'cpu', warmUp: true }));
    const runtime = (helper.getNode('rt') as AgeRuntimeConfigNode).register(client('a'));
    await helper.unload();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(runtime.running, false);
    assert.deepEqual(logged('rt', 'warn').filter((w) => w.startsWith('warm-up')), []);
  });

  it('a warm-up in a folder without the models says why, in the dialog and as a warning', async function () {
    const elsewhere = mkdtempSync(join(tmpdir(), 'age-warm-'));
    try {
      await helper.load(ageRuntimeNode, flow({ provider: 'cpu', warmUp: true, modelDir: elsewhere }));
      (helper.getNode('rt') as AgeRuntimeConfigNode).register(client('a'));
      const state = await stateWhen((b) => b.warmUp.state !== 'warming');
      // The error a request would have met.
      const alone = AgeRuntime.create({ provider: 'cpu', modelDir: elsewhere });
      const reason = await alone.openModel('inversion').then(() => 'opened', (err: Error) => err.message);
      await alone.close();
      assert.match(reason, /inversion\.onnx/);
      assert.deepEqual(state.warmUp, { state: 'failed', error: reason });
      assert.deepEqual(logged('rt', 'warn').filter((w) => w.startsWith('warm-up')), [`warm-up failed: ${reason}`]);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
