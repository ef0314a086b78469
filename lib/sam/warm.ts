import { MODEL_FILES } from '../contracts/contracts';
import { alignedFaceBox } from '../face/face-ops';
import type { TensorMap } from '../tensor';
import type { SamModels } from './models';

/** Warm-up settings: off unless asked for (it loads every model at deploy); two runs, because onnxruntime plans its memory on the first run and allocates the plan on the second. */
export const WARM_UP_DEFAULTS = { enabled: false, runs: 2 } as const;

/** Models no request can do without; the others are warmed when the folder has them. */
const NEEDED = new Set(['inversion', 'aging', 'generator']);

/** What a warm-up did: the models it opened and ran, the face-api nets it loaded and ran, and how long it took. */
export interface WarmReport {
  models: string[];
  faceNets: string[];
  ms: number;
}

/** Side of the neutral image the face-api nets are run on. */
const FACE_SIDE = 256;

/**
 * Opens every model of the folder and runs each `runs` times at batch 1 on neutral inputs, then
 * loads face-api's nets and runs its detector, age and recognition nets on a grey image, so that
 * the first real request finds its sessions loaded, onnxruntime's memory grown and face-api's
 * WASM kernels ready (BENCHMARKS.md, "Warm-up, threads and the kiosk example's settings"). The
 * sessions stay open in `models` until it is released; a runtime that closes meanwhile ends it
 * (its pending run rejects).
 * @throws {ContractError} when inversion, aging or generator is missing or broken
 */
export async function warmUp(models: SamModels, runs: number = WARM_UP_DEFAULTS.runs): Promise<WarmReport> {
  const started = performance.now();
  const warmed: string[] = [];
  for (const { name } of MODEL_FILES) {
    // A folder without the models every request needs fails here, with the error a request would get.
    const session = NEEDED.has(name) ? await models.require(name) : await models.optional(name);
    if (!session) continue;
    const inputs = session.entry?.manifest.inputs ?? {};
    for (let r = 0; r < runs; r++) await session.run(neutralFeeds(inputs), { transfer: true });
    warmed.push(name);
  }
  const faceNets = await warmFaceNets(models, runs);
  return { models: warmed, faceNets, ms: performance.now() - started };
}

/** face-api's nets in the runtime's worker, each run `runs` times on a grey image (no face: the detector finds none). */
async function warmFaceNets(models: SamModels, runs: number): Promise<string[]> {
  const { runtime } = models;
  const { nets } = await runtime.call<{ nets: string[] }>('face.load', { nets: ['ssdMobilenetv1', 'faceLandmark68Net', 'ageGenderNet', 'faceRecognitionNet'] });
  const image = { rgb: new Uint8Array(FACE_SIDE * FACE_SIDE * 3).fill(128), width: FACE_SIDE, height: FACE_SIDE };
  for (let r = 0; r < runs; r++) {
    for (const op of ['face.detect', 'face.age', 'face.descriptor']) {
      await runtime.call(op, op === 'face.detect' ? image : { ...image, box: alignedFaceBox(FACE_SIDE) });
    }
  }
  return nets;
}

/** Batch-1 inputs at the middle of each declared range (mid-grey images, age 50). */
function neutralFeeds(inputs: Record<string, { shape: Array<number | string>; range?: [number, number] }>): TensorMap {
  const feeds: TensorMap = {};
  for (const [name, spec] of Object.entries(inputs)) {
    const dims = spec.shape.map((d) => (typeof d === 'number' ? d : 1));
    const middle = spec.range ? (spec.range[0] + spec.range[1]) / 2 : 0;
    feeds[name] = { dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(middle) };
  }
  return feeds;
}
