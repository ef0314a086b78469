import assert from 'node:assert/strict';
import type { TestFlows } from 'node-red-node-test-helper';
import { helper } from './node-helpers';
import type { Node } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import type { AgeRuntimeConfigNode } from '../nodes/shared/runtime-client';
import { cudaLibrariesInstalled } from '../lib/runtime/runtime';
import { TINY_MODELS } from './paths';


/** Stand-ins for client nodes: the config node only needs their identity. */
const client = (id: string): Node => ({ id }) as unknown as Node;

/** Warnings Node-RED logged from node `id`. */
function warningsOf(id: string): string[] {
  const log = helper.log() as unknown as { args: Array<[{ level: number; id: string; msg: unknown }]> };
  return log.args.filter(([e]) => e.level === 30 && e.id === id).map(([e]) => String(e.msg));
}

describe('age-runtime config node', function () {
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    await new Promise<void>((resolve) => helper.stopServer(() => resolve()));
  });

  const flow = (extra: object = {}): TestFlows => [{ id: 'rt', type: 'age-runtime', name: 'shared runtime', modelDir: TINY_MODELS, provider: 'auto', deviceId: 0, threads: 1, queueLimit: 50, ...extra } as TestFlows[number]];

  it('auto reports cpu and warns once, however many nodes use it', async function () {
    if (cudaLibrariesInstalled()) this.skip(); // a GPU install would rightly pick CUDA
    await helper.load(ageRuntimeNode, flow());
    const config = helper.getNode('rt') as AgeRuntimeConfigNode;
    const first = config.register(client('a'));
    const second = config.register(client('b'));
    assert.equal(first, second, 'one runtime per config');
    assert.equal(first.provider, 'cpu');
    assert.equal(warningsOf('rt').length, 1);
    assert.match(warningsOf('rt')[0], /^CUDA libraries not installed, using CPU/);
    const res = await helper.request().get('/age-runtime/rt').expect(200);
    assert.equal(res.body.provider, 'cpu');
    assert.equal(res.body.requested, 'auto');
    assert.equal(res.body.clients, 2);
  });

  it('cuda requested without CUDA libraries fails with a clear error', async function () {
    if (cudaLibrariesInstalled()) this.skip(); // with CUDA libraries, cuda is a valid request
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
    const log = helper.log() as unknown as { args: Array<[{ level: number; id: string; msg: unknown }]> };
    const errors = log.args.filter(([e]) => e.level === 20 && e.id === 'rt').map(([e]) => String(e.msg));
    // The test helper loads no message catalogs, so the logged error is its i18n key.
    assert.deepEqual(errors, ['age-runtime.errors.settings']);
    const res = await helper.request().get('/age-runtime/nope').expect(404);
    assert.ok(res.body.error);
  });
});
