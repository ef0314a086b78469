import type { Tensor } from '../tensor';
import type { SamModels } from './models';
import { LAYERS, STYLE } from './latent';

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
