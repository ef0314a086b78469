// Paste-back: an aged face, rendered in the aligned (FFHQ) frame, put back into the photo it
// came from. The render is warped into the photo's pixel grid with the inverse of the
// aligner's transform and blended through a soft mask (the head with its hair, or the face
// alone) that fades to zero inside the aligned square, so the photo keeps its size and changes
// only around the face. Colours are matched only where render and photo meet: inside the mask
// the render shows as the model made it, so greying hair and paler skin stay visible.
import sharp from 'sharp';
import { invertAffine, type Affine } from '../align/ffhq';
import { decodeImage, typeName, type RgbImage } from '../image/decode';

/** Where the aligned face sits in the photo, as face-align reports it in `msg.face`. */
export interface FacePlacement {
  /** Affine map from aligned-face pixels to photo pixels (pixel-index coordinates both sides). */
  transform: Affine;
  /** Side of the aligned face the transform is expressed in, in pixels. */
  size: number;
}

/** A region of the photo in pixels. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * A blend mask in coordinates of the aligned square (0..1 both ways, y down): a rounded shape
 * around (cx, cy) with half-width `rx`, reaching `top` above the centre and `bottom` below it.
 * Above the centre its outline is a superellipse of power `power` (3 fills the square's upper
 * corners, where hair is; 2 is an ellipse), below it an ellipse.
 */
export interface PasteMask {
  cx: number;
  cy: number;
  rx: number;
  top: number;
  bottom: number;
  power: number;
}

/** Which part of the aligned square is pasted. */
export const PASTE_MASK_NAMES = ['head', 'face'] as const;
export type PasteMaskName = (typeof PASTE_MASK_NAMES)[number];

/**
 * The masks, fitted to the FFHQ crop (eyes near y 0.47, mouth near 0.75, chin near 0.85, hair
 * from the top of the square down the sides). Both reach zero inside the square, so nothing at
 * its border is pasted.
 * - `head`: face, hair and forehead up to the square's top and sides, down to below the chin;
 *   what an aging model changes (greying hair, receding hairline, face shape).
 * - `face`: an ellipse over the face (cheeks at x 0.25 and 0.75), little of the hair; for edits
 *   that must leave the hair and background of the photo as they are.
 */
export const PASTE_MASKS: Readonly<Record<PasteMaskName, Readonly<PasteMask>>> = {
  head: { cx: 0.5, cy: 0.5, rx: 0.5, top: 0.5, bottom: 0.46, power: 3 },
  face: { cx: 0.5, cy: 0.52, rx: 0.4, top: 0.44, bottom: 0.44, power: 2 },
};

/** Every default of pasting, in one place. */
export const PASTE_DEFAULTS = {
  /** Width of the soft edge, as a fraction of the mask's radius (0.3: the inner 70% is pasted fully). */
  feather: 0.3,
  /** The head with its hair: an aging model's changes lie there (see {@link PASTE_MASKS}). */
  mask: 'head' as PasteMaskName,
  /** Match the render's colours to the photo's where they meet, before blending. */
  colorMatch: true,
  /** Colour matching scales each channel's spread by at most this factor either way. */
  maxGain: 1.25,
} as const;

/** Options of {@link pasteFace}. */
export interface PasteOptions {
  feather?: number;
  /** Which part of the aligned square is pasted (default `head`). */
  mask?: PasteMaskName;
  /** Match the render's colours to the photo's where they meet (default true). */
  colorMatch?: boolean;
}

/**
 * How well the render's colours meet the photo's at the seam, the outer half of the mask's soft
 * edge (weights between 0 and 0.5, where the photo still dominates): the difference of their
 * mean colours there (8-bit levels, |mean render - mean photo| averaged over R, G and B), of
 * the render as rendered (`before`) and as blended (`after`), and the per-channel correction
 * (`gain`, `offset`) that is applied in full at the seam and fades out towards the inside.
 */
export interface BorderColour {
  before: number;
  after: number;
  gain: [number, number, number];
  offset: [number, number, number];
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Checks a feather value.
 * @throws {RangeError} unless it is a number in [0.01, 1]
 */
export function checkFeather(value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0.01 && value <= 1)) {
    throw new RangeError(`Expected a number between 0.01 and 1 for feather but received ${JSON.stringify(value)} of type ${typeName(value)}`);
  }
  return value;
}

/**
 * Checks the face placement a message carries (face-align's `msg.face`).
 * @param what the name used in error messages
 * @throws {TypeError} naming what is missing or malformed
 * @example checkPlacement(msg.face) // { transform: [[..],[..]], size: 256 }
 */
