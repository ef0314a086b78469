// Path optimization: refine SAM's latents along a whole lifespan so that every frame's
// measured age meets its target, the person stays the same, and the path through W+ stays
// smooth. Without gradients (onnxruntime has none), over a compact parametrisation of each
// frame: the age dial fed to `aging`, and blend weights of aging's offset for the coarse,
// medium and fine layers. The objective is
//   sum_k [ l_age (age_k - target_k)^2 + l_id (1 - cos_k) ] + l_smooth * sum_k jerk_k / scale
// (jerk_k: squared distance of code k from the line through its neighbours; scale: the mean
// squared step of SAM's own path). Phases, each kept only where it lowers the objective:
//   1. dial: a batched root-finder per frame on measured age vs. dial (weights 1);
//   2. smooth: Whittaker smoothing of the dial schedule along the ages, the minimiser of a
//      quadratic model of the objective (averages out the regressor's noise; a straight
//      schedule stays straight);
//   3. path: CMA-ES over corrections that move the whole path consistently (an affine-in-age
//      shift of the dial schedule, one blend weight per group for every frame), so smoothness
//      is kept by construction;
//   4. refine: per frame, CMA-ES over (dial, 3 weights) with the neighbours held fixed.
// Every population is evaluated in batches (one generator run per population of a frame).
import type { Tensor } from '../tensor';
import type { SamModels } from '../sam/models';
import { LAYERS, STYLE, type Latent } from '../sam/latent';
import { Cma, defaultLambda } from './cmaes';
import { DialSearch } from './dial';
import { checkAbort, Evaluator, GROUPS, type Candidate, type Evaluation, type GroupName } from './evaluate';
import { validateOptimizeOptions, type OptimizeInput, type OptimizeOptions } from './options';
import { interpolationRatios, jerkAt, lineCount, meanSquaredStep, roughness, smoothSchedule } from './path';

/** One frame of the report. */
export interface FrameReport {
  target: number;
  /** Measured age of SAM's own code for the target. */
  measuredBefore: number;
  measuredAfter: number;
  /** Cosine similarity of the render's identity embedding to the input face's. */
  identityBefore: number;
  identityAfter: number;
  /** The age fed to the aging encoder for the optimized frame. */
  dial: number;
  /** Blend weights of aging's offset per layer group for the optimized frame. */
  weights: Record<GroupName, number>;
}

/** What path optimization reports. */
export interface PathReport {
  frames: FrameReport[];
  /** Mean absolute age error, years. */
  maeBefore: number;
  maeAfter: number;
  /** Mean identity similarity to the input face. */
  identityBefore: number;
  identityAfter: number;
  /** Roughness of the path (see `roughness`), in mean squared steps of SAM's own path. */
  smoothnessBefore: number;
  smoothnessAfter: number;
  /** Candidates rendered and measured (SAM's own codes included). */
  evaluations: number;
  /** Most evaluations the run was allowed: budget x frames. */
  budget: number;
  seconds: number;
  ageBackend: OptimizeOptions['ageBackend'];
  identityBackend: OptimizeOptions['identityBackend'];
  seed: number;
}

/** Where a running optimization is. */
export interface OptimizeProgress {
  phase: 'measure' | 'dial' | 'smooth' | 'path' | 'refine';
  /** 1-based frame being refined; in the batched phases, the number of frames (all at once). */
  frame: number;
  frames: number;
  evaluations: number;
  budget: number;
}

/** Cancellation and progress hooks. */
export interface OptimizeControl {
  /** Checked before every model run; an aborted run rejects with an AbortError and starts nothing more. */
  signal?: AbortSignal;
  onProgress?: (progress: OptimizeProgress) => void;
}

/** Result: the optimized latent (ready for age-generate) and the report. */
export interface OptimizeResult {
  latent: Latent;
  report: PathReport;
}

/** Dial units per CMA-ES coordinate: puts 20 years of dial on the scale of 1.0 of weight. */
const DIAL_SCALE = 20;
/** CMA-ES start steps (0.1 = 2 years of dial, 0.1 of weight; the path phase starts finer). */
const SIGMA_FRAME = 0.1;
const SIGMA_PATH = 0.05;
/** Stiffness factors tried for the dial schedule: the quadratic model's own, and two stiffer. */
const SMOOTHING = [1, 100, 10000];
/** Share of the budget left after the smoothing phase that the path phase may use. */
const PATH_SHARE = 0.6;
/** Cost per squared unit a CMA-ES sample lies outside the allowed box (it is evaluated at the box's edge). */
const BOX_PENALTY = 1000;
/** A search stops after this many generations without improvement. */
const PATIENCE = 2;
/** Most refinement sweeps over the frames. */
const MAX_SWEEPS = 3;

