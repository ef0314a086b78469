// Path optimization: refine SAM's latents along a whole lifespan so that every frame's
// measured age meets its target, the person stays the same, and the path through W+ stays
// smooth. Without gradients (onnxruntime has none), over a compact parametrisation of each
// frame: the age dial fed to `aging`, and blend weights of aging's offset for the coarse,
// medium and fine layers. The objective (state.ts) is
//   sum_k [ l_age (age_k - target_k)^2 + l_id (1 - cos_k) ] + l_smooth * sum_k jerk_k / scale
// (jerk_k: squared distance of code k from the line through its neighbours; scale: the mean
// squared step of SAM's own path). Phases, one file each, each kept only where it lowers the
// objective:
//   1. dial (phase-dial.ts): a batched root-finder per frame on measured age vs. dial;
//   2. smooth (phase-smooth.ts): Whittaker smoothing of the dial schedule along the ages;
//   3. path (phase-path.ts): CMA-ES over corrections that move the whole path consistently;
//   4. refine (phase-refine.ts): per frame, CMA-ES over (dial, 3 weights), neighbours fixed.
// Phases 3 and 4 share one boxed CMA-ES loop (boxed-cma.ts). Every population is evaluated in
// batches (one generator run per population of a frame).
import type { Tensor } from '../tensor';
import type { SamModels } from '../sam/models';
import { LAYERS, STYLE, type Latent } from '../sam/latent';
import { checkAbort, Evaluator, GROUPS } from './evaluate';
import { validateOptimizeOptions, type OptimizeInput } from './options';
import { interpolationRatios, meanSquaredStep } from './path';
import { dialPhase } from './phase-dial';
import { pathPhase } from './phase-path';
import { refinePhase } from './phase-refine';
import { smoothPhase } from './phase-smooth';
import { makeReport, type PathReport } from './report';
import { CODE, PathState, type OptimizeControl } from './state';

/** Result: the optimized latent (ready for age-generate) and the report. */
export interface OptimizeResult {
  latent: Latent;
  report: PathReport;
}

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
  const { ages } = options;
  const K = ages.length;
  const { signal, onProgress } = control;
  checkAbort(signal);
  const evaluator = await Evaluator.create(models, image, { ageBackend: options.ageBackend, identityBackend: options.identityBackend, signal });
  onProgress?.({ phase: 'measure', frame: K, frames: K, evaluations: evaluator.evaluations, budget: options.budget * K });
  // SAM's own codes: dial = target, every weight 1. They are the "before" and the start.
  const ones = GROUPS.map(() => 1);
  const before = await evaluator.evaluate(ages.map((t, k) => ({ frame: k, dial: t, weights: ones })));
  const state = new PathState(options, evaluator, before, interpolationRatios(ages), meanSquaredStep(before.map((e) => e.code)) || 1, onProgress);

  const dials = await dialPhase(state);
  await smoothPhase(state, dials);
  await pathPhase(state);
  await refinePhase(state);

  checkAbort(signal);
  const data = new Float32Array(K * CODE);
  state.current.forEach((e, k) => data.set(e.code, k * CODE));
  const report = makeReport({
    options,
    before,
    after: state.current,
    ratios: state.ratios,
    scale: state.scale,
    evaluations: evaluator.evaluations,
    budget: state.total,
    seconds: (performance.now() - started) / 1000,
  });
  return { latent: { dims: [K, LAYERS, STYLE], data, ages: [...ages] }, report };
}
