// Phase 3, path: CMA-ES over whole-path corrections, x = [shift, stretch, w_coarse, w_medium,
// w_fine]: dial_k = base_k + 20 (shift + stretch * (target_k - mean) / 50), the same weights
// for every frame. A straight path stays straight under all of them, so smoothness is kept by
// construction.
import { boxedCma } from './boxed-cma';
import { defaultLambda } from './cmaes';
import { GROUPS, type Evaluation } from './evaluate';
import { DIAL_SCALE, type PathState } from './state';

/** CMA-ES start step of the path phase (finer than the refine phase's). */
const SIGMA_PATH = 0.05;
/** Share of the budget left after the smoothing phase that the path phase may use. */
const PATH_SHARE = 0.6;

/** Runs the path phase when the budget allows at least one generation. */
export async function pathPhase(state: PathState): Promise<void> {
  const { ages, K, current, options } = state;
  const [wMin, wMax] = options.weightRange;
  const lambda = defaultLambda(2 + GROUPS.length);
  const generations = Math.floor((state.left() * PATH_SHARE) / (lambda * K));
  if (generations < 1) return;
  const base = current.map((e) => e.dial);
  const meanAge = ages.reduce((a, b) => a + b, 0) / K;
  const spread = (t: number): number => (t - meanAge) / 50;
  await boxedCma<Evaluation[]>({
    mean: [0, 0, ...current[0].weights],
    sigma: SIGMA_PATH,
    lambda,
    seed: options.seed >>> 0,
    lower: [-Infinity, -Infinity, ...GROUPS.map(() => wMin)],
    upper: [Infinity, Infinity, ...GROUPS.map(() => wMax)],
    generations,
    onGeneration: () => state.progress('path'),
    evaluate: async (boxed) => {
      const candidates = boxed.flatMap((x) => ages.map((t, k) => ({ frame: k, dial: state.clampDial(base[k] + DIAL_SCALE * (x[0] + x[1] * spread(t))), weights: x.slice(2) })));
      const measured = await state.evaluator.evaluate(candidates);
      const results = boxed.map((_, i) => measured.slice(i * K, (i + 1) * K));
      return { results, costs: results.map((path) => state.pathCost(path)) };
    },
    accept: (path) => state.keepIfBetter(path),
  });
}
