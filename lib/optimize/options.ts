// Settings of path optimization: every default in one place, checked once at the boundary
// with exact messages (a node, the CLI and the bench all come through here).
import { parseAges } from '../sam/ages';
import { BACKENDS, type Backend } from '../sam/measure';

/** Weights of the three terms of the objective. */
export interface TermWeights {
  /** Per squared year of age error. */
  age: number;
  /** Per unit of identity loss (1 - cosine similarity to the input face). */
  identity: number;
  /** Per unit of roughness (a frame's squared distance from the line through its neighbours, in mean squared steps of SAM's own path). */
  smoothness: number;
}

/** Everything path optimization can be told. */
export interface OptimizeOptions {
  /** Target ages, one frame each, in the order of the path. */
  ages: number[];
  weights: TermWeights;
  /** Evaluations (rendered and measured candidates) per frame; the whole path may use `budget x frames`. */
  budget: number;
  /** Which net measures the age of a render. */
  ageBackend: Backend;
  /** Which net embeds identity. */
  identityBackend: Backend;
  /** Seed of the evolution strategy's sampling: same seed, same result. */
  seed: number;
  /**
   * Ages the aging encoder may be fed. SAM is trained on [0, 100]; we allow 20 years of
   * extrapolation either side because age regressors (DEX included) read faces near the ends
   * of their range inwards, so a target near 0 or 100 needs a dial a little beyond it.
   */
  dialRange: [number, number];
  /**
   * Blend weights of aging's offset per layer group. 1 is SAM's own code; 0 would fall back to
   * the plain inversion (the input's own age, not age 0), so we keep to a moderate edit strength.
   */
  weightRange: [number, number];
  /** Age error (years) at which the dial root-finder stops for a frame. */
  ageTolerance: number;
}

/** Every default, in one place. */
export const OPTIMIZE_DEFAULTS: Readonly<Omit<OptimizeOptions, 'ages'> & { ages: string }> = {
  ages: '0:100:10',
  weights: { age: 1, identity: 10, smoothness: 1000 },
  budget: 40,
  ageBackend: 'onnx',
  identityBackend: 'onnx',
  seed: 1,
  dialRange: [-20, 120],
  weightRange: [0.5, 1.5],
  ageTolerance: 0.25,
};

/** Most evaluations per frame one run may ask for. */
export const MAX_BUDGET = 10000;

/** What a caller may pass: any subset, ages in any form parseAges reads. */
export type OptimizeInput = Partial<Omit<OptimizeOptions, 'ages' | 'weights'>> & { ages?: unknown; weights?: Partial<TermWeights> };

function got(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  return `a value of type ${typeof value}`;
}

function range(name: string, value: unknown, lo: number, hi: number): [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => typeof v === 'number' && Number.isFinite(v)) || !(value[0] < value[1])) {
    throw new RangeError(`Expected ${name} to be [min, max] with min < max but received ${JSON.stringify(value)}`);
  }
  if (value[0] < lo || value[1] > hi) throw new RangeError(`Expected ${name} within [${lo}, ${hi}] but received ${JSON.stringify(value)}`);
  return [value[0], value[1]];
}

/**
 * Checks and completes path optimization settings.
 * @param input any subset of the settings; `ages` as parseAges reads them (list, "0:100:10", "20,40")
 * @returns complete settings
 * @throws {TypeError|RangeError} naming the setting and the value received, e.g.
 *   `Expected a positive integer for budget (evaluations per frame) but received 0`
 * @example validateOptimizeOptions({ ages: '0:100:10', budget: 40, seed: 7 })
 */
export function validateOptimizeOptions(input: OptimizeInput = {}): OptimizeOptions {
  const d = OPTIMIZE_DEFAULTS;
  const ages = parseAges(input.ages ?? d.ages);
  const weights = { ...d.weights };
  for (const key of ['age', 'identity', 'smoothness'] as const) {
    const value = input.weights?.[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new RangeError(`Expected a non-negative number for the ${key} weight but received ${got(value)}`);
    weights[key] = value;
  }
  if (weights.age === 0) throw new RangeError('Expected a positive age weight: without it nothing pulls the frames to their target ages');
  const budget = input.budget ?? d.budget;
  if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 1 || budget > MAX_BUDGET) {
    throw new RangeError(`Expected a positive integer for budget (evaluations per frame, at most ${MAX_BUDGET}) but received ${got(budget)}`);
  }
  const ageBackend = input.ageBackend ?? d.ageBackend;
  if (!BACKENDS.includes(ageBackend)) throw new RangeError(`Expected one of ${BACKENDS.join(', ')} for the age backend but received ${got(ageBackend)}`);
  const identityBackend = input.identityBackend ?? d.identityBackend;
  if (!BACKENDS.includes(identityBackend)) throw new RangeError(`Expected one of ${BACKENDS.join(', ')} for the identity backend but received ${got(identityBackend)}`);
  const seed = input.seed ?? d.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`Expected an integer between 0 and 4294967295 for seed but received ${got(seed)}`);
  }
  const dialRange = range('dialRange', input.dialRange ?? d.dialRange, -50, 150);
  const weightRange = range('weightRange', input.weightRange ?? d.weightRange, 0, 3);
  const ageTolerance = input.ageTolerance ?? d.ageTolerance;
  if (typeof ageTolerance !== 'number' || !(ageTolerance > 0 && ageTolerance <= 10)) {
    throw new RangeError(`Expected a number in (0, 10] for ageTolerance but received ${got(ageTolerance)}`);
  }
  return { ages, weights, budget, ageBackend, identityBackend, seed, dialRange, weightRange, ageTolerance };
}
