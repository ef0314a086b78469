// From a latent to the images a user keeps: one image per age, a labelled strip, an animation
// through interpolated latents, or the aged face pasted back into the original photo. Rendering
// runs in the runtime's worker; resizing, labels and encoding run in sharp (libvips threads).
import sharp, { type SharpOptions } from 'sharp';
import type { SamModels } from './models';
import { render, RENDER_BATCH } from './render';
import { codeAt, lerpCode, LAYERS, STYLE, type Latent } from './latent';
import { rgbSharp, tensorToRgb, type ImageFormat } from './image';
import { checkImage, decodeImage, pixelCount, SHARP_MAX_PIXELS, type RgbImage } from '../image/decode';
import { checkFeather, checkPlacement, decodePhoto, pasteFace, PASTE_DEFAULTS } from './paste';

/** What the generate step makes of a latent. */
export const OUTPUT_MODES = ['sequence', 'strip', 'animation', 'paste-back'] as const;
export type OutputMode = (typeof OUTPUT_MODES)[number];
/** Sides of the output faces, in pixels. */
export const OUTPUT_SIZES = [1024, 512, 256] as const;
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
}

/**
 * Every default of output, in one place. Faces come out at 1024, the generator's own
 * resolution: nothing is thrown away unless a smaller size is asked for.
 */
export const OUTPUT_DEFAULTS: Readonly<OutputOptions> = {
  mode: 'sequence',
  format: 'png',
  size: 1024,
  labels: true,
  animationFormat: 'webp',
  frames: 8,
  delay: 80,
  loop: 0,
  feather: PASTE_DEFAULTS.feather,
};

/** Most frames one animation may hold. */
export const MAX_FRAMES = 600;
/** Most raw pixel memory one animation may hold before encoding (frames x size x size x 3). */
export const MAX_ANIMATION_BYTES = 512 * 1024 * 1024;
/** Widest image each format can store. */
const MAX_WIDTH: Record<ImageFormat, number> = { png: 2 ** 31 - 1, jpeg: 65535, webp: 16383 };

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
  if (typeof o.labels !== 'boolean') throw new TypeError(`Expected a boolean for labels but received ${got(o.labels)}`);
  if (!ANIMATION_FORMATS.includes(o.animationFormat)) throw new RangeError(`Expected one of ${ANIMATION_FORMATS.join(', ')} for animationFormat but received ${got(o.animationFormat)}`);
  if (!isIntIn(o.frames, 0, 60)) throw new RangeError(`Expected an integer between 0 and 60 for frames but received ${got(o.frames)}`);
  if (!isIntIn(o.delay, 20, 65535)) throw new RangeError(`Expected an integer between 20 and 65535 (ms) for delay but received ${got(o.delay)}`);
  if (!isIntIn(o.loop, 0, 65535)) throw new RangeError(`Expected an integer between 0 and 65535 for loop but received ${got(o.loop)}`);
  checkFeather(o.feather);
  return o;
}

/** Encoder settings per still format (one place, so every mode writes the same quality). */
function stillOptions(format: ImageFormat): object {
  if (format === 'jpeg') return { quality: 92, chromaSubsampling: '4:4:4' };
  if (format === 'webp') return { quality: 92 };
  return {};
}

function rawInput(image: RgbImage): [Buffer, SharpOptions] {
  return [Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), { raw: { width: image.width, height: image.height, channels: 3 } }];
}

