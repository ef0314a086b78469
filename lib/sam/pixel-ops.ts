// Pixel work that would otherwise hold up the Node-RED thread: float renders to 8-bit RGB,
// resizing for the age and identity nets, and the paste-back warp. The runtime's worker loads
// this module (its `ops`); the functions below it are what the main thread calls, and they only
// post the pixels there and back (transferred, not copied, where the caller is done with them).
import type { AgeRuntime } from '../runtime/runtime';
import type { Tensor } from '../tensor';
import { facesToTensor, resizeBatch, resizeRgb, tensorToRgb, type Crop } from './image';
import type { RgbImage } from '../image/decode';
import { pasteFace, type BorderColour, type FacePlacement, type PasteOptions } from './paste';

interface RgbArgs {
  images: Tensor;
  size?: number;
}
interface ResizeArgs {
  images: Tensor;
  size: number;
  crop?: Crop;
}
interface FacesArgs {
  faces: RgbImage[];
  size: number;
  crop?: Crop;
}
interface PasteArgs {
  photo: RgbImage;
  faces: RgbImage[];
  placement: FacePlacement;
  options: PasteOptions;
}

/** One pasted photo and how the render's colours met the photo's (see pasteFace). */
export interface Pasted {
  image: RgbImage;
  colour?: BorderColour;
}

/** Pixels in an ArrayBuffer of their own, so the reply can transfer them. */
function owned(image: RgbImage): RgbImage {
  const { data } = image;
  const alone = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !Buffer.isBuffer(data);
  return alone ? image : { data: new Uint8Array(data), width: image.width, height: image.height };
}

/** Worker operations (see lib/runtime/worker.ts). */
export const ops = {
  'pixels.rgb': async ({ images, size }: RgbArgs): Promise<RgbImage[]> =>
    Promise.all(Array.from({ length: images.dims[0] }, async (_, i) => owned(size ? await resizeRgb(tensorToRgb(images, i), size) : tensorToRgb(images, i)))),
  'pixels.resize': ({ images, size, crop }: ResizeArgs): Promise<Tensor> => resizeBatch(images, size, crop),
  'pixels.tensor': ({ faces, size, crop }: FacesArgs): Promise<Tensor> => facesToTensor(faces, size, crop),
  'pixels.paste': async ({ photo, faces, placement, options }: PasteArgs): Promise<Pasted[]> => {
    const pasted: Pasted[] = [];
    for (const face of faces) {
      const { image, colour } = await pasteFace(photo, face, placement, options);
      pasted.push({ image: owned(image), ...(colour ? { colour } : {}) });
    }
    return pasted;
  },
};

/** The buffers of images that own them whole (the others are copied by postMessage). */
function ownBuffers(images: readonly RgbImage[]): ArrayBuffer[] {
  return images.filter((i) => i.data.byteOffset === 0 && i.data.byteLength === i.data.buffer.byteLength).map((i) => i.data.buffer as ArrayBuffer);
}

/**
 * A tensor to post to the worker and the buffer to transfer. Transfer, never structured clone:
 * postMessage serializes a cloned buffer on this thread, much slower than a copy.
 * @param keep the caller still needs `t`: post a copy of it
 */
function handOver(t: Tensor, keep: boolean): [Tensor, ArrayBuffer[]] {
  const owned = keep || t.data.byteOffset !== 0 || t.data.byteLength !== t.data.buffer.byteLength ? { dims: t.dims, data: t.data.slice() } : t;
  return [owned, [owned.data.buffer as ArrayBuffer]];
}

/**
 * Every image of a [N,3,H,W] tensor in [-1, 1] as 8-bit RGB, resized to `size` when given
 * (Lanczos), computed in the runtime's worker.
 * @param transfer hand `images`' buffer to the worker (it becomes unusable here); else a copy goes
 */
export function toRgb(runtime: AgeRuntime, images: Tensor, size?: number, transfer = false): Promise<RgbImage[]> {
  const [posted, buffers] = handOver(images, !transfer);
  return runtime.call<RgbImage[]>('pixels.rgb', { images: posted, size }, buffers);
}

/**
 * {@link resizeBatch} in the runtime's worker; comes back as it is when there is nothing to resize.
 * @param transfer hand `images`' buffer to the worker (it becomes unusable here); else a copy goes
 */
export async function resizeOffThread(runtime: AgeRuntime, images: Tensor, size: number, crop?: Crop, transfer = false): Promise<Tensor> {
  if (!crop && images.dims[2] === size && images.dims[3] === size) return images;
  const [posted, buffers] = handOver(images, !transfer);
  return runtime.call<Tensor>('pixels.resize', { images: posted, size, crop }, buffers);
}

/**
 * {@link facesToTensor} in the runtime's worker. The faces are copied there (the caller keeps
 * them); this thread neither loops over their pixels nor allocates the float batch.
 */
export function facesToTensorOffThread(runtime: AgeRuntime, faces: readonly RgbImage[], size: number, crop?: Crop): Promise<Tensor> {
  return runtime.call<Tensor>('pixels.tensor', { faces, size, crop });
}

/**
 * {@link pasteFace} of every face into the same photo, in the runtime's worker. The faces are
 * transferred there (unusable here afterwards); the photo is copied.
 */
export function pasteOffThread(runtime: AgeRuntime, photo: RgbImage, faces: RgbImage[], placement: FacePlacement, options: PasteOptions): Promise<Pasted[]> {
  return runtime.call<Pasted[]>('pixels.paste', { photo, faces, placement, options }, ownBuffers(faces));
}