const CODE = LAYERS * STYLE;

/**
 * Optimizes a lifespan path for one aligned face.
 * @param models the runtime's models (needs inversion, aging, generator-256 or generator, and
 *   age / identity for the onnx backends)
 * @param image the aligned face, [1,3,256,256] in [-1, 1] (imageToTensor(buffer, 256))
 * @param input settings (see OPTIMIZE_DEFAULTS); checked with validateOptimizeOptions
 * @param control an AbortSignal (checked before every model run) and a progress callback
 * @returns the optimized latent, with `ages` the targets, and a report
 * @throws {TypeError|RangeError} for bad settings; {ContractError} when a model is missing;
 *   an Error named AbortError when `control.signal` fires
 * @example const { latent, report } = await optimizePath(models, await imageToTensor(face, 256), { ages: '0:100:10' });
 */
export async function optimizePath(models: SamModels, image: Tensor, input: OptimizeInput = {}, control: OptimizeControl = {}): Promise<OptimizeResult> {
  const started = performance.now();
  const options = validateOptimizeOptions(input);
  const { ages, budget, weights: lambda } = options;
  const K = ages.length;
  const total = budget * K;
  const { signal, onProgress } = control;
  checkAbort(signal);
  const evaluator = await Evaluator.create(models, image, { ageBackend: options.ageBackend, identityBackend: options.identityBackend, signal });
  const progress = (phase: OptimizeProgress['phase'], frame = K): void => onProgress?.({ phase, frame, frames: K, evaluations: evaluator.evaluations, budget: total });
  const ratios = interpolationRatios(ages);
  const left = (): number => total - evaluator.evaluations;
  const [dialMin, dialMax] = options.dialRange;
  const clampDial = (d: number): number => Math.min(dialMax, Math.max(dialMin, d));
  // Gains smaller than a tolerance's worth of squared age error are below what the age
  // reading resolves: moving for them would only bend the path to chase rounding noise.
  const minGain = lambda.age * options.ageTolerance ** 2;

  // SAM's own codes: dial = target, every weight 1. They are the "before" and the start.
  progress('measure');
  const ones = GROUPS.map(() => 1);
  const before = await evaluator.evaluate(ages.map((t, k) => ({ frame: k, dial: t, weights: ones })));
  const scale = meanSquaredStep(before.map((e) => e.code)) || 1;
  const current = [...before];

  /** Age and identity cost of one frame's evaluation (the part that does not depend on neighbours). */
  const ownCost = (e: Evaluation): number => lambda.age * (e.age - ages[e.frame]) ** 2 + lambda.identity * (1 - e.identity);
  /** Smoothness cost of every jerk term frame k takes part in, with `code` in place of frame k's. */
  const jerkCost = (k: number, code: Float32Array): number => {
    const at = (i: number): Float32Array => (i === k ? code : current[i].code);
    let sum = 0;
    for (let i = Math.max(1, k - 1); i <= Math.min(K - 2, k + 1); i++) if (!Number.isNaN(ratios[i])) sum += jerkAt(at(i - 1), at(i), at(i + 1), ratios[i]);
    return (lambda.smoothness * sum) / scale;
  };
  const pathCost = (frames: readonly Evaluation[]): number =>
    frames.reduce((acc, e) => acc + ownCost(e), 0) + lambda.smoothness * roughness(frames.map((e) => e.code), ratios, scale) * lineCount(ratios);
  /** Replaces the whole path when `path` is better by more than the noise floor. */
  const keepIfBetter = (path: readonly Evaluation[]): boolean => {
    if (pathCost(path) >= pathCost(current) - minGain) return false;
    path.forEach((e, k) => (current[k] = e));
    return true;
  };

  // 1. Dial: root-find measured age vs. dial for every frame at once, SAM's codes being the first point.
  // With a small budget the root-finder is the best use of it; otherwise it gets up to 8 tries a frame.
  const dialCap = budget < 12 ? budget : Math.min(8, Math.ceil(budget * 0.3));
  const searches = ages.map((t) => new DialSearch(t, options.dialRange, options.ageTolerance));
  before.forEach((e, k) => searches[k].add(e.dial, e.age));
  const tries = new Array<number>(K).fill(1);
  const found = [...before];
  while (true) {
    const wanted: Candidate[] = [];
    searches.forEach((s, k) => {
      if (tries[k] >= dialCap) return;
      const dial = s.next();
      if (dial !== undefined) wanted.push({ frame: k, dial, weights: ones });
    });
    if (wanted.length === 0) break;
    progress('dial');
    for (const e of await evaluator.evaluate(wanted)) {
      tries[e.frame] += 1;
      searches[e.frame].add(e.dial, e.age);
      if (ownCost(e) < ownCost(found[e.frame])) found[e.frame] = e;
    }
  }
  keepIfBetter(found);

  // 2. Smooth the dial schedule. The quadratic model of the objective in the dials: age cost
  // l_age * slope_k^2 * (d_k - root_k)^2 per frame, smoothness cost l_smooth * g^2 / scale per
  // squared dial jerk (g^2: squared code change per year of dial). Its minimiser and two
  // stiffer versions (the model cannot see that a staircase-like age reading gains nothing
  // from following noise) are measured; the best path is kept.
  if (lineCount(ratios) > 0 && left() >= K * SMOOTHING.length) {
    progress('smooth');
    const dials = found.map((e) => e.dial);
    const slopes = searches.map((s) => s.slope());
    const known = slopes.filter((s): s is number => s !== undefined && s > 0);
    const typical = known.length ? median(known) : 1;
    // A frame on a plateau (its age does not follow the dial) gets almost no say: its neighbours place it.
    const dataWeights = slopes.map((s) => lambda.age * Math.max(s ?? typical, typical * 1e-3) ** 2);
    const rates = found
      .map((e, k) => (Math.abs(e.dial - before[k].dial) > 0.5 ? squaredDistance(e.code, before[k].code) / (e.dial - before[k].dial) ** 2 : undefined))
      .filter((g): g is number => g !== undefined);
    const stiffness = (lambda.smoothness * (rates.length ? median(rates) : 1)) / scale;
    const schedules = SMOOTHING.map((factor) => smoothSchedule(dials, ratios, stiffness * factor, dataWeights).map(clampDial));
    const measured = await evaluator.evaluate(schedules.flatMap((schedule) => schedule.map((dial, k) => ({ frame: k, dial, weights: ones }))));
    const paths = schedules.map((_, s) => measured.slice(s * K, (s + 1) * K));
    paths.sort((a, b) => pathCost(a) - pathCost(b));
    keepIfBetter(paths[0]);
  }

  // 3. Path: CMA-ES over whole-path corrections, x = [shift, stretch, w_coarse, w_medium, w_fine]:
  // dial_k = base_k + 20 (shift + stretch * (target_k - mean) / 50), the same weights for every
  // frame. A straight path stays straight under all of them.
  const [wMin, wMax] = options.weightRange;
  const frameSize = defaultLambda(1 + GROUPS.length);
  const pathSize = defaultLambda(2 + GROUPS.length);
  const pathGenerations = Math.floor((left() * PATH_SHARE) / (pathSize * K));
  if (pathGenerations >= 1) {
    const base = current.map((e) => e.dial);
    const meanAge = ages.reduce((a, b) => a + b, 0) / K;
    const spread = (t: number): number => (t - meanAge) / 50;
    const lower = [-Infinity, -Infinity, ...GROUPS.map(() => wMin)];
    const upper = [Infinity, Infinity, ...GROUPS.map(() => wMax)];
    const es = new Cma({ mean: [0, 0, ...current[0].weights], sigma: SIGMA_PATH, lambda: pathSize, seed: options.seed >>> 0 });
    let stale = 0;
    for (let g = 0; g < pathGenerations && stale < PATIENCE; g++) {
      progress('path');
      const xs = es.ask();
      const boxed = xs.map((x) => x.map((v, i) => Math.min(upper[i], Math.max(lower[i], v))));
      const candidates = boxed.flatMap((x) => ages.map((t, k) => ({ frame: k, dial: clampDial(base[k] + DIAL_SCALE * (x[0] + x[1] * spread(t))), weights: x.slice(2) })));
      const measured = await evaluator.evaluate(candidates);
      const paths = boxed.map((_, i) => measured.slice(i * K, (i + 1) * K));
      const costs = paths.map((path, i) => pathCost(path) + BOX_PENALTY * outside(xs[i], boxed[i]));
      es.tell(xs, costs);
      const best = costs.indexOf(Math.min(...costs));
      stale = keepIfBetter(paths[best]) ? 0 : stale + 1;
    }
  }

  // 4. Refine each frame with CMA-ES over (dial / DIAL_SCALE, weights), neighbours fixed.
  const lower = [dialMin / DIAL_SCALE, ...GROUPS.map(() => wMin)];
  const upper = [dialMax / DIAL_SCALE, ...GROUPS.map(() => wMax)];
  const frameSeed = (k: number, sweep: number): number => (options.seed + 7919 * (k + 1) + 104729 * sweep) >>> 0;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let improved = false;
    for (let k = 0; k < K; k++) {
      const generations = Math.floor(Math.floor(left() / (K - k)) / frameSize);
      if (generations < 1) continue;
      const start = current[k];
      const es = new Cma({ mean: [start.dial / DIAL_SCALE, ...start.weights], sigma: SIGMA_FRAME, lambda: frameSize, seed: frameSeed(k, sweep) });
      let stale = 0;
      for (let g = 0; g < generations && stale < PATIENCE; g++) {
        progress('refine', k + 1);
        const xs = es.ask();
        const boxed = xs.map((x) => x.map((v, i) => Math.min(upper[i], Math.max(lower[i], v))));
        const measured = await evaluator.evaluate(boxed.map((x) => ({ frame: k, dial: x[0] * DIAL_SCALE, weights: x.slice(1) })));
        const costs = measured.map((e, i) => ownCost(e) + jerkCost(k, e.code) + BOX_PENALTY * outside(xs[i], boxed[i]));
        es.tell(xs, costs);
        const best = costs.indexOf(Math.min(...costs));
        // Elitist: the current point's cost is recomputed against the neighbours as they are now.
        if (costs[best] < ownCost(current[k]) + jerkCost(k, current[k].code) - minGain) {
          current[k] = measured[best];
          improved = true;
          stale = 0;
        } else {
          stale += 1;
        }
        if (es.spread < 1e-3) break;
      }
    }
    if (!improved || left() < frameSize) break;
  }

  checkAbort(signal);
  const data = new Float32Array(K * CODE);
  current.forEach((e, k) => data.set(e.code, k * CODE));
  const report = makeReport(options, before, current, ratios, scale, evaluator.evaluations, total, (performance.now() - started) / 1000);
  return { latent: { dims: [K, LAYERS, STYLE], data, ages: [...ages] }, report };
}

