// `age-transform optimize`: the path-optimize node's work from the command line. Aligns the
// image first (the face-align recipe) unless told it is aligned already, optimizes the path,
// prints the report, and optionally writes the frames and an animation.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgeRuntime } from '../runtime/runtime';
import { SamModels } from '../sam/models';
import { ENCODER_SIZE } from '../sam/encode';
import { imageToTensor } from '../sam/image';
import { BACKENDS } from '../sam/measure';
import { generate } from '../sam/output';
import { validateOutputOptions } from '../sam/output-options';
import { findFace } from '../sam/regress';
import { OPTIMIZE_DEFAULTS } from '../optimize/options';
import { optimizePath } from '../optimize/optimize';
import type { PathReport } from '../optimize/report';
import { CliError, EXIT, UsageError, type CliIO, type Command } from './command';
import { choiceOption, integerOption, oneImage, parseCommandArgs, precisionOption, providerOption, readInputFile, required, threadsOption } from './options';

const USAGE = `age-transform optimize IMAGE --models DIR [--ages 0:100:10] [--budget N] [--out DIR] [--gif] [--precision auto|fp32|int8] [--json]
  --models DIR            folder of the SAM ONNX models (inversion, aging, generator[-256], age, identity)
  --ages LIST             target ages: a range start:end:step or a list 20,40,60 (default ${OPTIMIZE_DEFAULTS.ages})
  --budget N              evaluations (rendered candidates) per frame (default ${OPTIMIZE_DEFAULTS.budget})
  --seed N                seed of the search: same seed, same result (default ${OPTIMIZE_DEFAULTS.seed})
  --age-backend NAME      onnx (age.onnx, DEX) or faceapi (the bundled face-api age net)
  --identity-backend NAME onnx (identity.onnx, IR-SE50) or faceapi (the face-api recognition net)
  --weights A,I,S         weights of the age, identity and smoothness terms (default ${[OPTIMIZE_DEFAULTS.weights.age, OPTIMIZE_DEFAULTS.weights.identity, OPTIMIZE_DEFAULTS.weights.smoothness].join(',')})
  --aligned               IMAGE is an aligned face already (skip detection and alignment)
  --out DIR               write the optimized frames (age-XX.png), latent.json and report.json there
  --gif                   also write lifespan.gif (needs --out)
  --json                  print the report as one JSON object
  --provider NAME         auto (default), cuda or cpu
  --precision P           model variants: auto (default: int8 where the variant is present and
                          its quality report passed), fp32 or int8 (requires every int8 variant)
  --threads N             onnxruntime threads (default 0: one per CPU)
exit codes: 0 done, 1 failure, 2 bad arguments or input, 3 no face found`;

const OPTIONS = {
  models: { type: 'string' },
  ages: { type: 'string' },
  budget: { type: 'string' },
  seed: { type: 'string' },
  'age-backend': { type: 'string' },
  'identity-backend': { type: 'string' },
  weights: { type: 'string' },
  aligned: { type: 'boolean' },
  out: { type: 'string' },
  gif: { type: 'boolean' },
  json: { type: 'boolean' },
  provider: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
} as const;

/** The report as a short table, for people. */
function table(report: PathReport): string {
  const row = (cells: Array<string | number>): string => cells.map((c) => String(c).padStart(10)).join('') + '\n';
  let text = row(['target', 'before', 'after', 'id before', 'id after', 'dial']);
  for (const f of report.frames) text += row([f.target, f.measuredBefore.toFixed(1), f.measuredAfter.toFixed(1), f.identityBefore.toFixed(3), f.identityAfter.toFixed(3), f.dial.toFixed(1)]);
  text += `age MAE ${report.maeBefore} -> ${report.maeAfter} years; identity ${report.identityBefore} -> ${report.identityAfter}; `;
  text += `roughness ${report.smoothnessBefore} -> ${report.smoothnessAfter}; ${report.evaluations} of ${report.budget} evaluations in ${report.seconds} s\n`;
  return text;
}

/** `age-transform optimize`: see USAGE. */
export const optimizeCommand: Command = {
  name: 'optimize',
  summary: 'optimize a lifespan path: every frame at its target age, same person, smooth',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS);
    const file = oneImage(positionals);
    const modelDir = required('models', values.models);
    if (values.gif && !values.out) throw new UsageError('--gif needs --out DIR');
    const provider = providerOption(values.provider);
    const precision = precisionOption(values.precision);
    const threads = threadsOption(values.threads);
    let weights;
    if (values.weights !== undefined) {
      const parts = values.weights.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
      if (parts.length !== 3 || !parts.every(Number.isFinite)) throw new UsageError(`--weights must be three numbers age,identity,smoothness (received "${values.weights}")`);
      weights = { age: parts[0], identity: parts[1], smoothness: parts[2] };
    }
    const settings = {
      ages: values.ages ?? OPTIMIZE_DEFAULTS.ages,
      budget: integerOption('budget', values.budget),
      seed: integerOption('seed', values.seed),
      ageBackend: choiceOption('age-backend', values['age-backend'], BACKENDS),
      identityBackend: choiceOption('identity-backend', values['identity-backend'], BACKENDS),
      weights,
    };
    const input = await readInputFile(file);

    const runtime = AgeRuntime.create({ provider, precision, modelDir, threads });
    const models = new SamModels(runtime);
    try {
      let face = input;
      if (!values.aligned) {
        const found = await findFace(runtime, input, file);
        if (!found) {
          io.stderr(`age-transform optimize: no face found in ${file} (use --aligned if it is an aligned face)\n`);
          return EXIT.NO_FACE;
        }
        face = found.image;
      }
      let image;
      try {
        image = await imageToTensor(face, ENCODER_SIZE);
      } catch (err) {
        throw new CliError(`cannot decode ${file} as an image: ${(err as Error).message}`, EXIT.BAD_INPUT);
      }
      const { latent, report } = await optimizePath(models, image, settings);
      if (values.out) {
        await mkdir(values.out, { recursive: true });
        const { images } = await generate(models, { latent }, validateOutputOptions({ mode: 'sequence', format: 'png', size: 256 }));
        await Promise.all(images.map((img) => writeFile(join(values.out as string, `age-${String(img.ages[0]).padStart(3, '0')}.png`), img.payload)));
        if (values.gif && latent.dims[0] >= 2) {
          const [gif] = (await generate(models, { latent }, validateOutputOptions({ mode: 'animation', animationFormat: 'gif', size: 256, frames: 4 }))).images;
          await writeFile(join(values.out, 'lifespan.gif'), gif.payload);
        }
        await writeFile(join(values.out, 'latent.json'), JSON.stringify({ dims: latent.dims, ages: latent.ages, data: Array.from(latent.data) }));
        await writeFile(join(values.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
      }
      io.stdout(values.json ? `${JSON.stringify(report)}\n` : table(report));
      return EXIT.OK;
    } finally {
      await models.release();
      await runtime.close();
    }
  },
};
