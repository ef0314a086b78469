// The package's programmatic API: `require('node-red-contrib-sam-age')`. The same engine the
// nodes and the CLI run, for scripts: start a runtime on a model folder, align a photo, encode
// the face at target ages, render, measure age and identity, optimize a lifespan. Images go in
// and come out as Buffers (JPEG, PNG, WebP, ...); every setting has its default in the module
// that owns it (the *_DEFAULTS exported below) and is checked with an exact message.
import { alignImage, type AlignOptions, type AlignResult } from './align/align';
import { runtimeDetector, type DetectorOptions } from './face/detector';
import { optimizePath, type OptimizeResult } from './optimize/optimize';
import type { OptimizeControl } from './optimize/state';
import type { OptimizeInput } from './optimize/options';
import { AgeRuntime, type Provider, type RuntimeOptions } from './runtime/runtime';
import { ENCODER_SIZE, encodeAges, stylesFor, validateEncodeOptions, type EncodeOptions } from './sam/encode';
import { imageToTensor } from './sam/image';
import type { Latent } from './sam/latent';
import { cosine, embedIdentities, type Backend } from './sam/measure';
import { SamModels } from './sam/models';
import { generate as generateImages, type GenerateInput, type GenerateResult } from './sam/output';
import { validateOutputOptions, type OutputOptions } from './sam/output-options';
import { chooseBackend, measureImageAge, type BackendChoice } from './sam/regress';
import { warmUp as warmModels, type WarmReport } from './sam/warm';
import { stackTensors } from './tensor';

export { ALIGN_DEFAULTS, type AlignedFace, type AlignOptions, type AlignResult } from './align/align';
export { ContractError } from './contracts/contracts';
export { FACE_DEFAULTS } from './face/face-ops';
export { DECODE_DEFAULTS, ImageInputError } from './image/decode';
export type { OptimizeResult } from './optimize/optimize';
export type { PathReport } from './optimize/report';
export type { OptimizeProgress } from './optimize/state';
export { OPTIMIZE_DEFAULTS, type OptimizeInput } from './optimize/options';
export { RUNTIME_DEFAULTS, RuntimeError, type Provider, type ProviderChoice, type RuntimeOptions } from './runtime/runtime';
export { parseAges } from './sam/ages';
export { ENCODE_DEFAULTS, type EncodeOptions } from './sam/encode';
export type { Latent } from './sam/latent';
export type { Backend } from './sam/measure';
export type { GenerateResult } from './sam/output';
export { OUTPUT_DEFAULTS, type OutputOptions } from './sam/output-options';
export { REGRESS_DEFAULTS, type BackendChoice } from './sam/regress';
export { WARM_UP_DEFAULTS, type WarmReport } from './sam/warm';

/** A runtime (one worker thread with the onnxruntime sessions and face-api) and the SAM models of its folder. */
export interface SamRuntime {
  readonly runtime: AgeRuntime;
  readonly models: SamModels;
  /** The execution provider in use: `cuda` or `cpu`. */
  readonly provider: Provider;
  /** Releases the models and ends the worker; safe to call more than once. */
  close(): Promise<void>;
}

/**
 * Starts a runtime on a model folder. Models open on first use; close the runtime when done,
 * or the worker keeps the process alive.
 * @param options modelDir (default `models/sam-ffhq`, relative to the working directory),
 *   provider (`auto`: CUDA when its libraries are installed, else CPU; `cuda`; `cpu`), deviceId (0),
 *   threads (0: one per CPU), queueLimit (50 jobs): see RUNTIME_DEFAULTS
 * @throws {TypeError|RangeError} for a bad setting, naming it; {RuntimeError} ENOCUDA when
 *   `cuda` is asked for and its libraries are not installed
 * @example
 * const sam = require('node-red-contrib-sam-age');
 * const rt = sam.createRuntime({ modelDir: 'models/sam-ffhq', provider: 'cpu' });
 * try { ... } finally { await rt.close(); }
 */
export function createRuntime(options: Partial<RuntimeOptions> = {}): SamRuntime {
  const runtime = AgeRuntime.create(options);
  const models = new SamModels(runtime);
  return {
    runtime,
    models,
    get provider() {
      return runtime.provider;
    },
    async close() {
      await models.release();
      await runtime.close();
    },
  };
}

/**
 * Loads every model of the runtime's folder and runs each twice on a neutral input, so that
 * the first real request is as fast as the next ones (a kiosk's first visitor). The models stay
 * loaded until the runtime closes.
 * @returns the models warmed (file stems) and the milliseconds it took
 * @throws {ContractError} when inversion, aging or generator is missing or broken
 * @example await sam.warmUp(rt); // at start-up, before the first visitor
 */
export function warmUp(rt: SamRuntime): Promise<WarmReport> {
  return warmModels(rt.models);
}

/**
 * Finds the faces in a photo (face-api, in the runtime's worker) and crops each by the FFHQ
 * recipe SAM was trained on.
 * @param image a photo: JPEG, PNG, WebP, GIF, TIFF or AVIF
 * @param options size (256; 512 or 1024), mode (`largest`, or `all` left to right),
 *   minFaceSize (20 px), maxPixels (40e6), detector (`ssd`, or `tiny`), minConfidence (0.5):
 *   see ALIGN_DEFAULTS and FACE_DEFAULTS
 * @returns the faces (none when there is no face) as PNG with their box, landmarks and the
 *   transform that pastes an edit back
 * @throws {ImageInputError} for an image that is not usable (EFORMAT, ETOOLARGE, ...);
 *   {TypeError} for a bad option
 * @example const { faces: [face] } = await sam.align(rt, await fs.promises.readFile('me.jpg'));
 */
