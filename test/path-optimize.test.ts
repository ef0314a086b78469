import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import pathOptimizeNode from '../nodes/path-optimize/path-optimize';
import type { AgeRuntimeConfigNode } from '../nodes/shared/runtime-client';
import type { Latent } from '../lib/sam/latent';
import type { PathReport } from '../lib/optimize/report';
import { FIXTURES, requireNodeRed, TINY_MODELS } from './paths';
import { catchNode, helper, logged, next, textPattern, useNodeRed, type CaughtMessage as Caught } from './node-helpers';

/** Node-RED's message hooks: `onComplete` fires when a node calls done() (the test helper's RED API has no hooks). */
const hooks = (requireNodeRed('@node-red/util') as { hooks: { add(name: string, fn: (event: { node: { id: string } }) => void): void; remove(name: string): void } }).hooks;

const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
type Out = NodeMessage & { latent: Latent; report: PathReport };
type StatusCall = { args: [{ fill?: string; text?: string }] };

/** Node-RED's test spies emit `call:<method>` events on nodes. */
const spy = (node: Node): EventEmitter => node as unknown as EventEmitter;


/** A runtime on the tiny models, path-optimize wired to h1, a Catch node for its errors wired to h2. */
function flow(settings: object = {}): TestFlows {
  return [
    { id: 'rt1', type: 'age-runtime', name: 'tiny runtime', modelDir: TINY_MODELS, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 },
    { id: 'n1', type: 'path-optimize', name: 'optimizer', runtime: 'rt1', ages: '20:60:20', ageWeight: 1, identityWeight: 10, smoothnessWeight: 1000, budget: 10, ageBackend: 'onnx', identityBackend: 'onnx', seed: 1, wires: [['h1']], ...settings },
    { id: 'h1', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['n1'], uncaught: false, wires: [['h2']] },
    { id: 'h2', type: 'helper' },
  ] as TestFlows;
}

