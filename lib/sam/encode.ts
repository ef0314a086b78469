import type { Tensor } from '../tensor';
import type { SamModels } from './models';
import { addDeltas, codeAt, LAYERS, STYLE, mixLayers, type Latent } from './latent';
import { SeededRandom } from './random';
import { MAX_AGES } from './ages';

/** SAM's encoders read 256x256 RGB. */
export const ENCODER_SIZE = 256;

/** Style mixing, as SAM's multi-modal editing does it. */
export interface StyleMixing {
  /** Layers that take the injected style (pSp/SAM use the fine layers 8-17). */
  layers: number[];
  /** 1 injects fully, 0 leaves the codes as they are. */
  alpha: number;
  /** Codes to inject: one W+ code, or one per target age. */
  reference?: Float32Array;
  /** Or random styles w = mapping(z), seeded: `count` variants of every age. */
  random?: { count: number; seed: number };
}

/** The W+ inversion of one aligned face: one pass of the frozen pSp encoder, latent_avg included. */
export async function invert(models: SamModels, image: Tensor): Promise<Float32Array> {
  const inversion = await models.require('inversion');
  return (await inversion.run({ image })).latent.data;
}

/** SAM's age offsets of one face for K ages, in one batched run of the aging encoder. */
export async function agingDeltas(models: SamModels, image: Tensor, ages: readonly number[]): Promise<Float32Array> {
  const aging = await models.require('aging');
  const count = ages.length;
  // One image goes to the worker, which builds the batch (101 ages: 79 MB, off this thread).
  const result = await aging.run({ image, age: { dims: [count], data: Float32Array.from(ages) } }, { repeat: { image: count } });
  return result.delta.data;
}

/**
 * Encodes one aligned face at K target ages: `w+ = inversion(x) + aging(x, a)`.
 * @param image [1,3,256,256] in [-1, 1]
 * @param mixing optional style mixing applied to every age
 */
export async function encodeAges(models: SamModels, image: Tensor, ages: readonly number[], mixing?: StyleMixing): Promise<Latent> {
  const total = ages.length * (mixing?.random?.count ?? 1);
  // A latent carries at most MAX_AGES codes (checkLatent): say so before any work.
  if (total > MAX_AGES) throw new RangeError(`Random style mixing of ${ages.length} ages x ${mixing!.random!.count} variants gives ${total} codes, more than the ${MAX_AGES} a latent may carry; ask fewer ages or variants`);
  const [inversion, deltas] = await Promise.all([invert(models, image), agingDeltas(models, image, ages)]);
  const codes = addDeltas(inversion, deltas, ages.length);
  const latent: Latent = { dims: [ages.length, LAYERS, STYLE], data: codes, ages: [...ages] };
  return mixing ? mixStyles(models, latent, mixing) : latent;
}

/**
 * Applies style mixing to a latent; with random styles, each age comes out `count` times,
 * ages first (age 0 variant 0, age 0 variant 1, ...).
 */
export async function mixStyles(models: SamModels, latent: Latent, mixing: StyleMixing): Promise<Latent> {
  const count = latent.dims[0];
  if (mixing.reference) {
    return { ...latent, data: mixLayers(latent.data, count, mixing.reference, mixing.layers, mixing.alpha) };
  }
  if (!mixing.random) return latent;
  const styles = await randomStyles(models, mixing.random.count, mixing.random.seed);
  const variants = mixing.random.count;
  const out = new Float32Array(count * variants * LAYERS * STYLE);
  const ages: number[] = [];
  for (let k = 0; k < count; k++) {
    for (let v = 0; v < variants; v++) {
      out.set(mixLayers(codeAt(latent.data, k), 1, codeAt(styles, v), mixing.layers, mixing.alpha), (k * variants + v) * LAYERS * STYLE);
      ages.push(latent.ages[k]);
    }
  }
  return { dims: [count * variants, LAYERS, STYLE], data: out, ages };
}

/** `count` random W+ codes: w = mapping(z) with seeded normal z, repeated on every layer. */
export async function randomStyles(models: SamModels, count: number, seed: number): Promise<Float32Array> {
  const mapping = await models.require('mapping');
  const z = new SeededRandom(seed).normals(count * STYLE);
  const w = (await mapping.run({ z: { dims: [count, STYLE], data: z } }, { transfer: true })).w.data;
  const codes = new Float32Array(count * LAYERS * STYLE);
  for (let v = 0; v < count; v++) {
    for (let l = 0; l < LAYERS; l++) codes.set(w.subarray(v * STYLE, (v + 1) * STYLE), (v * LAYERS + l) * STYLE);
  }
  return codes;
}
