// Admission at the door (docs/ADMISSION.md): a message is admitted once, by the first node of
// a runtime it meets, and from then on none of its jobs is refused for capacity. The ticket
// travels on the message; the jobs of a ticket find it through AsyncLocalStorage, so no
// library function needs to pass it along, and the job queue serves older tickets first.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** What an admitted message carries (`msg._ageAdmission`): plain data, so it survives cloning. */
export interface Ticket {
  /** The admission (one per runtime instance) that issued it. */
  door: string;
  /** Order of admission: lower tickets are older and served first. */
  seq: number;
}

/** A refusal for capacity; `retryAfter` is in whole seconds (HTTP's Retry-After). */
export interface BusyError extends Error {
  code: 'EBUSY';
  retryAfter: number;
}

/** How long a ticket stays counted after its last node let go: the hop to the next node is asynchronous. */
const HOP_GRACE_MS = 200;
/** Bounds of the retry advice, seconds. */
const RETRY_MIN = 1;
const RETRY_MAX = 60;
/** Weight of the newest interval in the moving average of completions. */
const EWMA_WEIGHT = 0.2;

const current = new AsyncLocalStorage<{ admission: Admission; seq: number }>();

interface Held {
  holders: number;
  timer?: NodeJS.Timeout;
}

/**
 * Counts the messages a runtime has admitted and not yet finished, up to a limit.
 * `makeError` builds the runtime's own error class (kept in runtime.ts, which imports this).
 */
export class Admission {
  readonly door = randomUUID();
  private readonly held = new Map<number, Held>();
  private nextSeq = 1;
  private lastFinish = 0;
  private finishGapMs = 0;

  constructor(
    private readonly limit: () => number,
    private readonly makeError: (message: string, retryAfter: number) => BusyError,
  ) {}

  /** Messages admitted and still in some node (or hopping between two). */
  get inProgress(): number {
    return this.held.size;
  }

  /** A sequence number for work outside any message, in the same order as tickets. */
  nextOrder(): number {
    return this.nextSeq++;
  }

  /** Whole seconds after which a slot is likely free: the recent time between two finished messages. */
  retryAfter(): number {
    return Math.min(RETRY_MAX, Math.max(RETRY_MIN, Math.ceil(this.finishGapMs / 1000)));
  }

  /** The error for a refusal, with the retry advice. */
  busy(what: string): BusyError {
    const retryAfter = this.retryAfter();
    return this.makeError(`age runtime is busy (${what}); try again in ${retryAfter} s`, retryAfter);
  }

  /** Whether `value` is a ticket of this admission. */
  owns(value: unknown): value is Ticket {
    const t = value as Partial<Ticket> | null;
    return !!t && typeof t === 'object' && t.door === this.door && Number.isInteger(t.seq) && t.seq! > 0 && t.seq! < this.nextSeq;
  }

  /**
   * A node takes a message: continues its ticket when it has one of ours, else admits it.
   * @param ticket what the message carries (`msg._ageAdmission`), if anything
   * @throws {BusyError} EBUSY when a new message finds the limit reached
   */
  enter(ticket?: unknown): Ticket {
    const seq = this.owns(ticket) ? ticket.seq : this.admit();
    const held = this.held.get(seq) ?? { holders: 0 };
    clearTimeout(held.timer);
    held.timer = undefined;
    held.holders += 1;
    this.held.set(seq, held);
    return { door: this.door, seq };
  }

  private admit(): number {
    if (this.held.size >= this.limit()) throw this.busy(`${this.held.size} messages in progress`);
    return this.nextSeq++;
  }

  /** A node is done with a message; the ticket stops counting shortly after its last holder leaves. */
  leave(ticket: Ticket): void {
    const held = this.held.get(ticket.seq);
    if (!held) return;
    held.holders -= 1;
    if (held.holders > 0) return;
    held.timer = setTimeout(() => {
      if (this.held.get(ticket.seq) !== held || held.holders > 0) return;
      this.held.delete(ticket.seq);
      this.finished();
    }, HOP_GRACE_MS);
    held.timer.unref();
  }

  private finished(): void {
    const now = Date.now();
    if (this.lastFinish) {
      const gap = now - this.lastFinish;
      this.finishGapMs = this.finishGapMs ? (1 - EWMA_WEIGHT) * this.finishGapMs + EWMA_WEIGHT * gap : gap;
    }
    // Gaps are measured within a busy spell only: an idle hour says nothing about the next slot.
    this.lastFinish = this.held.size > 0 ? now : 0;
  }

  /** Runs `fn` as the work of `ticket`: the runtime jobs it starts carry the ticket. */
  run<T>(ticket: Ticket, fn: () => Promise<T>): Promise<T> {
    return current.run({ admission: this, seq: ticket.seq }, fn);
  }

  /** The ticket of the work running now, when it is one of ours. */
  currentSeq(): number | undefined {
    const store = current.getStore();
    return store?.admission === this ? store.seq : undefined;
  }

  /** Forgets every ticket (the runtime closed). */
  clear(): void {
    for (const held of this.held.values()) clearTimeout(held.timer);
    this.held.clear();
  }
}
