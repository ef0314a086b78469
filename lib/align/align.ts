// From an image Buffer to aligned face crops: decode, detect (through a caller-supplied
// function, so inference can live in the runtime's worker), choose faces, and run the FFHQ
// recipe on each. sharp does the resizing, cropping, blurring and encoding; warp.ts does the
// two steps sharp cannot do the official way.
import sharp, { type Sharp } from 'sharp';
import { DECODE_DEFAULTS, decodeImage, typeName, type RgbImage } from '../image/decode';
import type { Box, Detection, DetectFn } from '../face/types';
import { ALIGN_SIZES, alignedToSource, FFHQ, ffhqQuad, planAlignment, type Affine, type AlignPlan, type Point, type Quad } from './ffhq';
import { padBlend, reflectPad } from './pad';
import { quadTransform } from './warp';

/** Which faces an image yields. */
export type AlignMode = 'largest' | 'all';

/**
 * How the quad is resampled: `ffhq` as NVlabs' download_ffhq.py does it (bilinear onto a
 * 4096 grid, then Lanczos down); `sam` as SAM's inference script (scripts/align_all_parallel.py)
 * does it, bilinear straight onto the output grid (transform_size = output_size).
 */
export type AlignResample = 'ffhq' | 'sam';

/** The resample choices, for validation and the CLI. */
export const ALIGN_RESAMPLES: readonly AlignResample[] = ['ffhq', 'sam'];

/** Options of {@link alignImage} and {@link alignFace}. */
export interface AlignOptions {
  /** Output side in pixels: 256, 512 or 1024. */
  size: number;
  /** `largest`: the face with the largest box; `all`: every face, left to right. */
  mode: AlignMode;
  /** Images over this many pixels are refused before decoding. */
  maxPixels: number;
  /** Faces whose box is smaller than this (shorter side, source pixels) are ignored. */
  minFaceSize: number;
  /** The official supersampled transform size; its effect is reproduced (see alignFace). */
  transformSize: number;
  /** `ffhq` (supersampled, the default) or `sam` (sampled straight to the output size). */
  resample: AlignResample;
  /** Reflect-pad with blur and median fill where the quad leaves the image. */
  enablePadding: boolean;
  /** Images larger than this (longer side) are downscaled for detection only. */
  detectMaxSide: number;
}

/** Every default of alignment, in one place. */
export const ALIGN_DEFAULTS: Readonly<AlignOptions> = {
  size: 256,
  mode: 'largest',
  maxPixels: DECODE_DEFAULTS.maxPixels,
  minFaceSize: 20,
  transformSize: FFHQ.TRANSFORM_SIZE,
  resample: 'ffhq',
  enablePadding: true,
  detectMaxSide: 2048,
};

/** One aligned face with everything needed to use it and to paste it back. */
export interface AlignedFace {
  /** The aligned face, PNG. */
  image: Buffer;
  size: number;
  score: number;
  /** Detection box in source pixels. */
  box: Box;
  /** 68 landmarks [x, y] in source pixels. */
  landmarks: Point[];
  /** The FFHQ crop square in source pixels: NW, SW, SE, NE. */
  quad: Quad;
  /** Affine map from aligned pixels to source pixels (both pixel-index coordinates). */
  transform: Affine;
}

/** What {@link alignImage} returns. */
export interface AlignResult {
  /** Size of the decoded (upright) source image. */
  width: number;
  height: number;
  /** Faces found, before choosing (after the minimum size filter). */
  found: number;
  faces: AlignedFace[];
  /** Milliseconds per stage. */
  timings: { decode: number; detect: number; align: number; total: number };
}

