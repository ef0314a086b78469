// The strip: the input face and every age side by side, labelled.
import sharp from 'sharp';
import { resizeRgb, type ImageFormat } from './image';
import { decodeImage, pixelCount, SHARP_MAX_PIXELS, type RgbImage } from '../image/decode';
import { ageLabel, labelOverlay } from './labels';
import { MAX_WIDTH, stillOptions, type OutputOptions } from './output-options';

/**
 * Checks that a strip of `tiles` faces fits sharp and the format, before anything is rendered.
 * @returns its width in pixels
 * @throws {RangeError} when it has more pixels than sharp takes, or is wider than the format can store (WebP 16383, JPEG 65535)
 */
export function checkStripWidth(tiles: number, size: number, format: ImageFormat): number {
  const width = tiles * size;
  if (width * size > SHARP_MAX_PIXELS) {
    throw new RangeError(
      `A strip of ${tiles} faces at ${size} px is ${width}x${size} (${pixelCount(width * size)}), more than sharp can process (${pixelCount(SHARP_MAX_PIXELS)}); give fewer ages or choose a smaller size`,
    );
  }
  if (width > MAX_WIDTH[format]) {
    throw new RangeError(`A strip of ${tiles} faces at ${size} px is ${width} px wide, more than ${format.toUpperCase()} can store (${MAX_WIDTH[format]}); choose PNG or a smaller size`);
  }
  return width;
}

/**
 * One image of faces side by side, each `size` square: the input face first when given, then
 * each age, with age labels ("input", "20", "40", ...) when `labels` is on.
 * @param faces rendered faces, any square side (resized to `size`)
 * @param ages one per face, for the labels
 * @param inputFace the aligned face the latent was encoded from (any image Buffer)
 * @param notes one per face, added to its label (e.g. the measured age and identity)
 * @returns the encoded strip: (faces + input) x size wide, size high
 * @throws {RangeError} when the strip is too large for sharp or the format; {ImageInputError} when inputFace cannot be decoded
 */
export async function makeStrip(faces: RgbImage[], ages: number[], options: Pick<OutputOptions, 'size' | 'format' | 'labels'>, inputFace?: Buffer, notes?: string[]): Promise<Buffer> {
  const { size, format, labels } = options;
  const tiles: RgbImage[] = [];
  if (inputFace) tiles.push(await decodeImage(inputFace, { name: 'msg.aligned', resize: { size, fit: 'cover' } }));
  for (const face of faces) tiles.push(await resizeRgb(face, size));
  const width = checkStripWidth(tiles.length, size, format);
  const strip = Buffer.alloc(width * size * 3);
  tiles.forEach((tile, t) => {
    for (let y = 0; y < size; y++) strip.set(tile.data.subarray(y * size * 3, (y + 1) * size * 3), (y * width + t * size) * 3);
  });
  let pipeline = sharp(strip, { raw: { width, height: size, channels: 3 } });
  if (labels) {
    const texts = [...(inputFace ? ['input'] : []), ...ages.map((age, k) => (notes ? `${ageLabel(age)}: ${notes[k]}` : ageLabel(age)))];
    pipeline = pipeline.composite([await labelOverlay(texts, size)]).removeAlpha();
  }
  return pipeline.toFormat(format, stillOptions(format)).toBuffer();
}
