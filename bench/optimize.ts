// Benchmark of path optimization: an 11-age lifespan (0:100:10) of the astronaut photo on the
// tiny designed models, default settings. Reports the work done (evaluations, seconds, and
// seconds per evaluation, the number that scales to real models) and what it bought (age MAE,
// identity and roughness before and after).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AgeRuntime } from '../lib/runtime/runtime';
import { SamModels } from '../lib/sam/models';
import { ENCODER_SIZE } from '../lib/sam/encode';
import { imageToTensor } from '../lib/sam/image';
import { optimizePath } from '../lib/optimize/optimize';

/** The project root (this file runs from dist/bench). */
const ROOT = resolve(__dirname, '..', '..');

/**
 * Runs the 11-age path once and reports it.
 * @returns { ages, budget, evaluations, seconds, secondsPerEvaluation, maeBefore, maeAfter, identityBefore, identityAfter, smoothnessBefore, smoothnessAfter }
 * @example console.log(await benchOptimize());
 */
export async function benchOptimize(): Promise<object> {
  const runtime = AgeRuntime.create({ provider: 'cpu', modelDir: join(ROOT, 'test', 'fixtures', 'models', 'tiny') });
  const models = new SamModels(runtime);
  try {
    const image = await imageToTensor(readFileSync(join(ROOT, 'test', 'fixtures', 'astronaut.png')), ENCODER_SIZE);
    const { report } = await optimizePath(models, image, { ages: '0:100:10', seed: 1 });
    const { maeBefore, maeAfter, identityBefore, identityAfter, smoothnessBefore, smoothnessAfter, evaluations, budget, seconds } = report;
    return {
      models: 'tiny',
      ages: report.frames.length,
      budget,
      evaluations,
      seconds,
      secondsPerEvaluation: Math.round((seconds / evaluations) * 1e5) / 1e5,
      maeBefore,
      maeAfter,
      identityBefore,
      identityAfter,
      smoothnessBefore,
      smoothnessAfter,
    };
  } finally {
    await models.release();
    await runtime.close();
  }
}

if (require.main === module) {
  benchOptimize().then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
