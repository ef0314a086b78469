// Face operations for the runtime's worker thread: detection with 68 landmarks, the bundled
// age/gender net and the recognition net, all from @vladmandic/face-api on the tfjs WASM
// backend (tfjs-node cannot be installed here; WASM runs everywhere). The worker requires
// this module and dispatches `call(op)` to `ops[op]`. face-api, the backend and each net
// are loaded on first use and kept: loading costs about half a second, a call much less.
import { dirname, join } from 'node:path';
import type * as FaceApiModule from '@vladmandic/face-api';
import { typeName } from '../image/decode';
import type { AgeEstimate, Box, DetectArgs, Detection, FaceImageArgs } from './types';
import type { Point } from '../align/ffhq';

type FaceApi = typeof FaceApiModule;
type Tensor3D = FaceApiModule.tf.Tensor3D;
/** The parts of tfjs face-api's own typings leave out (api.tf is the whole of @tensorflow/tfjs). */
interface TfBackends {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
}
type NetName = 'ssdMobilenetv1' | 'tinyFaceDetector' | 'faceLandmark68Net' | 'ageGenderNet' | 'faceRecognitionNet';

/** Every default of the face ops, in one place. */
export const FACE_DEFAULTS = {
  detector: 'ssd',
  minConfidence: 0.5,
  minFaceSize: 20,
  /** Most faces the SSD detector reports. */
  maxResults: 100,
  /** Input size of the tiny detector (a multiple of 32); larger finds smaller faces. */
  tinyInputSize: 608,
} as const;

/**
 * Where the face sits in an FFHQ-aligned square, as fractions of its side: about the box
 * face-api's detector draws (brows to chin). face-api's age and recognition nets were trained
 * on such tight crops; on the whole aligned square they see mostly hair and background.
 */
export const ALIGNED_FACE_BOX = { x: 0.2, y: 0.28, width: 0.6, height: 0.66 } as const;

/** {@link ALIGNED_FACE_BOX} in pixels of a `size` x `size` aligned face, for `face.age` and `face.descriptor`. */
export function alignedFaceBox(size: number): Box {
  return { x: ALIGNED_FACE_BOX.x * size, y: ALIGNED_FACE_BOX.y * size, width: ALIGNED_FACE_BOX.width * size, height: ALIGNED_FACE_BOX.height * size };
}

let loading: Promise<FaceApi> | undefined;
const nets = new Map<NetName, Promise<void>>();

/** Folder of the weights shipped inside the face-api package. */
export function modelDir(): string {
  return join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}

/** Loads face-api with the WASM backend, once. */
function faceApi(): Promise<FaceApi> {
  loading ??= (async () => {
    // The WASM build requires @tensorflow/tfjs and tfjs-backend-wasm itself; the default
    // entry would look for tfjs-node.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const api = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
    const tf = api.tf as unknown as TfBackends;
    await tf.setBackend('wasm');
    await tf.ready();
    return api;
  })().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/** Loads the named nets from the package's model folder, each once. */
async function useNets(...names: NetName[]): Promise<FaceApi> {
  const api = await faceApi();
  await Promise.all(
    names.map((name) => {
      let load = nets.get(name);
      if (!load) {
        load = api.nets[name].loadFromDisk(modelDir()).catch((err: unknown) => {
          nets.delete(name);
          throw err;
        });
        nets.set(name, load);
      }
      return load;
    }),
  );
  return api;
}

function checkImageArgs(op: string, args: unknown): FaceImageArgs {
  if (typeof args !== 'object' || args === null) throw new TypeError(`${op}: expected an object of arguments but received ${typeName(args)}`);
  const { rgb, width, height, box } = args as FaceImageArgs;
  if (!(rgb instanceof Uint8Array)) throw new TypeError(`${op}: expected a Uint8Array for rgb but received ${typeName(rgb)}`);
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new TypeError(`${op}: expected positive integers for width and height but received ${String(width)} and ${String(height)}`);
  }
  if (rgb.length !== width * height * 3) throw new RangeError(`${op}: rgb holds ${rgb.length} bytes but ${width}x${height} RGB needs ${width * height * 3}`);
  if (box !== undefined && !(typeof box === 'object' && box !== null && [box.x, box.y, box.width, box.height].every(Number.isFinite) && box.width > 0 && box.height > 0)) {
    throw new TypeError(`${op}: expected box to be { x, y, width, height } with positive size but received ${JSON.stringify(box)}`);
  }
  return { rgb, width, height, box };
}

function inRange(op: string, name: string, value: unknown, lo: number, hi: number): number {
  if (typeof value !== 'number' || !(value >= lo && value <= hi)) {
    throw new TypeError(`${op}: expected a number between ${lo} and ${hi} for ${name} but received ${String(value)} of type ${typeName(value)}`);
  }
  return value;
}

