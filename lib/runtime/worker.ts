// The runtime's worker thread: owns every onnxruntime session (and, through op modules,
// face-api), so that inference never blocks the Node-RED thread. The main thread sends one
// request at a time; results go back as transferred buffers.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { describeRequest, type LoadResult, type Provider, type Reply, type Request, type WireError, type WorkerInit, type WorkerStats } from './protocol';
import type { ValueSignature } from '../contracts/contracts';
import type { TensorMap } from '../tensor';
import { sessionOptions } from './session-options';

type Op = (args: unknown) => Promise<unknown>;

const init = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error('lib/runtime/worker.js must run as a worker thread');

let provider: Provider = init.provider;
const sessions = new Map<string, ort.InferenceSession>();
const stats: WorkerStats = { sessionsOpen: 0, sessionsCreated: 0, runs: 0, runMs: 0 };
let ops: Map<string, Op> | undefined;

async function createSession(file: string): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(file, sessionOptions(provider, init.threads, init.deviceId));
  } catch (err) {
    if (provider !== 'cuda' || !init.allowCpuFallback) throw err;
    // CUDA libraries present but unusable (no driver, no device): fall back once, and say so.
    provider = 'cpu';
    post({ kind: 'warning', message: `CUDA could not start (${(err as Error).message.split('\n')[0]}); using CPU` });
    return ort.InferenceSession.create(file, sessionOptions(provider, init.threads, init.deviceId));
  }
}

async function session(key: string, file: string): Promise<ort.InferenceSession> {
  let found = sessions.get(key);
  if (!found) {
    found = await createSession(file);
    sessions.set(key, found);
    stats.sessionsCreated += 1;
    stats.sessionsOpen = sessions.size;
  }
  return found;
}

function signature(metadata: readonly ort.InferenceSession.ValueMetadata[]): ValueSignature[] {
  return metadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] }));
}

/** A batch-1 tensor repeated `count` times along the batch axis (built here, off the main thread). */
function repeated(t: TensorMap[string], count: number): TensorMap[string] {
  if (t.dims[0] !== 1 || !Number.isInteger(count) || count < 1) throw new RangeError(`Expected a batch-1 feed and a positive count to repeat but received dims [${t.dims.join(',')}] and ${count}`);
  const data = new Float32Array(count * t.data.length);
  for (let k = 0; k < count; k++) data.set(t.data, k * t.data.length);
  return { dims: [count, ...t.dims.slice(1)], data };
}

async function run(key: string, file: string, feeds: TensorMap, outputs?: string[], repeat: Record<string, number> = {}): Promise<TensorMap> {
  const s = await session(key, file);
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, fed] of Object.entries(feeds)) {
    const t = repeat[name] === undefined ? fed : repeated(fed, repeat[name]);
    inputs[name] = new ort.Tensor('float32', t.data, t.dims);
  }
  const started = performance.now();
  const results = outputs ? await s.run(inputs, outputs) : await s.run(inputs);
  stats.runMs += performance.now() - started;
  stats.runs += 1;
  const out: TensorMap = {};
  const taken = new Set<ArrayBufferLike>();
  for (const [name, t] of Object.entries(results)) {
    if (t.type !== 'float32') throw new TypeError(`output "${name}" of ${file} is ${t.type}, expected float32`);
    const data = t.data as Float32Array;
    // onnxruntime-node copies each output into an ArrayBuffer of its own: hand that over as it is.
    // A copy costs more than it seems: on fresh memory the page faults of a 50 MB batch at 1024
    // take 0.2 s here. Only a buffer shared with another output, or partly used, is copied.
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !taken.has(data.buffer);
    taken.add(data.buffer);
    out[name] = { dims: [...t.dims], data: whole ? data : new Float32Array(data) };
  }
  return out;
}

function loadOps(): Map<string, Op> {
  if (!ops) {
    ops = new Map();
    for (const file of init.opModules) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(file) as { ops?: Record<string, Op> };
      for (const [name, fn] of Object.entries(mod.ops ?? {})) ops.set(name, fn);
    }
  }
  return ops;
}

async function handle(request: Request): Promise<unknown> {
  switch (request.kind) {
    case 'load': {
      const s = await session(request.key, request.file);
      const result: LoadResult = { inputs: signature(s.inputMetadata), outputs: signature(s.outputMetadata), provider };
      return result;
    }
    case 'run':
      return run(request.key, request.file, request.feeds, request.outputs, request.repeat);
    case 'dispose': {
      const s = sessions.get(request.key);
      sessions.delete(request.key);
      stats.sessionsOpen = sessions.size;
      if (s) await s.release();
      return null;
    }
    case 'call': {
      const op = loadOps().get(request.op);
      if (!op) throw new Error(`unknown runtime operation "${request.op}"`);
      return op(request.args);
    }
    case 'stats':
      return { ...stats };
    case 'shutdown': {
      const open = [...sessions.values()];
      sessions.clear();
      stats.sessionsOpen = 0;
      await Promise.all(open.map((s) => s.release()));
      return open.length;
    }
  }
}

/** Buffers of typed arrays found in a result, to transfer rather than copy. */
function transferables(value: unknown, found: Set<ArrayBuffer> = new Set()): Set<ArrayBuffer> {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && value.byteLength === value.buffer.byteLength) found.add(value.buffer);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) transferables(v, found);
  }
  return found;
}

function post(reply: Reply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

/** An error as data for the main thread: class name, message, code (never a stack). */
function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) };
}

port.on('message', (request: Request) => {
  handle(request).then(
    (result) => {
      try {
        post({ kind: 'reply', id: request.id, ok: true, result }, [...transferables(result)]);
      } catch {
        // DataCloneError: the result cannot cross; the job fails, the worker lives on.
        post({ kind: 'reply', id: request.id, ok: false, error: { name: 'RuntimeError', code: 'ECLONE', message: `the result of ${describeRequest(request)} cannot be copied back from the worker` } });
      }
    },
    (err: unknown) => post({ kind: 'reply', id: request.id, ok: false, error: toWire(err) }),
  );
});
