// The pixel step sharp cannot do as the official script does it, written by hand: PIL's QUAD
// transform with its BILINEAR filter (sharp's affine uses other pixel-centre conventions and
// rounds where PIL truncates). It runs in row bands and yields between them, so the thread
// that calls it (the Node-RED thread, for the node) keeps serving its event loop.
import type { Quad } from './ffhq';
import type { RgbImage } from '../image/decode';

/** How long one band may run before yielding to the event loop. */
const SLICE_MS = 4;

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs `rows(from, to)` over [0, height) in bands of about SLICE_MS each. */
export async function inBands(height: number, rows: (from: number, to: number) => void): Promise<void> {
  let step = 8;
  for (let y = 0; y < height; ) {
    const to = Math.min(height, y + step);
    const t0 = performance.now();
    rows(y, to);
    const spent = performance.now() - t0;
    y = to;
    // Adapt the band to the machine: aim at SLICE_MS per band.
    step = Math.max(1, Math.round(step * Math.min(2, SLICE_MS / Math.max(spent, 0.05))));
    if (y < height) await tick();
  }
}

/**
 * PIL `Image.transform((size, size), Image.QUAD, (quad + 0.5).flatten(), Image.BILINEAR)` on
 * an RGB image: output pixel (X, Y) samples the source at
 * NW + 0.5 + (NE - NW) (X + 0.5) / size + (SW - NW) (Y + 0.5) / size + (SE - SW - NE + NW) u v
 * in PIL's continuous coordinates; outside [0, W) x [0, H) it is black; inside, the 2x2
 * neighbours (clamped at the edges) are blended and the result truncated to 8 bits, as
 * Geometry.c's bilinear_filter32RGB does.
 * @param quad corners NW, SW, SE, NE in pixel-index coordinates of `src` (without the +0.5)
 * @returns size x size RGB, 3 bytes a pixel
 */
export async function quadTransform(src: RgbImage, quad: Quad, size: number): Promise<Buffer> {
  const { data, width: W, height: H } = src;
  const out = Buffer.alloc(size * size * 3);
  const [nw, sw, se, ne] = quad;
  const x0 = nw[0] + 0.5;
  const y0 = nw[1] + 0.5;
  const inv = 1.0 / size;
  // PIL's coefficients, in its order of operations.
  const a1 = (ne[0] + 0.5 - x0) * inv;
  const a2 = (sw[0] + 0.5 - x0) * inv;
  const a3 = (se[0] + 0.5 - (sw[0] + 0.5) - (ne[0] + 0.5) + x0) * inv * inv;
  const b1 = (ne[1] + 0.5 - y0) * inv;
  const b2 = (sw[1] + 0.5 - y0) * inv;
  const b3 = (se[1] + 0.5 - (sw[1] + 0.5) - (ne[1] + 0.5) + y0) * inv * inv;
  const stride = W * 3;
  await inBands(size, (from, to) => {
    for (let Y = from; Y < to; Y++) {
      const yc = Y + 0.5;
      // Per row the map is linear in X: start and step, with PIL's terms.
      const rx = x0 + a2 * yc;
      const ry = y0 + b2 * yc;
      const sx = a1 + a3 * yc;
      const sy = b1 + b3 * yc;
      let o = Y * size * 3;
      for (let X = 0; X < size; X++, o += 3) {
        const xc = X + 0.5;
        let xin = rx + sx * xc;
        let yin = ry + sy * xc;
        if (xin < 0 || xin >= W || yin < 0 || yin >= H) continue;
        xin -= 0.5;
        yin -= 0.5;
        const ix = Math.floor(xin);
        const iy = Math.floor(yin);
        const dx = xin - ix;
        const dy = yin - iy;
        const c0 = (ix < 0 ? 0 : ix) * 3;
        const c1 = (ix + 1 >= W ? W - 1 : ix + 1) * 3;
        const r0 = (iy < 0 ? 0 : iy) * stride;
        const r1 = iy + 1 < H ? (iy + 1) * stride : r0;
        const p00 = r0 + c0;
        const p01 = r0 + c1;
        const p10 = r1 + c0;
        const p11 = r1 + c1;
        // (UINT8) v: assigning to a byte array truncates, as PIL's cast does.
        let t = data[p00]! + (data[p01]! - data[p00]!) * dx;
        out[o] = t + (data[p10]! + (data[p11]! - data[p10]!) * dx - t) * dy;
        t = data[p00 + 1]! + (data[p01 + 1]! - data[p00 + 1]!) * dx;
        out[o + 1] = t + (data[p10 + 1]! + (data[p11 + 1]! - data[p10 + 1]!) * dx - t) * dy;
        t = data[p00 + 2]! + (data[p01 + 2]! - data[p00 + 2]!) * dx;
        out[o + 2] = t + (data[p10 + 2]! + (data[p11 + 2]! - data[p10 + 2]!) * dx - t) * dy;
      }
    }
  });
  return out;
}
