// The onnxruntime session options every runtime session is created with: one place, so the
// worker and the full-size benchmark (bench/full.ts) cannot drift apart.
import { availableParallelism } from 'node:os';
import type * as ort from 'onnxruntime-node';
import type { Provider } from './protocol';

/**
 * Intra-op threads for a setting of 0: one per CPU this process may use. onnxruntime's own
 * choice is its count of physical cores, which on some virtual machines is 1 of 2: the
 * encoders then ran 1.8x slower (BENCHMARKS.md, "Warm-up, threads and the kiosk example's settings").
 */
export function defaultThreads(): number {
  return availableParallelism();
}

/**
 * Session options of the runtime's worker.
 * @param provider execution provider to use (CUDA keeps CPU as the fallback for unsupported nodes)
 * @param threads intra-op threads; 0 for {@link defaultThreads}
 * @param deviceId GPU index for CUDA
 */
export function sessionOptions(provider: Provider, threads: number, deviceId = 0): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId } as ort.InferenceSession.ExecutionProviderConfig, 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
  };
  options.intraOpNumThreads = threads > 0 ? threads : defaultThreads();
  // One graph node at a time: the intra-op threads already fill the cores.
  options.interOpNumThreads = 1;
  return options;
}
