import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { AgeRuntime } from '../lib/runtime/runtime';
import { SamModels } from '../lib/sam/models';
import { ENCODER_SIZE, encodeAges, invert, agingDeltas } from '../lib/sam/encode';
import { render } from '../lib/sam/render';
import { embedIdentities, measureAges, cosine } from '../lib/sam/measure';
import { imageToTensor } from '../lib/sam/image';
import { addDeltas, checkLatent, mixLayers, parseLayers } from '../lib/sam/latent';
import { parseAges } from '../lib/sam/ages';
import { FIXTURES, TINY_MODELS } from './paths';

const designedAge = (a: number): number => 0.8 * a + 12;

describe('SAM engine on the tiny models', function () {
  let runtime: AgeRuntime;
  let models: SamModels;
  const photo = readFileSync(join(FIXTURES, 'astronaut.png'));
  before(function () {
    runtime = AgeRuntime.create({ provider: 'cpu', modelDir: TINY_MODELS });
    models = new SamModels(runtime);
  });
  after(async function () {
    await models.release();
    await runtime.close();
  });

  it('encodes many ages with one inversion and one batched aging run, and renders their designed ages', async function () {
    const image = await imageToTensor(photo, ENCODER_SIZE);
    const ages = [0, 10, 30, 50, 70, 90, 100];
    const before = (await runtime.stats()).runs;
    const latent = await encodeAges(models, image, ages);
    assert.equal((await runtime.stats()).runs - before, 2, 'one inversion run and one aging run');
    assert.deepEqual(latent.dims, [7, 18, 512]);
    assert.deepEqual(latent.ages, ages);
    const images = await render(models, latent.data, ages.length);
    assert.deepEqual(images.dims, [7, 3, 64, 64]);
    const measured = await measureAges(models, images, 'onnx');
    measured.forEach((m, i) => assert.ok(Math.abs(m - designedAge(ages[i])) < 1, `age ${ages[i]} measured ${m}`));
    const fast = await render(models, latent.data, ages.length, 'generator-256');
    assert.deepEqual(fast.dims, [7, 3, 32, 32], 'fast rendering uses generator-256');
    const middle = await render(models, latent.data, ages.length, 'generator-512');
    assert.deepEqual(middle.dims, [7, 3, 48, 48], 'generator-512 stops at its own resolution');
    for (const variant of [fast, middle]) {
      (await measureAges(models, variant, 'onnx')).forEach((m, i) => assert.ok(Math.abs(m - designedAge(ages[i])) < 1, `variant at ${variant.dims[3]}: age ${ages[i]} measured ${m}`));
    }
  });

  it('w+ is inversion plus the aging delta', async function () {
    const image = await imageToTensor(photo, ENCODER_SIZE);
    const inversion = await invert(models, image);
    const deltas = await agingDeltas(models, image, [40]);
    const latent = await encodeAges(models, image, [40]);
    assert.deepEqual(latent.data, addDeltas(inversion, deltas, 1));
    assert.ok(Math.abs(latent.data[192] - designedAge(40) / 100) < 1e-6, 'dim 192 carries the biased age');
  });

  it('keeps identity across ages and tells the photo from another', async function () {
    const image = await imageToTensor(photo, ENCODER_SIZE);
    const latent = await encodeAges(models, image, [20, 60]);
    const [young, old] = await embedIdentities(models, await render(models, latent.data, 2), 'onnx');
    // Another "person": the photo upside down with inverted colours.
    const other = await imageToTensor(await sharp(photo).flip().negate({ alpha: false }).png().toBuffer(), ENCODER_SIZE);
    const [stranger] = await embedIdentities(models, await render(models, (await encodeAges(models, other, [20])).data, 1), 'onnx');
    assert.ok(cosine(young, old) > 0.9, `same face ${cosine(young, old)}`);
    assert.ok(cosine(young, stranger) < 0.5, `other face ${cosine(young, stranger)}`);
  });

  it('style mixing with alpha 0 returns the codes exactly, alpha 1 replaces the chosen layers', async function () {
    const image = await imageToTensor(photo, ENCODER_SIZE);
    const latent = await encodeAges(models, image, [30, 60]);
    const reference = new Float32Array(18 * 512).fill(0.5);
    assert.deepEqual(mixLayers(latent.data, 2, reference, [8, 9, 10], 0), latent.data);
    const mixed = await encodeAges(models, image, [30, 60], { layers: parseLayers('8-17'), alpha: 1, reference });
    assert.equal(mixed.data[8 * 512], 0.5);
    assert.equal(mixed.data[7 * 512], latent.data[7 * 512]);
    const random = await encodeAges(models, image, [30, 60], { layers: parseLayers('8-17'), alpha: 1, random: { count: 3, seed: 7 } });
    assert.deepEqual(random.dims, [6, 18, 512]);
    assert.deepEqual(random.ages, [30, 30, 30, 60, 60, 60]);
    const again = await encodeAges(models, image, [30, 60], { layers: parseLayers('8-17'), alpha: 1, random: { count: 3, seed: 7 } });
    assert.deepEqual(again.data, random.data, 'same seed, same styles');
    assert.notDeepEqual(random.data.subarray(8 * 512, 9 * 512), random.data.subarray(18 * 512 + 8 * 512, 18 * 512 + 9 * 512), 'variants differ');
  });
});