export function checkPlacement(value: unknown, what = 'msg.face'): FacePlacement {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`Expected ${what} to be face-align's face ({ transform, size, ... }) but received ${typeName(value)}`);
  }
  const { transform, size } = value as { transform?: unknown; size?: unknown };
  const row = (r: unknown): boolean => Array.isArray(r) && r.length === 3 && r.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!Array.isArray(transform) || transform.length !== 2 || !transform.every(row)) {
    throw new TypeError(`Expected ${what}.transform to be an affine matrix [[a,b,c],[d,e,f]] of finite numbers`);
  }
  const m = transform as Affine;
  if (Math.abs(m[0][0] * m[1][1] - m[0][1] * m[1][0]) < 1e-12) throw new RangeError(`Expected ${what}.transform to be invertible`);
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) {
    throw new TypeError(`Expected ${what}.size to be the aligned face's side in pixels but received ${JSON.stringify(size)}`);
  }
  return { transform: [[...m[0]], [...m[1]]], size };
}

/**
 * Decodes the original photo as face-align does (lib/image/decode: same limits and messages):
 * upright, 8-bit sRGB, alpha dropped, so `msg.face.transform` addresses its pixels.
 * @param what the name used in error messages
 * @throws {TypeError} when the value is not an image Buffer; {ImageInputError} when it cannot be decoded
 */
export async function decodePhoto(input: unknown, what = 'msg.original'): Promise<RgbImage> {
  if (!Buffer.isBuffer(input) || input.length === 0) {
    throw new TypeError(`Expected ${what} to be the original photo as an image Buffer but received ${Buffer.isBuffer(input) ? 'an empty Buffer' : typeName(input)}`);
  }
  return decodeImage(input, { name: what });
}

/**
 * Checks a mask name.
 * @throws {RangeError} unless it is one of {@link PASTE_MASK_NAMES}
 */
export function checkMask(value: unknown): PasteMaskName {
  if (!(PASTE_MASK_NAMES as readonly unknown[]).includes(value)) {
    throw new RangeError(`Expected one of ${PASTE_MASK_NAMES.join(', ')} for mask but received ${JSON.stringify(value)} of type ${typeName(value)}`);
  }
  return value as PasteMaskName;
}

/** Where a point lies in a mask: 0 at its centre, 1 on its outline. */
function maskRadius(mask: PasteMask, u: number, v: number): number {
  const dx = Math.abs(u - mask.cx) / mask.rx;
  if (v >= mask.cy) {
    const dy = (v - mask.cy) / mask.bottom;
    return Math.sqrt(dx * dx + dy * dy);
  }
  const dy = (mask.cy - v) / mask.top;
  return mask.power === 2 ? Math.sqrt(dx * dx + dy * dy) : (dx ** mask.power + dy ** mask.power) ** (1 / mask.power);
}

/**
 * Weight of the pasted face at a point of the aligned square: 1 inside the mask, a smooth
 * (smoothstep) fall-off across its outer `feather`, 0 outside it.
 * @param u horizontal position in the aligned square, 0..1
 * @param v vertical position, 0..1 (down)
 * @param mask which mask (default `head`, see {@link PASTE_MASKS})
 */
export function maskWeight(u: number, v: number, feather: number = PASTE_DEFAULTS.feather, mask: PasteMaskName = PASTE_DEFAULTS.mask): number {
  const e = maskRadius(PASTE_MASKS[mask], u, v);
  const inner = 1 - feather;
  if (e <= inner) return 1;
  if (e >= 1) return 0;
  const t = (e - inner) / feather;
  return 1 - t * t * (3 - 2 * t);
}

/** The map from render pixels (side `r`) to photo pixels, through the aligned frame (side `size`). */
function renderToPhoto({ transform, size }: FacePlacement, r: number): Affine {
  const s = size / r;
  const o = 0.5 * s - 0.5; // render pixel centre -> aligned pixel centre: a = (x + 0.5) s - 0.5
  const [[a, b, c], [d, e, f]] = transform;
  return [
    [a * s, b * s, a * o + b * o + c],
    [d * s, e * s, d * o + e * o + f],
  ];
}

/**
 * The part of the photo the paste can change: the mask's bounding box, mapped into the photo
 * and clipped to it. Empty (width or height 0) when the face lies outside the photo.
 */
