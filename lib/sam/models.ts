import type { AgeRuntime, ModelSession } from '../runtime/runtime';

/**
 * The SAM models of one runtime's model folder, opened on first use and shared through the
 * runtime's session cache. Each user (a node, the CLI) holds one and releases it when done.
 */
export class SamModels {
  private readonly opened = new Map<string, Promise<ModelSession | undefined>>();

  constructor(readonly runtime: AgeRuntime) {}

  private remember(name: string, opening: Promise<ModelSession | undefined>): Promise<ModelSession | undefined> {
    this.opened.set(name, opening);
    // A failed open is not kept: the user may fix the folder and try again.
    opening.catch(() => this.opened.get(name) === opening && this.opened.delete(name));
    return opening;
  }

  /** A model that may be absent (e.g. `generator-256`, `age`, `identity`). */
  optional(name: string): Promise<ModelSession | undefined> {
    return this.opened.get(name) ?? this.remember(name, this.runtime.openModel(name, false));
  }

  /**
   * A model the caller cannot do without.
   * @throws {ContractError} naming the missing or mismatched file and the export command
   */
  async require(name: string): Promise<ModelSession> {
    const found = await this.optional(name);
    if (found) return found;
    return (await this.remember(name, this.runtime.openModel(name))) as ModelSession;
  }

  /** Releases every session this holder opened. */
  async release(): Promise<void> {
    const all = [...this.opened.values()];
    this.opened.clear();
    const sessions = await Promise.allSettled(all);
    await Promise.all(sessions.map((s) => (s.status === 'fulfilled' && s.value ? s.value.release() : undefined)));
  }
}
