// Output settings of the generate step: modes, sizes, formats, their defaults (one place) and
// their checks, and the encoder settings each still format writes with.
import type { ImageFormat } from './image';
import { checkFeather, checkMask, PASTE_DEFAULTS, type PasteMaskName } from './paste';

/** What the generate step makes of a latent. */
export const OUTPUT_MODES = ['sequence', 'strip', 'animation', 'paste-back'] as const;
export type OutputMode = (typeof OUTPUT_MODES)[number];
/** Sides of the output faces, in pixels. */
export const OUTPUT_SIZES = [1024, 512, 256] as const;
/**
 * How far the generator renders: `full` always runs the whole 1024 generator (then resizes);
 * `fast` runs the variant that stops at the output's size (generator-512, generator-256), which
 * skips the last layers and so lacks the finest detail they add (skin texture, hair strands).
 */
export const QUALITIES = ['full', 'fast'] as const;
export type Quality = (typeof QUALITIES)[number];
/** Still image formats. */
export const IMAGE_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp'];
/** Animated image formats. */
export const ANIMATION_FORMATS = ['gif', 'webp'] as const;
export type AnimationFormat = (typeof ANIMATION_FORMATS)[number];

/** Settings of {@link generate}. */
export interface OutputOptions {
  mode: OutputMode;
  /** Format of still images (sequence, strip, paste-back). */
  format: ImageFormat;
  /** Side of each face image: sequence images, strip tiles, animation frames. Paste-back keeps the photo's size. */
  size: number;
  /** Which generator renders (see {@link QUALITIES}). */
  quality: Quality;
  /** Age labels on strip tiles and animation frames. */
  labels: boolean;
  animationFormat: AnimationFormat;
  /** Interpolated frames between two consecutive ages of an animation. */
  frames: number;
  /** Time each animation frame shows, in milliseconds. */
  delay: number;
  /** Animation loops: 0 repeats forever. */
  loop: number;
  /** Paste-back: width of the mask's soft edge, as a fraction of its radius. */
  feather: number;
  /** Paste-back: what of the render is pasted, `head` (face and hair) or `face` (see PASTE_MASKS). */
  mask: PasteMaskName;
  /** Measure each age's render: apparent age, and identity similarity to the input face when it is given. */
  measure: boolean;
  /** Strip: add the measured age and identity to each tile's label. */
  labelMeasures: boolean;
}

/**
 * Every default of output, in one place. Faces come out at 1024, the generator's own
 * resolution: nothing is thrown away unless a smaller size is asked for.
 */
export const OUTPUT_DEFAULTS: Readonly<OutputOptions> = {
  mode: 'sequence',
  format: 'png',
  size: 1024,
  quality: 'full',
  labels: true,
  animationFormat: 'webp',
  frames: 8,
  delay: 80,
  loop: 0,
  feather: PASTE_DEFAULTS.feather,
  mask: PASTE_DEFAULTS.mask,
  measure: true,
  labelMeasures: false,
};

/** Most frames one animation may hold. */
export const MAX_FRAMES = 600;
/** Most raw pixel memory one animation may hold before encoding (frames x size x size x 3). */
export const MAX_ANIMATION_BYTES = 512 * 1024 * 1024;
/** Widest image each format can store. */
export const MAX_WIDTH: Record<ImageFormat, number> = { png: 2 ** 31 - 1, jpeg: 65535, webp: 16383 };

function got(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `${JSON.stringify(value)} of type ${type}`;
}

function isIntIn(value: unknown, low: number, high: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= low && value <= high;
}

/**
 * Checks and completes output settings.
 * @throws {TypeError|RangeError} naming the setting, what it takes and what it received
 * @example validateOutputOptions({ mode: 'strip', size: 256 })
 */
export function validateOutputOptions(options: Partial<OutputOptions> = {}): OutputOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<OutputOptions>;
  const o: OutputOptions = { ...OUTPUT_DEFAULTS, ...defined };
  if (!OUTPUT_MODES.includes(o.mode)) throw new RangeError(`Expected one of ${OUTPUT_MODES.join(', ')} for mode but received ${got(o.mode)}`);
  if (!IMAGE_FORMATS.includes(o.format)) throw new RangeError(`Expected one of ${IMAGE_FORMATS.join(', ')} for format but received ${got(o.format)}`);
  if (!(OUTPUT_SIZES as readonly number[]).includes(o.size)) throw new RangeError(`Expected one of ${OUTPUT_SIZES.join(', ')} for size but received ${got(o.size)}`);
  if (!QUALITIES.includes(o.quality)) throw new RangeError(`Expected one of ${QUALITIES.join(', ')} for quality but received ${got(o.quality)}`);
  if (typeof o.labels !== 'boolean') throw new TypeError(`Expected a boolean for labels but received ${got(o.labels)}`);
  if (!ANIMATION_FORMATS.includes(o.animationFormat)) throw new RangeError(`Expected one of ${ANIMATION_FORMATS.join(', ')} for animationFormat but received ${got(o.animationFormat)}`);
  if (!isIntIn(o.frames, 0, 60)) throw new RangeError(`Expected an integer between 0 and 60 for frames but received ${got(o.frames)}`);
  if (!isIntIn(o.delay, 20, 65535)) throw new RangeError(`Expected an integer between 20 and 65535 (ms) for delay but received ${got(o.delay)}`);
  if (!isIntIn(o.loop, 0, 65535)) throw new RangeError(`Expected an integer between 0 and 65535 for loop but received ${got(o.loop)}`);
  checkFeather(o.feather);
  checkMask(o.mask);
  if (typeof o.measure !== 'boolean') throw new TypeError(`Expected a boolean for measure but received ${got(o.measure)}`);
  if (typeof o.labelMeasures !== 'boolean') throw new TypeError(`Expected a boolean for labelMeasures but received ${got(o.labelMeasures)}`);
  return o;
}

/** Encoder settings per still format (one place, so every mode writes the same quality). */
export function stillOptions(format: ImageFormat): object {
  if (format === 'jpeg') return { quality: 92, chromaSubsampling: '4:4:4' };
  if (format === 'webp') return { quality: 92 };
  return {};
}