function invalid(what: string, expected: string, value: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${what} but received ${String(value)} of type ${typeName(value)}`);
}

/**
 * Checks and completes alignment options.
 * @throws {TypeError} naming the option, what it takes and what it received
 * @example validateAlignOptions({ size: 512 })
 */
export function validateAlignOptions(options: Partial<AlignOptions> = {}): AlignOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<AlignOptions>;
  const o: AlignOptions = { ...ALIGN_DEFAULTS, ...defined };
  if (!(ALIGN_SIZES as readonly number[]).includes(o.size)) throw invalid('size', `one of ${ALIGN_SIZES.join(', ')}`, o.size);
  if (o.mode !== 'largest' && o.mode !== 'all') throw invalid('mode', "'largest' or 'all'", o.mode);
  if (!Number.isInteger(o.maxPixels) || o.maxPixels < 1) throw invalid('maxPixels', 'positive integer', o.maxPixels);
  if (typeof o.minFaceSize !== 'number' || !(o.minFaceSize >= 0)) throw invalid('minFaceSize', 'number >= 0', o.minFaceSize);
  if (!Number.isInteger(o.transformSize) || o.transformSize < 1 || o.transformSize > 8192) throw invalid('transformSize', 'integer between 1 and 8192', o.transformSize);
  if (!ALIGN_RESAMPLES.includes(o.resample)) throw invalid('resample', "'ffhq' or 'sam'", o.resample);
  if (typeof o.enablePadding !== 'boolean') throw invalid('enablePadding', 'boolean', o.enablePadding);
  if (!Number.isInteger(o.detectMaxSide) || o.detectMaxSide < 64) throw invalid('detectMaxSide', 'integer >= 64', o.detectMaxSide);
  return o;
}

function raw(img: RgbImage): { raw: { width: number; height: number; channels: 3 } } {
  return { raw: { width: img.width, height: img.height, channels: 3 } };
}

async function toRgb(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/**
 * The supersampling used for the transform. The official script samples the quad bilinearly
 * onto a transform_size grid (4096) and then downsizes with Lanczos; that is the source,
 * bilinearly interpolated, low-passed by a Lanczos kernel three output pixels wide. Sampling
 * the same interpolated surface on any grid at least as fine as the source pixels under the
 * quad gives the same low-passed result (the tests measure it against the full 4096 path), so
 * the grid is the smallest power-of-two multiple of the output that reaches the source
 * resolution, at least 2x, and never finer than transform_size.
 */
export function supersampleFactor(plan: AlignPlan, transformSize: number): number {
  const most = Math.max(1, Math.floor(transformSize / plan.outputSize));
  let k = 2;
  while (k * plan.outputSize < plan.qsize) k *= 2;
  return Math.min(k, most);
}

/**
 * Aligns one face of a decoded image by the FFHQ recipe, given its 68 landmarks.
 * @param img decoded source (see decodeImage)
 * @param landmarks 68 iBUG points in `img` pixels
 * @param options size (256), transformSize (4096), resample ('ffhq'; 'sam' samples the quad
 *   straight to `size`, no supersampling), enablePadding (true); `supersample` overrides the transform grid factor (tests use it to run the literal 4096 path)
 * @returns the aligned RGB (size x size, 3 bytes a pixel), the plan and the source quad and transform
 * @throws {RangeError} for bad landmarks
 * @example const face = await alignFace(img, detection.landmarks, { size: 256 });
 */
export async function alignFace(
  img: RgbImage,
  landmarks: readonly Point[],
  options: Partial<Pick<AlignOptions, 'size' | 'transformSize' | 'resample' | 'enablePadding'>> & { supersample?: number } = {},
): Promise<{ rgb: Buffer; size: number; quad: Quad; transform: Affine; plan: AlignPlan }> {
  const { size, transformSize, resample, enablePadding } = validateAlignOptions(options);
  const q = ffhqQuad(landmarks);
  const plan = planAlignment(q, img.width, img.height, size, enablePadding);

  // Shrink and crop: one sharp pipeline (libvips computes only the cropped region).
  let work = img;
  if (plan.shrink > 1 || plan.crop) {
    let pipeline = sharp(img.data, raw(img));
    if (plan.shrink > 1) pipeline = pipeline.resize(plan.shrunkSize[0], plan.shrunkSize[1], { kernel: 'lanczos3', fit: 'fill' });
    if (plan.crop) {
      const [l, t, r, b] = plan.crop;
      pipeline = pipeline.extract({ left: l, top: t, width: r - l, height: b - t });
    }
    work = await toRgb(pipeline);
  }

  // Pad: numpy-reflect copy, then blur and fades (sharp), weights and median (pad.ts).
  if (plan.pad) {
    const padded = reflectPad(work, plan.pad);
    work = { data: await padBlend(padded, plan.pad, plan.blur), width: padded.width, height: padded.height };
  }

  // Transform: bilinear quad warp onto a supersampled grid, then Lanczos down to the output
  // (SAM's own script: straight onto the output grid).
  const k = options.supersample ?? (resample === 'sam' ? 1 : supersampleFactor(plan, transformSize));
  const grid = size * k;
  const warped = await quadTransform(work, plan.quad, grid);
  const rgb = k === 1 ? warped : await sharp(warped, { raw: { width: grid, height: grid, channels: 3 } }).resize(size, size, { kernel: 'lanczos3' }).raw().toBuffer();
  return { rgb, size, quad: q.quad, transform: alignedToSource(plan, img.width, img.height), plan };
}

function area(b: Box): number {
  return b.width * b.height;
}

/**
 * Decodes an image, finds faces with `detect` and aligns them by the FFHQ recipe.
 * @param input image file contents (JPEG, PNG, WebP, GIF, TIFF, AVIF, ...)
 * @param detect face detector, e.g. runtimeDetector(runtime, ...) (runs in the runtime worker)
 * @param options see ALIGN_DEFAULTS; `name` names the input in error messages
 * @returns faces: none when no face is found, one in `largest` mode, all (left to right) in `all` mode
 * @throws {ImageInputError} for an input that is not a usable image; {TypeError} for bad options
 * @example const { faces } = await alignImage(buffer, runtimeDetector(runtime), { size: 256 });
 */
export async function alignImage(input: unknown, detect: DetectFn, options: Partial<AlignOptions> & { name?: string } = {}): Promise<AlignResult> {
  const { name, ...rest } = options;
  const o = validateAlignOptions(rest);
  const t0 = performance.now();
  const img = await decodeImage(input, { maxPixels: o.maxPixels, name: name ?? 'input' });
  const t1 = performance.now();

  // Detection only needs faces of a few hundred pixels: a huge image is scaled down for it,
  // and the results scaled back (pixel centre to pixel centre).
  let det = img;
  const longer = Math.max(img.width, img.height);
  if (longer > o.detectMaxSide) {
    det = await toRgb(sharp(img.data, raw(img)).resize({ width: img.width >= img.height ? o.detectMaxSide : undefined, height: img.height > img.width ? o.detectMaxSide : undefined }));
  }
  const sx = img.width / det.width;
  const sy = img.height / det.height;
  const found = (await detect(det.data, det.width, det.height))
    .map(
      (d): Detection => ({
        score: d.score,
        box: { x: d.box.x * sx, y: d.box.y * sy, width: d.box.width * sx, height: d.box.height * sy },
        landmarks: d.landmarks.map(([x, y]) => [(x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5] as Point),
      }),
    )
    .filter((d) => Math.min(d.box.width, d.box.height) >= o.minFaceSize);
  const t2 = performance.now();

  const chosen = o.mode === 'largest' ? found.slice().sort((a, b) => area(b.box) - area(a.box)).slice(0, 1) : found.slice().sort((a, b) => a.box.x - b.box.x);
  const faces: AlignedFace[] = [];
  for (const d of chosen) {
    const aligned = await alignFace(img, d.landmarks, o);
    const png = await sharp(aligned.rgb, { raw: { width: o.size, height: o.size, channels: 3 } }).png().toBuffer();
    faces.push({ image: png, size: o.size, score: d.score, box: d.box, landmarks: d.landmarks, quad: aligned.quad, transform: aligned.transform });
  }
  const t3 = performance.now();
  return { width: img.width, height: img.height, found: found.length, faces, timings: { decode: t1 - t0, detect: t2 - t1, align: t3 - t2, total: t3 - t0 } };
}
