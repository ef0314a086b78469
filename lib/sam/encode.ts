import type { Tensor } from '../tensor';
import type { SamModels } from './models';
import { parseAges } from './ages';
import { imageToTensor } from './image';
import { addDeltas, checkLatent, codeAt, LAYERS, STYLE, mixLayers, parseLayers, type Latent } from './latent';
import { SeededRandom } from './random';
import { MAX_AGES } from './ages';

/** SAM's encoders read 256x256 RGB. */
export const ENCODER_SIZE = 256;

/** Where an encoding takes its injected styles from: nowhere, a reference face or latent, or seeded random styles. */
export type MixingMode = 'none' | 'reference' | 'random';
const MIXING_MODES: readonly MixingMode[] = ['none', 'reference', 'random'];
/** Most random style variants one encoding may ask for. */
export const MAX_VARIANTS = 16;

/** Settings of an encoding, as the age-encode node and the package API take them. */
export interface EncodeOptions {
  /** Target ages, in any form parseAges reads ("0:100:10", "20,40", 70, [20, 60]). */
  targetAge: unknown;
  mixing: MixingMode;
  /** Layers that take the injected style, e.g. "8-17" (pSp/SAM's fine layers) or "0-3,8". */
  layers: string;
  /** How much of the injected style a mixed layer takes: 0 to 1. */
  alpha: number;
  /** Random styles per age (random mixing), 1 to 16. */
  variants: number;
  /** Seed of the random styles. */
  seed: number;
}

/** Every default of encoding, in one place. */
export const ENCODE_DEFAULTS: Readonly<EncodeOptions> = { targetAge: '0:100:10', mixing: 'none', layers: '8-17', alpha: 1, variants: 3, seed: 0 };

/** Checked encoding settings: the ages, and the mixing to apply (its reference comes with each image). */
export interface EncodeSettings {
  ages: number[];
  mixing: Omit<StyleMixing, 'reference'> & { mode: MixingMode };
}

/** Editor and command-line values may be strings; '' and undefined mean the default. */
type Loose<T> = { [K in keyof T]?: T[K] | string };

/**
 * Checks and completes encoding settings.
 * @param options any subset; numbers may be given as strings (editor fields)
 * @throws {TypeError|RangeError} naming the setting and the value received, e.g.
 *   `Expected a mixing alpha between 0 and 1 but received "2"`
 * @example validateEncodeOptions({ targetAge: '20,60', mixing: 'random', variants: 2 })
 */
export function validateEncodeOptions(options: Loose<EncodeOptions> = {}): EncodeSettings {
  const d = ENCODE_DEFAULTS;
  const given = (value: unknown): boolean => value !== undefined && value !== '';
  const ages = parseAges(options.targetAge ?? d.targetAge);
  const mode = (options.mixing || d.mixing) as MixingMode;
  if (!MIXING_MODES.includes(mode)) throw new RangeError(`Expected style mixing none, reference or random but received "${mode}"`);
  const alpha = given(options.alpha) ? Number(options.alpha) : d.alpha;
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`Expected a mixing alpha between 0 and 1 but received ${JSON.stringify(options.alpha)}`);
  const count = given(options.variants) ? Number(options.variants) : d.variants;
  if (!Number.isInteger(count) || count < 1 || count > MAX_VARIANTS) throw new RangeError(`Expected 1 to ${MAX_VARIANTS} random style variants but received ${JSON.stringify(options.variants)}`);
  const seed = Number(options.seed || d.seed);
  if (!Number.isInteger(seed)) throw new RangeError(`Expected an integer seed but received ${JSON.stringify(options.seed)}`);
  return { ages, mixing: { mode, layers: parseLayers(options.layers || d.layers), alpha, random: mode === 'random' ? { count, seed } : undefined } };
}

/**
 * The codes reference style mixing injects: a latent's (its first code, or one per age when it
 * holds as many), or an aligned face image's, encoded at the same ages.
 * @param name names the reference in error messages
 * @throws {TypeError} when there is no reference, or it is neither a latent nor an image Buffer
 * @example const reference = await referenceCodes(models, otherFace, [20, 60]);
 */
export async function referenceCodes(models: SamModels, reference: unknown, ages: readonly number[], name = 'reference'): Promise<Float32Array> {
  if (Buffer.isBuffer(reference)) {
    return (await encodeAges(models, await imageToTensor(reference, ENCODER_SIZE, name), ages)).data;
  }
  if (reference === undefined) throw new TypeError(`Expected ${name} (a latent or an aligned face image) for reference style mixing`);
  const latent = checkLatent(reference, name);
  return latent.dims[0] === ages.length ? latent.data : codeAt(latent.data, 0).slice();
}

/**
 * The style mixing of one encoding: none, random styles, or the reference's codes.
 * @param mixing checked settings (validateEncodeOptions)
 * @param reference a latent or an aligned face image, for `reference` mixing
 * @param name names the reference in error messages
 * @throws {TypeError} as {@link referenceCodes}
 */
export async function stylesFor(models: SamModels, mixing: EncodeSettings['mixing'], reference: unknown, ages: readonly number[], name?: string): Promise<StyleMixing | undefined> {
  if (mixing.mode === 'none') return undefined;
  return { ...mixing, reference: mixing.mode === 'reference' ? await referenceCodes(models, reference, ages, name) : undefined };
}

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