export function pasteRegion(placement: FacePlacement, photoWidth: number, photoHeight: number, mask: PasteMaskName = PASTE_DEFAULTS.mask): Region {
  const m = renderToPhoto(placement, placement.size);
  const { cx, cy, rx, top, bottom } = PASTE_MASKS[mask];
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [u, v] of [[cx - rx, cy - top], [cx + rx, cy - top], [cx - rx, cy + bottom], [cx + rx, cy + bottom]]) {
    const px = u * placement.size - 0.5;
    const py = v * placement.size - 0.5;
    xs.push(m[0][0] * px + m[0][1] * py + m[0][2]);
    ys.push(m[1][0] * px + m[1][1] * py + m[1][2]);
  }
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const x1 = Math.min(photoWidth, Math.ceil(Math.max(...xs)) + 1);
  const y1 = Math.min(photoHeight, Math.ceil(Math.max(...ys)) + 1);
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}

/** Mask weights below this are the seam: the outer half of the soft edge. */
const SEAM_WEIGHT = 0.5;

/** How much of the seam's colour correction applies at a mask weight: all of it at the seam, fading to none where the face is pasted fully. */
function correctionStrength(w: number): number {
  if (w <= SEAM_WEIGHT) return 1;
  const t = (w - SEAM_WEIGHT) / (1 - SEAM_WEIGHT);
  return 1 - t * t * (3 - 2 * t);
}

/**
 * Pastes a rendered face into the photo it was aligned from.
 *
 * Each photo pixel inside the mask's region is mapped back into the render (inverse of the
 * aligner's transform, scaled from the aligned size to the render's), sampled bilinearly, and
 * blended with the photo by {@link maskWeight}. Colour matching corrects only the seam: the
 * render's colours are matched to the photo's over the outer half of the soft edge (per
 * channel mean and spread, the spread scaled at most 1.25x either way), and that correction
 * is applied in full there and fades out across the inner half, so inside the mask the render
 * keeps the colours the model gave it (an aged face's grey hair and paler skin are its result,
 * not a cast to remove); `colour` reports the mean difference at the seam before and after.
 * Where the face is smaller in the photo than the render, the render is first downsized
 * (Lanczos) to the photo's scale, so no aliasing shows. Pixels outside the region are copied
 * unchanged. Works in row bands and yields between them, so the calling thread keeps serving
 * its event loop.
 * @param photo the original photo, decoded upright (see {@link decodePhoto})
 * @param face the rendered face: square RGB, any side (the generator's resolution is best)
 * @param placement `msg.face`'s transform and aligned size (see {@link checkPlacement})
 * @param options feather (default 0.3): the soft edge as a fraction of the mask radius;
 *   mask (default `head`, see {@link PASTE_MASKS}); colorMatch (default true)
 * @returns a new image of the photo's size, the region that may differ, and the seam colour
 *   difference (absent when the face lies outside the photo)
 * @throws {RangeError} for a face that is not square, a bad feather or mask
 * @example const { image } = await pasteFace(await decodePhoto(msg.original), rgb, checkPlacement(msg.face));
 */