describe('path-optimize node', function () {
  this.timeout(30000);
  useNodeRed();

  it('sends the optimized latent and a report, with progress on the status', async function () {
    await helper.load([ageRuntimeNode, pathOptimizeNode, catchNode], flow());
    const n1 = helper.getNode('n1');
    const statuses: string[] = [];
    spy(n1).on('call:status', (call: StatusCall) => statuses.push(call.args[0].text ?? ''));
    const received = next<Out>(helper.getNode('h1'));
    n1.receive({ payload: photo, topic: 'me' } as NodeMessage);
    const msg = await received;
    assert.deepEqual(msg.latent.dims, [3, 18, 512]);
    assert.ok(msg.latent.data instanceof Float32Array);
    assert.deepEqual(msg.latent.ages, [20, 40, 60]);
    assert.equal(msg.topic, 'me');
    const { report } = msg;
    assert.equal(report.frames.length, 3);
    assert.deepEqual(Object.keys(report.frames[0]).slice(0, 5), ['target', 'measuredBefore', 'measuredAfter', 'identityBefore', 'identityAfter']);
    for (const key of ['maeBefore', 'maeAfter', 'identityBefore', 'identityAfter', 'smoothnessBefore', 'smoothnessAfter', 'evaluations', 'seconds'] as const) {
      assert.equal(typeof report[key], 'number', key);
    }
    assert.ok(report.maeAfter < report.maeBefore / 3, `MAE ${report.maeBefore} -> ${report.maeAfter}`);
    assert.ok(report.evaluations <= 30);
    const frame = await textPattern('path-optimize.status.frame');
    assert.ok(statuses.some((s) => frame.test(s)), `progress shown: ${statuses.join(', ')}`);
    assert.match(statuses[statuses.length - 1]!, await textPattern('path-optimize.status.done'));
    assert.match(statuses[statuses.length - 1]!, /^3 frames, MAE [\d.]+ → [\d.]+ y, [\d.]+ s$/);
  });

  it('takes the ages from msg.targetAge', async function () {
    await helper.load([ageRuntimeNode, pathOptimizeNode, catchNode], flow());
    const received = next<Out>(helper.getNode('h1'));
    helper.getNode('n1').receive({ payload: photo, targetAge: [70, 30] } as NodeMessage);
    const msg = await received;
    assert.deepEqual(msg.latent.ages, [70, 30]);
    assert.deepEqual(msg.report.frames.map((f) => f.target), [70, 30]);
  });

  it('reports bad input through done(err) with exact messages and a red status', async function () {
    await helper.load([ageRuntimeNode, pathOptimizeNode, catchNode], flow());
    const n1 = helper.getNode('n1');
    const h2 = helper.getNode('h2');
    const statuses: Array<{ fill?: string; text?: string }> = [];
    spy(n1).on('call:status', (call: StatusCall) => statuses.push(call.args[0]));
    const cases: Array<[NodeMessage, string]> = [
      [{ payload: photo, targetAge: [] } as NodeMessage, 'RangeError: Expected at least one target age but received an empty list'],
      [{ payload: photo, targetAge: '50:150:50' } as NodeMessage, 'RangeError: Expected target ages between 0 and 100 years but received 150'],
      [{ payload: 'face.png' }, 'TypeError: Expected msg.payload to be an aligned face image Buffer but received string'],
      [{ payload: Buffer.from('not an image') }, 'ImageInputError: Image format of msg.payload not recognised: expected JPEG, PNG, WebP, GIF, TIFF or AVIF'],
    ];
    for (const [input, message] of cases) {
      const caught = next<Caught>(h2);
      n1.receive(input);
      const { error } = await caught;
      if (message.startsWith('^')) assert.match(error.message, new RegExp(message));
      else assert.equal(error.message, message);
      assert.equal(error.source?.id, 'n1');
      assert.equal(statuses[statuses.length - 1].fill, 'red');
    }
  });

  it('names a model folder missing a role', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'tiny-no-identity-'));
    try {
      cpSync(TINY_MODELS, dir, { recursive: true });
      rmSync(join(dir, 'identity.onnx'));
      await helper.load([ageRuntimeNode, pathOptimizeNode, catchNode], [{ ...flow()[0], modelDir: dir }, ...flow().slice(1)] as TestFlows);
      const caught = next<Caught>(helper.getNode('h2'));
      helper.getNode('n1').receive({ payload: photo } as NodeMessage);
      const { error } = await caught;
      assert.equal(error.message, `ContractError: model file missing: ${join(dir, 'identity.onnx')} (role "identity"); export the SAM models with: npx age-transform export --sam sam_ffhq_aging.pt --out ${dir}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops at deploy on bad settings, naming them', async function () {
    await helper.load([ageRuntimeNode, pathOptimizeNode, catchNode], flow({ budget: 0 }));
    assert.deepEqual(logged('n1', 'error'), ['Expected a positive integer for budget (evaluations per frame, at most 10000) but received 0']);
  });

  it('a dropped node with its editor defaults and no runtime starts without errors', async function () {
    const dropped = [{ id: 'n1', type: 'path-optimize', runtime: '', ages: '0:100:10', ageWeight: 1, identityWeight: 10, smoothnessWeight: 1000, budget: 40, ageBackend: 'onnx', identityBackend: 'onnx', seed: 1, wires: [[]] }];
    await helper.load([ageRuntimeNode, pathOptimizeNode], dropped as unknown as TestFlows);
    assert.deepEqual(logged('n1', 'error'), []);
  });

  it('a redeploy cancels a running optimization promptly: done() without an error, and the worker ends', async function () {
    await helper.load([ageRuntimeNode, pathOptimizeNode, catchNode], flow({ ages: '0:100:5', budget: 500 }));
    const n1 = helper.getNode('n1');
    const runtime = (helper.getNode('rt1') as AgeRuntimeConfigNode).register({ id: 'probe' } as unknown as Node);
    let completed = false;
    hooks.add('onComplete.path-optimize-test', (event) => {
      if (event.node.id === 'n1') completed = true;
    });
    let sent = false;
    helper.getNode('h1').on('input', () => (sent = true));
    const pathPhase = await textPattern('path-optimize.status.path');
    const refining = new Promise<void>((resolve) => spy(n1).on('call:status', (call: StatusCall) => pathPhase.test(call.args[0].text ?? '') && resolve()));
    n1.receive({ payload: photo } as NodeMessage);
    await refining;
    const started = Date.now();
    try {
      await helper.unload();
    } finally {
      hooks.remove('onComplete.path-optimize-test');
    }
    assert.ok(Date.now() - started < 3000, `closed in ${Date.now() - started} ms`);
    assert.equal(completed, true, 'done() was called');
    assert.equal(sent, false, 'no result was sent');
    assert.deepEqual(logged('n1', 'error'), []);
    assert.equal(runtime.running, false, 'the worker has ended: no job can run any more');
  });
});
