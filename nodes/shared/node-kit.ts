// What every age transform node does the same way: hold a runtime lease, show status,
// turn failures into done(err) with a red status, and release everything on close.
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { connectRuntime, type RuntimeLease } from './runtime-client';
import { SamModels } from '../../lib/sam/models';
import type { Ticket } from '../../lib/runtime/admission';
import { RUNTIME_DEFAULTS } from '../../lib/runtime/runtime';

/** Where a message carries its admission ticket (docs/ADMISSION.md); `_` marks it internal, as Node-RED's own. */
const TICKET = '_ageAdmission';

/** Failures that only mean the node or its runtime is closing: they end a message quietly. */
function isShutdown(err: unknown): boolean {
  const { name, code } = (err ?? {}) as { name?: string; code?: string };
  return name === 'AbortError' || code === 'ECLOSED';
}

/** Longest status text before it is cut (the editor shows one short line). */
const STATUS_MAX = 60;

/** Sets a red status with the error's first line, shortened. */
export function statusError(node: Node, err: unknown): void {
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  node.status({ fill: 'red', shape: 'ring', text: text.length > STATUS_MAX ? `${text.slice(0, STATUS_MAX - 1)}…` : text });
}

/**
 * Reports settings a node cannot start with: a red status (the editor shows it under the
 * node) and the specific message in the log. The node then stays idle.
 */
export function settingsError(node: Node, statusText: string, err: unknown): void {
  node.status({ fill: 'red', shape: 'ring', text: statusText });
  node.error(err instanceof Error ? err.message : String(err));
}

/** Sets a blue "working" status. */
export function statusBusy(node: Node, text: string): void {
  node.status({ fill: 'blue', shape: 'dot', text });
}

/**
 * Sets a green "done" status; with the engine of a runtime on the designed demo models, the
 * text says so ("... · demo models"), so nobody mistakes their pictures for SAM's.
 */
export function statusDone(node: Node, text: string, engine?: Engine): void {
  node.status({ fill: 'green', shape: 'dot', text: engine?.lease.runtime.demo ? `${text} · ${engine.demoNote}` : text });
}

/**
 * Checks that msg.payload is a non-empty image Buffer.
 * @throws {TypeError} naming what was received instead
 */
export function payloadImage(msg: NodeMessage, what = 'an image Buffer'): Buffer {
  const payload = msg.payload;
  if (!Buffer.isBuffer(payload)) {
    const got = payload === null ? 'null' : Array.isArray(payload) ? 'an array' : typeof payload;
    throw new TypeError(`Expected msg.payload to be ${what} but received ${got}`);
  }
  if (payload.length === 0) throw new TypeError(`Expected msg.payload to be ${what} but received an empty Buffer`);
  return payload;
}

/** A node's runtime and the SAM models it opened, released together on close. */
export interface Engine {
  lease: RuntimeLease;
  models: SamModels;
  /** The translated "demo models" note of the status text. */
  demoNote: string;
}

/**
 * Wires a node's input to an async handler with the project's habits: one runtime lease per
 * node; admission at the door (a new message is refused with EBUSY, before any decoding, when
 * the runtime has its limit of messages in progress; an admitted one always continues, and
 * `msg.retryAfter` tells an HTTP flow what to answer); errors through done(err) with a red
 * status; on close: abort, wait for running work (bounded), release the models and the lease.
 * Work that ends because the node or runtime closes ends quietly: done() without an error.
 * @param handler does the work; sends results itself with `send`; its rejection becomes done(err)
 * @returns nothing; the lease is taken at once, so a config error shows before any message
 */
export function serveInput(
  RED: NodeAPI,
  node: Node,
  runtimeId: string | undefined,
  handler: (msg: NodeMessage, send: (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void, engine: Engine, signal: AbortSignal) => Promise<void>,
): void {
  let engine: Engine | undefined;
  let startError: Error | undefined;
  try {
    const lease = connectRuntime(RED, node, runtimeId);
    engine = { lease, models: new SamModels(lease.runtime), demoNote: RED._(`${node.type}.status.demo`) };
  } catch (err) {
    startError = err as Error;
    statusError(node, err);
    node.error(startError.message);
  }
  const running = new Set<Promise<void>>();
  const abort = new AbortController();

  node.on('input', (msg, send, done) => {
    if (!engine) {
      statusError(node, startError);
      done(startError);
      return;
    }
    const { admission } = engine.lease.runtime;
    const carried = msg as NodeMessage & { [TICKET]?: unknown; retryAfter?: number };
    let ticket: Ticket;
    try {
      ticket = admission.enter(carried[TICKET]);
    } catch (err) {
      carried.retryAfter = (err as { retryAfter?: number }).retryAfter;
      statusError(node, err);
      done(err as Error);
      return;
    }
    carried[TICKET] = ticket;
    const work = admission.run(ticket, () => handler(msg, send, engine!, abort.signal)).then(
      () => done(),
      (err: Error) => {
        if (isShutdown(err)) {
          node.status({});
          done();
          return;
        }
        statusError(node, err);
        done(err);
      },
    );
    running.add(work);
    work.finally(() => {
      running.delete(work);
      admission.leave(ticket);
    });
  });

  node.on('close', (_removed: boolean, done: () => void) => {
    abort.abort();
    const held = engine;
    engine = undefined;
    startError = new Error('node closed');
    // Bounded: Node-RED gives a closing node 15 s; the runtime's own close is bounded the same way.
    const waited = new Promise<void>((resolve) => setTimeout(resolve, RUNTIME_DEFAULTS.closeTimeout).unref());
    Promise.race([Promise.allSettled([...running]), waited])
      .then(async () => {
        if (held) {
          await held.models.release();
          await held.lease.release();
        }
      })
      .then(done, done);
  });
}
