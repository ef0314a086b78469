import { EventEmitter } from 'node:events';
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { Worker } from 'node:worker_threads';
import { checkSignature, ContractError, findModel, isDemoFolder, PRECISION_CHOICES, type ModelEntry, type Precision, type PrecisionChoice, type ValueSignature } from '../contracts/contracts';
import type { TensorMap } from '../tensor';
import { Admission, type BusyError } from './admission';
import { describeRequest, type LoadResult, type Provider, type Reply, type Request, type WorkerInit, type WorkerStats, type WireError } from './protocol';

export type { Provider, WorkerStats } from './protocol';

/** Execution provider a user asks for: `auto` tries CUDA, then CPU. */
export type ProviderChoice = 'auto' | 'cuda' | 'cpu';
/** Every provider choice, in the order the editor and the CLI list them. */
export const PROVIDER_CHOICES: readonly ProviderChoice[] = ['auto', 'cuda', 'cpu'];
/** Most intra-op threads a session may be given. */
export const MAX_THREADS = 256;

/** Settings of one runtime (one worker thread). */
export interface RuntimeOptions {
  /** Folder of ONNX models with manifests (DESIGN.md, "Model contracts"). */
  modelDir: string;
  provider: ProviderChoice;
  /** GPU index for CUDA. */
  deviceId: number;
  /** Intra-op threads per session; 0: one per CPU the process may use (os.availableParallelism()). */
  threads: number;
  /** Model variants: `auto` takes `<name>.int8.onnx` where it exists and its report passed. */
  precision: PrecisionChoice;
  /**
   * Most messages admitted at once (docs/ADMISSION.md): a node refuses a new message with
   * EBUSY beyond it. Jobs outside any message (the CLI, the library) count one each instead.
   */
  queueLimit: number;
  /** Extra modules whose exported `ops` add worker operations (see `call`). */
  opModules: string[];
  /** Longest wait for the job in flight when closing, in ms; then the worker is ended (below Node-RED's 15 s). */
  closeTimeout: number;
  /**
   * Folders the model folder and every model file must resolve inside (symlinks and `..`
   * resolved). The nodes pass Node-RED's user directory and settings.js `ageModelRoots`;
   * empty allows any path (the CLI and the library read what their user names).
   */
  modelRoots: string[];
}

/** Every default of a runtime, in one place. */
export const RUNTIME_DEFAULTS: Readonly<RuntimeOptions> = {
  modelDir: 'models/sam-ffhq',
  provider: 'auto',
  deviceId: 0,
  threads: 0,
  precision: 'auto',
  queueLimit: 50,
  opModules: [],
  closeTimeout: 5000,
  modelRoots: [],
};

const CUDA_INSTALL_HINT = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm install';
const BUILTIN_OP_MODULES = [join(__dirname, '..', 'face', 'face-ops.js'), join(__dirname, '..', 'sam', 'pixel-ops.js')];
const MAX_RESTARTS_WITHOUT_REPLY = 3;

