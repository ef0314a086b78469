// The animation: codes interpolated between consecutive ages, rendered frames with age labels,
// encoded as an animated GIF or WebP.
import sharp from 'sharp';
import { codeAt, lerpCode, LAYERS, STYLE, type Latent } from './latent';
import { resizeRgb, rgbSharp } from './image';
import { pixelCount, SHARP_MAX_PIXELS, type RgbImage } from '../image/decode';
import { ageLabel, labelOverlay } from './labels';
import { MAX_ANIMATION_BYTES, MAX_FRAMES, type OutputOptions } from './output-options';

/**
 * The codes of an animation: each given age, and `between` codes linearly interpolated
 * (lerpCode) between each two consecutive ones; ages are interpolated the same way.
 * @returns (K - 1)(between + 1) + 1 codes
 */
export function animationCodes(latent: Latent, between: number): { codes: Float32Array; ages: number[]; count: number } {
  const k = latent.dims[0];
  const count = (k - 1) * (between + 1) + 1;
  const codes = new Float32Array(count * LAYERS * STYLE);
  const ages: number[] = [];
  let f = 0;
  for (let i = 0; i < k - 1; i++) {
    const a = codeAt(latent.data, i);
    const b = codeAt(latent.data, i + 1);
    for (let j = 0; j <= between; j++, f++) {
      const t = j / (between + 1);
      codes.set(j === 0 ? a : lerpCode(a, b, t), f * LAYERS * STYLE);
      ages.push(latent.ages[i] + t * (latent.ages[i + 1] - latent.ages[i]));
    }
  }
  codes.set(codeAt(latent.data, k - 1), f * LAYERS * STYLE);
  ages.push(latent.ages[k - 1]);
  return { codes, ages, count };
}

/**
 * Checks that an animation fits the limits before anything is rendered.
 * @throws {RangeError} naming the frame count or the memory it would take
 */
export function checkAnimationSize(ageCount: number, options: Pick<OutputOptions, 'frames' | 'size'>): number {
  if (ageCount < 2) throw new RangeError(`Expected at least 2 ages in msg.latent for an animation but received ${ageCount}`);
  const count = (ageCount - 1) * (options.frames + 1) + 1;
  if (count > MAX_FRAMES) throw new RangeError(`An animation of ${count} frames is more than the ${MAX_FRAMES} allowed; give fewer ages or fewer frames between them`);
  const pixels = count * options.size * options.size;
  const bytes = pixels * 3;
  if (bytes > MAX_ANIMATION_BYTES) {
    throw new RangeError(
      `An animation of ${count} frames at ${options.size} px needs ${Math.round(bytes / 2 ** 20)} MiB, more than ${MAX_ANIMATION_BYTES / 2 ** 20} MiB; choose a smaller size or fewer frames`,
    );
  }
  // The frames go to sharp as one tall image: the memory bound keeps it within sharp's limit; this keeps it so.
  if (pixels > SHARP_MAX_PIXELS) {
    throw new RangeError(`An animation of ${count} frames at ${options.size} px holds ${pixelCount(pixels)}, more than sharp can process (${pixelCount(SHARP_MAX_PIXELS)}); choose a smaller size or fewer frames`);
  }
  return count;
}

/**
 * Encodes frames as an animated GIF or WebP: one frame a page, each shown `delay` ms, looping
 * `loop` times (0: forever). Frames are labelled with their (rounded) age when `labels` is on.
 * @param frames square RGB frames, resized to `size`
 * @param ages one per frame, for the labels
 */
export async function makeAnimation(frames: RgbImage[], ages: number[], options: Pick<OutputOptions, 'size' | 'labels' | 'animationFormat' | 'delay' | 'loop'>): Promise<Buffer> {
  const { size, labels, animationFormat, delay, loop } = options;
  const frameBytes = size * size * 3;
  const stack = Buffer.alloc(frames.length * frameBytes);
  for (let i = 0; i < frames.length; i++) {
    let frame = await resizeRgb(frames[i], size);
    if (labels) {
      const data = await rgbSharp(frame)
        .composite([await labelOverlay([ageLabel(Math.round(ages[i]))], size)])
        .removeAlpha()
        .raw()
        .toBuffer();
      frame = { data, width: size, height: size };
    }
    stack.set(frame.data, i * frameBytes);
  }
  const pipeline = sharp(stack, { raw: { width: size, height: size * frames.length, channels: 3, pageHeight: size } });
  const delays = frames.map(() => delay);
  // GIF: libimagequant's effort 1 makes the same palettes here (measured) 5x faster than the default 7.
  if (animationFormat === 'gif') return pipeline.gif({ delay: delays, loop, effort: 1, keepDuplicateFrames: true }).toBuffer();
  return pipeline.webp({ delay: delays, loop, quality: 90, effort: 2 }).toBuffer();
}
