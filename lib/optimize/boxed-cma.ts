// The CMA-ES loop phases 3 and 4 share: samples are clamped into a box before they are
// evaluated, and pay for how far outside it they lay, so the search learns to stay inside.
import { Cma } from './cmaes';

/** Cost per squared unit a CMA-ES sample lies outside the allowed box (it is evaluated at the box's edge). */
const BOX_PENALTY = 1000;
/** A search stops after this many generations without improvement. */
const PATIENCE = 2;

/** Settings of one boxed search. */
export interface BoxedSearch<T> {
  mean: number[];
  sigma: number;
  lambda: number;
  seed: number;
  lower: readonly number[];
  upper: readonly number[];
  /** Most generations. */
  generations: number;
  /** Stops once the search's spread falls below this (0: never). */
  minSpread?: number;
  /** Called before each generation (progress). */
  onGeneration?: () => void;
  /** Evaluates clamped samples: a result and its cost for each. */
  evaluate: (boxed: number[][]) => Promise<{ results: T[]; costs: number[] }>;
  /** Offered the generation's best; returns whether it was taken (an improvement). */
  accept: (best: T, cost: number) => boolean;
}

/** Squared distance of a sample from its box-clamped version. */
function outside(x: readonly number[], boxed: readonly number[]): number {
  return x.reduce((acc, v, i) => acc + (v - boxed[i]) ** 2, 0);
}

/**
 * Runs CMA-ES in a box until the generations run out, PATIENCE generations bring nothing, or
 * the spread collapses.
 * @returns whether any generation's best was taken
 */
export async function boxedCma<T>(search: BoxedSearch<T>): Promise<boolean> {
  const { lower, upper } = search;
  const es = new Cma({ mean: search.mean, sigma: search.sigma, lambda: search.lambda, seed: search.seed });
  let improved = false;
  let stale = 0;
  for (let g = 0; g < search.generations && stale < PATIENCE; g++) {
    search.onGeneration?.();
    const xs = es.ask();
    const boxed = xs.map((x) => x.map((v, i) => Math.min(upper[i], Math.max(lower[i], v))));
    const { results, costs: own } = await search.evaluate(boxed);
    const costs = own.map((c, i) => c + BOX_PENALTY * outside(xs[i], boxed[i]));
    es.tell(xs, costs);
    const best = costs.indexOf(Math.min(...costs));
    if (search.accept(results[best], costs[best])) {
      improved = true;
      stale = 0;
    } else {
      stale += 1;
    }
    if (search.minSpread && es.spread < search.minSpread) break;
  }
  return improved;
}
