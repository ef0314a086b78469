// Turns candidate frame parameters (age dial, per-group blend weights) into W+ codes,
// renders them cheaply and measures their age and identity, a population at a time.
import type { Tensor } from '../tensor';
import type { SamModels } from '../sam/models';
import type { ModelSession } from '../runtime/runtime';
import { agingDeltas, invert } from '../sam/encode';
import { addDeltas, LAYERS, STYLE } from '../sam/latent';
import { cosine, embedIdentities, measureAges, type Backend } from '../sam/measure';
import { render } from '../sam/render';

const CODE = LAYERS * STYLE;

/** Layer groups whose share of aging's offset the optimizer may blend (StyleGAN2's coarse / medium / fine styles). */
export const GROUPS = [
  { name: 'coarse', layers: [0, 1, 2] },
  { name: 'medium', layers: [3, 4, 5, 6] },
  { name: 'fine', layers: [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17] },
] as const;
export type GroupName = (typeof GROUPS)[number]['name'];

/**
 * Most images in one model run. A population (8 for CMA-ES on 4 parameters) goes in one
 * generator run; the batched phases over many frames are cut into runs this size, which
 * bounds the worker's memory for the real 256 px generator and the aging encoder.
 */
export const RUN_BATCH = 16;
/** Most aging offsets kept, keyed by dial (each is 18x512 floats, 36 KiB). */
const CACHE_LIMIT = 1024;

/** One frame's parameters: what the aging encoder is fed, and how much of its offset each group takes. */
export interface Candidate {
  frame: number;
  /** Age in years fed to `aging` (the age dial). */
  dial: number;
  /** Blend weights, one per group of GROUPS. */
  weights: readonly number[];
}

/** A measured candidate. */
export interface Evaluation extends Candidate {
  code: Float32Array;
  /** Measured age of the render, years. */
  age: number;
  /** Cosine similarity of the render's identity embedding to the input face's. */
  identity: number;
}

/** Per-layer weights (18) from per-group weights. */
export function layerWeights(weights: readonly number[]): number[] {
  const out = new Array<number>(LAYERS).fill(1);
  GROUPS.forEach((group, g) => group.layers.forEach((l) => (out[l] = weights[g])));
  return out;
}

/** The error a cancelled optimization rejects with. */
export function abortError(): Error {
  const err = new Error('path optimization cancelled');
  err.name = 'AbortError';
  return err;
}

/** Settings of an Evaluator. */
export interface EvaluatorOptions {
  ageBackend: Backend;
  identityBackend: Backend;
  signal?: AbortSignal;
}

/**
 * Evaluates candidates of one face: one inversion and one identity reference up front, then
 * per batch one aging run for the dials not seen yet, one generator run, one age and one
 * identity measurement. Counts every rendered candidate.
 */
export class Evaluator {
  /** Candidates rendered and measured so far. */
  evaluations = 0;
  private readonly deltas = new Map<number, Float32Array>();

  private constructor(
    private readonly models: SamModels,
    private readonly image: Tensor,
    private readonly inversion: Float32Array,
    private readonly reference: Float32Array,
    private readonly fastGenerator: ModelSession | undefined,
    private readonly options: EvaluatorOptions,
  ) {}

  /**
   * Opens every model the run needs before spending anything, so a folder missing a role
   * fails at once; then inverts the face and embeds its identity.
   * @param image the aligned face, [1,3,256,256] in [-1, 1]
   * @throws {ContractError} naming the missing or mismatched model
   */
  static async create(models: SamModels, image: Tensor, options: EvaluatorOptions): Promise<Evaluator> {
    await models.require('inversion');
    await models.require('aging');
    const fast = await models.optional('generator-256');
    if (!fast) await models.require('generator');
    if (options.ageBackend === 'onnx') await models.require('age');
    if (options.identityBackend === 'onnx') await models.require('identity');
    checkAbort(options.signal);
    const [inversion, [reference]] = await Promise.all([invert(models, image), embedIdentities(models, image, options.identityBackend)]);
    return new Evaluator(models, image, inversion, reference, fast, options);
  }

  /** The W+ code of a candidate whose dial has been encoded. */
  private codeOf(c: Candidate): Float32Array {
    const delta = this.deltas.get(Math.fround(c.dial)) as Float32Array;
    return addDeltas(this.inversion, delta, 1, layerWeights(c.weights));
  }

  /** Encodes the dials not in the cache, in runs of RUN_BATCH. */
  private async encodeDials(dials: number[]): Promise<void> {
    const missing = [...new Set(dials.map(Math.fround))].filter((d) => !this.deltas.has(d));
    for (let start = 0; start < missing.length; start += RUN_BATCH) {
      checkAbort(this.options.signal);
      const part = missing.slice(start, start + RUN_BATCH);
      const data = await agingDeltas(this.models, this.image, part);
      part.forEach((d, i) => this.deltas.set(d, data.slice(i * CODE, (i + 1) * CODE)));
    }
    // Forget the oldest offsets beyond the limit (a Map keeps insertion order).
    for (const key of this.deltas.keys()) {
      if (this.deltas.size <= CACHE_LIMIT) break;
      if (!dials.some((d) => Math.fround(d) === key)) this.deltas.delete(key);
    }
  }

  /** Renders codes at the cheap resolution: one generator run per RUN_BATCH codes. */
  private async render(codes: Float32Array, count: number): Promise<Tensor> {
    if (!this.fastGenerator) return render(this.models, codes, count, 'generator-256');
    const latent = { dims: [count, LAYERS, STYLE], data: codes };
    return (await this.fastGenerator.run({ latent }, { transfer: true })).image;
  }

  /**
   * Renders and measures candidates, in runs of at most RUN_BATCH.
   * @throws {Error} AbortError when the signal fires (checked before every model run)
   */
  async evaluate(candidates: readonly Candidate[]): Promise<Evaluation[]> {
    const out: Evaluation[] = [];
    for (let start = 0; start < candidates.length; start += RUN_BATCH) {
      const part = candidates.slice(start, start + RUN_BATCH);
      await this.encodeDials(part.map((c) => c.dial));
      const codes = part.map((c) => this.codeOf(c));
      const batch = new Float32Array(part.length * CODE);
      codes.forEach((code, i) => batch.set(code, i * CODE));
      checkAbort(this.options.signal);
      const images = await this.render(batch, part.length);
      checkAbort(this.options.signal);
      // Both nets read the render: the age net gets a copy, the identity net the render itself.
      const forAge = { dims: images.dims, data: images.data.slice() };
      const [ages, embeddings] = await Promise.all([
        measureAges(this.models, forAge, this.options.ageBackend, true),
        embedIdentities(this.models, images, this.options.identityBackend, true),
      ]);
      this.evaluations += part.length;
      part.forEach((c, i) => out.push({ frame: c.frame, dial: c.dial, weights: [...c.weights], code: codes[i], age: ages[i], identity: cosine(embeddings[i], this.reference) }));
    }
    return out;
  }
}

/** @throws {Error} AbortError when the signal has fired */
export function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}
