// lib/align against a plain per-pixel reference of the official script (test/fixtures/align/
// ffhq-reference.ts: literal 4096 transform, PIL Lanczos, numpy reflect, scipy Gaussian,
// np.median), given the same landmarks. The bar: mean absolute difference within 2/255
// per channel. Each case drives a different branch of the recipe.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

  it("resample 'sam': SAM's inference script samples the quad straight to 256 (transform_size 256)", async function () {
    const ours = await alignFace(portrait, lm, { size: 256, resample: 'sam' });
    const sam = referenceAlign({ w: portrait.width, h: portrait.height, px: portrait.data }, lm, 256, 256).px;
    const mad = meanAbsDiff(ours.rgb, sam);
    const ffhq = portraitRef ?? referenceAlign({ w: portrait.width, h: portrait.height, px: portrait.data }, lm, 256).px;
    const apart = meanAbsDiff(ours.rgb, ffhq);
    console.log(`      MAD ${mad.toFixed(3)} levels against SAM's steps; ${apart.toFixed(3)} against the FFHQ supersampled ones`);
    assert.ok(mad <= MAX_MAD, `MAD ${mad}`);
    // Sampling without the low-pass aliases: the two recipes must differ measurably, or the
    // option would do nothing.
    assert.ok(apart > mad, `sam (${mad}) is closer to its own reference than to ffhq's (${apart})`);
  });

  it('the reference itself tells a misaligned crop apart (the check can fail)', async function () {
    // The same face with the landmarks moved 3 pixels: the aligned images must differ by far
    // more than the bar, or the comparison above would prove nothing.
    const ours = await alignFace(portrait, lm.map(([x, y]) => [x + 3, y] as Point), { size: 256 });
    const ref = portraitRef ?? referenceAlign({ w: portrait.width, h: portrait.height, px: portrait.data }, lm, 256).px;
    assert.ok(meanAbsDiff(ours.rgb, ref) > 3 * MAX_MAD);
  });
});

describe('alignment parity with the official libraries (Pillow, NumPy, SciPy)', function () {
  this.timeout(120_000);
  const script = path.join(root, 'test/fixtures/align/official_align.py');
  let dir: string;
  let python: string;

  before(function () {
    // Optional: runs where a Python has Pillow and SciPy ($PYTHON, python3, or the system
    // python3 the export tools use; e.g. apt-get install python3-pil python3-scipy).
    const found = [process.env.PYTHON, 'python3', '/usr/bin/python3'].find(
      (exe) => exe && spawnSync(exe, ['-c', 'import PIL.Image, numpy, scipy.ndimage'], { encoding: 'utf8' }).status === 0,
    );
    if (!found) {
      console.log('      skipped: no python3 with Pillow, NumPy and SciPy here');
      this.skip();
    }
    python = found;
    dir = mkdtempSync(path.join(tmpdir(), 'ffhq-official-'));
  });
  after(function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function official(img: RgbImage, landmarks: Point[], size: number, transformSize = 4096): Promise<Buffer> {
    const png = path.join(dir, 'in.png');
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png({ compressionLevel: 1 }).toFile(png);
    writeFileSync(path.join(dir, 'lm.json'), JSON.stringify(landmarks));
    execFileSync(python, [script, png, path.join(dir, 'lm.json'), String(size), path.join(dir, 'out.raw'), String(transformSize)]);
    return readFileSync(path.join(dir, 'out.raw'));
  }

  it('matches the official steps run with PIL, numpy and scipy, with and without padding', async function () {
    const portrait = await decodeImage(readFileSync(path.join(root, 'test/fixtures/astronaut.png')));
    const lm = (JSON.parse(readFileSync(path.join(root, 'test/fixtures/align/astronaut-landmarks.json'), 'utf8')) as { landmarks: Point[] }).landmarks;
    const [left, top, width, height] = [150, 40, 200, 220];
    const corner = await sharp(portrait.data, { raw: { width: 512, height: 512, channels: 3 } }).extract({ left, top, width, height }).raw().toBuffer();
    const cases: Array<[string, RgbImage, Point[]]> = [
      ['portrait', portrait, lm],
      ['face at the corner (padded)', { data: corner, width, height }, lm.map(([x, y]) => [x - left, y - top] as Point)],
    ];
    for (const [name, img, landmarks] of cases) {
      const theirs = await official(img, landmarks, 256);
      const ours = await alignFace(img, landmarks, { size: 256 });
      const mad = meanAbsDiff(ours.rgb, theirs);
      console.log(`      ${name}: MAD ${mad.toFixed(3)} levels against Pillow/SciPy`);
      assert.ok(mad <= MAX_MAD, `${name}: MAD ${mad}`);
    }
  });

  it("resample 'sam' matches SAM's inference steps (transform_size 256) run with PIL, numpy and scipy", async function () {
    const portrait = await decodeImage(readFileSync(path.join(root, 'test/fixtures/astronaut.png')));
    const lm = (JSON.parse(readFileSync(path.join(root, 'test/fixtures/align/astronaut-landmarks.json'), 'utf8')) as { landmarks: Point[] }).landmarks;
    const theirs = await official(portrait, lm, 256, 256);
    const ours = await alignFace(portrait, lm, { size: 256, resample: 'sam' });
    const mad = meanAbsDiff(ours.rgb, theirs);
    const supersampled = meanAbsDiff((await alignFace(portrait, lm, { size: 256 })).rgb, theirs);
    console.log(`      sam: MAD ${mad.toFixed(3)} levels against Pillow (ffhq resample: ${supersampled.toFixed(3)})`);
    assert.ok(mad <= MAX_MAD, `MAD ${mad}`);
    assert.ok(supersampled > mad, 'the ffhq resample is further from SAM\'s steps than the sam one');
  });
});