/** The image as a tensor, cropped to the box (clamped to the image) when one is given. */
function imageTensor(api: FaceApi, { rgb, width, height, box }: FaceImageArgs): Tensor3D {
  const full = api.tf.tensor3d(rgb, [height, width, 3], 'int32');
  if (!box) return full;
  const x0 = Math.max(0, Math.min(width - 1, Math.floor(box.x)));
  const y0 = Math.max(0, Math.min(height - 1, Math.floor(box.y)));
  const x1 = Math.max(x0 + 1, Math.min(width, Math.ceil(box.x + box.width)));
  const y1 = Math.max(y0 + 1, Math.min(height, Math.ceil(box.y + box.height)));
  const crop = api.tf.slice(full, [y0, x0, 0], [y1 - y0, x1 - x0, 3]) as Tensor3D;
  full.dispose();
  return crop;
}

/**
 * `face.detect`: faces with 68 landmarks, in the pixels of the given image.
 * @throws {TypeError|RangeError} naming the bad argument
 */
async function detect(args: unknown): Promise<Detection[]> {
  const op = 'face.detect';
  const image = checkImageArgs(op, args);
  const a = args as Partial<DetectArgs>;
  const detector = a.detector ?? FACE_DEFAULTS.detector;
  if (detector !== 'ssd' && detector !== 'tiny') throw new TypeError(`${op}: expected 'ssd' or 'tiny' for detector but received ${String(detector)}`);
  const minConfidence = inRange(op, 'minConfidence', a.minConfidence ?? FACE_DEFAULTS.minConfidence, 0, 1);
  const minFaceSize = inRange(op, 'minFaceSize', a.minFaceSize ?? FACE_DEFAULTS.minFaceSize, 0, Number.MAX_SAFE_INTEGER);
  const api = await useNets(detector === 'ssd' ? 'ssdMobilenetv1' : 'tinyFaceDetector', 'faceLandmark68Net');
  const input = imageTensor(api, { ...image, box: undefined });
  try {
    const options =
      detector === 'ssd'
        ? new api.SsdMobilenetv1Options({ minConfidence, maxResults: FACE_DEFAULTS.maxResults })
        : new api.TinyFaceDetectorOptions({ inputSize: FACE_DEFAULTS.tinyInputSize, scoreThreshold: minConfidence });
    const found = await api.detectAllFaces(input, options).withFaceLandmarks();
    return found
      .map((f) => {
        const b = f.detection.box;
        const box: Box = { x: b.x, y: b.y, width: b.width, height: b.height };
        const landmarks = f.landmarks.positions.map((p): Point => [p.x, p.y]);
        return { score: f.detection.score, box, landmarks };
      })
      .filter((d) => Math.min(d.box.width, d.box.height) >= minFaceSize)
      .sort((p, q) => q.score - p.score);
  } finally {
    input.dispose();
  }
}

/**
 * `face.age`: the bundled age/gender net on a face: give the detection `box` of a photo, or
 * alignedFaceBox(size) for an aligned face (see ALIGNED_FACE_BOX).
 */
async function age(args: unknown): Promise<AgeEstimate> {
  const image = checkImageArgs('face.age', args);
  const api = await useNets('ageGenderNet');
  const input = imageTensor(api, image);
  try {
    const result = (await api.nets.ageGenderNet.predictAgeAndGender(input)) as FaceApiModule.AgeAndGenderPrediction;
    return { age: result.age, gender: result.gender as AgeEstimate['gender'], genderProbability: result.genderProbability };
  } finally {
    input.dispose();
  }
}

/** `face.descriptor`: the 128-d face-api recognition embedding, scaled to unit length (box as for `face.age`). */
async function descriptor(args: unknown): Promise<Float32Array> {
  const image = checkImageArgs('face.descriptor', args);
  const api = await useNets('faceRecognitionNet');
  const input = imageTensor(api, image);
  try {
    const d = (await api.nets.faceRecognitionNet.computeFaceDescriptor(input)) as Float32Array;
    let norm = 0;
    for (const v of d) norm += v * v;
    norm = Math.sqrt(norm);
    if (!(norm > 0)) throw new RangeError('face.descriptor: the recognition net returned a zero vector');
    return d.map((v) => v / norm);
  } finally {
    input.dispose();
  }
}

/** `face.load`: loads nets ahead of use (names as in face-api's `nets`); reports the backend. */
async function load(args: unknown): Promise<{ backend: string; version: string; nets: string[] }> {
  const wanted = (args as { nets?: unknown } | null)?.nets ?? ['ssdMobilenetv1', 'faceLandmark68Net'];
  const known: NetName[] = ['ssdMobilenetv1', 'tinyFaceDetector', 'faceLandmark68Net', 'ageGenderNet', 'faceRecognitionNet'];
  if (!Array.isArray(wanted) || !wanted.every((n) => known.includes(n as NetName))) {
    throw new TypeError(`face.load: expected nets to be a list of ${known.join(', ')} but received ${JSON.stringify(wanted)}`);
  }
  const api = await useNets(...(wanted as NetName[]));
  return { backend: (api.tf as unknown as TfBackends).getBackend(), version: api.version, nets: [...nets.keys()] };
}

/** The face operations, by name, for the runtime worker (and for in-process use in tests). */
export const faceOps: Record<string, (args: unknown) => Promise<unknown>> = {
  'face.detect': detect,
  'face.age': age,
  'face.descriptor': descriptor,
  'face.load': load,
};

/** The name the runtime worker looks for in an op module. */
export const ops = faceOps;
