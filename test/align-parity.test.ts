// lib/align against a plain per-pixel reference of the official script (test/fixtures/align/
// ffhq-reference.ts: literal 4096 transform, PIL Lanczos, numpy reflect, scipy Gaussian,
// np.median), given the same landmarks. The bar: mean absolute difference within 2/255
// per channel. Each case drives a different branch of the recipe.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { alignFace } from '../lib/align/align';
import type { Point } from '../lib/align/ffhq';
import { decodeImage, type RgbImage } from '../lib/image/decode';
import { meanAbsDiff, referenceAlign } from './fixtures/align/ffhq-reference';

const root = path.resolve(__dirname, '..', '..');
const MAX_MAD = 2;

describe('alignment parity with the official recipe (MAD <= 2/255)', function () {
  this.timeout(120_000);
  let portrait: RgbImage;
  let lm: Point[];

  before(async function () {
    portrait = await decodeImage(readFileSync(path.join(root, 'test/fixtures/astronaut.png')));
    lm = (JSON.parse(readFileSync(path.join(root, 'test/fixtures/align/astronaut-landmarks.json'), 'utf8')) as { landmarks: Point[] }).landmarks;
  });

  let portraitRef: Float64Array | Uint8Array | undefined;

  async function compare(img: RgbImage, landmarks: Point[], size: number): Promise<{ mad: number; plan: Awaited<ReturnType<typeof alignFace>>['plan']; ref: Float64Array | Uint8Array }> {
    const ours = await alignFace(img, landmarks, { size });
    const ref = referenceAlign({ w: img.width, h: img.height, px: img.data }, landmarks, size);
    const mad = meanAbsDiff(ours.rgb, ref.px);
    // Shown in the test log: the measured numbers matter, not only the verdict.
    console.log(`      MAD ${mad.toFixed(3)} levels (shrink ${ours.plan.shrink}, crop ${ours.plan.crop ? 'yes' : 'no'}, pad ${ours.plan.pad ? 'yes' : 'no'})`);
    return { mad, plan: ours.plan, ref: ref.px };
  }

  it('crop only, 256 (portrait)', async function () {
    const { mad, plan, ref } = await compare(portrait, lm, 256);
    portraitRef = ref;
    assert.ok(plan.crop && !plan.pad && plan.shrink <= 1, 'case should crop without padding or shrinking');
    assert.ok(mad <= MAX_MAD, `MAD ${mad}`);
  });

  it('reflect pad with blur and median fade, 256 (face at the image corner)', async function () {
    const [left, top, width, height] = [150, 40, 200, 220];
    const data = await sharp(portrait.data, { raw: { width: 512, height: 512, channels: 3 } }).extract({ left, top, width, height }).raw().toBuffer();
    const { mad, plan } = await compare({ data, width, height }, lm.map(([x, y]) => [x - left, y - top] as Point), 256);
    assert.ok(plan.pad, 'case should pad');
    assert.ok(mad <= MAX_MAD, `MAD ${mad}`);
  });

  it('shrink before crop, 256 (portrait upscaled 7x)', async function () {
    const s = 7;
    const data = await sharp(portrait.data, { raw: { width: 512, height: 512, channels: 3 } }).resize(512 * s, 512 * s, { kernel: 'lanczos3' }).raw().toBuffer();
    const { mad, plan } = await compare({ data, width: 512 * s, height: 512 * s }, lm.map(([x, y]) => [(x + 0.5) * s - 0.5, (y + 0.5) * s - 0.5] as Point), 256);
    assert.ok(plan.shrink > 1, 'case should shrink');
    assert.ok(mad <= MAX_MAD, `MAD ${mad}`);
  });

  it('1024 output (4x supersampling in the official script)', async function () {
    const { mad } = await compare(portrait, lm, 1024);
    assert.ok(mad <= MAX_MAD, `MAD ${mad}`);
  });

  it('the reference itself tells a misaligned crop apart (the check can fail)', async function () {
    // The same face with the landmarks moved 3 pixels: the aligned images must differ by far
    // more than the bar, or the comparison above would prove nothing.
    const ours = await alignFace(portrait, lm.map(([x, y]) => [x + 3, y] as Point), { size: 256 });
    const ref = portraitRef ?? referenceAlign({ w: portrait.width, h: portrait.height, px: portrait.data }, lm, 256).px;
    assert.ok(meanAbsDiff(ours.rgb, ref) > 3 * MAX_MAD);
  });
});