describe('SAM inputs', function () {
  it('parses ages: number, list, comma list, range', function () {
    assert.deepEqual(parseAges(42), [42]);
    assert.deepEqual(parseAges([0, 50.5]), [0, 50.5]);
    assert.deepEqual(parseAges('20, 40'), [20, 40]);
    assert.deepEqual(parseAges('0:100:25'), [0, 25, 50, 75, 100]);
    assert.deepEqual(parseAges('10:30'), [10, 20, 30]);
  });

  it('rejects bad ages with exact messages', function () {
    assert.throws(() => parseAges(NaN), { name: 'RangeError', message: 'Expected target ages between 0 and 100 years but received NaN' });
    assert.throws(() => parseAges(101), { message: 'Expected target ages between 0 and 100 years but received 101' });
    assert.throws(() => parseAges([]), { message: 'Expected at least one target age but received an empty list' });
    assert.throws(() => parseAges('abc'), { message: 'Expected target ages between 0 and 100 years but received NaN' });
    assert.throws(() => parseAges({}), { name: 'TypeError', message: 'Expected a target age as a number, a list or a range "start:end:step" but received a value of type object' });
    assert.throws(() => parseAges('0:100:0'), { message: 'Expected a positive step in the age range "0:100:0"' });
    assert.throws(() => parseAges('0:1000:1'), { message: 'Expected at most 101 target ages but the range "0:1000:1" gives 1001' });
  });

  it('checks latents with exact messages', function () {
    assert.throws(() => checkLatent({ dims: [1, 18, 256], data: new Float32Array(18 * 256), ages: [1] }), { message: 'Expected msg.latent.dims to be [K,18,512] but received [1,18,256]' });
    assert.throws(() => checkLatent({ dims: [2, 18, 512], data: new Float32Array(18 * 512), ages: [1, 2] }), { message: 'Expected msg.latent.data to hold 18432 values for dims [2,18,512] but it holds 9216' });
    const nan = new Float32Array(18 * 512);
    nan[5] = NaN;
    assert.throws(() => checkLatent({ dims: [1, 18, 512], data: nan, ages: [1] }), { message: 'Expected msg.latent.data to hold finite numbers but it holds NaN or Infinity' });
    assert.throws(() => checkLatent('x'), { message: 'Expected msg.latent to be { dims: [K,18,512], data, ages } but received string' });
    const ok = checkLatent({ dims: [1, 18, 512], data: Array.from({ length: 18 * 512 }, () => 0), ages: [3] });
    assert.ok(ok.data instanceof Float32Array);
    assert.throws(() => parseLayers('3-20'), { message: 'Expected style layers between 0 and 17 (e.g. "8-17") but received "3-20"' });
  });
});