/** Resizes RGB pixels to size x size (Lanczos), or returns them as they are. */
export async function resizeRgb(image: RgbImage, size: number): Promise<RgbImage> {
  if (image.width === size && image.height === size) return image;
  const data = await rgbSharp(image).resize(size, size, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  return { data, width: size, height: size };
}

/**
 * Renders K codes in batches and turns each image into 8-bit RGB as soon as it is rendered, so
 * a long sequence never holds more than one batch of float images.
 * @param size resize each face to this side; omit to keep the generator's resolution
 * @param onProgress called after each batch with (rendered, total)
 * @param signal stops between batches when aborted (a node closing), rejecting with its reason
 */
export async function renderFaces(
  models: SamModels,
  codes: Float32Array,
  count: number,
  size?: number,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<{ faces: RgbImage[]; resolution: number }> {
  const faces: RgbImage[] = [];
  const code = LAYERS * STYLE;
  let resolution = 0;
  for (let start = 0; start < count; start += RENDER_BATCH) {
    signal?.throwIfAborted();
    const n = Math.min(RENDER_BATCH, count - start);
    const images = await render(models, codes.subarray(start * code, (start + n) * code), n);
    resolution = images.dims[3];
    for (let i = 0; i < n; i++) {
      const rgb = tensorToRgb(images, i);
      faces.push(size ? await resizeRgb(rgb, size) : rgb);
    }
    onProgress?.(start + n, count);
  }
  return { faces, resolution };
}

/** How an age reads on a label: whole years as they are, others to one decimal. */
export function ageLabel(age: number): string {
  return Number.isInteger(age) ? String(age) : age.toFixed(1);
}

// ---- labels --------------------------------------------------------------------------

/** Fonts tried for labels, in order; librsvg picks the first one fontconfig has. */
const FONT_FAMILY = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

/**
 * A 5x7 pixel font for the characters labels use, drawn as SVG rectangles where the machine
 * has no usable font (a bare container): labels then still show.
 */
const PIXEL_GLYPHS: Record<string, string[]> = {
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '3': ['11111', '00010', '00100', '00010', '00001', '10001', '01110'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '5': ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  '6': ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  '8': ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  '9': ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  '.': ['00000', '00000', '00000', '00000', '00000', '01100', '01100'],
  '-': ['00000', '00000', '00000', '11111', '00000', '00000', '00000'],
  i: ['00100', '00000', '01100', '00100', '00100', '00100', '01110'],
  n: ['00000', '00000', '10110', '11001', '10001', '10001', '10001'],
  p: ['00000', '00000', '11110', '10001', '10001', '11110', '10000'],
  u: ['00000', '00000', '10001', '10001', '10001', '10011', '01101'],
  t: ['01000', '01000', '11100', '01000', '01000', '01001', '00110'],
};

let fontCheck: Promise<boolean> | undefined;

/**
 * Whether SVG text really renders here: draws digits with {@link FONT_FAMILY} once and looks
 * for ink. Without any font, librsvg draws nothing and labels would silently vanish.
 */
export function svgTextRenders(): Promise<boolean> {
  fontCheck ??= (async () => {
    try {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="4" y="30" font-family="${FONT_FAMILY}" font-size="28" fill="#fff">0123456789</text></svg>`;
      const { data } = await sharp(Buffer.from(svg)).extractChannel(3).raw().toBuffer({ resolveWithObject: true });
      let ink = 0;
      for (const a of data) if (a > 128) ink++;
      return ink > 100;
    } catch {
      return false;
    }
  })();
  return fontCheck;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

/** Where labels sit in a tile of side `size`: a band of `height` rows starting at row `top`. */
function labelBandOf(size: number): { top: number; height: number } {
  const height = Math.max(12, Math.round(size * 0.11));
  const bottom = size - Math.max(2, Math.round(size * 0.035));
  return { top: bottom - height, height };
}

/**
 * SVG markup of one label: a translucent dark pill with white text, centred in a band of
 * `height` rows over a tile of side `size` whose left edge is at `left`.
 */
function labelMarkup(text: string, left: number, size: number, height: number, fonts: boolean): string {
  const fontSize = Math.round(height * 0.7);
  const unit = fontSize / 9; // pixel font: 7 units a glyph, 6 units an advance
  const textWidth = fonts ? text.length * fontSize * 0.64 : text.length * 6 * unit - unit;
  const width = Math.min(size - 4, Math.round(textWidth + height * 0.9));
  const x = left + Math.round((size - width) / 2);
  const centre = left + size / 2;
  let glyphs: string;
  if (fonts) {
    glyphs = `<text x="${centre}" y="${height / 2}" dominant-baseline="central" text-anchor="middle" font-family="${FONT_FAMILY}" font-weight="bold" font-size="${fontSize}" fill="#fff">${escapeXml(text)}</text>`;
  } else {
    const rects: string[] = [];
    let gx = centre - textWidth / 2;
    const gy = (height - 7 * unit) / 2;
    for (const ch of text) {
      (PIXEL_GLYPHS[ch] ?? []).forEach((row, r) => {
        for (let c = 0; c < 5; c++) {
          if (row[c] === '1') rects.push(`<rect x="${(gx + c * unit).toFixed(2)}" y="${(gy + r * unit).toFixed(2)}" width="${unit.toFixed(2)}" height="${unit.toFixed(2)}"/>`);
        }
      });
      gx += 6 * unit;
    }
    glyphs = `<g fill="#fff">${rects.join('')}</g>`;
  }
  return `<rect x="${x}" y="0" width="${width}" height="${height}" rx="${height / 2}" fill="#000" fill-opacity="0.55"/>${glyphs}`;
}

/**
 * The labels of a row of tiles, as an SVG band to composite at row `top` (only the band is
 * drawn: cheap even for 1024 px frames).
 * @param labels one per tile of side `size`; null leaves that tile bare
 * @param fonts draw with the machine's fonts (default: when {@link svgTextRenders} says they work), else with the built-in pixel font
 * @returns the SVG and the row it goes at
 */
export async function labelOverlay(labels: Array<string | null>, size: number, fonts?: boolean): Promise<{ input: Buffer; top: number; left: number }> {
  fonts ??= await svgTextRenders();
  const { top, height } = labelBandOf(size);
  const body = labels.map((text, i) => (text === null ? '' : labelMarkup(text, i * size, size, height, fonts))).join('');
  return { input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${labels.length * size}" height="${height}">${body}</svg>`), top, left: 0 };
}

// ---- strip ---------------------------------------------------------------------------

/**
 * Checks that a strip of `tiles` faces fits sharp and the format, before anything is rendered.
 * @returns its width in pixels
 * @throws {RangeError} when it has more pixels than sharp takes, or is wider than the format can store (WebP 16383, JPEG 65535)
 */
export function checkStripWidth(tiles: number, size: number, format: ImageFormat): number {
  const width = tiles * size;
  if (width * size > SHARP_MAX_PIXELS) {
    throw new RangeError(
      `A strip of ${tiles} faces at ${size} px is ${width}x${size} (${pixelCount(width * size)}), more than sharp can process (${pixelCount(SHARP_MAX_PIXELS)}); give fewer ages or choose a smaller size`,
    );
  }
  if (width > MAX_WIDTH[format]) {
    throw new RangeError(`A strip of ${tiles} faces at ${size} px is ${width} px wide, more than ${format.toUpperCase()} can store (${MAX_WIDTH[format]}); choose PNG or a smaller size`);
  }
  return width;
}

/**
 * One image of faces side by side, each `size` square: the input face first when given, then
 * each age, with age labels ("input", "20", "40", ...) when `labels` is on.
 * @param faces rendered faces, any square side (resized to `size`)
 * @param ages one per face, for the labels
 * @param inputFace the aligned face the latent was encoded from (any image Buffer)
 * @returns the encoded strip: (faces + input) x size wide, size high
 * @throws {RangeError} when the strip is too large for sharp or the format; {ImageInputError} when inputFace cannot be decoded
 */
export async function makeStrip(faces: RgbImage[], ages: number[], options: Pick<OutputOptions, 'size' | 'format' | 'labels'>, inputFace?: Buffer): Promise<Buffer> {
  const { size, format, labels } = options;
  const tiles: RgbImage[] = [];
  if (inputFace) tiles.push(await decodeImage(inputFace, { name: 'msg.aligned', resize: { size, fit: 'cover' } }));
  for (const face of faces) tiles.push(await resizeRgb(face, size));
  const width = checkStripWidth(tiles.length, size, format);
  const strip = Buffer.alloc(width * size * 3);
  tiles.forEach((tile, t) => {
    for (let y = 0; y < size; y++) strip.set(tile.data.subarray(y * size * 3, (y + 1) * size * 3), (y * width + t * size) * 3);
  });
  let pipeline = sharp(strip, { raw: { width, height: size, channels: 3 } });
  if (labels) {
    const texts = [...(inputFace ? ['input'] : []), ...ages.map(ageLabel)];
    pipeline = pipeline.composite([await labelOverlay(texts, size)]).removeAlpha();
  }
  return pipeline.toFormat(format, stillOptions(format)).toBuffer();
}

// ---- animation -----------------------------------------------------------------------

/**
 * The codes of an animation: each given age, and `between` codes linearly interpolated
 * (lerpCode) between each two consecutive ones; ages are interpolated the same way.
 * @returns (K - 1)(between + 1) + 1 codes
 */
export function animationCodes(latent: Latent, between: number): { codes: Float32Array; ages: number[]; count: number } {
  const k = latent.dims[0];
  const count = (k - 1) * (between + 1) + 1;
  const codes = new Float32Array(count * LAYERS * STYLE);
  const ages: number[] = [];
  let f = 0;
  for (let i = 0; i < k - 1; i++) {
    const a = codeAt(latent.data, i);
    const b = codeAt(latent.data, i + 1);
    for (let j = 0; j <= between; j++, f++) {
      const t = j / (between + 1);
      codes.set(j === 0 ? a : lerpCode(a, b, t), f * LAYERS * STYLE);
      ages.push(latent.ages[i] + t * (latent.ages[i + 1] - latent.ages[i]));
    }
  }
  codes.set(codeAt(latent.data, k - 1), f * LAYERS * STYLE);
  ages.push(latent.ages[k - 1]);
  return { codes, ages, count };
}

/**
 * Checks that an animation fits the limits before anything is rendered.
 * @throws {RangeError} naming the frame count or the memory it would take
 */
export function checkAnimationSize(ageCount: number, options: Pick<OutputOptions, 'frames' | 'size'>): number {
  if (ageCount < 2) throw new RangeError(`Expected at least 2 ages in msg.latent for an animation but received ${ageCount}`);
  const count = (ageCount - 1) * (options.frames + 1) + 1;
  if (count > MAX_FRAMES) throw new RangeError(`An animation of ${count} frames is more than the ${MAX_FRAMES} allowed; give fewer ages or fewer frames between them`);
  const pixels = count * options.size * options.size;
  const bytes = pixels * 3;
  if (bytes > MAX_ANIMATION_BYTES) {
    throw new RangeError(
      `An animation of ${count} frames at ${options.size} px needs ${Math.round(bytes / 2 ** 20)} MiB, more than ${MAX_ANIMATION_BYTES / 2 ** 20} MiB; choose a smaller size or fewer frames`,
    );
  }
  // The frames go to sharp as one tall image: the memory bound keeps it within sharp's limit; this keeps it so.
  if (pixels > SHARP_MAX_PIXELS) {
    throw new RangeError(`An animation of ${count} frames at ${options.size} px holds ${pixelCount(pixels)}, more than sharp can process (${pixelCount(SHARP_MAX_PIXELS)}); choose a smaller size or fewer frames`);
  }
  return count;
}

/**
 * Encodes frames as an animated GIF or WebP: one frame a page, each shown `delay` ms, looping
 * `loop` times (0: forever). Frames are labelled with their (rounded) age when `labels` is on.
 * @param frames square RGB frames, resized to `size`
 * @param ages one per frame, for the labels
 */
export async function makeAnimation(frames: RgbImage[], ages: number[], options: Pick<OutputOptions, 'size' | 'labels' | 'animationFormat' | 'delay' | 'loop'>): Promise<Buffer> {
  const { size, labels, animationFormat, delay, loop } = options;
  const frameBytes = size * size * 3;
  const stack = Buffer.alloc(frames.length * frameBytes);
  for (let i = 0; i < frames.length; i++) {
    let frame = await resizeRgb(frames[i], size);
    if (labels) {
      const [input, raw] = rawInput(frame);
      const data = await sharp(input, raw)
        .composite([await labelOverlay([ageLabel(Math.round(ages[i]))], size)])
        .removeAlpha()
        .raw()
        .toBuffer();
      frame = { data, width: size, height: size };
    }
    stack.set(frame.data, i * frameBytes);
  }
  const pipeline = sharp(stack, { raw: { width: size, height: size * frames.length, channels: 3, pageHeight: size } });
  const delays = frames.map(() => delay);
  // GIF: libimagequant's effort 1 makes the same palettes here (measured) 5x faster than the default 7.
  if (animationFormat === 'gif') return pipeline.gif({ delay: delays, loop, effort: 1, keepDuplicateFrames: true }).toBuffer();
  return pipeline.webp({ delay: delays, loop, quality: 90, effort: 2 }).toBuffer();
}

// ---- the whole step ------------------------------------------------------------------

/** What a message brings besides the latent. */
export interface GenerateInput {
  latent: Latent;
  /** The aligned face the latent was encoded from (strip: the first tile). */
  aligned?: unknown;
  /** The original photo (paste-back). */
  original?: unknown;
  /** face-align's `msg.face` (paste-back: transform and size). */
  face?: unknown;
}

/** One output image and the ages it shows. */
export interface GeneratedImage {
  payload: Buffer;
  ages: number[];
}

/** What {@link generate} returns. */
export interface GenerateResult {
  /** One image per age (sequence, paste-back) or one image (strip, animation). */
  images: GeneratedImage[];
  /** Whether the images are one per age, to be sent as a sequence. */
  perAge: boolean;
  /** Faces the generator rendered (animation: every frame). */
  rendered: number;
  /** The generator's resolution. */
  resolution: number;
  /** Milliseconds: rendering (worker) and the whole step. */
  timings: { render: number; total: number };
}

/**
 * Makes the output images of a latent in the chosen mode.
 * - `sequence`: one image per age, `size` square, in `format`;
 * - `strip`: one image, the input face (when `aligned` is an image) and every age side by side, labelled;
 * - `animation`: `frames` interpolated codes between consecutive ages, GIF or WebP;
 * - `paste-back`: per age, the original photo with the aged face pasted in (photo size kept).
 * @param options checked settings (see {@link validateOutputOptions})
 * @param onProgress called as batches render: (rendered, total)
 * @param signal stops rendering between batches when aborted
 * @throws {TypeError|RangeError} for missing or bad inputs of the mode, before rendering;
 *   {ContractError} when the model folder has no generator
 * @example const { images } = await generate(models, { latent }, validateOutputOptions({ mode: 'strip', size: 256 }));
 */
export async function generate(
  models: SamModels,
  input: GenerateInput,
  options: OutputOptions,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<GenerateResult> {
  const started = performance.now();
  const { latent } = input;
  const count = latent.dims[0];
  let renderMs = 0;
  let resolution = 0;
  const renderAll = async (codes: Float32Array, n: number, size?: number): Promise<RgbImage[]> => {
    const t0 = performance.now();
    const rendered = await renderFaces(models, codes, n, size, onProgress, signal);
    renderMs += performance.now() - t0;
    resolution = rendered.resolution;
    return rendered.faces;
  };
  const done = (images: GeneratedImage[], perAge: boolean, rendered: number): GenerateResult => ({
    images,
    perAge,
    rendered,
    resolution,
    timings: { render: renderMs, total: performance.now() - started },
  });

  switch (options.mode) {
    case 'sequence': {
      const faces = await renderAll(latent.data, count, options.size);
      const images = await Promise.all(faces.map(async (face, k) => ({ payload: await rgbSharp(face).toFormat(options.format, stillOptions(options.format)).toBuffer(), ages: [latent.ages[k]] })));
      return done(images, true, count);
    }
    case 'strip': {
      const aligned = Buffer.isBuffer(input.aligned) && input.aligned.length > 0 ? input.aligned : undefined;
      checkStripWidth(count + (aligned ? 1 : 0), options.size, options.format);
      // Header checks (format, pixel limit) before rendering; the pixels are decoded into the strip.
      if (aligned) await checkImage(aligned, { name: 'msg.aligned' });
      const faces = await renderAll(latent.data, count, options.size);
      return done([{ payload: await makeStrip(faces, latent.ages, options, aligned), ages: [...latent.ages] }], false, count);
    }
    case 'animation': {
      checkAnimationSize(count, options);
      const { codes, ages, count: frames } = animationCodes(latent, options.frames);
      const faces = await renderAll(codes, frames, options.size);
      return done([{ payload: await makeAnimation(faces, ages, options), ages: [...latent.ages] }], false, frames);
    }
    case 'paste-back': {
      const placement = checkPlacement(input.face);
      const photo = await decodePhoto(input.original);
      const faces = await renderAll(latent.data, count);
      const images: GeneratedImage[] = [];
      for (let k = 0; k < count; k++) {
        const { image } = await pasteFace(photo, faces[k], placement, { feather: options.feather });
        images.push({ payload: await rgbSharp(image).toFormat(options.format, stillOptions(options.format)).toBuffer(), ages: [latent.ages[k]] });
      }
      return done(images, true, count);
    }
  }
}
