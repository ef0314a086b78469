import { basename } from 'node:path';
import type { TensorMap } from '../tensor';
import type { ValueSignature } from '../contracts/contracts';

/** Execution provider actually used by a worker. */
export type Provider = 'cpu' | 'cuda';

/** Settings the worker is started with. */
export interface WorkerInit {
  provider: Provider;
  /** Whether a failing CUDA session may fall back to CPU (true for `auto`). */
  allowCpuFallback: boolean;
  deviceId: number;
  threads: number;
  /** Modules whose exported `ops` records add worker operations. */
  opModules: string[];
}

/** Requests from the main thread to the worker. */
export type Request =
  | { kind: 'load'; id: number; key: string; file: string }
  | { kind: 'run'; id: number; key: string; file: string; feeds: TensorMap; outputs?: string[]; repeat?: Record<string, number> }
  | { kind: 'dispose'; id: number; key: string }
  | { kind: 'call'; id: number; op: string; args: unknown }
  | { kind: 'stats'; id: number }
  | { kind: 'shutdown'; id: number };

/** What loading a session reports. */
export interface LoadResult {
  inputs: ValueSignature[];
  outputs: ValueSignature[];
  provider: Provider;
}

/** Counters kept by the worker. */
export interface WorkerStats {
  sessionsOpen: number;
  sessionsCreated: number;
  runs: number;
  /** Milliseconds spent inside onnxruntime's session.run, all runs together. */
  runMs: number;
}

/** Replies and notices from the worker. */
export type Reply =
  | { kind: 'reply'; id: number; ok: true; result: unknown }
  | { kind: 'reply'; id: number; ok: false; error: WireError }
  | { kind: 'warning'; message: string };

/** An error as it crosses the thread: its class name, message and code; never its stack. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}

/** What a request is, for messages: `runtime operation "face.detect"`, `model run of aging.onnx`. */
export function describeRequest(request: Pick<Request, 'kind'> & { op?: string; file?: string }): string {
  if (request.kind === 'call') return `runtime operation "${request.op}"`;
  if (request.kind === 'run') return `model run of ${basename(request.file ?? '')}`;
  return `runtime request "${request.kind}"`;
}
