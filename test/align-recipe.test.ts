// The FFHQ recipe's arithmetic, checked against values worked out by hand from the published
// script (NVlabs download_ffhq.py recreate_aligned_images), and the hand-written pixel steps
// (PIL's bilinear QUAD transform, numpy's reflect pad) on images small enough to compute on paper.
import assert from 'node:assert/strict';
import { alignedToSource, applyAffine, faceGeometry, ffhqQuad, invertAffine, planAlignment, quadAffine, rint, type Point, type Quad } from '../lib/align/ffhq';
import { supersampleFactor, validateAlignOptions } from '../lib/align/align';
import { quadTransform } from '../lib/align/warp';
import { reflectPad } from '../lib/align/pad';

/**
 * 68 landmarks whose left eye points average to `eyeL`, right eye points to `eyeR`, and whose
 * mouth corners (48, 54) are `mouthL`, `mouthR`; every other point is off at (0, 0), which the
 * recipe never reads.
 */
function landmarks(eyeL: Point, eyeR: Point, mouthL: Point, mouthR: Point): Point[] {
  const lm: Point[] = Array.from({ length: 68 }, () => [0, 0] as Point);
  const ring = (c: Point): Point[] => [
    [c[0] - 6, c[1]],
    [c[0] - 3, c[1] - 2],
    [c[0] + 3, c[1] - 2],
    [c[0] + 6, c[1]],
    [c[0] + 3, c[1] + 2],
    [c[0] - 3, c[1] + 2],
  ];
  ring(eyeL).forEach((p, i) => (lm[36 + i] = p));
  ring(eyeR).forEach((p, i) => (lm[42 + i] = p));
  lm[48] = mouthL;
  lm[54] = mouthR;
  return lm;
}

