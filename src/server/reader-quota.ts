import { DlogError, isDlogError } from "../errors.js";

/** How long a log's reader count is trusted before it is counted again from storage. */
const COUNT_TTL_MS = 1_000;

export interface ReaderQuotaSource {
  /** Whether the reader has a stored position. */
  exists(log: string, readerId: string): Promise<boolean>;
  /** How many readers the log has. */
  count(log: string): Promise<number>;
}

/**
 * The bound on readers per log (--max-readers-per-log): a session open or SetPosition that
 * would create one more reader of a full log is refused (RESOURCE_EXHAUSTED, LIMIT_EXCEEDED).
 * Existing readers are never refused. Counts are cached a second per log (and counted up as
 * readers are admitted), so a flood of new readers costs one storage scan a second, not one
 * each; the bound may be passed by the readers created concurrently within that second.
 */
export class ReaderQuota {
  readonly #max: number;
  readonly #source: ReaderQuotaSource;
  readonly #counts = new Map<string, { count: number; at: number }>();

  constructor(max: number, source: ReaderQuotaSource) {
    this.#max = max;
    this.#source = source;
  }

  async admit(log: string, readerId: string): Promise<void> {
    if (await this.#source.exists(log, readerId)) return;
    const now = Date.now();
    let cached = this.#counts.get(log);
    if (!cached || now - cached.at > COUNT_TTL_MS) {
      cached = { count: await this.#source.count(log), at: now };
      this.#counts.set(log, cached);
      this.#prune(now);
    }
    if (cached.count >= this.#max) {
      throw new DlogError("RESOURCE_EXHAUSTED", `log "${log}" has ${this.#max} readers, its limit (--max-readers-per-log); delete one before creating "${readerId}"`, {
        reason: "LIMIT_EXCEEDED",
        metadata: { log, limit: "max_readers_per_log", max: String(this.#max) },
      });
    }
    cached.count++;
  }

  /** A reader (or the whole log) went away: count again next time. */
  forget(log: string): void {
    this.#counts.delete(log);
  }

  #prune(now: number): void {
    for (const [log, cached] of this.#counts) if (now - cached.at > COUNT_TTL_MS) this.#counts.delete(log);
  }
}

/** The quota's view of the reader store, over the session core's admin calls. */
export function readerQuotaSource(sessions: {
  getPosition(log: string, readerId: string): Promise<unknown>;
  listReaders(log: string): Promise<unknown[]>;
}): ReaderQuotaSource {
  return {
    exists: async (log, readerId) => {
      try {
        await sessions.getPosition(log, readerId);
        return true;
      } catch (error) {
        if (isDlogError(error, "NOT_FOUND") && error.reason === "READER_NOT_FOUND") return false;
        throw error;
      }
    },
    count: async (log) => (await sessions.listReaders(log)).length,
  };
}