export async function pasteFace(photo: RgbImage, face: RgbImage, placement: FacePlacement, options: PasteOptions = {}): Promise<{ image: RgbImage; region: Region; colour?: BorderColour }> {
  const feather = checkFeather(options.feather ?? PASTE_DEFAULTS.feather);
  const mask = checkMask(options.mask ?? PASTE_DEFAULTS.mask);
  if (face.width !== face.height) throw new RangeError(`Expected a square face render but received ${face.width}x${face.height}`);
  const { width: W, height: H } = photo;
  const out = new Uint8Array(photo.data);
  const region = pasteRegion(placement, W, H, mask);
  if (region.width === 0 || region.height === 0) return { image: { data: out, width: W, height: H }, region };

  // Photo pixels per render pixel: below 1, bilinear sampling would skip render pixels.
  let src = face;
  const m0 = renderToPhoto(placement, face.width);
  const scale = Math.sqrt(Math.abs(m0[0][0] * m0[1][1] - m0[0][1] * m0[1][0]));
  if (scale < 0.9) {
    const side = Math.max(8, Math.round(face.width * scale));
    const data = await sharp(Buffer.from(face.data.buffer, face.data.byteOffset, face.data.byteLength), { raw: { width: face.width, height: face.height, channels: 3 } })
      .resize(side, side, { kernel: 'lanczos3', fit: 'fill' })
      .raw()
      .toBuffer();
    src = { data, width: side, height: side };
  }
  const R = src.width;
  const inv = invertAffine(renderToPhoto(placement, R));
  const fd = src.data;
  const pd = photo.data;
  const last = R - 1;
  const sample = new Float64Array(3);
  /** Visits each photo pixel the mask touches: (photo offset, weight), with `sample` holding the render there (bilinear). */
  const visit = async (each: (o: number, w: number) => void): Promise<void> => {
    const rowsPerBand = Math.max(1, Math.floor(250_000 / Math.max(1, region.width)));
    for (let y0 = region.y; y0 < region.y + region.height; y0 += rowsPerBand) {
      const y1 = Math.min(region.y + region.height, y0 + rowsPerBand);
      for (let y = y0; y < y1; y++) {
        for (let x = region.x; x < region.x + region.width; x++) {
          const u = inv[0][0] * x + inv[0][1] * y + inv[0][2];
          const v = inv[1][0] * x + inv[1][1] * y + inv[1][2];
          const w = maskWeight((u + 0.5) / R, (v + 0.5) / R, feather, mask);
          if (w <= 0) continue;
          const uc = u < 0 ? 0 : u > last ? last : u;
          const vc = v < 0 ? 0 : v > last ? last : v;
          const ix = Math.min(Math.floor(uc), last - 1 < 0 ? 0 : last - 1);
          const iy = Math.min(Math.floor(vc), last - 1 < 0 ? 0 : last - 1);
          const dx = uc - ix;
          const dy = vc - iy;
          const ix1 = Math.min(ix + 1, last);
          const iy1 = Math.min(iy + 1, last);
          const p00 = (iy * R + ix) * 3;
          const p01 = (iy * R + ix1) * 3;
          const p10 = (iy1 * R + ix) * 3;
          const p11 = (iy1 * R + ix1) * 3;
          for (let c = 0; c < 3; c++) {
            const top = fd[p00 + c] + (fd[p01 + c] - fd[p00 + c]) * dx;
            const bottom = fd[p10 + c] + (fd[p11 + c] - fd[p10 + c]) * dx;
            sample[c] = top + (bottom - top) * dy;
          }
          each((y * W + x) * 3, w);
        }
      }
      if (y1 < region.y + region.height) await tick();
    }
  };

  // Colour statistics over the seam, where the photo still outweighs the render.
  let seam = 0;
  const sums = { r: [0, 0, 0], rr: [0, 0, 0], p: [0, 0, 0], pp: [0, 0, 0] };
  await visit((o, w) => {
    if (w >= SEAM_WEIGHT) return;
    seam++;
    for (let c = 0; c < 3; c++) {
      sums.r[c] += sample[c];
      sums.rr[c] += sample[c] * sample[c];
      sums.p[c] += pd[o + c];
      sums.pp[c] += pd[o + c] * pd[o + c];
    }
  });
  const gain: [number, number, number] = [1, 1, 1];
  const offset: [number, number, number] = [0, 0, 0];
  if ((options.colorMatch ?? PASTE_DEFAULTS.colorMatch) && seam > 0) {
    for (let c = 0; c < 3; c++) {
      const meanR = sums.r[c] / seam;
      const meanP = sums.p[c] / seam;
      const sdR = Math.sqrt(Math.max(0, sums.rr[c] / seam - meanR * meanR));
      const sdP = Math.sqrt(Math.max(0, sums.pp[c] / seam - meanP * meanP));
      // Mean and spread matched (Reinhard's transfer, per channel); a flat render keeps its spread.
      const g = sdR > 1 ? Math.min(PASTE_DEFAULTS.maxGain, Math.max(1 / PASTE_DEFAULTS.maxGain, sdP / sdR)) : 1;
      gain[c] = g;
      offset[c] = meanP - g * meanR;
    }
  }
  const before = [0, 0, 0];
  const after = [0, 0, 0];
  await visit((o, w) => {
    const strength = correctionStrength(w);
    for (let c = 0; c < 3; c++) {
      const raw = sample[c];
      const matched = Math.min(255, Math.max(0, raw + (gain[c] * raw + offset[c] - raw) * strength));
      if (w < SEAM_WEIGHT) {
        before[c] += raw - pd[o + c];
        after[c] += matched - pd[o + c];
      }
      out[o + c] = Math.round(pd[o + c] + (matched - pd[o + c]) * w);
    }
  });
  const meanGap = (sums: number[]): number => (seam > 0 ? sums.reduce((total, sum) => total + Math.abs(sum / seam), 0) / 3 : 0);
  const colour: BorderColour = { before: meanGap(before), after: meanGap(after), gain, offset };
  return { image: { data: out, width: W, height: H }, region, colour };
}
