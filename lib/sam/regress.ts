// Age regression of an image, as the age-regress node, the CLI and the package API do it: find
// and align the face when the image is a photo, choose the net that measures, measure.
import { alignImage, type AlignedFace } from '../align/align';
import { runtimeDetector } from '../face/detector';
import type { OpCaller } from '../face/types';
import { ENCODER_SIZE } from './encode';
import { imageToTensor } from './image';
import { AGE_SIZE, BACKENDS, measureAges, type Backend } from './measure';
import type { SamModels } from './models';

/** Which net measures: a {@link Backend}, or `auto`: DEX (`age.onnx`) when the model folder has it, else face-api's age net. */
export type BackendChoice = Backend | 'auto';
/** What an image is: an aligned face, a photo to detect and align first, or `auto` (the caller decides, e.g. from the message). */
export type InputKind = 'auto' | 'aligned' | 'photo';

/** Settings of age regression. */
export interface RegressOptions {
  backend: BackendChoice;
  input: InputKind;
}

/** Every default of age regression, in one place. */
export const REGRESS_DEFAULTS: Readonly<RegressOptions> = { backend: 'auto', input: 'auto' };

const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', ...BACKENDS];
const INPUT_KINDS: readonly InputKind[] = ['auto', 'aligned', 'photo'];

/**
 * Checks and completes age regression settings; empty values take the defaults.
 * @throws {RangeError} naming both settings and the values received
 * @example validateRegressOptions({ backend: 'onnx' }) // { backend: 'onnx', input: 'auto' }
 */
export function validateRegressOptions(options: { backend?: string; input?: string } = {}): RegressOptions {
  const backend = (options.backend || REGRESS_DEFAULTS.backend) as BackendChoice;
  const input = (options.input || REGRESS_DEFAULTS.input) as InputKind;
  if (!BACKEND_CHOICES.includes(backend) || !INPUT_KINDS.includes(input)) {
    throw new RangeError(`Expected backend auto, onnx or faceapi and input auto, aligned or photo but received ${backend} and ${input}`);
  }
  return { backend, input };
}

/**
 * Resolves `auto`: the exported model (age.onnx: DEX; identity.onnx: IR-SE50) when the folder
 * has one, else face-api's own net (also when there is no model folder at all). A model file
 * that is there but broken (corrupt, mismatched) is an error, never a silent fallback.
 * @throws {ContractError} ECORRUPT, EMANIFEST, ESIGNATURE, ECONFINED for a broken model
 * @param model which measurement (default age)
 * @example const backend = await chooseBackend(models, 'auto'); // 'onnx' with age.onnx
 */
export async function chooseBackend(models: SamModels, choice: BackendChoice = REGRESS_DEFAULTS.backend, model: 'age' | 'identity' = 'age'): Promise<Backend> {
  if (choice !== 'auto') return choice;
  const found = await models.optional(model).catch((err: { code?: string }) => {
    if (err.code === 'ENOFOLDER') return undefined;
    throw err;
  });
  return found ? 'onnx' : 'faceapi';
}

/**
 * The largest face of a photo, aligned by the FFHQ recipe at the encoders' 256, with
 * detection in the runtime's worker.
 * @param caller the runtime (anything with `call`)
 * @param name names the image in error messages (default "input")
 * @returns the face, or undefined when the photo holds none
 * @throws {ImageInputError} for an image that is not usable
 * @example const face = await findFace(runtime, await readFile('me.jpg'));
 */
export async function findFace(caller: OpCaller, image: Buffer, name?: string): Promise<AlignedFace | undefined> {
  const { faces } = await alignImage(image, runtimeDetector(caller), { size: ENCODER_SIZE, name });
  return faces[0];
}

/** Stages of {@link measureImageAge}, for a progress display. */
export type RegressStage = { stage: 'detecting' } | { stage: 'measuring'; backend: Backend };

/**
 * Measures the apparent age of one image: a photo is detected and aligned first.
 * @param options backend (default auto), aligned (default false: the image is a photo),
 *   name of the image in error messages (default "input"), onStage for progress
 * @returns years and the backend that measured them, or undefined when a photo holds no face
 * @throws {ImageInputError} for an image that cannot be decoded (lib/image/decode); {ContractError}
 *   when the onnx backend is asked for and `age.onnx` is missing, or when it is broken
 * @example const { age } = (await measureImageAge(models, photo)) ?? { age: NaN };
 */
export async function measureImageAge(
  models: SamModels,
  image: Buffer,
  options: { backend?: BackendChoice; aligned?: boolean; name?: string; onStage?: (stage: RegressStage) => void } = {},
): Promise<{ age: number; backend: Backend } | undefined> {
  const backend = await chooseBackend(models, options.backend);
  let face = image;
  if (!options.aligned) {
    options.onStage?.({ stage: 'detecting' });
    const found = await findFace(models.runtime, image, options.name);
    if (!found) return undefined;
    face = found.image;
  }
  options.onStage?.({ stage: 'measuring', backend });
  const [age] = await measureAges(models, await imageToTensor(face, AGE_SIZE, options.name ?? 'input'), backend);
  return { age, backend };
}
