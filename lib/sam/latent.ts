import { MAX_AGE, MAX_AGES } from './ages';

/** StyleGAN2 FFHQ 1024 has 18 style inputs of 512 values each. */
export const LAYERS = 18;
export const STYLE = 512;
const CODE = LAYERS * STYLE;

/** W+ codes for K target ages, as carried in `msg.latent`. */
export interface Latent {
  dims: [number, 18, 512];
  data: Float32Array;
  ages: number[];
}

/**
 * Checks a value received as `msg.latent` (or `msg.reference`) and returns it typed.
 * Accepts a Float32Array or a plain number array (as a JSON message would carry it). A latent
 * carries at most MAX_AGES codes (as many as a message may ask ages), each age in 0..MAX_AGE.
 * @throws {TypeError|RangeError} naming what is wrong
 */
export function checkLatent(value: unknown, what = 'msg.latent'): Latent {
  if (!value || typeof value !== 'object') throw new TypeError(`Expected ${what} to be { dims: [K,18,512], data, ages } but received ${value === null ? 'null' : typeof value}`);
  const { dims, data, ages } = value as Partial<Latent> & { data?: unknown };
  if (!Array.isArray(dims) || dims.length !== 3 || dims[1] !== LAYERS || dims[2] !== STYLE || !Number.isInteger(dims[0]) || dims[0] < 1) {
    throw new RangeError(`Expected ${what}.dims to be [K,18,512] but received ${JSON.stringify(dims)}`);
  }
  const count = dims[0];
  // Checked before the data is touched: the size of everything after follows from it.
  if (count > MAX_AGES) throw new RangeError(`Expected ${what} to carry at most ${MAX_AGES} codes but it carries ${count}`);
  if (Array.isArray(data)) {
    // Float32Array.from would turn null into 0 and '1' into 1 without a word.
    const bad = data.findIndex((v) => typeof v !== 'number');
    if (bad >= 0) throw new TypeError(`Expected ${what}.data to hold numbers but item ${bad} is ${data[bad] === null ? 'null' : typeof data[bad]}`);
  }
  const values = data instanceof Float32Array ? data : Array.isArray(data) ? Float32Array.from(data as number[]) : undefined;
  if (!values) throw new TypeError(`Expected ${what}.data to be a Float32Array or an array of numbers`);
  if (values.length !== count * CODE) throw new RangeError(`Expected ${what}.data to hold ${count * CODE} values for dims [${dims.join(',')}] but it holds ${values.length}`);
  if (!values.every(Number.isFinite)) throw new RangeError(`Expected ${what}.data to hold finite numbers but it holds NaN or Infinity`);
  if (!Array.isArray(ages) || ages.length !== count || !ages.every((a) => typeof a === 'number' && Number.isFinite(a))) {
    throw new RangeError(`Expected ${what}.ages to list ${count} ages, one per code`);
  }
  const outside = ages.find((a) => a < 0 || a > MAX_AGE);
  if (outside !== undefined) throw new RangeError(`Expected ${what}.ages to be between 0 and ${MAX_AGE} years but received ${outside}`);
  return { dims: [count, LAYERS, STYLE], data: values, ages: [...ages] };
}

/** Code `k` of a batch of W+ codes (a view, not a copy). */
export function codeAt(data: Float32Array, k: number): Float32Array {
  return data.subarray(k * CODE, (k + 1) * CODE);
}

/**
 * W+ = inversion + delta, for each of K deltas; `inversion` holds one code.
 * `weights` (optional, one per layer) scale each layer's delta: 1 everywhere is SAM's own sum.
 */
export function addDeltas(inversion: Float32Array, deltas: Float32Array, count: number, weights?: ArrayLike<number>): Float32Array {
  const out = new Float32Array(count * CODE);
  for (let k = 0; k < count; k++) {
    for (let l = 0; l < LAYERS; l++) {
      const w = weights ? weights[l] : 1;
      const base = k * CODE + l * STYLE;
      for (let j = 0; j < STYLE; j++) out[base + j] = inversion[l * STYLE + j] + w * deltas[base + j];
    }
  }
  return out;
}

/**
 * Style mixing as in pSp/SAM: on the chosen layers, code = alpha * injected + (1 - alpha) * code.
 * @param injected one code (used for every target) or one per target code
 * @returns a new array; alpha 0 returns the codes unchanged
 */
export function mixLayers(codes: Float32Array, count: number, injected: Float32Array, layers: readonly number[], alpha: number): Float32Array {
  const out = Float32Array.from(codes);
  const perCode = injected.length === count * CODE;
  for (let k = 0; k < count; k++) {
    const source = perCode ? k * CODE : 0;
    for (const l of layers) {
      const base = k * CODE + l * STYLE;
      for (let j = 0; j < STYLE; j++) out[base + j] = alpha * injected[source + l * STYLE + j] + (1 - alpha) * codes[base + j];
    }
  }
  return out;
}

/** Linear interpolation between two codes, for animation frames. */
export function lerpCode(a: Float32Array, b: Float32Array, t: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + t * (b[i] - a[i]);
  return out;
}

/**
 * Reads a list of layers: `"8-17"`, `"0,1,2"`, `[8, 9]`.
 * @throws {RangeError} for layers outside 0..17
 */
export function parseLayers(value: unknown): number[] {
  const parts = Array.isArray(value) ? value.map(String) : String(value ?? '').split(',');
  const layers = new Set<number>();
  for (const part of parts.map((p) => p.trim()).filter(Boolean)) {
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(part);
    const [from, to] = range ? [Number(range[1]), Number(range[2])] : [Number(part), Number(part)];
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to >= LAYERS || from > to) {
      throw new RangeError(`Expected style layers between 0 and ${LAYERS - 1} (e.g. "8-17") but received "${part}"`);
    }
    for (let l = from; l <= to; l++) layers.add(l);
  }
  if (layers.size === 0) throw new RangeError(`Expected at least one style layer (e.g. "8-17") but received ${JSON.stringify(value)}`);
  return [...layers].sort((a, b) => a - b);
}
