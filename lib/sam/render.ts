import type { Tensor } from '../tensor';
import type { SamModels } from './models';
import { LAYERS, STYLE } from './latent';
import type { RgbImage } from '../image/decode';
import { toRgb } from './pixel-ops';

/** Most codes rendered in one generator run: bounds memory at 1024 (about 0.2 GB of activations each). */
export const RENDER_BATCH = 4;

/** The generator files of a model folder: the full one, and variants that stop at a lower resolution. */
export const GENERATORS = ['generator', 'generator-512', 'generator-256'] as const;
export type GeneratorName = (typeof GENERATORS)[number];

/**
 * The generator that renders `size` pixels without wasted layers: the variant that stops at
 * that resolution (generator-512, generator-256), else the full one.
 */
export function generatorFor(size: number): GeneratorName {
  return size <= 256 ? 'generator-256' : size <= 512 ? 'generator-512' : 'generator';
}

/**
 * Renders W+ codes with StyleGAN2.
 * @param codes K codes of 18x512
 * @param variant a generator variant to use when the folder has it (cheaper: it stops before the
 *   last layers, so it lacks their finest detail); the full generator otherwise
 * @returns [K,3,R,R] in [-1, 1]
 */
export async function render(models: SamModels, codes: Float32Array, count: number, variant: GeneratorName = 'generator'): Promise<Tensor> {
  const generator = (variant !== 'generator' && (await models.optional(variant))) || (await models.require('generator'));
  const parts: Tensor[] = [];
  for (let start = 0; start < count; start += RENDER_BATCH) {
    const n = Math.min(RENDER_BATCH, count - start);
    const latent = { dims: [n, LAYERS, STYLE], data: codes.slice(start * LAYERS * STYLE, (start + n) * LAYERS * STYLE) };
    parts.push((await generator.run({ latent }, { transfer: true })).image);
  }
  if (parts.length === 1) return parts[0];
  const [, c, h, w] = parts[0].dims;
  const data = new Float32Array(count * c * h * w);
  let offset = 0;
  for (const part of parts) {
    data.set(part.data, offset);
    offset += part.data.length;
  }
  return { dims: [count, c, h, w], data };
}

/**
 * Renders K codes in batches and turns each image into 8-bit RGB as soon as it is rendered, so
 * a long sequence never holds more than one batch of float images.
 * @param size resize each face to this side; omit to keep the generator's resolution
 * @param onProgress called after each batch with (rendered, total)
 * @param signal stops between batches when aborted (a node closing), rejecting with its reason
 * @param variant the generator to render with (see {@link render})
 */
export async function renderFaces(
  models: SamModels,
  codes: Float32Array,
  count: number,
  size?: number,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
  variant: GeneratorName = 'generator',
): Promise<{ faces: RgbImage[]; resolution: number }> {
  const faces: RgbImage[] = [];
  const code = LAYERS * STYLE;
  let resolution = 0;
  for (let start = 0; start < count; start += RENDER_BATCH) {
    signal?.throwIfAborted();
    const n = Math.min(RENDER_BATCH, count - start);
    const images = await render(models, codes.subarray(start * code, (start + n) * code), n, variant);
    resolution = images.dims[3];
    // 8-bit conversion and resizing happen in the worker: this thread never loops over pixels.
    faces.push(...(await toRgb(models.runtime, images, size, true)));
    onProgress?.(start + n, count);
  }
  return { faces, resolution };
}
