import assert from 'node:assert/strict';
import sharp from 'sharp';
import { animationCodes, checkAnimationSize, makeAnimation } from '../lib/sam/animation';
import { labelOverlay, svgTextRenders } from '../lib/sam/labels';
import { validateOutputOptions, OUTPUT_DEFAULTS } from '../lib/sam/output-options';
import { renderFaces } from '../lib/sam/render';
import { checkStripWidth, makeStrip } from '../lib/sam/strip';
import type { SamModels } from '../lib/sam/models';
import { checkPlacement, decodePhoto, maskWeight, pasteFace, pasteRegion, PASTE_MASK_NAMES } from '../lib/sam/paste';
import type { Affine } from '../lib/align/ffhq';
import type { RgbImage } from '../lib/image/decode';
import type { Latent } from '../lib/sam/latent';

const CODE = 18 * 512;

/** A uniform RGB image. */
function plain(width: number, height: number, value: number): RgbImage {
  return { data: new Uint8Array(width * height * 3).fill(value), width, height };
}

/** A rotation by `deg` and scale `s` about the origin, then a shift. */
function similarity(s: number, deg: number, tx: number, ty: number): Affine {
  const r = (deg * Math.PI) / 180;
  return [
    [s * Math.cos(r), -s * Math.sin(r), tx],
    [s * Math.sin(r), s * Math.cos(r), ty],
  ];
}

/** Fraction of pixels that are (nearly) opaque: the text, not the translucent pill. */
async function inkOf(svg: Buffer): Promise<number> {
  const alpha = await sharp(svg).extractChannel(3).raw().toBuffer();
  return alpha.filter((a) => a > 200).length / alpha.length;
}

