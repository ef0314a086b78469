import sharp, { type Sharp } from 'sharp';
import type { Tensor } from '../tensor';
import { decodeImage, type RgbImage } from '../image/decode';

/**
 * Decodes an image (lib/image/decode: the same limits and messages as every node) and makes
 * the model input SAM expects: RGB, square `size`, values in [-1, 1], channels first.
 * @param name what the image is called in error messages
 * @returns a tensor of shape [1, 3, size, size]
 * @throws {ImageInputError} for an image that is not one, too large, too small, truncated or corrupt
 */
export async function imageToTensor(input: unknown, size: number, name = 'msg.payload'): Promise<Tensor> {
  const image = await decodeImage(input, { name, resize: { size, fit: 'fill' } });
  return rgbToTensor(image);
}

/** RGB pixels to a [1,3,H,W] tensor in [-1, 1]. */
export function rgbToTensor(image: RgbImage): Tensor {
  const { data, width, height } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = data[i * 3 + c] / 127.5 - 1;
  }
  return { dims: [1, 3, height, width], data: out };
}

/**
 * One image of a [N,3,H,W] tensor in [-1, 1] as 8-bit RGB pixels (clamped, rounded).
 * @param index which image of the batch
 */
export function tensorToRgb(t: Tensor, index = 0): RgbImage {
  const [, channels, height, width] = t.dims;
  if (channels !== 3) throw new RangeError(`Expected a [N,3,H,W] image tensor but received [${t.dims.join(',')}]`);
  const plane = width * height;
  const base = index * 3 * plane;
  const data = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round((t.data[base + c * plane + i] + 1) * 127.5);
      data[i * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { data, width, height };
}

/** A sharp pipeline over raw RGB pixels. */
export function rgbSharp(image: RgbImage): Sharp {
  return sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
}

/** Resizes RGB pixels to size x size (Lanczos), or returns them as they are. */
export async function resizeRgb(image: RgbImage, size: number): Promise<RgbImage> {
  if (image.width === size && image.height === size) return image;
  const data = await rgbSharp(image).resize(size, size, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  return { data, width: size, height: size };
}

/** A square region of an image, in the pixels of the image resized to `of` x `of`. */
export interface Crop {
  of: number;
  left: number;
  top: number;
  side: number;
}

/**
 * Resizes every image of a [N,3,H,W] tensor to [N,3,size,size] (for the age and identity nets),
 * optionally cropping a region first. Goes through 8-bit pixels and sharp's antialiased
 * resampling, as a photo would.
 */
export async function resizeBatch(t: Tensor, size: number, crop?: Crop): Promise<Tensor> {
  const [n, , height, width] = t.dims;
  if (!crop && height === size && width === size) return t;
  return facesToTensor(Array.from({ length: n }, (_, i) => tensorToRgb(t, i)), size, crop);
}

/**
 * RGB faces as one [N,3,size,size] tensor in [-1, 1], each resized (sharp's antialiased
 * resampling) after cropping `crop` when given. Faces already `size` square are only converted.
 */
export async function facesToTensor(faces: readonly RgbImage[], size: number, crop?: Crop): Promise<Tensor> {
  const plane = 3 * size * size;
  const out = new Float32Array(faces.length * plane);
  await Promise.all(
    faces.map(async (face, i) => {
      let pixels = face;
      if (crop || face.width !== size || face.height !== size) {
        let pipeline = rgbSharp(face);
        if (crop) {
          // Two steps: sharp applies one resize per pipeline, so the cropped image goes round again.
          const cropped = await pipeline.resize(crop.of, crop.of, { fit: 'fill' }).extract({ left: crop.left, top: crop.top, width: crop.side, height: crop.side }).raw().toBuffer();
          pipeline = rgbSharp({ data: cropped, width: crop.side, height: crop.side });
        }
        pixels = { data: await pipeline.resize(size, size, { fit: 'fill' }).raw().toBuffer(), width: size, height: size };
      }
      out.set(rgbToTensor(pixels).data, i * plane);
    }),
  );
  return { dims: [faces.length, 3, size, size], data: out };
}

/** Output formats the nodes write. */
export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** Encodes RGB pixels, resized to `size` when given. */
export function encodeRgb(image: RgbImage, format: ImageFormat, size?: number): Promise<Buffer> {
  let pipeline = rgbSharp(image);
  if (size && (size !== image.width || size !== image.height)) pipeline = pipeline.resize(size, size, { fit: 'fill' });
  return pipeline.toFormat(format, format === 'jpeg' ? { quality: 92 } : {}).toBuffer();
}
