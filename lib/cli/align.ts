// `age-transform align`: the face-align node's work from the command line, with detection in
// an AgeRuntime worker as the node does it.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { AgeRuntime } from '../runtime/runtime';
import { DETECTORS, runtimeDetector } from '../face/detector';
import type { DetectFn, DetectorName } from '../face/types';
import { ALIGN_DEFAULTS, ALIGN_RESAMPLES, alignImage } from '../align/align';
import { ALIGN_SIZES } from '../align/ffhq';
import { FACE_DEFAULTS } from '../face/face-ops';
import { EXIT, type CliIO, type Command } from './command';
import { choiceOption, numberChoiceOption, numberOption, oneImage, parseCommandArgs, readInputFile, required } from './options';

const USAGE = `age-transform align IMAGE --out OUT.png [--size 256|512|1024] [--resample ffhq|sam] [--all] [--json]
  --out PATH            where the aligned PNG goes; with --all, a folder (created if needed)
  --size N              output side: 256 (default), 512 or 1024
  --resample R          ffhq (default: NVlabs' 4096 supersample) or sam (SAM's inference script:
                        the quad sampled straight to the output size)
  --all                 every face (IMAGE-face1.png, ... left to right), not only the largest
  --json                print one JSON object per face: file, score, box, landmarks, quad, transform, out
  --detector NAME       ssd (default, more accurate) or tiny (faster)
  --min-confidence X    drop faces the detector scores below X (default ${FACE_DEFAULTS.minConfidence})
  --min-face-size N     drop faces whose box is under N pixels (default ${ALIGN_DEFAULTS.minFaceSize})
  --max-pixels N        refuse larger images before decoding (default ${ALIGN_DEFAULTS.maxPixels})
exit codes: 0 faces written, 2 bad arguments or image, 3 no face found`;

const OPTIONS = {
  out: { type: 'string' },
  size: { type: 'string' },
  resample: { type: 'string' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  detector: { type: 'string' },
  'min-confidence': { type: 'string' },
  'min-face-size': { type: 'string' },
  'max-pixels': { type: 'string' },
} as const;

/** `age-transform align`: see USAGE. */
export const alignCommand: Command = {
  name: 'align',
  summary: 'find faces in an image and crop them by the FFHQ recipe (SAM input)',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS);
    const file = oneImage(positionals);
    const out = required('out', values.out);
    const size = numberChoiceOption('size', values.size, ALIGN_SIZES) ?? ALIGN_DEFAULTS.size;
    const resample = choiceOption('resample', values.resample, ALIGN_RESAMPLES) ?? ALIGN_DEFAULTS.resample;
    const detector = choiceOption<DetectorName>('detector', values.detector, DETECTORS) ?? FACE_DEFAULTS.detector;
    const minConfidence = numberOption('min-confidence', values['min-confidence'], (n) => n >= 0 && n <= 1, 'a number from 0 to 1');
    const minFaceSize = numberOption('min-face-size', values['min-face-size'], (n) => n >= 0, 'a number >= 0');
    const maxPixels = numberOption('max-pixels', values['max-pixels'], (n) => Number.isInteger(n) && n > 0, 'a positive integer');

    const input = await readInputFile(file);
    // The runtime (a worker thread with face-api) starts only once the image has passed its
    // checks, so bad input fails fast.
    let runtime: AgeRuntime | undefined;
    const detect: DetectFn = (rgb, width, height) => {
      runtime ??= AgeRuntime.create({ provider: 'cpu' });
      return runtimeDetector(runtime, { detector, minConfidence })(rgb, width, height);
    };
    let result;
    try {
      result = await alignImage(input, detect, { size, resample, mode: values.all ? 'all' : 'largest', minFaceSize, maxPixels, name: file });
    } finally {
      await runtime?.close();
    }
    if (result.faces.length === 0) {
      io.stderr(`age-transform align: no face found in ${file}\n`);
      return EXIT.NO_FACE;
    }
    if (values.all) await mkdir(out, { recursive: true });
    const stem = basename(file, extname(file));
    for (const [i, face] of result.faces.entries()) {
      const path = values.all ? join(out, `${stem}-face${i + 1}.png`) : out;
      await writeFile(path, face.image);
      const { score, box, landmarks, quad, transform } = face;
      if (values.json) {
        io.stdout(`${JSON.stringify({ file, score, box, landmarks, quad, transform, out: path })}\n`);
      } else {
        const which = values.all ? `face ${i + 1} of ${result.faces.length}` : result.found > 1 ? `the largest of ${result.found} faces` : 'the face';
        io.stdout(`wrote ${path}: ${which}, ${size}x${size}, score ${score.toFixed(2)}, box ${Math.round(box.x)},${Math.round(box.y)} ${Math.round(box.width)}x${Math.round(box.height)}\n`);
      }
    }
    return EXIT.OK;
  },
};