describe('output engine (lib/sam/output, lib/sam/paste)', function () {
  it('checks every setting with an exact message', function () {
    assert.deepEqual(validateOutputOptions(), OUTPUT_DEFAULTS);
    assert.equal(OUTPUT_DEFAULTS.size, 1024, 'full generator resolution by default');
    const cases: Array<[object, string]> = [
      [{ mode: 'film' }, 'Expected one of sequence, strip, animation, paste-back for mode but received "film" of type string'],
      [{ format: 'bmp' }, 'Expected one of png, jpeg, webp for format but received "bmp" of type string'],
      [{ size: 300 }, 'Expected one of 1024, 512, 256 for size but received 300 of type number'],
      [{ quality: 'best' }, 'Expected one of full, fast for quality but received "best" of type string'],
      [{ labels: 'yes' }, 'Expected a boolean for labels but received "yes" of type string'],
      [{ animationFormat: 'apng' }, 'Expected one of gif, webp for animationFormat but received "apng" of type string'],
      [{ frames: 61 }, 'Expected an integer between 0 and 60 for frames but received 61 of type number'],
      [{ frames: 1.5 }, 'Expected an integer between 0 and 60 for frames but received 1.5 of type number'],
      [{ delay: 5 }, 'Expected an integer between 20 and 65535 (ms) for delay but received 5 of type number'],
      [{ loop: -1 }, 'Expected an integer between 0 and 65535 for loop but received -1 of type number'],
      [{ feather: 0 }, 'Expected a number between 0.01 and 1 for feather but received 0 of type number'],
      [{ mask: 'hair' }, 'Expected one of head, face for mask but received "hair" of type string'],
    ];
    for (const [options, message] of cases) assert.throws(() => validateOutputOptions(options), { message });
  });

  it('interpolates codes and ages between consecutive ages', function () {
    const data = new Float32Array(3 * CODE);
    data.fill(0, 0, CODE);
    data.fill(1, CODE, 2 * CODE);
    data.fill(3, 2 * CODE);
    const latent: Latent = { dims: [3, 18, 512], data, ages: [10, 20, 40] };
    const { codes, ages, count } = animationCodes(latent, 3);
    assert.equal(count, 9);
    assert.deepEqual(ages, [10, 12.5, 15, 17.5, 20, 25, 30, 35, 40]);
    assert.deepEqual(
      Array.from({ length: count }, (_, f) => codes[f * CODE + 100]),
      [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3],
    );
    assert.equal(animationCodes(latent, 0).count, 3);
  });

  it('stops rendering between batches once aborted', async function () {
    const closing = new AbortController();
    closing.abort(new Error('node closed'));
    await assert.rejects(renderFaces({} as SamModels, new Float32Array(CODE), 1, 256, undefined, closing.signal), { message: 'node closed' });
  });

  it('refuses animations and strips that do not fit, before rendering', function () {
    assert.throws(() => checkAnimationSize(1, { frames: 8, size: 256 }), { message: 'Expected at least 2 ages in msg.latent for an animation but received 1' });
    assert.throws(() => checkAnimationSize(101, { frames: 8, size: 256 }), { message: 'An animation of 901 frames is more than the 600 allowed; give fewer ages or fewer frames between them' });
    assert.throws(() => checkAnimationSize(21, { frames: 8, size: 1024 }), { message: 'An animation of 181 frames at 1024 px needs 543 MiB, more than 512 MiB; choose a smaller size or fewer frames' });
    assert.equal(checkAnimationSize(11, { frames: 8, size: 512 }), 91);
    assert.throws(() => checkStripWidth(17, 1024, 'webp'), { message: 'A strip of 17 faces at 1024 px is 17408 px wide, more than WEBP can store (16383); choose PNG or a smaller size' });
    assert.equal(checkStripWidth(17, 1024, 'png'), 17408);
  });

  it('draws labels with the machine fonts, and with the built-in pixel font without them', async function () {
    assert.equal(await svgTextRenders(), true, 'this machine has a font librsvg can use');
    for (const fonts of [true, false]) {
      const { input, top } = await labelOverlay(['input', '42', '12.5'], 256, fonts);
      assert.equal(top, 256 - 9 - 28, 'a band near the bottom of the tile');
      const ink = await inkOf(input);
      const pill = await inkOf(Buffer.from(input.toString().replace(/fill="#fff"/g, 'fill="none"')));
      assert.ok(ink > pill + 0.002, `text adds ink (fonts ${fonts}): ${ink} vs ${pill}`);
    }
  });

  it('strips are tiles x size wide, labels only touch the bottom of each tile', async function () {
    const faces = [plain(64, 64, 60), plain(64, 64, 120), plain(64, 64, 180)];
    const input = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#808080' } }).png().toBuffer();
    const plainStrip = await makeStrip(faces, [20, 40, 60], { size: 256, format: 'png', labels: false }, input);
    const labelled = await makeStrip(faces, [20, 40, 60], { size: 256, format: 'png', labels: true }, input);
    const meta = await sharp(labelled).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format, meta.channels], [4 * 256, 256, 'png', 3]);
    const a = await sharp(plainStrip).raw().toBuffer();
    const b = await sharp(labelled).raw().toBuffer();
    let above = 0;
    let below = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) continue;
      if (Math.floor(i / 3 / 1024) < 256 * 0.82) above++;
      else below++;
    }
    assert.equal(above, 0, 'nothing changes above the labels');
    assert.ok(below > 4 * 500, `every tile has a label (${below} values changed)`);
    const noInput = await sharp(await makeStrip(faces, [20, 40, 60], { size: 512, format: 'jpeg', labels: true })).metadata();
    assert.deepEqual([noInput.width, noInput.height, noInput.format], [3 * 512, 512, 'jpeg']);
  });

  it('animations hold one page per frame with the frame time and loop count', async function () {
    const frames = Array.from({ length: 7 }, (_, i) => plain(64, 64, 20 + i * 30));
    const ages = frames.map((_, i) => i * 10);
    for (const animationFormat of ['gif', 'webp'] as const) {
      const out = await makeAnimation(frames, ages, { size: 256, labels: true, animationFormat, delay: 120, loop: 3 });
      const meta = await sharp(out).metadata();
      assert.equal(meta.format, animationFormat);
      assert.equal(meta.pages, 7);
      assert.deepEqual(meta.delay, Array(7).fill(120));
      assert.equal(meta.loop, 3);
      assert.deepEqual([meta.width, meta.pageHeight ?? meta.height], [256, 256]);
    }
  });

  it('each mask is 1 on the face, 0 at the square border, smooth between; the head mask takes the hair', function () {
    for (const mask of PASTE_MASK_NAMES) {
      assert.equal(maskWeight(0.5, 0.5, 0.3, mask), 1, mask);
      assert.equal(maskWeight(0.35, 0.6, 0.3, mask), 1, mask);
      for (let t = 0; t <= 1; t += 0.05) {
        for (const [u, v] of [[t, 0], [t, 1], [0, t], [1, t]]) assert.equal(maskWeight(u, v, 0.3, mask), 0, `${mask}: border ${u},${v}`);
      }
      const ramp = Array.from({ length: 21 }, (_, i) => maskWeight(0.5 + (0.5 * i) / 20, 0.52, 0.3, mask));
      for (let i = 1; i < ramp.length; i++) assert.ok(ramp[i] <= ramp[i - 1], `${mask}: falls off monotonically`);
      assert.ok(ramp.some((w) => w > 0.2 && w < 0.8), `${mask}: has a soft edge`);
    }
    // Hair of an FFHQ crop: the crown (y 0.15), the upper corners of the head (0.2, 0.2), the sides (0.15, 0.45).
    for (const [u, v] of [[0.5, 0.15], [0.2, 0.2], [0.15, 0.45]]) {
      assert.ok(maskWeight(u, v) > 0.9, `the head mask (the default) pastes the hair at ${u},${v}: ${maskWeight(u, v)}`);
      assert.ok(maskWeight(u, v, 0.3, 'face') < 0.6, `the face mask mostly keeps the photo's hair at ${u},${v}`);
    }
  });

  it('colour matching corrects the seam only: inside the mask the render keeps its own colours', async function () {
    // A render lighter and greyer than the photo all over (what aging does to hair): the seam
    // meets the photo, the inside stays as rendered.
    const photo = plain(300, 300, 0);
    for (let i = 0; i < photo.data.length; i += 3) photo.data.set([120, 80, 50], i);
    const face = plain(256, 256, 0);
    for (let i = 0; i < face.data.length; i += 3) face.data.set([170, 165, 160], i);
    const placement = { transform: similarity(1, 0, 22, 22), size: 256 };
    for (const mask of PASTE_MASK_NAMES) {
      const { image, colour } = await pasteFace(photo, face, placement, { mask });
      const at = (x: number, y: number): number[] => Array.from(image.data.subarray((y * 300 + x) * 3, (y * 300 + x) * 3 + 3));
      assert.deepEqual(at(150, 155), [170, 165, 160], `${mask}: the centre is the render as rendered`);
      assert.ok(colour!.before > 80, `${mask}: a large gap before (${colour!.before.toFixed(1)})`);
      assert.ok(colour!.after < 1, `${mask}: none at the seam after (${colour!.after.toFixed(2)})`);
      let maxStep = 0;
      for (let y = 1; y < 300; y++) for (let x = 1; x < 300; x++) for (const [dx, dy] of [[1, 0], [0, 1]]) maxStep = Math.max(maxStep, Math.abs(image.data[(y * 300 + x) * 3] - image.data[((y - dy) * 300 + x - dx) * 3]));
      assert.ok(maxStep < 12, `${mask}: the 50-level change spreads over the soft edge (largest step ${maxStep})`);
    }
  });

  it('pastes without a seam and leaves the photo untouched outside the face', async function () {
    const photo = plain(400, 300, 40);
    const face = plain(64, 64, 240);
    const placement = { transform: similarity(1.1, 12, 80, 20), size: 256 };
    const { image, region } = await pasteFace(photo, face, placement, { colorMatch: false });
    assert.deepEqual([image.width, image.height], [400, 300]);
    const at = (x: number, y: number): number => image.data[(y * 400 + x) * 3];
    // The aligned centre lands at transform(127.5, 127.5).
    const [[a, b, c], [d, e, f]] = placement.transform;
    const cx = Math.round(a * 127.5 + b * 127.5 + c);
    const cy = Math.round(d * 127.5 + e * 127.5 + f);
    assert.equal(at(cx, cy), 240, 'face centre is the render');
    let maxStep = 0;
    let changedOutside = 0;
    for (let y = 0; y < 300; y++) {
      for (let x = 0; x < 400; x++) {
        const inside = x >= region.x && x < region.x + region.width && y >= region.y && y < region.y + region.height;
        if (!inside && at(x, y) !== 40) changedOutside++;
        if (x > 0) maxStep = Math.max(maxStep, Math.abs(at(x, y) - at(x - 1, y)));
        if (y > 0) maxStep = Math.max(maxStep, Math.abs(at(x, y) - at(x, y - 1)));
      }
    }
    assert.equal(changedOutside, 0);
    assert.ok(maxStep < 20, `a 200-level jump spreads over the feather (largest step ${maxStep})`);
    assert.ok(region.width < 400 && region.height < 300, 'the region is around the face only');
  });

  it('downsizes a render that is larger than the face in the photo before sampling', async function () {
    // A 1-pixel checkerboard render pasted at a quarter of its size: without the low-pass it aliases.
    const face = plain(256, 256, 0);
    for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) face.data.fill((x + y) % 2 ? 255 : 0, (y * 256 + x) * 3, (y * 256 + x) * 3 + 3);
    const { image } = await pasteFace(plain(200, 200, 128), face, { transform: similarity(0.25, 0, 60, 60), size: 256 });
    const centre = image.data[(92 * 200 + 92) * 3];
    assert.ok(Math.abs(centre - 128) < 12, `averaged to grey, got ${centre}`);
  });

  it('an empty region when the face lies outside the photo', async function () {
    const photo = plain(100, 100, 9);
    const placement = { transform: similarity(1, 0, 500, 500), size: 256 };
    assert.equal(pasteRegion(placement, 100, 100).width, 0);
    const { image } = await pasteFace(photo, plain(64, 64, 200), placement);
    assert.deepEqual(image.data, photo.data);
  });

  it('checks the face placement and the photo with exact messages', async function () {
    assert.throws(() => checkPlacement(undefined), { message: "Expected msg.face to be face-align's face ({ transform, size, ... }) but received undefined" });
    assert.throws(() => checkPlacement({ transform: [[1, 0], [0, 1]], size: 256 }), { message: 'Expected msg.face.transform to be an affine matrix [[a,b,c],[d,e,f]] of finite numbers' });
    assert.throws(() => checkPlacement({ transform: [[0, 0, 1], [0, 0, 1]], size: 256 }), { message: 'Expected msg.face.transform to be invertible' });
    assert.throws(() => checkPlacement({ transform: [[1, 0, 0], [0, 1, 0]] }), { message: "Expected msg.face.size to be the aligned face's side in pixels but received undefined" });
    assert.deepEqual(checkPlacement({ transform: [[1, 0, 2], [0, 1, 3]], size: 256, score: 0.9 }), { transform: [[1, 0, 2], [0, 1, 3]], size: 256 });
    await assert.rejects(decodePhoto('photo.jpg'), { message: 'Expected msg.original to be the original photo as an image Buffer but received string' });
    await assert.rejects(decodePhoto(Buffer.from('not an image')), { name: 'ImageInputError', code: 'EFORMAT', message: 'Image format of msg.original not recognised: expected JPEG, PNG, WebP, GIF, TIFF or AVIF' });
  });
});
