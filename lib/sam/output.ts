// From a latent to the images a user keeps: one image per age, a labelled strip, an animation
// through interpolated latents, or the aged face pasted back into the original photo. The
// settings live in output-options.ts, rendering in render.ts, the strip, the animation and the
// labels in their own files; this file is the step that ties them together.
import type { SamModels } from './models';
import { renderFaces } from './render';
import { rgbSharp, type RgbImage } from './image';
import { animationCodes, checkAnimationSize, makeAnimation } from './animation';
import { checkStripWidth, makeStrip } from './strip';
import { stillOptions, type OutputOptions } from './output-options';
import { checkPlacement, decodePhoto, pasteFace, type BorderColour } from './paste';
import { demoMarkOverlay } from './labels';
import type { Latent } from './latent';

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
  /** Paste-back: how the render's colours meet the photo's at the mask's soft edge (see pasteFace). */
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
      // The render's own DEMO mark sits in a corner the paste leaves out: mark the photo instead.
      const mark = models.runtime.demo ? [demoMarkOverlay(photo.width, photo.height)] : [];
      const images: GeneratedImage[] = [];
      for (let k = 0; k < count; k++) {
        const { image, colour } = await pasteFace(photo, faces[k], placement, { feather: options.feather });
        const payload = await rgbSharp(image).composite(mark).removeAlpha().toFormat(options.format, stillOptions(options.format)).toBuffer();
        images.push({ payload, ages: [latent.ages[k]], ...(colour ? { border: colour } : {}) });
      }
      return done(images, true, count);
    }
  }
}
