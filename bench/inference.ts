// Per-stage time of the SAM inference path on the tiny models, for one age and for eleven,
// and the share spent outside onnxruntime (decode, tensors, worker transfer, encode).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgeRuntime } from '../lib/runtime/runtime';
import { SamModels } from '../lib/sam/models';
import { ENCODER_SIZE, encodeAges } from '../lib/sam/encode';
import { encodeRgb, imageToTensor } from '../lib/sam/image';
import { toRgb } from '../lib/sam/pixel-ops';
import { render } from '../lib/sam/render';
import { measureAges } from '../lib/sam/measure';
import { median, ROOT, withEventLoopDelay } from './util';

const STAGES = ['decode', 'encode', 'render', 'measure', 'png'] as const;
type Stage = (typeof STAGES)[number];

/** Runs the inference path `runs` times for 1 and 11 ages; medians per stage. */
export async function benchInference(runs = 7, threads = 2): Promise<object> {
  const runtime = AgeRuntime.create({ provider: 'cpu', threads, modelDir: join(ROOT, 'test', 'fixtures', 'models', 'tiny') });
  const models = new SamModels(runtime);
  const photo = readFileSync(join(ROOT, 'test', 'fixtures', 'astronaut.png'));
  const report: Record<string, object> = {};
  try {
    for (const ages of [[50], [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]]) {
      const samples: Record<Stage | 'total' | 'onnxruntime', number[]> = { decode: [], encode: [], render: [], measure: [], png: [], total: [], onnxruntime: [] };
      const { eventLoopP99Ms } = await withEventLoopDelay(async () => {
        for (let i = 0; i <= runs; i++) {
          const ortBefore = (await runtime.stats()).runMs;
          const times: Partial<Record<Stage, number>> = {};
          const time = async <T>(stage: Stage, work: () => Promise<T>): Promise<T> => {
            const started = performance.now();
            const result = await work();
            times[stage] = performance.now() - started;
            return result;
          };
          const image = await time('decode', () => imageToTensor(photo, ENCODER_SIZE));
          const latent = await time('encode', () => encodeAges(models, image, ages));
          const images = await time('render', () => render(models, latent.data, ages.length));
          await time('measure', () => measureAges(models, images, 'onnx'));
          // As age-generate does it: 8-bit conversion and resizing in the worker, PNG in libvips.
          await time('png', async () => Promise.all((await toRgb(runtime, images, 256, true)).map((face) => encodeRgb(face, 'png'))));
          const ortMs = (await runtime.stats()).runMs - ortBefore;
          if (i === 0) continue; // warm-up: sessions load on first use
          for (const stage of STAGES) samples[stage].push(times[stage] as number);
          samples.total.push(STAGES.reduce((sum, stage) => sum + (times[stage] as number), 0));
          samples.onnxruntime.push(ortMs);
        }
      });
      const medians = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Number(median(v).toFixed(2))]));
      report[`${ages.length} age${ages.length > 1 ? 's' : ''}`] = {
        ...medians,
        outsideOnnxruntimeShare: Number((1 - median(samples.onnxruntime) / median(samples.total)).toFixed(3)),
        eventLoopP99Ms,
      };
    }
  } finally {
    await models.release();
    await runtime.close();
  }
  return { runs, threads, unit: 'ms (median)', ...report };
}