/** Error of the runtime itself; `code` tells which. */
export class RuntimeError extends Error {
  constructor(
    message: string,
    readonly code: 'EBUSY' | 'ECLONE' | 'ECRASHED' | 'ECLOSED' | 'ENOCUDA' | 'EWORKER',
    /** With EBUSY: whole seconds after which a retry is likely to be admitted. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** Classes an error may have in the worker and keeps on this side (by name). */
const ERROR_CLASSES: Record<string, new (message: string) => Error> = { Error, TypeError, RangeError, SyntaxError };

/** Rebuilds an error that crossed the thread as data: its class, name and code survive; no stack does. */
function reviveError(wire: WireError): Error {
  if (wire.name === 'RuntimeError') return new RuntimeError(wire.message, (wire.code ?? 'EWORKER') as RuntimeError['code']);
  if (wire.name === 'ContractError') return new ContractError(wire.message, wire.code as ContractError['code']);
  const err = new (ERROR_CLASSES[wire.name] ?? Error)(wire.message);
  if (!(wire.name in ERROR_CLASSES)) err.name = wire.name;
  if (wire.code !== undefined) Object.assign(err, { code: wire.code });
  return err;
}

/** Whether `path` is `root` or inside it. */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Real path of what exists, else the lexical path (a missing file is reported as missing later). */
function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

const CONFINE_HINT = 'allow its folder in settings.js ageModelRoots, or set ageConfineModels: false';

/**
 * Checks and completes runtime settings.
 * @throws {TypeError|RangeError} naming the setting and the value received
 * @example validateRuntimeOptions({ provider: 'cpu', threads: 2 })
 */
export function validateRuntimeOptions(options: Partial<RuntimeOptions>): RuntimeOptions {
  const merged: RuntimeOptions = { ...RUNTIME_DEFAULTS, ...stripUndefined(options) };
  const { modelDir, provider, deviceId, threads, precision, queueLimit, opModules, closeTimeout, modelRoots } = merged;
  const got = (value: unknown): string => `${JSON.stringify(value)} of type ${typeof value}`;
  if (typeof modelDir !== 'string' || modelDir === '') throw new TypeError(`Expected a folder path for modelDir but received ${got(modelDir)}`);
  if (!PROVIDER_CHOICES.includes(provider)) throw new RangeError(`Expected one of ${PROVIDER_CHOICES.join(', ')} for provider but received ${got(provider)}`);
  if (!Number.isInteger(deviceId) || deviceId < 0) throw new RangeError(`Expected a non-negative integer for deviceId but received ${got(deviceId)}`);
  if (!Number.isInteger(threads) || threads < 0 || threads > MAX_THREADS) throw new RangeError(`Expected an integer between 0 and ${MAX_THREADS} for threads but received ${got(threads)}`);
  if (!PRECISION_CHOICES.includes(precision)) throw new RangeError(`Expected one of ${PRECISION_CHOICES.join(', ')} for precision but received ${got(precision)}`);
  if (!Number.isInteger(queueLimit) || queueLimit < 1) throw new RangeError(`Expected a positive integer for queueLimit but received ${got(queueLimit)}`);
  if (!Array.isArray(opModules) || !opModules.every((m) => typeof m === 'string')) throw new TypeError(`Expected an array of module paths for opModules but received ${got(opModules)}`);
  if (!Number.isInteger(closeTimeout) || closeTimeout < 0 || closeTimeout > 14_000) throw new RangeError(`Expected an integer between 0 and 14000 (ms) for closeTimeout but received ${got(closeTimeout)}`);
  if (!Array.isArray(modelRoots) || !modelRoots.every((m) => typeof m === 'string' && m !== '')) throw new TypeError(`Expected an array of folder paths for modelRoots but received ${got(modelRoots)}`);
  return merged;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Whether onnxruntime-node was installed with its CUDA provider libraries. */
export function cudaLibrariesInstalled(): boolean {
  const binDir = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(join(binDir, 'libonnxruntime_providers_cuda.so'));
}

/**
 * Decides the provider to start with.
 * @param cudaInstalled whether the CUDA libraries are there (see `cudaLibrariesInstalled`)
 * @returns the provider and, when `auto` fell back to CPU, the warning to show once
 * @throws {RuntimeError} ENOCUDA when `cuda` is asked for and cannot be had
 */
export function resolveProvider(choice: ProviderChoice, cudaInstalled: boolean): { provider: Provider; warning?: string } {
  if (choice === 'cpu') return { provider: 'cpu' };
  if (cudaInstalled) return { provider: 'cuda' };
  if (choice === 'cuda') {
    throw new RuntimeError(`CUDA execution provider requested, but onnxruntime-node has no CUDA libraries; install them on a GPU machine with: ${CUDA_INSTALL_HINT}`, 'ENOCUDA');
  }
  return { provider: 'cpu', warning: `CUDA libraries not installed, using CPU (on a GPU machine: ${CUDA_INSTALL_HINT})` };
}

interface Job {
  request: DistributiveOmit<Request, 'id'>;
  transfer: ArrayBuffer[];
  counted: boolean;
  /** Queue order: the admission order of its message, so older messages' jobs go first. */
  order: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Options of one model run. */
export interface RunOptions {
  /** Output names to compute; all by default. */
  outputs?: string[];
  /** Hand the feeds' buffers to the worker instead of copying them (they become unusable here). */
  transfer?: boolean;
  /**
   * Feeds of batch 1 to repeat along the batch axis in the worker, by name: `{ image: 101 }`
   * sends one image and runs a batch of 101, so a big batch is never built on this thread.
   */
  repeat?: Record<string, number>;
}

/** A loaded model, shared by everything that opened the same file on this runtime. */
export interface ModelSession {
  readonly file: string;
  readonly inputs: ValueSignature[];
  readonly outputs: ValueSignature[];
  /** The contract entry, when opened by name from the model folder. */
  readonly entry?: ModelEntry;
  run(feeds: TensorMap, options?: RunOptions): Promise<TensorMap>;
  /** Gives this handle back; the session closes when the last handle is released. */
  release(): Promise<void>;
}

/**
 * One worker thread that owns onnxruntime sessions (and face-api), with a bounded job queue.
 * Emits `warning` (message) once per distinct warning, and `provider` when it changes.
 */
export class AgeRuntime extends EventEmitter {
  readonly options: RuntimeOptions;
  readonly warnings: string[] = [];
  private currentProvider: Provider;
  private worker!: Worker;
  private readonly queue: Job[] = [];
  private inFlight: Job | undefined;
  private nextId = 1;
  private restarts = 0;
  private restartsWithoutReply = 0;
  private workerGaveUp = false;
  private workerAlive = false;
  private closing: Promise<void> | undefined;
  private readonly refs = new Map<string, { count: number; load: Promise<LoadResult> }>();
  private readonly precisions = new Map<string, Precision>();
  /** Messages admitted by the nodes of this runtime (docs/ADMISSION.md). */
  readonly admission: Admission;

  private constructor(options: RuntimeOptions, provider: Provider) {
    super();
    this.options = options;
    this.currentProvider = provider;
    this.admission = new Admission(
      () => this.options.queueLimit,
      (message, retryAfter) => new RuntimeError(message, 'EBUSY', retryAfter) as RuntimeError & BusyError,
    );
  }

  /**
   * Starts a runtime.
   * @throws {TypeError|RangeError} for bad settings; {RuntimeError} ENOCUDA when CUDA is required but missing
   * @example const rt = AgeRuntime.create({ provider: 'cpu', threads: 2 }); ...; await rt.close();
   */
  static create(options: Partial<RuntimeOptions> = {}): AgeRuntime {
    const valid = validateRuntimeOptions(options);
    const { provider, warning } = resolveProvider(valid.provider, cudaLibrariesInstalled());
    const runtime = new AgeRuntime(valid, provider);
    if (warning) runtime.warn(warning);
    runtime.startWorker();
    return runtime;
  }

  /** The execution provider in use now. */
  get provider(): Provider {
    return this.currentProvider;
  }

  /** Jobs waiting or running. */
  get pending(): number {
    return this.queue.filter((j) => j.counted).length + (this.inFlight?.counted ? 1 : 0);
  }

  /** Whether close has been called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Whether the worker thread is alive. */
  get running(): boolean {
    return this.workerAlive;
  }

  /** Precision of every model opened by name so far, by file stem. */
  get modelPrecisions(): Record<string, Precision> {
    return Object.fromEntries(this.precisions);
  }

  /** What runs the models, for a status line: e.g. `cpu, int8`, `cpu, int8+fp32`; the precision once a model is open. */
  get inUse(): string {
    const used = new Set(this.precisions.values());
    if (used.size === 0) return this.currentProvider;
    return `${this.currentProvider}, ${used.size > 1 ? 'int8+fp32' : [...used][0]}`;
  }

  /** Folder the models are read from, made absolute. */
  get modelDir(): string {
    return resolve(this.options.modelDir);
  }

  /**
   * Whether the model folder holds the package's designed demo models (manifests say `demo`):
   * nodes then say "demo models" in their status. Read from the manifests on each call, so a
   * folder replaced by a real export is seen at once.
   */
  get demo(): boolean {
    return isDemoFolder(this.modelDir);
  }

  private warn(message: string): void {
    if (this.warnings.includes(message)) return;
    this.warnings.push(message);
    this.emit('warning', message);
  }

  private startWorker(): void {
    const init: WorkerInit = {
      provider: this.currentProvider,
      allowCpuFallback: this.options.provider === 'auto',
      deviceId: this.options.deviceId,
      threads: this.options.threads,
      opModules: [...BUILTIN_OP_MODULES.filter((m) => existsSync(m)), ...this.options.opModules.map((m) => resolve(m))],
    };
    const worker = new Worker(join(__dirname, 'worker.js'), { workerData: init });
    let lastError: Error | undefined;
    worker.on('message', (reply: Reply) => this.onReply(reply));
    worker.on('error', (err) => {
      lastError = err;
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.workerAlive = false;
      const reason = lastError ? lastError.message : `exit code ${code}`;
      if (!this.closing) return this.onCrash(reason);
      const job = this.inFlight;
      this.inFlight = undefined;
      job?.reject(new RuntimeError(`age runtime worker crashed (${reason}) while closing; job rejected`, 'ECRASHED'));
    });
    this.worker = worker;
    this.workerAlive = true;
  }

  private onReply(reply: Reply): void {
    if (reply.kind === 'warning') {
      if (/using CPU/.test(reply.message) && this.currentProvider !== 'cpu') {
        this.currentProvider = 'cpu';
        this.emit('provider', 'cpu');
      }
      this.warn(reply.message);
      return;
    }
    const job = this.inFlight;
    if (!job) return;
    this.inFlight = undefined;
    this.restartsWithoutReply = 0;
    if (reply.ok) job.resolve(reply.result);
    else job.reject(reviveError(reply.error));
    this.pump();
  }

  private onCrash(reason: string): void {
    const job = this.inFlight;
    this.inFlight = undefined;
    this.restarts += 1;
    this.restartsWithoutReply += 1;
    job?.reject(new RuntimeError(`age runtime worker crashed (${reason}); job rejected, worker restarted`, 'ECRASHED'));
    if (this.restartsWithoutReply > MAX_RESTARTS_WITHOUT_REPLY) {
      // A worker that dies before answering anything would crash forever: stop and say why.
      for (const waiting of this.queue.splice(0)) {
        waiting.reject(new RuntimeError(`age runtime worker keeps crashing (${reason}); job rejected`, 'EWORKER'));
      }
      this.workerGaveUp = true;
      this.closing = Promise.resolve();
      return;
    }
    this.startWorker();
    this.pump();
  }

  private enqueue<T>(request: DistributiveOmit<Request, 'id'>, transfer: ArrayBuffer[], counted: boolean): Promise<T> {
    if (this.closing) return Promise.reject(new RuntimeError('age runtime is closed; job rejected', 'ECLOSED'));
    const ticket = this.admission.currentSeq();
    // An admitted message's jobs are never refused: it was counted once, at the door.
    if (counted && ticket === undefined && this.pending >= this.options.queueLimit) {
      return Promise.reject(this.admission.busy(`${this.options.queueLimit} jobs waiting`));
    }
    return new Promise<T>((resolveJob, rejectJob) => {
      const job: Job = { request, transfer, counted, order: ticket ?? this.admission.nextOrder(), resolve: resolveJob as (v: unknown) => void, reject: rejectJob };
      // Stable insert by order: FIFO among equals, older messages before newer ones.
      let at = this.queue.length;
      while (at > 0 && this.queue[at - 1].order > job.order) at--;
      this.queue.splice(at, 0, job);
      this.pump();
    });
  }

  private pump(): void {
    while (!this.inFlight) {
      const job = this.queue.shift();
      if (!job) return;
      this.inFlight = job;
      try {
        this.worker.postMessage({ ...job.request, id: this.nextId++ }, job.transfer);
      } catch {
        // DataCloneError and the like: this job cannot be sent; the next one may.
        this.inFlight = undefined;
        job.reject(new RuntimeError(`the arguments of ${describeRequest(job.request)} cannot be copied to the worker (functions, symbols and class instances cannot be sent)`, 'ECLONE'));
      }
    }
  }

  /**
   * Runs an operation inside the worker (face detection and the like: see the op modules).
   * @param op operation name, e.g. `'face.detect'`
   * @param transfer buffers inside args to move rather than copy
   * @throws {RuntimeError} EQUEUEFULL, ECLOSED, ECRASHED; the op's own error otherwise
   */
  call<T>(op: string, args: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
    return this.enqueue<T>({ kind: 'call', op, args }, transfer, true);
  }

  /**
   * Opens an ONNX file as a shared session: every opener of the same file shares one session.
   * @throws {ContractError} ECORRUPT when onnxruntime cannot load the file
   */
  async acquire(file: string): Promise<ModelSession> {
    this.confine(file);
    const key = resolve(file);
    let ref = this.refs.get(key);
    if (!ref) {
      const load = this.enqueue<LoadResult>({ kind: 'load', key, file: key }, [], false);
      ref = { count: 0, load };
      this.refs.set(key, ref);
      load.catch(() => this.refs.get(key) === ref && this.refs.delete(key));
    }
    ref.count += 1;
    let loaded: LoadResult;
    try {
      loaded = await ref.load;
    } catch (err) {
      ref.count -= 1;
      if (err instanceof RuntimeError) throw err;
      throw new ContractError(`cannot load model ${key}: ${(err as Error).message.split('\n')[0]}`, 'ECORRUPT');
    }
    if (loaded.provider !== this.currentProvider) this.currentProvider = loaded.provider;
    return this.handle(key, loaded, ref);
  }

  private handle(key: string, loaded: LoadResult, ref: { count: number }, entry?: ModelEntry): ModelSession {
    let released = false;
    const run = (feeds: TensorMap, options: RunOptions = {}): Promise<TensorMap> => {
      if (released) return Promise.reject(new RuntimeError(`model ${key} was released; open it again to run it`, 'ECLOSED'));
      const transfer = options.transfer ? Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer) : [];
      return this.enqueue<TensorMap>({ kind: 'run', key, file: key, feeds, outputs: options.outputs, repeat: options.repeat }, transfer, true);
    };
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      ref.count -= 1;
      if (ref.count === 0 && this.refs.get(key) === ref) {
        this.refs.delete(key);
        if (!this.closing) await this.enqueue({ kind: 'dispose', key }, [], false);
      }
    };
    return { file: key, inputs: loaded.inputs, outputs: loaded.outputs, entry, run, release };
  }

  /**
   * Opens a model of the model folder by file stem and checks it against its contract.
   * @param name e.g. `'aging'` or `'generator-256'`
   * @param required when false, a missing file gives `undefined` instead of an error
   * @throws {ContractError} ENOFOLDER, ENOFILE, EMANIFEST, ECORRUPT, ESIGNATURE
   */
  async openModel(name: string, required?: true): Promise<ModelSession>;
  async openModel(name: string, required: false): Promise<ModelSession | undefined>;
  async openModel(name: string, required = true): Promise<ModelSession | undefined> {
    this.confineFolder();
    const entry = findModel(this.modelDir, name, required, this.options.precision);
    if (!entry) return undefined;
    const session = await this.acquire(entry.file);
    try {
      checkSignature(entry, session.inputs, session.outputs);
    } catch (err) {
      await session.release();
      throw err;
    }
    this.precisions.set(name, entry.precision);
    return { ...session, entry };
  }

  /**
   * Checks that the model folder lies inside the allowed roots. The check is lexical (`..`
   * resolved): a folder the deployer symlinked into the user directory stays allowed.
   * @throws {ContractError} ECONFINED
   */
  private confineFolder(): void {
    const roots = this.options.modelRoots;
    if (roots.length === 0) return;
    const dir = this.modelDir;
    if (!roots.some((root) => inside(resolve(root), dir) || inside(real(root), real(dir)))) {
      throw new ContractError(
        'model folder lies outside the allowed model folders (the Node-RED user directory and settings.js ageModelRoots); move it there, allow it in ageModelRoots, or set ageConfineModels: false',
        'ECONFINED',
      );
    }
  }

  /**
   * Checks that a model file's real path (symlinks resolved) stays inside the model folder's
   * real path or a root's: a model file linked to /etc/passwd is never opened.
   * @throws {ContractError} ECONFINED
   */
  private confine(file: string): void {
    const roots = this.options.modelRoots;
    if (roots.length === 0) return;
    this.confineFolder();
    const target = real(file);
    if (![this.modelDir, ...roots].some((root) => inside(real(root), target))) {
      throw new ContractError(`model file ${basename(file)} resolves outside the allowed model folders; ${CONFINE_HINT}`, 'ECONFINED');
    }
  }

  /** Counters of the worker, plus the runtime's own. */
  async stats(): Promise<WorkerStats & { restarts: number; pending: number; provider: Provider }> {
    const worker = await this.enqueue<WorkerStats>({ kind: 'stats' }, [], false);
    return { ...worker, restarts: this.restarts, pending: this.pending, provider: this.currentProvider };
  }

  /**
   * Waits for the job in flight (at most `closeTimeout` ms, then rejects it), rejects jobs not
   * yet started, releases every session and ends the worker. Safe to call more than once.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const queued = this.queue.splice(0);
    for (const job of queued) job.reject(new RuntimeError('age runtime is closed; job rejected', 'ECLOSED'));
    this.admission.clear();
    const deadline = Date.now() + this.options.closeTimeout;
    const timeLeft = (): Promise<'late'> => new Promise((done) => setTimeout(() => done('late'), Math.max(0, deadline - Date.now())).unref());
    const settled = (job: Job): Promise<void> =>
      new Promise<void>((done) => {
        const { resolve: ok, reject: fail } = job;
        job.resolve = (v) => { ok(v); done(); };
        job.reject = (e) => { fail(e); done(); };
      });
    this.closing = (async () => {
      let late = false;
      const inFlight = this.inFlight;
      if (inFlight) late = (await Promise.race([settled(inFlight), timeLeft()])) === 'late';
      this.refs.clear();
      if (!this.workerGaveUp && !late) {
        // Release the sessions in the worker before ending it, so native memory is freed now.
        const shutdown: Job = { request: { kind: 'shutdown' }, transfer: [], counted: false, order: 0, resolve: () => undefined, reject: () => undefined };
        this.queue.push(shutdown);
        this.pump();
        late = (await Promise.race([settled(shutdown), timeLeft()])) === 'late';
      }
      const stuck = this.inFlight;
      this.inFlight = undefined;
      stuck?.reject(new RuntimeError('age runtime is closed; the job in flight did not finish in time and was stopped', 'ECLOSED'));
      // terminate() resolves once native code returns to JS: never wait for it past the deadline.
      await Promise.race([this.worker.terminate(), late ? Promise.resolve() : timeLeft()]);
      this.workerAlive = false;
    })();
    return this.closing;
  }
}