function near(actual: number, expected: number, tol = 1e-9, what = 'value'): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: expected ${expected}, got ${actual}`);
}

function nearPoints(actual: readonly Point[], expected: readonly Point[], tol = 1e-9): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((p, i) => {
    near(p[0], expected[i]![0], tol, `point ${i} x`);
    near(p[1], expected[i]![1], tol, `point ${i} y`);
  });
}

// Eyes (100,100) and (140,100), mouth corners (105,140) and (135,140):
// eye_avg (120,100), eye_to_eye (40,0), mouth_avg (120,140), eye_to_mouth (0,40);
// x = (40,0) - flipud(0,40)*[-1,1] = (40,0) - (-40,0) = (80,0) -> unit (1,0) -> * max(80, 72) = (80,0);
// y = (0,80); c = (120,100) + 0.1*(0,40) = (120,104); qsize = 160.
const FRONTAL = landmarks([100, 100], [140, 100], [105, 140], [135, 140]);
const FRONTAL_QUAD: Quad = [
  [40, 24],
  [40, 184],
  [200, 184],
  [200, 24],
];

describe('FFHQ recipe: quad', function () {
  it('computes eye centres, mouth corners and the vectors between them', function () {
    const g = faceGeometry(FRONTAL);
    assert.deepEqual(g.eyeLeft, [100, 100]);
    assert.deepEqual(g.eyeRight, [140, 100]);
    assert.deepEqual(g.eyeAvg, [120, 100]);
    assert.deepEqual(g.eyeToEye, [40, 0]);
    assert.deepEqual(g.mouthAvg, [120, 140]);
    assert.deepEqual(g.eyeToMouth, [0, 40]);
  });

  it('builds the oriented square from the eye distance when it dominates', function () {
    const q = ffhqQuad(FRONTAL);
    nearPoints(q.quad, FRONTAL_QUAD);
    near(q.qsize, 160);
    assert.deepEqual(q.center, [120, 104]);
  });

  it('uses 1.8 x eye-to-mouth when that is larger', function () {
    // eye_to_eye (20,0), eye_to_mouth (0,50): x = (20,0) - (-50,0) = (70,0) -> (1,0) * max(40, 90) = (90,0);
    // c = (110,100) + (0,5) = (110,105); quad from (20,15) to (200,195); qsize 180.
    const q = ffhqQuad(landmarks([100, 100], [120, 100], [100, 150], [120, 150]));
    near(q.qsize, 180);
    nearPoints(q.quad, [
      [20, 15],
      [20, 195],
      [200, 195],
      [200, 15],
    ]);
  });

  it('turns with the face: a face rotated by 30 degrees gives the quad rotated by 30 degrees', function () {
    const a = Math.PI / 6;
    const rot = ([x, y]: Point): Point => [Math.cos(a) * x - Math.sin(a) * y + 7, Math.sin(a) * x + Math.cos(a) * y - 3];
    const q = ffhqQuad(FRONTAL.map(rot));
    nearPoints(q.quad, FRONTAL_QUAD.map(rot), 1e-9);
    near(q.qsize, 160, 1e-9);
  });

  it('leans the square with the mouth: x = eye_to_eye - rot90(eye_to_mouth)', function () {
    // eye_to_eye (40,0), mouth shifted right: eye_to_mouth (10,40):
    // x = (40,0) - (-40,10) = (80,-10); |x| = sqrt(6500); scale = max(80, 1.8*sqrt(1700)=74.22) = 80.
    const q = ffhqQuad(landmarks([100, 100], [140, 100], [115, 140], [145, 140]));
    const n = Math.hypot(80, -10);
    const x: Point = [(80 / n) * 80, (-10 / n) * 80];
    const y: Point = [-x[1], x[0]];
    const c: Point = [120 + 1, 100 + 4];
    nearPoints(q.quad, [
      [c[0] - x[0] - y[0], c[1] - x[1] - y[1]],
      [c[0] - x[0] + y[0], c[1] - x[1] + y[1]],
      [c[0] + x[0] + y[0], c[1] + x[1] + y[1]],
      [c[0] + x[0] - y[0], c[1] + x[1] - y[1]],
    ]);
  });

  it('refuses landmark lists that are not 68 finite points', function () {
    assert.throws(() => ffhqQuad(FRONTAL.slice(0, 5)), { name: 'RangeError', message: 'Expected 68 landmarks but received 5' });
    const bad = FRONTAL.map((p) => [...p] as Point);
    bad[40] = [Number.NaN, 1];
    assert.throws(() => ffhqQuad(bad), { name: 'RangeError', message: 'Expected each landmark to be [x, y] with finite numbers but received [null,1]' });
    assert.throws(() => ffhqQuad(Array.from({ length: 68 }, () => [5, 5] as Point)), { name: 'RangeError', message: 'Landmarks are degenerate: eyes and mouth coincide' });
  });

  it('rounds halves to even, as numpy rint does', function () {
    assert.deepEqual([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(rint), [0, 2, 2, 4, -0, -2, -2, 2, 3]);
  });
});

describe('FFHQ recipe: shrink, crop and pad plan', function () {
  it('crops with a border of rint(0.1 qsize) and no padding when the quad is well inside', function () {
    // border = max(rint(16), 3) = 16; crop = (40-16, 24-16, 200+16, 184+16) = (24, 8, 216, 200);
    // quad - (24, 8) spans 16..176 in a 192x192 crop: pad = (0, 0, 0, 0), not > border - 4.
    const plan = planAlignment(ffhqQuad(FRONTAL), 1000, 800, 256);
    assert.equal(plan.shrink, 0);
    assert.equal(plan.border, 16);
    assert.deepEqual(plan.crop, [24, 8, 216, 200]);
    assert.equal(plan.pad, null);
    assert.deepEqual(plan.finalSize, [192, 192]);
    nearPoints(plan.quad, [
      [16, 16],
      [16, 176],
      [176, 176],
      [176, 16],
    ]);
  });

  it('pads by at least rint(0.3 qsize) once the quad comes within 4 pixels of the edge', function () {
    // Shifted by (-32, -22): quad 8..168 x 2..162 in a 300x300 image; crop (0, 0, 184, 178);
    // pad = (-8+16, -2+16, 0, 0) = (8, 14, 0, 0); 14 > 12, so pad = max(pad, rint(48)) = 48 each side.
    const lm = FRONTAL.map(([x, y]) => [x - 32, y - 22] as Point);
    const plan = planAlignment(ffhqQuad(lm), 300, 300, 256);
    assert.deepEqual(plan.crop, [0, 0, 184, 178]);
    assert.deepEqual(plan.pad, [48, 48, 48, 48]);
    assert.deepEqual(plan.finalSize, [280, 274]);
    near(plan.blur, 3.2, 1e-12);
    nearPoints(plan.quad, [
      [56, 50],
      [56, 210],
      [216, 210],
      [216, 50],
    ]);
  });

  it('does not pad when the quad stays exactly border - 4 pixels clear', function () {
    // Shifted by (-30, -20): pad = (6, 12, 0, 0); 12 > 12 is false.
    const plan = planAlignment(ffhqQuad(FRONTAL.map(([x, y]) => [x - 30, y - 20] as Point)), 300, 300, 256);
    assert.equal(plan.pad, null);
  });

  it('skips padding when it is disabled (the official --no-padding)', function () {
    const plan = planAlignment(ffhqQuad(FRONTAL.map(([x, y]) => [x - 32, y - 22] as Point)), 300, 300, 256, false);
    assert.equal(plan.pad, null);
  });

  it('shrinks by floor(qsize / output / 2) when that is above 1, dividing the quad by it', function () {
    // Landmarks x8: qsize 1280; shrink = floor(1280 / 256 * 0.5) = 2; rsize = (rint(4001/2), rint(3001/2))
    // = (2000, 1500) (halves to even); qsize 640; border = 64.
    const lm = FRONTAL.map(([x, y]) => [x * 8, y * 8] as Point);
    const plan = planAlignment(ffhqQuad(lm), 4001, 3001, 256);
    assert.equal(plan.shrink, 2);
    assert.deepEqual(plan.shrunkSize, [2000, 1500]);
    near(plan.qsize, 640);
    assert.equal(plan.border, 64);
    // quad / 2 = (160,96)..(800,736); crop = (96, 32, 864, 800)
    assert.deepEqual(plan.crop, [96, 32, 864, 800]);
    // The same face at 1024 output: shrink = floor(1280 / 1024 * 0.5) = 0.
    assert.equal(planAlignment(ffhqQuad(lm), 4001, 3001, 1024).shrink, 0);
  });

  it('maps aligned pixels to source pixels through crop and pad', function () {
    // Output pixel centre X + 0.5 of 256 covers the 160-pixel quad side: source = 40 + 160 (X + 0.5) / 256.
    const plan = planAlignment(ffhqQuad(FRONTAL.map(([x, y]) => [x - 32, y - 22] as Point)), 300, 300, 256);
    const t = alignedToSource(plan, 300, 300);
    nearPoints([applyAffine(t, [0, 0]), applyAffine(t, [255, 255])], [
      [8 + 160 * (0.5 / 256), 2 + 160 * (0.5 / 256)],
      [8 + 160 * (255.5 / 256), 2 + 160 * (255.5 / 256)],
    ]);
    nearPoints([applyAffine(invertAffine(t), applyAffine(t, [17, 99]))], [[17, 99]], 1e-9);
  });

  it('maps through the shrink as the resize really scaled the image', function () {
    // 4001 -> 2000: one shrunk pixel is 4001/2000 source pixels, centre to centre.
    const lm = FRONTAL.map(([x, y]) => [x * 8, y * 8] as Point);
    const plan = planAlignment(ffhqQuad(lm), 4001, 3001, 256);
    const t = alignedToSource(plan, 4001, 3001);
    const shrunk: Point = [160 + 640 * (0.5 / 256), 96 + 640 * (0.5 / 256)];
    nearPoints([applyAffine(t, [0, 0])], [[(shrunk[0] + 0.5) * (4001 / 2000) - 0.5, (shrunk[1] + 0.5) * (3001 / 1500) - 0.5]], 1e-9);
  });

  it('reads PIL QUAD data as an affine map for a square', function () {
    const m = quadAffine(FRONTAL_QUAD, 4);
    // u = (X + 0.5) / 4: X = 0 -> 40 + 160/8 = 60; Y = 3 -> 24 + 160 * 3.5 / 4 = 164
    nearPoints([applyAffine(m, [0, 3])], [[60, 164]]);
  });

  it('supersamples to at least the source resolution, within transform_size', function () {
    const plan = (qsize: number, size: number): Parameters<typeof supersampleFactor>[0] => ({ ...planAlignment(ffhqQuad(FRONTAL), 1000, 800, size), qsize });
    assert.equal(supersampleFactor(plan(160, 256), 4096), 2);
    assert.equal(supersampleFactor(plan(700, 256), 4096), 4);
    assert.equal(supersampleFactor(plan(1010, 1024), 4096), 2);
    assert.equal(supersampleFactor(plan(3000, 1024), 4096), 4);
    assert.equal(supersampleFactor(plan(3000, 1024), 2048), 2);
    assert.equal(supersampleFactor(plan(300, 256), 256), 1);
  });
});

describe('FFHQ recipe: pixel steps written by hand', function () {
  it('samples like PIL QUAD + BILINEAR: centres at +0.5, truncation to 8 bits', async function () {
    // 3x3 image, value 9x + 2y in every channel. Quad (0,0)-(1,1) onto 2x2: output (0,0) samples
    // PIL coordinate 0.5 + 1 * 0.25 = 0.75 -> pixel 0.25, 0.25: 9*0.25 + 2*0.25 = 2.75 -> 2.
    // Output (1,0): x 0.75 -> 6.75 + 0.5 = 7.25 -> 7; (0,1): 2.25 + 1.5 = 3.75 -> 3; (1,1): 6.75 + 1.5 -> 8.
    const data = Buffer.alloc(3 * 3 * 3);
    for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) data.fill(9 * x + 2 * y, (y * 3 + x) * 3, (y * 3 + x) * 3 + 3);
    const out = await quadTransform({ data, width: 3, height: 3 }, [[0, 0], [0, 1], [1, 1], [1, 0]], 2);
    assert.deepEqual([...out].filter((_, i) => i % 3 === 0), [2, 7, 3, 8]);
  });

  it('clamps at the edge and fills black outside, as PIL does', async function () {
    const data = Buffer.alloc(2 * 2 * 3, 200);
    // Quad (-1,-1)-(0,0) onto 2x2: samples at pixel -0.75 (outside: PIL coordinate -0.25 < 0) and
    // -0.25 (inside: 0.25, clamped to pixel 0).
    const out = await quadTransform({ data, width: 2, height: 2 }, [[-1, -1], [-1, 0], [0, 0], [0, -1]], 2);
    assert.deepEqual([...out].filter((_, i) => i % 3 === 0), [0, 0, 0, 200]);
  });

  it('pads like numpy reflect, folding again when the pad is wider than the image', function () {
    const data = Buffer.from([10, 20, 30, 40].flatMap((v) => [v, v, v]));
    const row = (left: number, right: number): number[] =>
      [...reflectPad({ data, width: 4, height: 1 }, [left, 0, right, 0]).data].filter((_, i) => i % 3 === 0);
    assert.deepEqual(row(2, 2), [30, 20, 10, 20, 30, 40, 30, 20]);
    assert.deepEqual(row(5, 5), [20, 30, 40, 30, 20, 10, 20, 30, 40, 30, 20, 10, 20, 30]);
    const col = reflectPad({ data, width: 1, height: 4 }, [0, 2, 0, 1]);
    assert.deepEqual([...col.data].filter((_, i) => i % 3 === 0), [30, 20, 10, 20, 30, 40, 30]);
  });
});

describe('alignment options', function () {
  it('fills in the defaults', function () {
    assert.deepEqual(validateAlignOptions({}), { size: 256, mode: 'largest', maxPixels: 40_000_000, minFaceSize: 20, transformSize: 4096, resample: 'ffhq', enablePadding: true, detectMaxSide: 2048 });
  });

  it('names the option, what it takes and what it received', function () {
    assert.throws(() => validateAlignOptions({ size: 300 }), { name: 'TypeError', message: 'Expected one of 256, 512, 1024 for size but received 300 of type number' });
    assert.throws(() => validateAlignOptions({ mode: 'some' as never }), { name: 'TypeError', message: "Expected 'largest' or 'all' for mode but received some of type string" });
    assert.throws(() => validateAlignOptions({ maxPixels: 0 }), { name: 'TypeError', message: 'Expected positive integer for maxPixels but received 0 of type number' });
    assert.throws(() => validateAlignOptions({ resample: 'nearest' as never }), { name: 'TypeError', message: "Expected 'ffhq' or 'sam' for resample but received nearest of type string" });
    assert.throws(() => validateAlignOptions({ minFaceSize: -1 }), { name: 'TypeError', message: 'Expected number >= 0 for minFaceSize but received -1 of type number' });
  });
});
