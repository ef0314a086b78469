// From a latent to the images a user keeps: one image per age, a labelled strip, an animation
// through interpolated latents, or the aged face pasted back into the original photo. The
// settings live in output-options.ts, rendering in render.ts, the strip, the animation and the
// labels in their own files; this file is the step that ties them together.
import type { SamModels } from './models';
import { generatorFor, renderFaces } from './render';
import { rgbSharp } from './image';
import { checkImage, type RgbImage } from '../image/decode';
import { animationCodes, checkAnimationSize, makeAnimation } from './animation';
import { checkStripWidth, makeStrip } from './strip';
import { stillOptions, type OutputOptions } from './output-options';
import { checkPlacement, decodePhoto, type BorderColour, type FacePlacement } from './paste';
import { pasteOffThread } from './pixel-ops';
import { demoMarkOverlay } from './labels';
import type { Latent } from './latent';
import { measureFaces, type FaceMeasures } from './measure';
import { imageToTensor } from './image';
import { ENCODER_SIZE } from './encode';

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
  /** Paste-back: how the render's colours meet the photo's at the seam (see pasteFace). */
  border?: BorderColour;
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
  /** With `measure` on: each age's measured age and identity similarity to the input, in the latent's order. */
  measures?: FaceMeasures;
}

/** Label notes of a strip's tiles: "43 y" and, with identity, "id 0.91". */
function measureNotes(measures: FaceMeasures): string[] {
  return measures.ages.map((age, k) => `${Math.round(age)} y${measures.identity ? ` · id ${measures.identity[k].toFixed(2)}` : ''}`);
}

/** Side of the aligned face in photo pixels: its transform's scale times its size. */
function faceSide({ transform: [[a, b], [d, e]], size }: FacePlacement): number {
  return size * Math.sqrt(Math.abs(a * e - b * d));
}

/**
 * Makes the output images of a latent in the chosen mode.
 * - `sequence`: one image per age, `size` square, in `format`;
 * - `strip`: one image, the input face (when `aligned` is an image) and every age side by side, labelled;
 * - `animation`: `frames` interpolated codes between consecutive ages, GIF or WebP;
 * - `paste-back`: per age, the original photo with the aged face pasted in (photo size kept).
 * With `measure` on, each age's face is measured (see measureFaces): `measures` in the result.
 * With `quality: 'fast'`, the generator variant that matches the output size renders (see {@link generatorFor}).
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
  const renderAll = async (codes: Float32Array, n: number, size: number | undefined, side: number): Promise<RgbImage[]> => {
    const t0 = performance.now();
    const variant = options.quality === 'fast' ? generatorFor(side) : 'generator';
    const rendered = await renderFaces(models, codes, n, size, onProgress, signal, variant);
    renderMs += performance.now() - t0;
    resolution = rendered.resolution;
    return rendered.faces;
  };
  const aligned = Buffer.isBuffer(input.aligned) && input.aligned.length > 0 ? input.aligned : undefined;
  let measures: FaceMeasures | undefined;
  /** Measures one face per age, when asked; identity needs the aligned input. */
  const measure = async (faces: RgbImage[]): Promise<void> => {
    if (!options.measure) return;
    measures = await measureFaces(models, faces, aligned ? await imageToTensor(aligned, ENCODER_SIZE, 'msg.aligned') : undefined);
  };
  const done = (images: GeneratedImage[], perAge: boolean, rendered: number): GenerateResult => ({
    images,
    perAge,
    rendered,
    resolution,
    timings: { render: renderMs, total: performance.now() - started },
    ...(measures ? { measures } : {}),
  });

  switch (options.mode) {
    case 'sequence': {
      const faces = await renderAll(latent.data, count, options.size, options.size);
      await measure(faces);
      const images = await Promise.all(faces.map(async (face, k) => ({ payload: await rgbSharp(face).toFormat(options.format, stillOptions(options.format)).toBuffer(), ages: [latent.ages[k]] })));
      return done(images, true, count);
    }
    case 'strip': {
      checkStripWidth(count + (aligned ? 1 : 0), options.size, options.format);
      // Header checks (format, pixel limit) before rendering; the pixels are decoded into the strip.
      if (aligned) await checkImage(aligned, { name: 'msg.aligned' });
      const faces = await renderAll(latent.data, count, options.size, options.size);
      await measure(faces);
      const notes = options.labelMeasures && measures ? measureNotes(measures) : undefined;
      return done([{ payload: await makeStrip(faces, latent.ages, options, aligned, notes), ages: [...latent.ages] }], false, count);
    }
    case 'animation': {
      checkAnimationSize(count, options);
      const { codes, ages, count: frames } = animationCodes(latent, options.frames);
      const faces = await renderAll(codes, frames, options.size, options.size);
      await measure(latent.ages.map((_, k) => faces[k * (options.frames + 1)]));
      return done([{ payload: await makeAnimation(faces, ages, options), ages: [...latent.ages] }], false, frames);
    }
    case 'paste-back': {
      const placement = checkPlacement(input.face);
      const photo = await decodePhoto(input.original);
      // Fast: the generator that matches the face's side in the photo.
      const faces = await renderAll(latent.data, count, undefined, faceSide(placement));
      await measure(faces);
      // The render's own DEMO mark sits in a corner the paste leaves out: mark the photo instead.
      const mark = models.runtime.demo ? [demoMarkOverlay(photo.width, photo.height)] : [];
      const pasted = await pasteOffThread(models.runtime, photo, faces, placement, { feather: options.feather, mask: options.mask });
      const images: GeneratedImage[] = await Promise.all(
        pasted.map(async ({ image, colour }, k) => {
          const payload = await rgbSharp(image).composite(mark).removeAlpha().toFormat(options.format, stillOptions(options.format)).toBuffer();
          return { payload, ages: [latent.ages[k]], ...(colour ? { border: colour } : {}) };
        }),
      );
      return done(images, true, count);
    }
  }
}
