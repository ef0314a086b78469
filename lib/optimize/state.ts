// The state every phase of path optimization shares: the settings, the evaluator, SAM's own
// path ("before"), the path as it stands ("current"), and the objective's terms over it.
import { LAYERS, STYLE } from '../sam/latent';
import type { Evaluation, Evaluator } from './evaluate';
import type { OptimizeOptions } from './options';
import { jerkAt, lineCount, roughness } from './path';

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

/** Dial units per CMA-ES coordinate: puts 20 years of dial on the scale of 1.0 of weight. */
export const DIAL_SCALE = 20;

/** Floats in one W+ code. */
export const CODE = LAYERS * STYLE;

/**
 * One optimization's path and objective:
 *   sum_k [ l_age (age_k - target_k)^2 + l_id (1 - cos_k) ] + l_smooth * sum_k jerk_k / scale.
 * Phases read `current` and replace frames of it only where the objective drops.
 */
export class PathState {
  readonly ages: readonly number[];
  /** Frames. */
  readonly K: number;
  /** Most evaluations allowed: budget x frames. */
  readonly total: number;
  /** Interpolation ratio of each frame between its neighbours (NaN at the ends and at repeats). */
  readonly ratios: number[];
  /** Mean squared step of SAM's own path: the unit of smoothness. */
  readonly scale: number;
  /** Gains below a tolerance's worth of squared age error are noise of the age reading. */
  readonly minGain: number;
  readonly before: readonly Evaluation[];
  readonly current: Evaluation[];

  constructor(
    readonly options: OptimizeOptions,
    readonly evaluator: Evaluator,
    before: Evaluation[],
    ratios: number[],
    scale: number,
    private readonly onProgress?: (progress: OptimizeProgress) => void,
  ) {
    this.ages = options.ages;
    this.K = options.ages.length;
    this.total = options.budget * this.K;
    this.ratios = ratios;
    this.scale = scale;
    this.minGain = options.weights.age * options.ageTolerance ** 2;
    this.before = before;
    this.current = [...before];
  }

  /** Evaluations the budget has left. */
  left(): number {
    return this.total - this.evaluator.evaluations;
  }

  /** Reports progress; `frame` defaults to all frames (the batched phases). */
  progress(phase: OptimizeProgress['phase'], frame = this.K): void {
    this.onProgress?.({ phase, frame, frames: this.K, evaluations: this.evaluator.evaluations, budget: this.total });
  }

  clampDial(dial: number): number {
    const [low, high] = this.options.dialRange;
    return Math.min(high, Math.max(low, dial));
  }

  /** Age and identity cost of one frame's evaluation (the part that does not depend on neighbours). */
  ownCost(e: Evaluation): number {
    const { age, identity } = this.options.weights;
    return age * (e.age - this.ages[e.frame]) ** 2 + identity * (1 - e.identity);
  }

  /** Smoothness cost of every jerk term frame k takes part in, with `code` in place of frame k's. */
  jerkCost(k: number, code: Float32Array): number {
    const at = (i: number): Float32Array => (i === k ? code : this.current[i].code);
    let sum = 0;
    for (let i = Math.max(1, k - 1); i <= Math.min(this.K - 2, k + 1); i++) {
      if (!Number.isNaN(this.ratios[i])) sum += jerkAt(at(i - 1), at(i), at(i + 1), this.ratios[i]);
    }
    return (this.options.weights.smoothness * sum) / this.scale;
  }

  /** The whole objective of a path. */
  pathCost(frames: readonly Evaluation[]): number {
    const own = frames.reduce((acc, e) => acc + this.ownCost(e), 0);
    return own + this.options.weights.smoothness * roughness(frames.map((e) => e.code), this.ratios, this.scale) * lineCount(this.ratios);
  }

  /** Replaces the whole path when `path` is better by more than the noise floor. */
  keepIfBetter(path: readonly Evaluation[]): boolean {
    if (this.pathCost(path) >= this.pathCost(this.current) - this.minGain) return false;
    path.forEach((e, k) => (this.current[k] = e));
    return true;
  }
}
