import { DlogError } from "../errors.js";

/**
 * How long a log's reader ids are trusted before they are listed from storage again. Admits and
 * deletions keep them exact meanwhile; the expiry is a safety net (and frees the memory of logs
 * no one opens).
 */
const READERS_TTL_MS = 30_000;

export interface ReaderQuotaSource {
  /** The ids of the log's stored readers. */
  readers(log: string): Promise<string[]>;
}

/**
 * The bound on readers per log (--max-readers-per-log): a session open or SetPosition that
 * would create one more reader of a full log is refused (RESOURCE_EXHAUSTED, LIMIT_EXCEEDED).
 * Existing readers are never refused. A log's reader ids are listed once and then kept (the
 * admitted ones added, a deletion drops them), so an open costs no storage read here: before,
 * each open read its reader and, a second after the last count, counted the log again — two
 * LevelDB round trips per open that wait behind every session's reads under load. A refusal is
 * decided on a fresh listing only (the kept ids may include readers whose creation failed). The
 * bound may be passed by readers created concurrently with that listing.
 */
export class ReaderQuota {
  readonly #max: number;
  readonly #source: ReaderQuotaSource;
  readonly #readers = new Map<string, { ids: Promise<Set<string>>; at: number }>();

  constructor(max: number, source: ReaderQuotaSource) {
    this.#max = max;
    this.#source = source;
  }

  async admit(log: string, readerId: string): Promise<void> {
    let ids = await this.#kept(log);
    if (ids.has(readerId)) return;
    if (ids.size >= this.#max) {
      ids = await this.#list(log);
      if (ids.has(readerId)) return;
      if (ids.size >= this.#max) {
        throw new DlogError(
          "RESOURCE_EXHAUSTED",
          `log "${log}" has ${this.#max} readers, its limit (--max-readers-per-log); delete one before creating "${readerId}"`,
          {
            reason: "LIMIT_EXCEEDED",
            metadata: { log, limit: "max_readers_per_log", max: String(this.#max) },
          },
        );
      }
    }
    ids.add(readerId);
  }

  /** A reader (or the whole log) went away: list again next time. */
  forget(log: string): void {
    this.#readers.delete(log);
  }

  /** The kept ids of `log`, listed if there are none or they are too old; concurrent admits share one listing. */
  #kept(log: string): Promise<Set<string>> {
    const kept = this.#readers.get(log);
    return kept && Date.now() - kept.at <= READERS_TTL_MS ? kept.ids : this.#list(log);
  }

  #list(log: string): Promise<Set<string>> {
    const now = Date.now();
    for (const [name, kept] of this.#readers) if (now - kept.at > READERS_TTL_MS) this.#readers.delete(name);
    const ids = this.#source.readers(log).then((list) => new Set(list));
    const entry = { ids, at: now };
    this.#readers.set(log, entry);
    // A failed listing is not kept: the next admit lists again.
    ids.catch(() => {
      if (this.#readers.get(log) === entry) this.#readers.delete(log);
    });
    return ids;
  }
}

/** The quota's view of the reader store, over the session core's admin call. */
export function readerQuotaSource(sessions: { listReaders(log: string): Promise<Array<{ readerId: string }>> }): ReaderQuotaSource {
  return { readers: async (log) => (await sessions.listReaders(log)).map((info) => info.readerId) };
}
