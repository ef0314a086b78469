// Phase 4, refine: per frame, CMA-ES over (dial / DIAL_SCALE, 3 weights) with the neighbours
// held fixed, in sweeps over the frames while any frame improves.
import { boxedCma } from './boxed-cma';
import { defaultLambda } from './cmaes';
import { GROUPS, type Evaluation } from './evaluate';
import { DIAL_SCALE, type PathState } from './state';

/** CMA-ES start step: 0.1 = 2 years of dial, 0.1 of weight. */
const SIGMA_FRAME = 0.1;
/** Most refinement sweeps over the frames. */
const MAX_SWEEPS = 3;
/** A frame's search stops once its spread is below this. */
const MIN_SPREAD = 1e-3;

/** Runs the refine phase with what the budget has left. */
export async function refinePhase(state: PathState): Promise<void> {
  const { K, current, options } = state;
  const [dialMin, dialMax] = options.dialRange;
  const [wMin, wMax] = options.weightRange;
  const lambda = defaultLambda(1 + GROUPS.length);
  const lower = [dialMin / DIAL_SCALE, ...GROUPS.map(() => wMin)];
  const upper = [dialMax / DIAL_SCALE, ...GROUPS.map(() => wMax)];
  const frameSeed = (k: number, sweep: number): number => (options.seed + 7919 * (k + 1) + 104729 * sweep) >>> 0;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let improved = false;
    for (let k = 0; k < K; k++) {
      const generations = Math.floor(Math.floor(state.left() / (K - k)) / lambda);
      if (generations < 1) continue;
      const start = current[k];
      const taken = await boxedCma<Evaluation>({
        mean: [start.dial / DIAL_SCALE, ...start.weights],
        sigma: SIGMA_FRAME,
        lambda,
        seed: frameSeed(k, sweep),
        lower,
        upper,
        generations,
        minSpread: MIN_SPREAD,
        onGeneration: () => state.progress('refine', k + 1),
        evaluate: async (boxed) => {
          const results = await state.evaluator.evaluate(boxed.map((x) => ({ frame: k, dial: x[0] * DIAL_SCALE, weights: x.slice(1) })));
          return { results, costs: results.map((e) => state.ownCost(e) + state.jerkCost(k, e.code)) };
        },
        // Elitist: the current point's cost is recomputed against the neighbours as they are now.
        accept: (best, cost) => {
          if (cost >= state.ownCost(current[k]) + state.jerkCost(k, current[k].code) - state.minGain) return false;
          current[k] = best;
          return true;
        },
      });
      improved ||= taken;
    }
    if (!improved || state.left() < lambda) break;
  }
}
