import type { Tensor } from '../tensor';
import type { SamModels } from './models';
import { LAYERS, STYLE } from './latent';
import { resizeRgb, tensorToRgb, type RgbImage } from './image';

/** Most codes rendered in one generator run: bounds memory at 1024 (about 0.2 GB of activations each). */
export const RENDER_BATCH = 4;

/**
 * Renders W+ codes with StyleGAN2.
 * @param codes K codes of 18x512
 * @param fast use `generator-256` when the folder has it (cheaper; for measuring, not for output)
 * @returns [K,3,R,R] in [-1, 1]
 */
export async function render(models: SamModels, codes: Float32Array, count: number, fast = false): Promise<Tensor> {
  const generator = (fast && (await models.optional('generator-256'))) || (await models.require('generator'));
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
 */
export async function renderFaces(
  models: SamModels,
  codes: Float32Array,
  count: number,
  size?: number,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<{ faces: RgbImage[]; resolution: number }> {
  const faces: RgbImage[] = [];
  const code = LAYERS * STYLE;
  let resolution = 0;
  for (let start = 0; start < count; start += RENDER_BATCH) {
    signal?.throwIfAborted();
    const n = Math.min(RENDER_BATCH, count - start);
    const images = await render(models, codes.subarray(start * code, (start + n) * code), n);
    resolution = images.dims[3];
    for (let i = 0; i < n; i++) {
      const rgb = tensorToRgb(images, i);
      faces.push(size ? await resizeRgb(rgb, size) : rgb);
    }
    onProgress?.(start + n, count);
  }
  return { faces, resolution };
}
