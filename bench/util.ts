import { monitorEventLoopDelay } from 'node:perf_hooks';
import { resolve } from 'node:path';

/** The project root (benchmarks run from dist/bench). */
export const ROOT = resolve(__dirname, '..', '..');

/** Median of a list of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs work while watching the main thread's event-loop delay; returns its p99 in ms. */
export async function withEventLoopDelay<T>(work: () => Promise<T>): Promise<{ result: T; eventLoopP99Ms: number }> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  try {
    const result = await work();
    return { result, eventLoopP99Ms: Number((delay.percentile(99) / 1e6).toFixed(1)) };
  } finally {
    delay.disable();
  }
}
