// Shapes shared by the face ops (worker side) and the aligner (caller side). Plain data only:
// they cross the worker boundary by structured clone.
import type { Point } from '../align/ffhq';

/** A box in pixels: left, top, width, height. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One detected face. */
export interface Detection {
  /** Detector confidence in [0, 1]. */
  score: number;
  box: Box;
  /** The 68 iBUG landmarks, [x, y] in the pixels of the image given to the detector. */
  landmarks: Point[];
}

/** Which face-api detector finds the faces. */
export type DetectorName = 'ssd' | 'tiny';

/** Arguments of the worker op `face.detect`. */
export interface DetectArgs {
  rgb: Uint8Array;
  width: number;
  height: number;
  detector: DetectorName;
  /** Faces scoring below this are dropped. */
  minConfidence: number;
  /** Faces whose box is smaller than this (shorter side, pixels) are dropped. */
  minFaceSize: number;
}

/** Arguments of the worker ops `face.age` and `face.descriptor`: an image, optionally a box in it. */
export interface FaceImageArgs {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** Region holding the face; the whole image when absent. */
  box?: Box;
}

/** Result of `face.age`. */
export interface AgeEstimate {
  age: number;
  gender: 'male' | 'female';
  genderProbability: number;
}

/** Detects faces in an RGB image (3 bytes a pixel). */
export type DetectFn = (rgb: Uint8Array, width: number, height: number) => Promise<Detection[]>;

/** Anything that can run a named op somewhere (AgeRuntime does, in its worker). */
export interface OpCaller {
  call<T>(op: string, args: unknown, transfer?: ArrayBuffer[]): Promise<T>;
}
