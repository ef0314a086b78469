import type { Tensor } from '../tensor';
import type { SamModels } from './models';
import { facesToTensorOffThread, resizeOffThread, toRgb } from './pixel-ops';
import type { Crop } from './image';
import type { RgbImage } from '../image/decode';
import { alignedFaceBox } from '../face/face-ops';

/** Which network measures age or identity: our exported ONNX models, or the nets bundled with face-api. */
export type Backend = 'onnx' | 'faceapi';
/** Every backend, in the order the editor and the CLI list them. */
export const BACKENDS: readonly Backend[] = ['onnx', 'faceapi'];

/** DEX reads 224x224; ArcFace IR-SE50 reads 112x112. */
export const AGE_SIZE = 224;
export const IDENTITY_SIZE = 112;
/** SAM's identity loss reads rows 35..222 and columns 32..219 of a 256 face: the face without hair and background. */
export const IDENTITY_CROP = { of: 256, left: 32, top: 35, side: 188 } as const;

/** What the measuring nets read: a [N,3,H,W] tensor in [-1, 1], or 8-bit RGB faces of one square side. */
export type Faces = Tensor | readonly RgbImage[];

function isTensor(images: Faces): images is Tensor {
  return 'dims' in images;
}

/** The onnx nets' input, resized (and cropped) in the runtime's worker. */
function netInput(models: SamModels, images: Faces, size: number, crop: Crop | undefined, transfer: boolean): Promise<Tensor> {
  return isTensor(images) ? resizeOffThread(models.runtime, images, size, crop, transfer) : facesToTensorOffThread(models.runtime, images, size, crop);
}

/** 8-bit faces for face-api, with the buffers that may be handed over (only those made here). */
async function rgbFaces(models: SamModels, images: Faces, transfer: boolean): Promise<{ faces: readonly RgbImage[]; handOver: boolean }> {
  return isTensor(images) ? { faces: await toRgb(models.runtime, images, undefined, transfer), handOver: true } : { faces: images, handOver: false };
}

/**
 * Measures the apparent age of each image.
 * @param images FFHQ-aligned faces or renders (the face-api backend crops their face box)
 * @param transfer hand a tensor's buffer over to the runtime (unusable afterwards; saves a copy of it)
 * @returns years, one per image
 * @throws {ContractError} when the onnx backend is chosen and `age.onnx` is missing
 */
export async function measureAges(models: SamModels, images: Faces, backend: Backend, transfer = false): Promise<number[]> {
  if (backend === 'onnx') {
    const age = await models.require('age');
    const result = await age.run({ image: await netInput(models, images, AGE_SIZE, undefined, transfer) }, { transfer: true, outputs: ['age'] });
    return Array.from(result.age.data);
  }
  const { faces, handOver } = await rgbFaces(models, images, transfer);
  return Promise.all(
    faces.map(async ({ data, width, height }) => {
      // face-api's nets read a tight face crop, not the whole FFHQ square.
      const box = alignedFaceBox(width);
      const { age } = await models.runtime.call<{ age: number }>('face.age', { rgb: data, width, height, box }, handOver ? [data.buffer as ArrayBuffer] : []);
      return age;
    }),
  );
}

/**
 * Identity embeddings (unit length) of each image; the onnx backend crops the face as SAM's
 * identity loss does (IDENTITY_CROP), the face-api backend reads the aligned face box.
 * @param transfer hand a tensor's buffer over to the runtime (unusable afterwards; saves a copy of it)
 * @throws {ContractError} when the onnx backend is chosen and `identity.onnx` is missing
 */
export async function embedIdentities(models: SamModels, images: Faces, backend: Backend, transfer = false): Promise<Float32Array[]> {
  if (backend === 'onnx') {
    const identity = await models.require('identity');
    const { embedding } = await identity.run({ image: await netInput(models, images, IDENTITY_SIZE, IDENTITY_CROP, transfer) }, { transfer: true });
    const [count, size] = embedding.dims;
    return Array.from({ length: count }, (_, i) => embedding.data.slice(i * size, (i + 1) * size));
  }
  const { faces, handOver } = await rgbFaces(models, images, transfer);
  return Promise.all(
    faces.map(async ({ data, width, height }) => {
      const box = alignedFaceBox(width);
      return models.runtime.call<Float32Array>('face.descriptor', { rgb: data, width, height, box }, handOver ? [data.buffer as ArrayBuffer] : []);
    }),
  );
}

/** Cosine similarity of two embeddings. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / (Math.sqrt(na * nb) || 1);
}

/** What {@link measureFaces} found, one entry per face. */
export interface FaceMeasures {
  /** Apparent age, years. */
  ages: number[];
  /** Cosine similarity of each face's identity embedding to the input face's (absent without an input face). */
  identity?: number[];
  ageBackend: Backend;
  identityBackend?: Backend;
}

/** The backend a folder offers for a role: its ONNX model when present, else the net bundled with face-api. */
async function backendFor(models: SamModels, name: 'age' | 'identity'): Promise<Backend> {
  return (await models.optional(name)) ? 'onnx' : 'faceapi';
}

/**
 * Measures rendered faces: apparent age (age.onnx, else face-api's age net) and, given the
 * input face, identity similarity to it (identity.onnx, else face-api's recognition net).
 * @param faces FFHQ-aligned RGB faces, any one square side
 * @param input the aligned input face, [1,3,H,W] in [-1, 1]
 */
export async function measureFaces(models: SamModels, faces: RgbImage[], input?: Tensor): Promise<FaceMeasures> {
  // The faces go to the worker as they are: no float batch of them is made on this thread.
  const ageBackend = await backendFor(models, 'age');
  const ages = await measureAges(models, faces, ageBackend);
  if (!input) return { ages, ageBackend };
  const identityBackend = await backendFor(models, 'identity');
  const [reference] = await embedIdentities(models, input, identityBackend);
  const embeddings = await embedIdentities(models, faces, identityBackend);
  return { ages, identity: embeddings.map((e) => cosine(e, reference)), ageBackend, identityBackend };
}
