// Phase 2, smooth: Whittaker smoothing of the dial schedule along the ages, the minimiser of a
// quadratic model of the objective in the dials: age cost l_age * slope_k^2 * (d_k - root_k)^2
// per frame, smoothness cost l_smooth * g^2 / scale per squared dial jerk (g^2: squared code
// change per year of dial). Its minimiser and two stiffer versions (the model cannot see that a
// staircase-like age reading gains nothing from following noise) are measured; the best path
// is kept.
import { GROUPS } from './evaluate';
import { lineCount, smoothSchedule } from './path';
import type { DialResult } from './phase-dial';
import type { PathState } from './state';

/** Stiffness factors tried for the dial schedule: the quadratic model's own, and two stiffer. */
const SMOOTHING = [1, 100, 10000];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function squaredDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum;
}

/** Runs the smoothing phase when the path has interior frames and the budget allows it. */
export async function smoothPhase(state: PathState, { found, searches }: DialResult): Promise<void> {
  const { K, ratios, before, options } = state;
  if (lineCount(ratios) === 0 || state.left() < K * SMOOTHING.length) return;
  const lambda = options.weights;
  const ones = GROUPS.map(() => 1);
  state.progress('smooth');
  const dials = found.map((e) => e.dial);
  const slopes = searches.map((s) => s.slope());
  const known = slopes.filter((s): s is number => s !== undefined && s > 0);
  const typical = known.length ? median(known) : 1;
  // A frame on a plateau (its age does not follow the dial) gets almost no say: its neighbours place it.
  const dataWeights = slopes.map((s) => lambda.age * Math.max(s ?? typical, typical * 1e-3) ** 2);
  const rates = found
    .map((e, k) => (Math.abs(e.dial - before[k].dial) > 0.5 ? squaredDistance(e.code, before[k].code) / (e.dial - before[k].dial) ** 2 : undefined))
    .filter((g): g is number => g !== undefined);
  const stiffness = (lambda.smoothness * (rates.length ? median(rates) : 1)) / state.scale;
  const schedules = SMOOTHING.map((factor) => smoothSchedule(dials, ratios, stiffness * factor, dataWeights).map((d) => state.clampDial(d)));
  const measured = await state.evaluator.evaluate(schedules.flatMap((schedule) => schedule.map((dial, k) => ({ frame: k, dial, weights: ones }))));
  const paths = schedules.map((_, s) => measured.slice(s * K, (s + 1) * K));
  paths.sort((a, b) => state.pathCost(a) - state.pathCost(b));
  state.keepIfBetter(paths[0]);
}
