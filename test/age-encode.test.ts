import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import ageEncodeNode from '../nodes/age-encode/age-encode';
import type { AgeRuntimeConfigNode } from '../nodes/shared/runtime-client';
import type { Latent } from '../lib/sam/latent';
import { FIXTURES, TINY_MODELS } from './paths';
import { catchNode, helper, next, useNodeRed, type CaughtMessage } from './node-helpers';

const photo = readFileSync(join(FIXTURES, 'astronaut.png'));

type Received = NodeMessage & { latent: Latent; aligned: Buffer };

/** Loads runtime -> age-encode -> helper, plus a catch node -> errors. */
async function load(encode: object = {}, modelDir = TINY_MODELS): Promise<{ encode: Node; out: Node; errors: Node }> {
  const flow = [
    { id: 'flow', type: 'tab' },
    { id: 'rt', z: 'flow', type: 'age-runtime', name: 'tiny', modelDir, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 },
    { id: 'enc', z: 'flow', type: 'age-encode', runtime: 'rt', targetAge: '0:100:10', mixing: 'none', layers: '8-17', alpha: 1, variants: 3, seed: 0, ...encode, wires: [['out']] },
    { id: 'out', z: 'flow', type: 'helper' },
    { id: 'catcher', z: 'flow', type: 'catch', scope: ['enc'], wires: [['errors']] },
    { id: 'errors', z: 'flow', type: 'helper' },
  ] as TestFlows;
  await helper.load([ageRuntimeNode, ageEncodeNode, catchNode], flow);
  return { encode: helper.getNode('enc'), out: helper.getNode('out'), errors: helper.getNode('errors') };
}

describe('age-encode node', function () {
  useNodeRed();

  it('encodes the default lifespan in one inversion and one batched aging run', async function () {
    const { encode, out } = await load();
    const runtime = (helper.getNode('rt') as AgeRuntimeConfigNode).register(encode);
    const got = next<Received>(out);
    encode.receive({ payload: photo });
    const msg = await got;
    assert.deepEqual(msg.latent.dims, [11, 18, 512]);
    assert.deepEqual(msg.latent.ages, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    assert.equal(msg.aligned, photo);
    assert.equal(msg.payload, photo, 'payload passes through');
    // The tiny aging model writes (0.8a + 12) / 100 into dim 192 of every layer.
    msg.latent.ages.forEach((a, k) => assert.ok(Math.abs(msg.latent.data[k * 18 * 512 + 192] - (0.8 * a + 12) / 100) < 1e-5));
    assert.equal((await runtime.stats()).runs, 2);
  });

  it('takes msg.targetAge as a number, a list or a range', async function () {
    const { encode, out, errors } = await load();
    errors.on('input', (msg: NodeMessage) => assert.fail((msg as CaughtMessage).error.message));
    for (const [targetAge, ages] of [[70, [70]], [[5, 95], [5, 95]], ['20:40:10', [20, 30, 40]]] as const) {
      const got = next<Received>(out);
      encode.receive({ payload: photo, targetAge });
      assert.deepEqual((await got).latent.ages, ages);
    }
  });

  it('makes seeded random style variants per age', async function () {
    const { encode, out } = await load({ mixing: 'random', variants: 2, seed: 5, targetAge: '30,60' });
    const got = next<Received>(out);
    encode.receive({ payload: photo });
    const msg = await got;
    assert.deepEqual(msg.latent.dims, [4, 18, 512]);
    assert.deepEqual(msg.latent.ages, [30, 30, 60, 60]);
  });

  it('gives each bad input its own error and keeps working', async function () {
    const { encode, out, errors } = await load();
    const cases: Array<[unknown, unknown, string]> = [
      ['a string', undefined, 'TypeError: Expected msg.payload to be an aligned face image Buffer but received string'],
      [Buffer.alloc(0), undefined, 'TypeError: Expected msg.payload to be an aligned face image Buffer but received an empty Buffer'],
      [{ not: 'an image' }, undefined, 'TypeError: Expected msg.payload to be an aligned face image Buffer but received object'],
      [photo, NaN, 'RangeError: Expected target ages between 0 and 100 years but received NaN'],
      [photo, 120, 'RangeError: Expected target ages between 0 and 100 years but received 120'],
      [photo, [], 'RangeError: Expected at least one target age but received an empty list'],
    ];
    for (const [payload, targetAge, message] of cases) {
      const got = next<CaughtMessage>(errors);
      encode.receive({ payload, targetAge } as NodeMessage);
      assert.equal((await got).error.message, message);
    }
    const garbage = next<CaughtMessage>(errors);
    encode.receive({ payload: Buffer.from('this is not an image at all') });
    assert.equal((await garbage).error.message, 'ImageInputError: Image format of msg.payload not recognised: expected JPEG, PNG, WebP, GIF, TIFF or AVIF');
    const good = next<Received>(out);
    encode.receive({ payload: photo, targetAge: 50 });
    assert.deepEqual((await good).latent.ages, [50]);
  });

  it('names the missing model and the export command', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'age-models-'));
    try {
      cpSync(TINY_MODELS, dir, { recursive: true });
      rmSync(join(dir, 'aging.onnx'));
      const { encode, errors } = await load({}, dir);
      const got = next<CaughtMessage>(errors);
      encode.receive({ payload: photo });
      assert.equal(
        (await got).error.message,
        `ContractError: model file missing: ${join(dir, 'aging.onnx')} (role "aging"); export the SAM models with: npx age-transform export --sam sam_ffhq_aging.pt --out ${dir}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