export function align(rt: SamRuntime, image: Buffer, options: Partial<AlignOptions> & Partial<DetectorOptions> = {}): Promise<AlignResult> {
  const { detector, minConfidence, ...alignOptions } = options;
  return alignImage(image, runtimeDetector(rt.runtime, { detector, minConfidence }), alignOptions);
}

/**
 * Encodes an aligned face at target ages: SAM's `w+ = inversion(x) + aging(x, age)`, every age
 * in one batched run, optionally with style mixing.
 * @param face an aligned face image (from {@link align})
 * @param ages a number, a list, "20,40" or a range "0:100:10" (end included)
 * @param options mixing (`none`; `reference` with `reference`, a latent or an aligned face;
 *   `random`), layers ("8-17"), alpha (1), variants (3), seed (0): see ENCODE_DEFAULTS
 * @returns the latent: dims [K,18,512] (K x variants with random mixing), data, ages
 * @throws {TypeError|RangeError} for bad ages or settings; {ContractError} when the folder
 *   lacks inversion or aging
 * @example const latent = await sam.encode(rt, face.image, '0:100:20');
 */
export async function encode(rt: SamRuntime, face: Buffer, ages: unknown, options: Partial<Omit<EncodeOptions, 'targetAge'>> & { reference?: Buffer | Latent } = {}): Promise<Latent> {
  const { reference, ...rest } = options;
  const settings = validateEncodeOptions({ ...rest, targetAge: ages });
  const image = await imageToTensor(face, ENCODER_SIZE);
  return encodeAges(rt.models, image, settings.ages, await stylesFor(rt.models, settings.mixing, reference, settings.ages));
}

/**
 * Renders a latent with StyleGAN2 and makes the images: one per age, a labelled strip, an
 * animation through interpolated codes, or the aged face pasted back into the photo.
 * @param latent from {@link encode} or {@link optimize}
 * @param options mode (`sequence`; `strip`, `animation`, `paste-back`), format (png), size
 *   (1024; 512, 256), labels (true), animationFormat (webp), frames (8), delay (80 ms), loop (0),
 *   feather (0.3), mask (`head`; `face`): see OUTPUT_DEFAULTS
 * @param source what a mode needs besides the latent: `aligned` (the strip's first tile),
 *   `original` and `face` (paste-back: the photo and the aligned face's record from {@link align})
 * @throws {TypeError|RangeError} for bad settings or a missing source, before rendering;
 *   {ContractError} when the folder has no generator
 * @example const { images } = await sam.generate(rt, latent, { mode: 'strip', size: 256 });
 */
export function generate(rt: SamRuntime, latent: Latent, options: Partial<OutputOptions> = {}, source: Omit<GenerateInput, 'latent'> = {}): Promise<GenerateResult> {
  return generateImages(rt.models, { ...source, latent }, validateOutputOptions(options));
}

/**
 * Measures apparent age: DEX (`age.onnx`) or face-api's age net. A photo is detected and
 * aligned first.
 * @param options backend (`auto`: DEX when the folder has it; `onnx`; `faceapi`), aligned
 *   (false: the image is a photo)
 * @returns years and the backend that measured them, or undefined when a photo holds no face
 * @throws {ImageInputError} for an unusable photo; {ContractError} for `onnx` without age.onnx
 * @example const { age } = await sam.measureAge(rt, images[0].payload, { aligned: true });
 */
export function measureAge(rt: SamRuntime, image: Buffer, options: { backend?: BackendChoice; aligned?: boolean } = {}): Promise<{ age: number; backend: Backend } | undefined> {
  return measureImageAge(rt.models, image, options);
}

/**
 * How alike two aligned faces are: the cosine similarity of their identity embeddings
 * (IR-SE50 `identity.onnx`, cropped as SAM's identity loss does, or face-api's recognition net).
 * @param options backend (`auto`: identity.onnx when the folder has it; `onnx`; `faceapi`)
 * @returns similarity in [-1, 1]; 1 is the same embedding
 * @throws {ContractError} for `onnx` without identity.onnx
 * @example const same = await sam.measureIdentity(rt, face.image, images[3].payload);
 */
export async function measureIdentity(rt: SamRuntime, a: Buffer, b: Buffer, options: { backend?: BackendChoice } = {}): Promise<number> {
  const backend = await chooseBackend(rt.models, options.backend, 'identity');
  const images = stackTensors(await Promise.all([a, b].map((face) => imageToTensor(face, ENCODER_SIZE))));
  const [ea, eb] = await embedIdentities(rt.models, images, backend);
  return cosine(ea, eb);
}

/**
 * Optimizes a lifespan: refines the codes so that each frame's measured age hits its target
 * while identity holds and the path stays smooth.
 * @param face an aligned face image (from {@link align})
 * @param options ages ("0:100:10"), weights ({ age: 1, identity: 10, smoothness: 1000 }),
 *   budget (40 evaluations per frame), ageBackend and identityBackend (`onnx`), seed (1):
 *   see OPTIMIZE_DEFAULTS
 * @param control signal (an AbortSignal) and onProgress (phase, frame, evaluations)
 * @returns the optimized latent and a report (target vs measured age, identity and smoothness, before and after)
 * @throws {TypeError|RangeError} for bad settings; {ContractError} for a missing model; an
 *   Error named AbortError when the signal fires
 * @example const { latent, report } = await sam.optimize(rt, face.image, { ages: '0:100:10', budget: 20 });
 */
export async function optimize(rt: SamRuntime, face: Buffer, options: OptimizeInput = {}, control: OptimizeControl = {}): Promise<OptimizeResult> {
  return optimizePath(rt.models, await imageToTensor(face, ENCODER_SIZE), options, control);
}