/** Squared distance of a sample from its box-clamped version. */
function outside(x: readonly number[], boxed: readonly number[]): number {
  return x.reduce((acc, v, i) => acc + (v - boxed[i]) ** 2, 0);
}

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

const round = (value: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

function makeReport(options: OptimizeOptions, before: Evaluation[], after: Evaluation[], ratios: number[], scale: number, evaluations: number, budget: number, seconds: number): PathReport {
  const { ages } = options;
  const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
  const frames = ages.map((target, k) => ({
    target,
    measuredBefore: round(before[k].age, 3),
    measuredAfter: round(after[k].age, 3),
    identityBefore: round(before[k].identity, 6),
    identityAfter: round(after[k].identity, 6),
    dial: round(after[k].dial, 3),
    weights: Object.fromEntries(GROUPS.map((g, i) => [g.name, round(after[k].weights[i], 4)])) as Record<GroupName, number>,
  }));
  return {
    frames,
    maeBefore: round(mean(before.map((e, k) => Math.abs(e.age - ages[k]))), 3),
    maeAfter: round(mean(after.map((e, k) => Math.abs(e.age - ages[k]))), 3),
    identityBefore: round(mean(before.map((e) => e.identity)), 6),
    identityAfter: round(mean(after.map((e) => e.identity)), 6),
    // Six decimals: float32 codes make anything below that rounding noise.
    smoothnessBefore: round(roughness(before.map((e) => e.code), ratios, scale), 6),
    smoothnessAfter: round(roughness(after.map((e) => e.code), ratios, scale), 6),
    evaluations,
    budget,
    seconds: round(seconds, 3),
    ageBackend: options.ageBackend,
    identityBackend: options.identityBackend,
    seed: options.seed,
  };
}
