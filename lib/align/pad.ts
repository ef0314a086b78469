// The pad step of the official script: numpy 'reflect' padding, a Gaussian blur faded in by a
// distance-to-edge mask, then a fade to the median colour. sharp blurs and blends; the masks,
// the median and the reflect copy are done here (sharp has no median, and its mirror repeats
// the edge pixel where numpy's 'reflect' does not).
import sharp from 'sharp';
import type { RgbImage } from '../image/decode';
import { inBands } from './warp';

/**
 * numpy `np.pad(img, ((top, bottom), (left, right), (0, 0)), 'reflect')`: mirrored without
 * repeating the edge pixel (d c b | a b c d | c b a), folding again when a pad is wider than
 * the image. sharp's `extend({ extendWith: 'mirror' })` repeats the edge pixel, which would
 * shift the padded content by one pixel, so this is done by hand (it is a copy).
 */
export function reflectPad(src: RgbImage, [left, top, right, bottom]: [number, number, number, number]): RgbImage {
  const { data, width: W, height: H } = src;
  const w = W + left + right;
  const h = H + top + bottom;
  const out = Buffer.alloc(w * h * 3);
  const fold = (i: number, n: number): number => {
    if (n === 1) return 0;
    const period = 2 * (n - 1);
    let j = i % period;
    if (j < 0) j += period;
    return j < n ? j : period - j;
  };
  // Pad each source row sideways into its place (rows top .. top + H), then fill the rows
  // above and below with whole-row copies of those.
  for (let y = 0; y < H; y++) {
    const row = y * W * 3;
    const o = (y + top) * w * 3;
    out.set(data.subarray(row, row + W * 3), o + left * 3);
    for (let x = 0; x < w; x++) {
      if (x === left) x = left + W;
      if (x >= w) break;
      const s = row + fold(x - left, W) * 3;
      const d = o + x * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  for (let y = 0; y < h; y++) {
    if (y === top) y = top + H;
    if (y >= h) break;
    const from = (fold(y - top, H) + top) * w * 3;
    out.copy(out, y * w * 3, from, from + w * 3);
  }
  return { data: out, width: w, height: h };
}

/** The official mask's two parts: per column and per row, 1 - min(d / pad_near, d' / pad_far). */
function ramps(n: number, near: number, far: number): Float64Array {
  const m = new Float64Array(n);
  for (let i = 0; i < n; i++) m[i] = 1 - Math.min(i / near, (n - 1 - i) / far);
  return m;
}

/**
 * The blend of the official pad step, on the reflect-padded image:
 * mask = max(1 - min(x / pl, (w-1-x) / pr), 1 - min(y / pt, (h-1-y) / pb));
 * img += (gaussian(img, sigma) - img) * clip(3 mask + 1, 0, 1);
 * img += (median(img) - img) * clip(mask, 0, 1).
 * sharp blurs and does both blends (composite 'over' with the weights as alpha); the weights
 * and the per-channel median are computed here. Intermediates are 8-bit where numpy keeps
 * floats: half a level at most, and only in the faded border.
 * @param pad [left, top, right, bottom] as applied by reflectPad
 * @param sigma Gaussian sigma (qsize * 0.02); below sharp's 0.3 the blur is skipped
 */
export async function padBlend(padded: RgbImage, pad: [number, number, number, number], sigma: number): Promise<Buffer> {
  const { data, width: w, height: h } = padded;
  const [pl, pt, pr, pb] = pad;
  const rgb = { raw: { width: w, height: h, channels: 3 as const } };
  const grey = { raw: { width: w, height: h, channels: 1 as const } };
  const rgba = { raw: { width: w, height: h, channels: 4 as const } };
  // clip() is monotone, so clip(f(max(mx, my))) = max(clip(f(mx)), clip(f(my))): each weight
  // map is the larger of a column ramp and a row ramp.
  const clip01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
  const mx = ramps(w, pl, pr);
  const my = ramps(h, pt, pb);
  const blurX = mx.map((m) => Math.round(255 * clip01(3 * m + 1)));
  const blurY = my.map((m) => Math.round(255 * clip01(3 * m + 1)));
  const fadeX = mx.map((m) => Math.round(255 * clip01(m)));
  const fadeY = my.map((m) => Math.round(255 * clip01(m)));
  const blurMask = Buffer.alloc(w * h);
  const fadeMask = Buffer.alloc(w * h);
  await inBands(h, (from, to) => {
    for (let y = from; y < to; y++) {
      const by = blurY[y]!;
      const fy = fadeY[y]!;
      for (let x = 0, i = y * w; x < w; x++, i++) {
        blurMask[i] = Math.max(blurX[x]!, by);
        fadeMask[i] = Math.max(fadeX[x]!, fy);
      }
    }
  });

  const blurred = sigma >= 0.3 ? await sharp(data, rgb).blur({ sigma, precision: 'integer', minAmplitude: 0.001 }).raw().toBuffer() : data;
  // scipy's gaussian_filter truncates at 4 sigma; 0.001 (sharp's floor) reaches 3.7 sigma.
  const blurredA = await sharp(blurred, rgb).joinChannel(blurMask, grey).raw().toBuffer();
  const softened = await sharp(data, rgb).composite([{ input: blurredA, ...rgba }]).removeAlpha().raw().toBuffer();

  const hist = [new Float64Array(256), new Float64Array(256), new Float64Array(256)] as const;
  await inBands(h, (from, to) => {
    for (let i = from * w * 3, end = to * w * 3; i < end; i += 3) {
      hist[0][softened[i]!]! += 1;
      hist[1][softened[i + 1]!]! += 1;
      hist[2][softened[i + 2]!]! += 1;
    }
  });
  const [r, g, b] = hist.map((hk) => histogramMedian(hk, w * h));
  const flatA = await sharp({ create: { width: w, height: h, channels: 3, background: { r: r!, g: g!, b: b! } } })
    .joinChannel(fadeMask, grey)
    .raw()
    .toBuffer();
  return sharp(softened, rgb).composite([{ input: flatA, ...rgba }]).removeAlpha().raw().toBuffer();
}

/** np.median of `count` values binned by level in `hist`: the middle one, or the mean of the two. */
function histogramMedian(hist: Float64Array, count: number): number {
  const lo = Math.floor((count - 1) / 2);
  const hi = Math.floor(count / 2);
  let seen = 0;
  let a = -1;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (a < 0 && seen > lo) a = i;
    if (seen > hi) return (a + i) / 2;
  }
  return hist.length - 1;
}
