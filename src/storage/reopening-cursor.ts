import { type EntryCursor, type Storage, type StoredEntry, storageError } from "./storage.js";

/** What a reopening cursor needs of its store (`ResilientStorage`). */
export interface ReopenableStore {
  /** The open database and its generation (bumped on every reopen); throws while none is open. */
  current(): { inner: Storage; generation: number };
  /** After failed read `attempt`: waits before the next one, or throws once the attempts are spent or the store closed. */
  retryRead(attempt: number, error: unknown): Promise<void>;
}

/** A cursor that survives a reopen: it opens a new iterator after the last entry it returned. */
export class ReopeningCursor implements EntryCursor {
  private readonly storage: ReopenableStore;
  private readonly logId: number;
  private segment: bigint;
  private entry: bigint;
  private cursor: { inner: EntryCursor; generation: number } | undefined;
  private closed = false;

  constructor(storage: ReopenableStore, logId: number, segment: bigint, entry: bigint) {
    this.storage = storage;
    this.logId = logId;
    this.segment = segment;
    this.entry = entry;
  }

  async next(max: number): Promise<StoredEntry[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        const rows = await this.open().next(max);
        const last = rows[rows.length - 1];
        if (last) {
          this.segment = last.segment;
          this.entry = last.entry + 1n;
        }
        return rows;
      } catch (error) {
        await this.drop();
        if (this.closed) throw storageError("storage read failed", error);
        await this.storage.retryRead(attempt, error);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.drop();
  }

  private open(): EntryCursor {
    const { inner, generation } = this.storage.current();
    if (this.cursor?.generation !== generation) {
      void this.cursor?.inner.close().catch(() => undefined);
      this.cursor = { inner: inner.openCursor(this.logId, this.segment, this.entry), generation };
    }
    return this.cursor.inner;
  }

  private async drop(): Promise<void> {
    const cursor = this.cursor;
    this.cursor = undefined;
    await cursor?.inner.close().catch(() => undefined);
  }
}
