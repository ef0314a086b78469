import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestFlows } from 'node-red-node-test-helper';
import type { Node, NodeMessage } from 'node-red';
import ageRuntimeNode from '../nodes/age-runtime/age-runtime';
import ageRegressNode from '../nodes/age-regress/age-regress';
import { AgeRuntime } from '../lib/runtime/runtime';
import { SamModels } from '../lib/sam/models';
import { ENCODER_SIZE, encodeAges } from '../lib/sam/encode';
import { encodeRgb, imageToTensor, tensorToRgb } from '../lib/sam/image';
import { render } from '../lib/sam/render';
import { FIXTURES, TINY_MODELS } from './paths';
import { catchNode, helper, next, useNodeRed, type CaughtMessage } from './node-helpers';

const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
type Measured = NodeMessage & { age: number; ageError?: number };

async function load(regress: object = {}, modelDir = TINY_MODELS): Promise<{ regress: Node; out: Node; errors: Node }> {
  const flow = [
    { id: 'flow', type: 'tab' },
    { id: 'rt', z: 'flow', type: 'age-runtime', name: 'tiny', modelDir, provider: 'cpu', deviceId: 0, threads: 1, queueLimit: 50 },
    { id: 'reg', z: 'flow', type: 'age-regress', runtime: 'rt', backend: 'auto', input: 'auto', ...regress, wires: [['out']] },
    { id: 'out', z: 'flow', type: 'helper' },
    { id: 'catcher', z: 'flow', type: 'catch', scope: ['reg'], wires: [['errors']] },
    { id: 'errors', z: 'flow', type: 'helper' },
  ] as TestFlows;
  await helper.load([ageRuntimeNode, ageRegressNode, catchNode], flow);
  return { regress: helper.getNode('reg'), out: helper.getNode('out'), errors: helper.getNode('errors') };
}

describe('age-regress node', function () {
  let renders: Array<{ age: number; png: Buffer }>;
  before(async function () {
    // Faces rendered by the tiny models at known ages: their designed age is 0.8a + 12.
    const runtime = AgeRuntime.create({ provider: 'cpu', modelDir: TINY_MODELS });
    const models = new SamModels(runtime);
    try {
      const ages = [10, 45, 90];
      const latent = await encodeAges(models, await imageToTensor(photo, ENCODER_SIZE), ages);
      const images = await render(models, latent.data, ages.length);
      renders = await Promise.all(ages.map(async (age, i) => ({ age, png: await encodeRgb(tensorToRgb(images, i), 'png', 256) })));
    } finally {
      await models.release();
      await runtime.close();
    }
  });
  useNodeRed();

  it('measures aligned renders with age.onnx and reports the error against msg.targetAge', async function () {
    const { regress, out } = await load({ backend: 'onnx', input: 'aligned' });
    for (const { age, png } of renders) {
      const got = next<Measured>(out);
      regress.receive({ payload: png, targetAge: age });
      const msg = await got;
      const designed = 0.8 * age + 12;
      assert.ok(Math.abs(msg.age - designed) < 1.5, `target ${age}: measured ${msg.age}, designed ${designed}`);
      assert.ok(Math.abs((msg.ageError as number) - (msg.age - age)) < 1e-9);
    }
  });

  it('treats a message from age-generate as aligned and keeps its sequence parts', async function () {
    const { regress, out } = await load({ backend: 'onnx' });
    const got = next<Measured>(out);
    const parts = { id: 'seq', index: 1, count: 3 };
    regress.receive({ payload: renders[1].png, latent: { dims: [1, 18, 512] }, parts } as NodeMessage);
    const msg = await got;
    assert.ok(Math.abs(msg.age - (0.8 * 45 + 12)) < 1.5);
    assert.deepEqual(msg.parts, parts);
    assert.equal(msg.ageError, undefined, 'no targetAge, no error');
  });

  it('finds the face in a photo and measures it with the bundled face-api net, with no model folder', async function () {
    this.timeout(120000);
    const { regress, out } = await load({ backend: 'auto', input: 'auto' }, join(FIXTURES, 'no-such-models'));
    const got = next<Measured>(out);
    regress.receive({ payload: photo });
    const msg = await got;
    // Eileen Collins was about 40 in this portrait; a real age net lands near that.
    assert.ok(msg.age > 20 && msg.age < 65, `face-api measured ${msg.age}`);
  });

  it('gives bad input a clear error and keeps working', async function () {
    this.timeout(120000);
    const { regress, out, errors } = await load({ backend: 'onnx' });
    let got = next<CaughtMessage>(errors);
    regress.receive({ payload: 'not an image' });
    assert.equal((await got).error.message, 'TypeError: Expected msg.payload to be an image Buffer but received string');
    got = next<CaughtMessage>(errors);
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#808080' } }).png().toBuffer();
    regress.receive({ payload: blank });
    assert.equal((await got).error.message, 'Error: No face found in msg.payload');
    const good = next<Measured>(out);
    regress.receive({ payload: renders[0].png, face: {} } as NodeMessage);
    assert.ok(Math.abs((await good).age - (0.8 * 10 + 12)) < 1.5);
  });
});
