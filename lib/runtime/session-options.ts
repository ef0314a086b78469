// The onnxruntime session options every runtime session is created with: one place, so the
// worker and the full-size benchmark (bench/full.ts) cannot drift apart.
import type * as ort from 'onnxruntime-node';
import type { Provider } from './protocol';

/**
 * Session options of the runtime's worker.
 * @param provider execution provider to use (CUDA keeps CPU as the fallback for unsupported nodes)
 * @param threads intra-op threads; 0 lets onnxruntime choose
 * @param deviceId GPU index for CUDA
 */
export function sessionOptions(provider: Provider, threads: number, deviceId = 0): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId } as ort.InferenceSession.ExecutionProviderConfig, 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
  };
  if (threads > 0) {
    options.intraOpNumThreads = threads;
    // One graph node at a time: the intra-op threads already fill the cores.
    options.interOpNumThreads = 1;
  }
  return options;
}
