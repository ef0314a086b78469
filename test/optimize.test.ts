import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgeRuntime } from '../lib/runtime/runtime';
import { SamModels } from '../lib/sam/models';
import { ENCODER_SIZE } from '../lib/sam/encode';
import { imageToTensor } from '../lib/sam/image';
import { measureAges } from '../lib/sam/measure';
import { render } from '../lib/sam/render';
import type { Tensor } from '../lib/tensor';
import { Cma, symmetricEigen } from '../lib/optimize/cmaes';
import { DialSearch } from '../lib/optimize/dial';
import { interpolationRatios, roughness, smoothSchedule } from '../lib/optimize/path';
import { validateOptimizeOptions } from '../lib/optimize/options';
import { optimizePath, type OptimizeResult } from '../lib/optimize/optimize';
import { FIXTURES, TINY_MODELS } from './paths';

const photo = readFileSync(join(FIXTURES, 'astronaut.png'));

describe('path optimization on the tiny models', function () {
  this.timeout(60000);
  let runtime: AgeRuntime;
  let models: SamModels;
  let image: Tensor;
  let first: OptimizeResult;
  before(async function () {
    runtime = AgeRuntime.create({ provider: 'cpu', modelDir: TINY_MODELS, threads: 1 });
    models = new SamModels(runtime);
    image = await imageToTensor(photo, ENCODER_SIZE);
    first = await optimizePath(models, image, { ages: '0:100:10', seed: 1 });
  });
  after(async function () {
    await models.release();
    await runtime.close();
  });

  it('removes the designed bias: MAE after <= 30% of before and <= 2 years, identity kept, path no rougher, within budget', function () {
    const { report, latent } = first;
    assert.equal(report.frames.length, 11);
    assert.ok(report.maeBefore > 4, `the tiny models' bias shows before: ${report.maeBefore}`);
    assert.ok(report.maeAfter <= 0.3 * report.maeBefore, `MAE ${report.maeBefore} -> ${report.maeAfter}`);
    assert.ok(report.maeAfter <= 2, `MAE after ${report.maeAfter}`);
    assert.ok(report.identityAfter >= report.identityBefore - 0.02, `identity ${report.identityBefore} -> ${report.identityAfter}`);
    assert.ok(report.smoothnessAfter <= report.smoothnessBefore, `smoothness ${report.smoothnessBefore} -> ${report.smoothnessAfter}`);
    assert.ok(report.evaluations <= report.budget && report.budget === 40 * 11, `evaluations ${report.evaluations} of ${report.budget}`);
    assert.ok(report.evaluations > 11, 'it did search');
    assert.deepEqual(latent.dims, [11, 18, 512]);
    assert.deepEqual(latent.ages, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    // Hitting 0 and 100 takes dials beyond SAM's range (the bias is 0.8a + 12), within the allowed [-20, 120].
    assert.ok(report.frames[0].dial < -10 && report.frames[0].dial >= -20, `dial for 0: ${report.frames[0].dial}`);
    assert.ok(report.frames[10].dial > 105 && report.frames[10].dial <= 120, `dial for 100: ${report.frames[10].dial}`);
    for (const f of report.frames) {
      for (const key of ['measuredBefore', 'measuredAfter', 'identityBefore', 'identityAfter'] as const) assert.ok(Number.isFinite(f[key]), `${key} of ${f.target}`);
    }
  });

  it('gives a latent that renders its target ages at full resolution too', async function () {
    const { latent } = first;
    const measured = await measureAges(models, await render(models, latent.data, latent.dims[0]), 'onnx');
    const mae = measured.reduce((acc, m, k) => acc + Math.abs(m - latent.ages[k]), 0) / measured.length;
    assert.ok(mae <= 1, `MAE at full resolution ${mae}: ${measured.map((m) => m.toFixed(1)).join(' ')}`);
  });

  it('gives the same result for the same seed', async function () {
    const again = await optimizePath(models, image, { ages: '0:100:10', seed: 1 });
    assert.deepEqual(again.latent.data, first.latent.data);
    assert.deepEqual({ ...again.report, seconds: 0 }, { ...first.report, seconds: 0 });
  });

  it('spends nothing beyond SAM itself with a budget of 1 per frame', async function () {
    const { report, latent } = await optimizePath(models, image, { ages: [20, 50], budget: 1 });
    assert.equal(report.evaluations, 2);
    assert.equal(report.maeAfter, report.maeBefore);
    assert.deepEqual(latent.dims, [2, 18, 512]);
  });

  it('stops promptly when aborted and starts no more runtime jobs', async function () {
    const controller = new AbortController();
    let runsAtAbort = -1;
    const started = Date.now();
    const running = optimizePath(models, image, { ages: '0:100:5', budget: 200 }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'dial' && !controller.signal.aborted) controller.abort();
      },
    });
    await assert.rejects(running, { name: 'AbortError', message: 'path optimization cancelled' });
    assert.ok(Date.now() - started < 5000, 'promptly');
    runsAtAbort = (await runtime.stats()).runs;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await runtime.stats()).runs, runsAtAbort, 'no model ran after the rejection');
    assert.equal(runtime.pending, 0);
  });

  it('names a model folder missing a role, before spending anything', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'tiny-no-age-'));
    try {
      for (const name of ['inversion', 'aging', 'generator', 'generator-256', 'identity']) {
        for (const ext of ['onnx', 'json']) copyFileSync(join(TINY_MODELS, `${name}.${ext}`), join(dir, `${name}.${ext}`));
      }
      const partial = AgeRuntime.create({ provider: 'cpu', modelDir: dir, threads: 1 });
      const partialModels = new SamModels(partial);
      try {
        await assert.rejects(optimizePath(partialModels, image, { ages: [30] }), {
          name: 'ContractError',
          message: `model file missing: ${join(dir, 'age.onnx')} (role "age"); export the SAM models with: npx age-transform export --sam sam_ffhq_aging.pt --out ${dir}`,
        });
        assert.equal((await partial.stats()).runs, 0, 'nothing ran');
      } finally {
        await partialModels.release();
        await partial.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('path optimization with the bundled face-api nets', function () {
  this.timeout(60000);

  it('measures age and identity with face-api on a real photo and stays within budget', async function () {
    const runtime = AgeRuntime.create({ provider: 'cpu', modelDir: TINY_MODELS, threads: 1 });
    const models = new SamModels(runtime);
    try {
      const image = await imageToTensor(photo, ENCODER_SIZE);
      const { report, latent } = await optimizePath(models, image, { ages: [20, 60], budget: 5, ageBackend: 'faceapi', identityBackend: 'faceapi' });
      assert.equal(report.ageBackend, 'faceapi');
      assert.equal(report.identityBackend, 'faceapi');
      assert.equal(report.budget, 10);
      assert.ok(report.evaluations >= 2 && report.evaluations <= 10, `evaluations ${report.evaluations}`);
      assert.deepEqual(latent.dims, [2, 18, 512]);
      for (const f of report.frames) {
        for (const age of [f.measuredBefore, f.measuredAfter]) assert.ok(age >= 0 && age <= 110, `age ${age}`);
        for (const id of [f.identityBefore, f.identityAfter]) assert.ok(id >= -1 && id <= 1, `identity ${id}`);
      }
      // No accuracy claim for face-api on the tiny models' renders: only that it did not get worse.
      assert.ok(report.maeAfter <= report.maeBefore, `MAE ${report.maeBefore} -> ${report.maeAfter}`);
    } finally {
      await models.release();
      await runtime.close();
    }
  });
});

describe('path optimization settings', function () {
  it('fills in the defaults', function () {
    const o = validateOptimizeOptions();
    assert.deepEqual(o.ages, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    assert.equal(o.budget, 40);
    assert.deepEqual(o.weights, { age: 1, identity: 10, smoothness: 1000 });
    assert.deepEqual(o.dialRange, [-20, 120]);
    assert.equal(validateOptimizeOptions({ ages: '20, 40', weights: { identity: 0 } }).weights.identity, 0);
  });

  it('rejects bad settings with exact messages', function () {
    const bad = (input: object, message: string): void => assert.throws(() => validateOptimizeOptions(input), { message });
    bad({ ages: [] }, 'Expected at least one target age but received an empty list');
    bad({ ages: [20, 120] }, 'Expected target ages between 0 and 100 years but received 120');
    bad({ ages: '-5:50:5' }, 'Expected target ages between 0 and 100 years but received -5');
    bad({ budget: 0 }, 'Expected a positive integer for budget (evaluations per frame, at most 10000) but received 0');
    bad({ budget: 2.5 }, 'Expected a positive integer for budget (evaluations per frame, at most 10000) but received 2.5');
    bad({ budget: '40' }, 'Expected a positive integer for budget (evaluations per frame, at most 10000) but received "40"');
    bad({ ageBackend: 'dex' }, 'Expected one of onnx, faceapi for the age backend but received "dex"');
    bad({ identityBackend: 'arcface' }, 'Expected one of onnx, faceapi for the identity backend but received "arcface"');
    bad({ weights: { identity: -1 } }, 'Expected a non-negative number for the identity weight but received -1');
    bad({ weights: { age: 0 } }, 'Expected a positive age weight: without it nothing pulls the frames to their target ages');
    bad({ seed: -1 }, 'Expected an integer between 0 and 4294967295 for seed but received -1');
    bad({ dialRange: [120, -20] }, 'Expected dialRange to be [min, max] with min < max but received [120,-20]');
    bad({ weightRange: [0.5, 4] }, 'Expected weightRange within [0, 3] but received [0.5,4]');
  });
});

describe('optimizer parts', function () {
  it('CMA-ES minimises a rotated, badly scaled quadratic, the same way for the same seed', function () {
    const f = (x: number[]): number => {
      const u = (x[0] + x[1]) / Math.SQRT2 - 1;
      const v = (x[0] - x[1]) / Math.SQRT2 + 2;
      return u * u + 100 * v * v + (x[2] - 0.5) ** 2 + 10 * (x[3] + 0.25) ** 2;
    };
    const run = (seed: number): number[] => {
      const es = new Cma({ mean: [0, 0, 0, 0], sigma: 0.5, seed });
      for (let g = 0; g < 150; g++) {
        const xs = es.ask();
        es.tell(xs, xs.map(f));
      }
      return es.mean;
    };
    const mean = run(3);
    assert.ok(f(mean) < 1e-8, `f(mean) = ${f(mean)}`);
    assert.deepEqual(run(3), mean);
    assert.notDeepEqual(run(4), mean);
  });

  it('decomposes a symmetric matrix', function () {
    const m = [
      [4, 1, 0.5],
      [1, 3, 0.2],
      [0.5, 0.2, 1],
    ];
    const { vectors, values } = symmetricEigen(m);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 3; i++) {
        const mv = m[i].reduce((acc, mij, j) => acc + mij * vectors[j][c], 0);
        assert.ok(Math.abs(mv - values[c] * vectors[i][c]) < 1e-10);
      }
    }
  });

  it('root-finds a measured age that is a saturating staircase of the dial', function () {
    // 0.8 d + 12, read in steps of 0.4 years and clamped to [1, 99] like a saturating regressor.
    const measure = (d: number): number => Math.min(99, Math.max(1, Math.round((0.8 * d + 12) / 0.4) * 0.4));
    for (const target of [10, 37, 64.3, 90]) {
      const search = new DialSearch(target, [-20, 120], 0.25);
      for (let i = 0; i < 12 && !search.done; i++) {
        const dial = search.next();
        if (dial === undefined) break;
        search.add(dial, measure(dial));
      }
      const best = Math.min(...search.points.map((p) => Math.abs(p.age - target)));
      assert.ok(best <= 0.25, `target ${target}: best error ${best} after ${search.points.length} points`);
      assert.ok(search.points.length <= 6, `target ${target} took ${search.points.length} points`);
    }
    // Unreachable target: it stops on the plateau instead of running to the edge.
    const search = new DialSearch(0, [-20, 120], 0.25);
    while (!search.done) {
      const dial = search.next();
      if (dial === undefined) break;
      search.add(dial, measure(dial));
    }
    assert.ok(search.points.length <= 6);
    assert.equal(Math.min(...search.points.map((p) => p.age)), 1);
  });

  it('smooths a dial schedule without bending a straight one', function () {
    const ages = [0, 10, 20, 35, 50, 80, 100];
    const ratios = interpolationRatios(ages);
    const straight = ages.map((t) => (t - 12) / 0.8);
    smoothSchedule(straight, ratios, 1e4).forEach((d, k) => assert.ok(Math.abs(d - straight[k]) < 1e-6));
    const noisy = straight.map((d, k) => d + (k % 2 ? 0.5 : -0.5));
    const smoothed = smoothSchedule(noisy, ratios, 1e4);
    const error = (xs: number[]): number => Math.max(...xs.map((d, k) => Math.abs(d - straight[k])));
    assert.ok(error(smoothed) < 0.5 * error(noisy), `${error(noisy)} -> ${error(smoothed)}`);
  });

  it('measures roughness against the line through the neighbours, not across turning points', function () {
    assert.deepEqual(interpolationRatios([0, 10, 30, 20, 20, 20]).map((r) => (Number.isNaN(r) ? null : r)), [null, 1 / 3, null, 1, 0.5, null]);
    const code = (v: number): Float32Array => new Float32Array(18 * 512).fill(v);
    const ratios = interpolationRatios([0, 10, 20]);
    assert.equal(roughness([code(0), code(1), code(2)], ratios, 1), 0);
    assert.equal(roughness([code(0), code(2), code(2)], ratios, 9216), 1);
    assert.equal(roughness([code(0), code(5), code(0)], interpolationRatios([20, 60, 20]), 1), 0, 'a turning point is not a jump');
  });
});
