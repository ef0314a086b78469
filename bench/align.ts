// Benchmark of face alignment as the face-align node runs it: decode and warp on this thread,
// detection and landmarks in an AgeRuntime worker. Reports the median time per image (and per
// stage) for the portrait and a 1920x1398 group photo, and this thread's event-loop delay
// while it ran: what the Node-RED editor and other flows would feel.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { alignImage, type AlignMode } from '../lib/align/align';
import { runtimeDetector } from '../lib/face/detector';
import { AgeRuntime } from '../lib/runtime/runtime';
import { median, ROOT } from './util';

const RUNS = 5;

const round = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * Aligns each test image RUNS times (after one warm-up run that loads face-api and its nets).
 * @returns per image: faces, median total and per-stage milliseconds, every run, and the
 *   event-loop delay (mean, p99, max in ms) of this thread during the timed runs
 * @example console.log(await benchAlign());
 */
export async function benchAlign(): Promise<object> {
  const images: Array<{ name: string; file: string; mode: AlignMode }> = [
    { name: 'portrait 512x512', file: join(ROOT, 'test', 'fixtures', 'astronaut.png'), mode: 'largest' },
    { name: 'group photo 1920x1398, all faces', file: join(ROOT, '..', 'shared', 'testdata', 'photos', 'group5.jpg'), mode: 'all' },
  ];
  const runtime = AgeRuntime.create({ provider: 'cpu' });
  const detect = runtimeDetector(runtime, { detector: 'ssd' });
  const results: Record<string, object> = {};
  try {
    for (const { name, file, mode } of images) {
      if (!existsSync(file)) {
        results[name] = { skipped: `${file} not found (shared test data)` };
        continue;
      }
      const input = readFileSync(file);
      // Enabled before the warm-up and reset after it: a histogram enabled right before the
      // timed runs reports the time it was off as its first delay.
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      await alignImage(input, detect, { mode, size: 256 });
      delay.reset();
      const runs: Array<{ total: number; decode: number; detect: number; align: number; faces: number }> = [];
      for (let i = 0; i < RUNS; i++) {
        const { timings, faces } = await alignImage(input, detect, { mode, size: 256 });
        runs.push({ ...timings, faces: faces.length });
      }
      delay.disable();
      results[name] = {
        faces: runs[0]!.faces,
        medianMs: round(median(runs.map((r) => r.total))),
        stagesMedianMs: {
          decode: round(median(runs.map((r) => r.decode))),
          detectAndLandmarks: round(median(runs.map((r) => r.detect))),
          warpAndEncode: round(median(runs.map((r) => r.align))),
        },
        runsMs: runs.map((r) => round(r.total)),
        eventLoopDelayMs: { mean: round(delay.mean / 1e6), p99: round(delay.percentile(99) / 1e6), max: round(delay.max / 1e6) },
      };
    }
  } finally {
    await runtime.close();
  }
  return {
    runs: RUNS,
    size: 256,
    detector: 'ssd (face-api WASM, in the runtime worker)',
    images: results,
  };
}

if (require.main === module) {
  benchAlign().then((r) => console.log(JSON.stringify(r, null, 2)));
}
