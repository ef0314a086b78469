// Turns whatever image a user sends into one plain form: 8-bit sRGB RGB, upright, no alpha.
// Every check that can be made from the header is made before any pixel is decoded, so a huge
// or broken file costs almost nothing and fails with a message that says what is wrong.
import sharp, { type Metadata } from 'sharp';

/** An 8-bit RGB image in memory, rows top to bottom, 3 bytes a pixel: the one pixel type of the project. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * Largest image any node decodes, in pixels (width x height, read from the header before any
 * pixel is decoded): the one pixel limit of the project.
 */
export const MAX_PIXELS = 40_000_000;

/**
 * Most pixels sharp accepts in one image (its default `limitInputPixels`, 0x3FFF squared):
 * what we build for sharp (strips, animations) is checked against it before rendering.
 */
export const SHARP_MAX_PIXELS = 0x3fff * 0x3fff;

/** Every default of decoding, in one place. */
export const DECODE_DEFAULTS = {
  /** Largest image accepted, in pixels. */
  maxPixels: MAX_PIXELS,
  /** Smallest side accepted: below this no face detector can find anything. */
  minSide: 32,
  /** What the value is called in error messages. */
  name: 'input',
} as const;

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  maxPixels?: number;
  minSide?: number;
  name?: string;
  /** Resize to this square while decoding (`fill` stretches, `cover` crops the centre). */
  resize?: { size: number; fit: 'fill' | 'cover' };
}

/** A bad input image; `code` tells which check failed. */
export class ImageInputError extends Error {
  constructor(
    message: string,
    readonly code: 'ENOTBUFFER' | 'EEMPTY' | 'EFORMAT' | 'ETOOLARGE' | 'ETOOSMALL' | 'ECORRUPT',
  ) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/** Describes a value's type for an error message: "string", "object", "null", "array". */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** "48 megapixels", "12.3 megapixels", "262144 pixels". */
export function pixelCount(pixels: number): string {
  return pixels >= 1e6 ? `${Number((pixels / 1e6).toFixed(1))} megapixels` : `${pixels} pixels`;
}

/**
 * Reads the header and checks an input before decoding anything.
 * @returns width, height (as stored, before EXIF rotation) and format
 * @throws {ImageInputError} ENOTBUFFER, EEMPTY, EFORMAT, ETOOLARGE, ETOOSMALL
 */
export async function checkImage(input: unknown, options: DecodeOptions = {}): Promise<{ width: number; height: number; format: string }> {
  const { maxPixels, minSide, name } = { ...DECODE_DEFAULTS, ...options };
  if (!Buffer.isBuffer(input)) {
    throw new ImageInputError(`Expected ${name} to be an image Buffer but received ${typeName(input)}`, 'ENOTBUFFER');
  }
  if (input.length === 0) throw new ImageInputError(`Image Buffer in ${name} is empty (0 bytes)`, 'EEMPTY');
  let meta: Metadata;
  try {
    // metadata() reads the header only: no pixel is decoded yet.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    // sharp's message is libvips' per-process error buffer, which concurrent decodes share:
    // it may hold another request's words, so it is never passed on.
    throw new ImageInputError(`Image format of ${name} not recognised: expected JPEG, PNG, WebP, GIF, TIFF or AVIF`, 'EFORMAT');
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  const format = meta.format ?? 'unknown';
  if (width * height > maxPixels) {
    throw new ImageInputError(
      `Image is ${width}x${height} (${pixelCount(width * height)}), over the limit of ${pixelCount(maxPixels)}`,
      'ETOOLARGE',
    );
  }
  if (width < minSide || height < minSide) {
    throw new ImageInputError(`Image is ${width}x${height} pixels, too small to hold a face (at least ${minSide}x${minSide} needed)`, 'ETOOSMALL');
  }
  return { width, height, format };
}

/**
 * Decodes an image Buffer to upright 8-bit sRGB RGB: the one decode path of every node.
 * EXIF orientation is applied; grey, CMYK, 16-bit and palette images are converted; an alpha
 * channel is dropped (what PIL's `convert('RGB')` in SAM's scripts does).
 * @param input image file contents: JPEG, PNG, WebP, GIF (first frame), TIFF, AVIF, ...
 * @param options maxPixels (default {@link MAX_PIXELS}, checked from the header, then enforced
 *   by sharp's limitInputPixels while decoding), minSide (default 32), name used in messages,
 *   resize (a square, applied in the same pipeline)
 * @throws {ImageInputError} with an exact message per failed check; never sharp's own text
 * @example const { data, width, height } = await decodeImage(await readFile('me.jpg'));
 */
export async function decodeImage(input: unknown, options: DecodeOptions = {}): Promise<RgbImage> {
  const { maxPixels, name, resize } = { ...DECODE_DEFAULTS, ...options };
  const { format } = await checkImage(input, options);
  try {
    let pipeline = sharp(input as Buffer, { limitInputPixels: maxPixels, failOn: 'truncated' }).autoOrient().toColourspace('srgb').removeAlpha();
    if (resize) pipeline = pipeline.resize(resize.size, resize.size, { fit: resize.fit, kernel: 'lanczos3' });
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  } catch {
    throw new ImageInputError(`${format.toUpperCase()} image data in ${name} is truncated or corrupt`, 'ECORRUPT');
  }
}
