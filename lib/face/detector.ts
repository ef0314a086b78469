// Detect functions for the aligner: one that runs face.detect in the runtime's worker (what
// the node and the CLI use) and one that runs it in this thread (tests, tools).
import { FACE_DEFAULTS, faceOps } from './face-ops';
import type { DetectArgs, Detection, DetectFn, DetectorName, OpCaller } from './types';

/** Every detector, in the order the editor and the CLI list them. */
export const DETECTORS: readonly DetectorName[] = ['ssd', 'tiny'];

/** Detector settings; the minimum face size is applied by the aligner, in source pixels. */
export interface DetectorOptions {
  detector: DetectorName;
  minConfidence: number;
}

function args(rgb: Uint8Array, width: number, height: number, options: Partial<DetectorOptions>): DetectArgs {
  return {
    rgb,
    width,
    height,
    detector: options.detector ?? FACE_DEFAULTS.detector,
    minConfidence: options.minConfidence ?? FACE_DEFAULTS.minConfidence,
    // The aligner may have downscaled the image for detection; it filters by size itself.
    minFaceSize: 0,
  };
}

/**
 * A detect function that runs `face.detect` in a runtime's worker thread.
 * @param caller an AgeRuntime (anything with `call(op, args)`)
 * @example const { faces } = await alignImage(buf, runtimeDetector(runtime, { detector: 'tiny' }));
 */
export function runtimeDetector(caller: OpCaller, options: Partial<DetectorOptions> = {}): DetectFn {
  // The pixels are copied, not transferred: the aligner still needs them.
  return (rgb, width, height) => caller.call<Detection[]>('face.detect', args(rgb, width, height, options));
}

/**
 * A detect function that runs face-api in this thread. It blocks this thread while it runs:
 * use it in tests and tools, never on the Node-RED thread.
 */
export function inProcessDetector(options: Partial<DetectorOptions> = {}): DetectFn {
  return (rgb, width, height) => faceOps['face.detect']!(args(rgb, width, height, options)) as Promise<Detection[]>;
}
