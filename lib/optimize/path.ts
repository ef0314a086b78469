// Geometry of a path of W+ codes over a sequence of target ages: how far each frame sits from
// the straight line through its neighbours (the "jump" a viewer sees), and a smoother for
// per-frame parameters that leaves straight (affine in age) schedules exactly as they are.
import { LAYERS, STYLE } from '../sam/latent';

const CODE = LAYERS * STYLE;

/**
 * Where frame k lies between its neighbours, by target age: 0 at frame k-1, 1 at frame k+1.
 * NaN where frame k is an end or a turning point of the ages (e.g. 20, 60, 30): a path that
 * reverses there is asked to, so no straight line is expected through it. Three equal ages
 * give the midpoint (the three codes should agree).
 */
export function interpolationRatios(ages: readonly number[]): number[] {
  return ages.map((age, k) => {
    if (k === 0 || k === ages.length - 1) return NaN;
    const span = ages[k + 1] - ages[k - 1];
    if (span === 0) return age === ages[k - 1] ? 0.5 : NaN;
    const r = (age - ages[k - 1]) / span;
    return r >= 0 && r <= 1 ? r : NaN;
  });
}

/** Squared distance of code `k` from the interpolation of codes k-1 and k+1 at ratio r. */
export function jerkAt(prev: Float32Array, code: Float32Array, next: Float32Array, r: number): number {
  let sum = 0;
  for (let i = 0; i < CODE; i++) {
    const d = code[i] - ((1 - r) * prev[i] + r * next[i]);
    sum += d * d;
  }
  return sum;
}

/** Mean squared step between consecutive codes (0 for one code). */
export function meanSquaredStep(codes: readonly Float32Array[]): number {
  if (codes.length < 2) return 0;
  let sum = 0;
  for (let k = 1; k < codes.length; k++) {
    const a = codes[k - 1];
    const b = codes[k];
    for (let i = 0; i < CODE; i++) sum += (b[i] - a[i]) ** 2;
  }
  return sum / (codes.length - 1);
}

/**
 * Roughness of a path: the mean over the frames that have a straight line through their
 * neighbours (see interpolationRatios) of the squared distance of the code from that line,
 * divided by `scale` (the mean squared step of SAM's own path, so before and after are
 * measured in the same unit). 0 for a straight, evenly paced path (or no such frame); about
 * 1 when a frame jumps sideways by a whole step.
 */
export function roughness(codes: readonly Float32Array[], ratios: readonly number[], scale: number): number {
  let sum = 0;
  let count = 0;
  for (let k = 1; k < codes.length - 1; k++) {
    if (Number.isNaN(ratios[k])) continue;
    sum += jerkAt(codes[k - 1], codes[k], codes[k + 1], ratios[k]);
    count += 1;
  }
  return count === 0 ? 0 : sum / count / (scale > 0 ? scale : 1);
}

/** Frames with a straight line through their neighbours (the terms of `roughness`). */
export function lineCount(ratios: readonly number[]): number {
  return ratios.filter((r) => !Number.isNaN(r)).length;
}

/**
 * Weighted Whittaker smoother with the same second-difference operator as `roughness`:
 * minimises sum_k v_k (x_k - y_k)^2 + lambda * sum_k (x_k - (1-r_k) x_(k-1) - r_k x_(k+1))^2.
 * With v_k the age cost's curvature in the dial and lambda the smoothness cost per squared
 * dial jerk, this is the minimiser of a quadratic model of the path objective around the
 * root-finder's dials. Schedules affine in age are in the operator's null space, so they come
 * back unchanged; a frame with weight near 0 (its age does not respond to the dial) is
 * placed by its neighbours.
 * @param values one value per frame
 * @param lambda smoothing strength; 0 returns the values
 * @param weights data weights v_k (default 1 each)
 */
export function smoothSchedule(values: readonly number[], ratios: readonly number[], lambda: number, weights?: readonly number[]): number[] {
  const n = values.length;
  if (n < 3 || lambda <= 0) return [...values];
  const v = weights ?? values.map(() => 1);
  // Normal equations (V + lambda L^T L) x = V y, solved densely: n is at most 101.
  const a = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? v[i] : 0)));
  for (let k = 1; k < n - 1; k++) {
    if (Number.isNaN(ratios[k])) continue;
    const row: Array<[number, number]> = [
      [k - 1, -(1 - ratios[k])],
      [k, 1],
      [k + 1, -ratios[k]],
    ];
    for (const [i, li] of row) for (const [j, lj] of row) a[i][j] += lambda * li * lj;
  }
  return solve(a, values.map((y, i) => v[i] * y));
}

/** Gaussian elimination with partial pivoting (the matrix is symmetric positive definite). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
    [a[c], a[pivot]] = [a[pivot], a[c]];
    [b[c], b[pivot]] = [b[pivot], b[c]];
    for (let r = c + 1; r < n; r++) {
      const f = a[r][c] / a[c][c];
      if (f === 0) continue;
      for (let j = c; j < n; j++) a[r][j] -= f * a[c][j];
      b[r] -= f * b[c];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r];
    for (let j = r + 1; j < n; j++) s -= a[r][j] * x[j];
    x[r] = s / a[r][r];
  }
  return x;
}
