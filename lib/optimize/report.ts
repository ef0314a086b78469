// The report of a path optimization: per frame and overall, before (SAM's own path) and after.
import type { Evaluation, GroupName } from './evaluate';
import { GROUPS } from './evaluate';
import type { OptimizeOptions } from './options';
import { roughness } from './path';

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

/** What the report is made from. */
export interface ReportInput {
  options: OptimizeOptions;
  before: readonly Evaluation[];
  after: readonly Evaluation[];
  ratios: number[];
  scale: number;
  evaluations: number;
  budget: number;
  seconds: number;
}

const round = (value: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/** Makes the report, rounded to what the measurements resolve. */
export function makeReport({ options, before, after, ratios, scale, evaluations, budget, seconds }: ReportInput): PathReport {
  const { ages } = options;
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
