// `age-transform run`: the whole inference path from the command line, as the example flow
// does it: align, encode at the ages, render, and measure each output's age.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError, EXIT, parseCommandArgs, readInputFile, UsageError, type CliIO, type Command } from '../cli';
import { alignImage, type AlignedFace } from '../align/align';
import { runtimeDetector } from '../face/detector';
import { AgeRuntime, type ProviderChoice } from '../runtime/runtime';
import { SamModels } from '../sam/models';
import { parseAges } from '../sam/ages';
import { ENCODER_SIZE, encodeAges } from '../sam/encode';
import { imageToTensor } from '../sam/image';
import { AGE_SIZE, measureAges, type Backend } from '../sam/measure';
import { generate } from '../sam/output';
import { OUTPUT_SIZES, validateOutputOptions, type OutputOptions } from '../sam/output-options';
import type { Tensor } from '../tensor';

const USAGE = `age-transform run IMAGE --models DIR --ages 0,20,40,60,80 --out DIR [--strip] [--gif] [--paste-back] [--size 256|512|1024] [--json]
  --models DIR      folder of the SAM ONNX models (inversion, aging, generator; age for DEX)
  --ages LIST       target ages: a list 0,20,40 or a range start:end:step
  --out DIR         where age-XXX.png (one per age) and the extras go (created if needed)
  --size N          output side: 256, 512 or 1024 (default 1024)
  --strip           also write strip.png: the input face and every age, labelled
  --gif             also write lifespan.gif: interpolated frames through the ages
  --paste-back      also write pasted-XXX.png: the aged face in the original photo
  --aligned         IMAGE is an aligned face already (no detection; no --paste-back)
  --json            print { ages: [{ target, measured, file }], provider, ageBackend, timings }
  --provider NAME   auto (default), cuda or cpu
  --threads N       onnxruntime threads (default: its own choice)
Ages are measured with age.onnx (DEX) when the model folder has it, else with face-api's age net.
exit codes: 0 done, 1 failure, 2 bad arguments or input, 3 no face found`;

const OPTIONS = {
  models: { type: 'string' },
  ages: { type: 'string' },
  out: { type: 'string' },
  size: { type: 'string' },
  strip: { type: 'boolean' },
  gif: { type: 'boolean' },
  'paste-back': { type: 'boolean' },
  aligned: { type: 'boolean' },
  json: { type: 'boolean' },
  provider: { type: 'string' },
  threads: { type: 'string' },
} as const;

/** One line of the report. */
export interface RunAge {
  target: number;
  measured: number;
  file: string;
}

/** Checks the command line; throws UsageError with a specific message. */
function settings(argv: string[]) {
  const { values, positionals } = parseCommandArgs(argv, OPTIONS);
  if (positionals.length !== 1) throw new UsageError(`expected one IMAGE but received ${positionals.length}`);
  if (!values.models) throw new UsageError('--models is required');
  if (!values.out) throw new UsageError('--out is required');
  if (!values.ages) throw new UsageError('--ages is required');
  let ages: number[];
  try {
    ages = parseAges(values.ages);
  } catch (err) {
    throw new UsageError(`--ages: ${(err as Error).message}`);
  }
  const size = values.size === undefined ? 1024 : Number(values.size);
  if (!(OUTPUT_SIZES as readonly number[]).includes(size)) throw new UsageError(`--size must be 256, 512 or 1024 (received "${values.size}")`);
  const provider = (values.provider ?? 'auto') as ProviderChoice;
  if (!['auto', 'cuda', 'cpu'].includes(provider)) throw new UsageError(`--provider must be auto, cuda or cpu (received "${provider}")`);
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 0)) throw new UsageError(`--threads must be a non-negative integer (received "${values.threads}")`);
  if (values.aligned && values['paste-back']) throw new UsageError('--paste-back needs the original photo: leave out --aligned');
  return { file: positionals[0]!, ages, size, provider, threads, models: values.models, out: values.out, values };
}

/** Stacks single-image tensors into one batch. */
function stack(tensors: Tensor[]): Tensor {
  const [, c, h, w] = tensors[0].dims;
  const data = new Float32Array(tensors.length * c * h * w);
  tensors.forEach((t, i) => data.set(t.data, i * c * h * w));
  return { dims: [tensors.length, c, h, w], data };
}

/** `age-transform run`: see USAGE. */
export const runCommand: Command = {
  name: 'run',
  summary: 'align, encode at target ages, render and measure: the whole SAM path',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { file, ages, size, provider, threads, models: modelDir, out, values } = settings(argv);
    const input = await readInputFile(file);
    const runtime = AgeRuntime.create({ provider, threads, modelDir });
    const models = new SamModels(runtime);
    const timings: Record<string, number> = {};
    const time = async <T>(stage: string, work: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await work();
      } finally {
        timings[stage] = Math.round(performance.now() - started);
      }
    };
    try {
      let face: Pick<AlignedFace, 'image'> & Partial<AlignedFace> = { image: input };
      if (!values.aligned) {
        const { faces } = await time('align', () => alignImage(input, runtimeDetector(runtime), { size: ENCODER_SIZE, name: file }));
        if (faces.length === 0) {
          io.stderr(`age-transform run: no face found in ${file}\n`);
          return EXIT.NO_FACE;
        }
        face = faces[0];
      }
      let image: Tensor;
      try {
        image = await imageToTensor(face.image, ENCODER_SIZE);
      } catch (err) {
        throw new CliError(`cannot decode ${file} as an image: ${(err as Error).message}`, EXIT.BAD_INPUT);
      }
      const latent = await time('encode', () => encodeAges(models, image, ages));
      const output = (mode: OutputOptions['mode']): OutputOptions => validateOutputOptions({ mode, size, format: 'png', animationFormat: 'gif' });
      const { images } = await time('generate', () => generate(models, { latent }, output('sequence')));
      await mkdir(out, { recursive: true });
      const files = images.map((img) => join(out, `age-${String(img.ages[0]).padStart(3, '0')}.png`));
      await Promise.all(images.map((img, k) => writeFile(files[k], img.payload)));

      const ageBackend: Backend = (await models.optional('age')) ? 'onnx' : 'faceapi';
      const measured = await time('measure', async () => measureAges(models, stack(await Promise.all(images.map((img) => imageToTensor(img.payload, AGE_SIZE)))), ageBackend));

      const extras: Array<[boolean | undefined, OutputOptions['mode'], (i: number) => string]> = [
        [values.strip, 'strip', () => 'strip.png'],
        [values.gif, 'animation', () => 'lifespan.gif'],
        [values['paste-back'], 'paste-back', (i) => `pasted-${String(ages[i]).padStart(3, '0')}.png`],
      ];
      for (const [wanted, mode, name] of extras) {
        if (!wanted) continue;
        const made = await time(mode, () => generate(models, { latent, aligned: face.image, original: input, face }, output(mode)));
        await Promise.all(made.images.map((img, i) => writeFile(join(out, name(i)), img.payload)));
      }

      const report = { ages: ages.map((target, k): RunAge => ({ target, measured: Number(measured[k].toFixed(2)), file: files[k] })), provider: runtime.provider, ageBackend, timings };
      io.stdout(values.json ? `${JSON.stringify(report)}\n` : report.ages.map((a) => `${a.target}\t${a.measured}\t${a.file}\n`).join(''));
      return EXIT.OK;
    } finally {
      await models.release();
      await runtime.close();
    }
  },
};
