// `age-transform run`: the whole inference path from the command line, as the example flow
// does it: align, encode at the ages, render, and measure each output's age.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alignImage, type AlignedFace } from '../align/align';
import { runtimeDetector } from '../face/detector';
import type { Precision } from '../contracts/contracts';
import { AgeRuntime } from '../runtime/runtime';
import { SamModels } from '../sam/models';
import { parseAges } from '../sam/ages';
import { ENCODER_SIZE, encodeAges } from '../sam/encode';
import { imageToTensor } from '../sam/image';
import { generate } from '../sam/output';
import { OUTPUT_DEFAULTS, OUTPUT_SIZES, validateOutputOptions, type OutputOptions } from '../sam/output-options';
import type { Tensor } from '../tensor';
import { CliError, EXIT, UsageError, type CliIO, type Command } from './command';
import { numberChoiceOption, oneImage, parseCommandArgs, precisionOption, providerOption, readInputFile, required, threadsOption } from './options';

const USAGE = `age-transform run IMAGE --models DIR --ages 0,20,40,60,80 --out DIR [--strip] [--gif] [--paste-back] [--size 256|512|1024] [--precision auto|fp32|int8] [--json]
  --models DIR      folder of the SAM ONNX models (inversion, aging, generator; age for DEX)
  --ages LIST       target ages: a list 0,20,40 or a range start:end:step
  --out DIR         where age-XXX.png (one per age) and the extras go (created if needed)
  --size N          output side: 256, 512 or 1024 (default ${OUTPUT_DEFAULTS.size})
  --strip           also write strip.png: the input face and every age, labelled
  --gif             also write lifespan.gif: interpolated frames through the ages
  --paste-back      also write pasted-XXX.png: the aged face in the original photo
  --aligned         IMAGE is an aligned face already (no detection; no --paste-back)
  --json            print { ages: [{ target, measured, identity, file }], face, provider, precision, ageBackend, identityBackend, demo, timings }
  --provider NAME   auto (default), cuda or cpu
  --precision P     model variants: auto (default: <name>.int8.onnx where it is present and its
                    quality report passed, else float32), fp32 (float32 only) or int8 (requires
                    the int8 variant of every model exported with --int8)
  --threads N       onnxruntime threads (default 0: one per CPU)
Ages are measured with age.onnx (DEX) when the model folder has it, else with face-api's age net;
identity similarity to the input face with identity.onnx, else face-api's recognition net.
In a group photo the largest face is used (the output says which).
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
  precision: { type: 'string' },
  threads: { type: 'string' },
} as const;

/** One line of the report. */
export interface RunAge {
  target: number;
  measured: number;
  /** Identity similarity of the render to the input face (cosine; 1 is the same face). */
  identity?: number;
  file: string;
}

/** The report as a table with a header, one row per age. */
export function runTable(rows: RunAge[]): string {
  const cells = [['target', 'measured', 'identity', 'file'], ...rows.map((r) => [String(r.target), r.measured.toFixed(1), r.identity === undefined ? '-' : r.identity.toFixed(3), r.file])];
  const widths = [0, 1, 2].map((c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) => `${row.slice(0, 3).map((cell, c) => cell.padStart(widths[c])).join('  ')}  ${row[3]}\n`).join('');
}

/** Which precision each model ran, one line: `precision: int8 inversion; fp32 aging, generator-256`. */
export function precisionLine(models: Record<string, Precision>): string {
  const names = (precision: Precision): string[] => Object.keys(models).filter((name) => models[name] === precision).sort();
  const parts = (['int8', 'fp32'] as const).filter((p) => names(p).length > 0).map((p) => `${p} ${names(p).join(', ')}`);
  return `precision: ${parts.join('; ')}`;
}

/** Checks the command line; throws UsageError with a specific message. */
function settings(argv: string[]) {
  const { values, positionals } = parseCommandArgs(argv, OPTIONS);
  const file = oneImage(positionals);
  const models = required('models', values.models);
  const out = required('out', values.out);
  const agesText = required('ages', values.ages);
  let ages: number[];
  try {
    ages = parseAges(agesText);
  } catch (err) {
    throw new UsageError(`--ages: ${(err as Error).message}`);
  }
  const size = numberChoiceOption('size', values.size, OUTPUT_SIZES) ?? OUTPUT_DEFAULTS.size;
  const provider = providerOption(values.provider);
  const precision = precisionOption(values.precision);
  const threads = threadsOption(values.threads);
  if (values.aligned && values['paste-back']) throw new UsageError('--paste-back needs the original photo: leave out --aligned');
  return { file, ages, size, provider, precision, threads, models, out, values };
}

/** `age-transform run`: see USAGE. */
export const runCommand: Command = {
  name: 'run',
  summary: 'align, encode at target ages, render and measure: the whole SAM path',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { file, ages, size, provider, precision, threads, models: modelDir, out, values } = settings(argv);
    const input = await readInputFile(file);
    const runtime = AgeRuntime.create({ provider, precision, threads, modelDir });
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
      let picked = 'the input is an aligned face';
      if (!values.aligned) {
        const { faces, found } = await time('align', () => alignImage(input, runtimeDetector(runtime), { size: ENCODER_SIZE, name: file }));
        if (faces.length === 0) {
          io.stderr(`age-transform run: no face found in ${file}\n`);
          return EXIT.NO_FACE;
        }
        face = faces[0];
        const { box } = faces[0];
        const where = `box ${Math.round(box.x)},${Math.round(box.y)} ${Math.round(box.width)}x${Math.round(box.height)}`;
        picked = found > 1 ? `picked the largest of ${found} faces (${where}); align --all writes each of them` : `one face (${where})`;
      }
      let image: Tensor;
      try {
        image = await imageToTensor(face.image, ENCODER_SIZE);
      } catch (err) {
        throw new CliError(`cannot decode ${file} as an image: ${(err as Error).message}`, EXIT.BAD_INPUT);
      }
      const latent = await time('encode', () => encodeAges(models, image, ages));
      const output = (mode: OutputOptions['mode'], measure = false): OutputOptions => validateOutputOptions({ mode, size, format: 'png', animationFormat: 'gif', measure });
      // The sequence is measured as it is made: age, and identity against the aligned input.
      const { images, measures, timings: made } = await time('generate', () => generate(models, { latent, aligned: face.image }, output('sequence', true)));
      timings.measure = Math.round(made.total - made.render);
      await mkdir(out, { recursive: true });
      const files = images.map((img) => join(out, `age-${String(img.ages[0]).padStart(3, '0')}.png`));
      await Promise.all(images.map((img, k) => writeFile(files[k], img.payload)));

      const { ages: measured, identity, ageBackend, identityBackend } = measures!;

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

      const rows = ages.map((target, k): RunAge => ({ target, measured: Number(measured[k].toFixed(2)), ...(identity ? { identity: Number(identity[k].toFixed(4)) } : {}), file: files[k] }));
      const report = { ages: rows, face: picked, provider: runtime.provider, precision: runtime.modelPrecisions, ageBackend, identityBackend, demo: runtime.demo, timings };
      if (values.json) {
        io.stdout(`${JSON.stringify(report)}\n`);
      } else {
        const backends = `age: ${ageBackend === 'onnx' ? 'age.onnx (DEX)' : "face-api's age net"}; identity: ${identityBackend === 'onnx' ? 'identity.onnx' : "face-api's recognition net"}`;
        io.stdout(`${file}: ${picked}\n${runtime.demo ? 'demo models (designed, not SAM): pictures say DEMO\n' : ''}${backends}\n${precisionLine(runtime.modelPrecisions)}\n${runTable(rows)}`);
      }
      return EXIT.OK;
    } finally {
      await models.release();
      await runtime.close();
    }
  },
};
