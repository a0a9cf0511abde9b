import { DlogError } from "../errors.js";
import { PositionsFencedError, type Storage } from "../storage/storage.js";
import { type Flusher, type FlusherCounters, type PositionWrite, createFlusher } from "./flusher.js";
import { type ReaderPosition, decodePosition, encodePosition } from "./position-codec.js";

export interface PositionStoreOptions {
  storage: Storage;
  /** `--ack-flush-interval`: the longest a changed position waits before it is written. */
  flushIntervalMs: number;
  /** `--ack-flush-max`: acks since the last write that start one at once. */
  flushMax: number;
  /** A failed write (its positions stay dirty and are retried). */
  onError?(error: unknown): void;
  /** After each write: the readers it wrote (deletions included) and how long it took. For metrics. */
  onWritten?: ((written: readonly WrittenPosition[], durationMs: number) => void) | undefined;
}

/** A position a write made durable; `position` null: the reader was deleted. */
export interface WrittenPosition {
  logId: number;
  readerId: string;
  position: ReaderPosition | null;
}

/** Told after each write, once per position it made durable. */
export type DurableListener = (logId: number, readerId: string, position: ReaderPosition) => void;

/**
 * Told when another gateway took the reader over (`error`) or deleted it ("deleted"): its sessions
 * here with an epoch up to `upToEpoch` are fenced.
 */
export type FencedListener = (logId: number, readerId: string, upToEpoch: bigint, why: PositionsFencedError | "deleted") => void;

/** Every epoch: a reader deleted elsewhere fences every session of it here (epochs are u64). */
const ALL_EPOCHS = 2n ** 64n - 1n;

/**
 * A write whose CAS keeps failing against writes elsewhere is tried this often: a session's write per
 * flush, a claim (an open, SetPosition) per call.
 */
export const CONFLICT_ATTEMPTS = 4;

/**
 * Reader positions on disk, and the batching that gets them there (SPEC §3 "Batching into LevelDB").
 *
 * Whoever changes a reader's position calls `changed` with a snapshot function; nothing is written
 * then. The flusher asks every changed reader for its latest state at flush time and writes them all
 * in one fsynced LevelDB batch, every `flushIntervalMs` or after `flushMax` acks, whichever first,
 * or when a caller needs it now (`flush`). After each write the listener registered with `onDurable`
 * hears which positions are on disk — sessions turn that into status frames. Values are the 25-byte
 * DLSN of the floor plus an extra record (`position-codec.ts`); callers only see `ReaderPosition`.
 *
 * @example
 * const positions = new PositionStore({ storage, flushIntervalMs: 100, flushMax: 1000 });
 * positions.onDurable((logId, readerId, position) => sessionOf(logId, readerId)?.durableChanged(position));
 * positions.changed(logId, "r", () => session.position(), acked); // many acks, one write per interval
 * await positions.flush(); // on drain: everything changed so far is on disk
 */
export class PositionStore {
  private readonly storage: Storage;
  private readonly flusher: Flusher<Snapshot>;
  private listener: DurableListener | undefined;
  private fencedListener: FencedListener | undefined;
  /** Keys the write in flight did not write (fenced, or a claim lost): not durable, and never retried. */
  private unwrittenKeys = new Set<string>();
  /** Claims the last write did not write (see `claim`), until their caller hears it. */
  private readonly lostClaims = new Set<string>();
  /**
   * Per reader taken over elsewhere, the highest epoch fenced: a write of a session up to it is dropped.
   * Needed only until the fenced sessions' last writes are dropped: fencing ends the reader's session
   * here at once, and an ended session writes once more at most. So a read of the store with nothing
   * of the reader pending (`get`; every open, SetPosition and DeleteReader reads first) forgets it and
   * the store's epoch decides again: a reader deleted since starts over at epoch 1, and its new
   * sessions are not taken for the fenced ones. A watch event from before that read cannot fence them
   * either: the storage tells only writes newer than what this gateway last read or wrote.
   */
  private readonly fencedEpochs = new Map<string, bigint>();

  constructor(options: PositionStoreOptions) {
    this.storage = options.storage;
    this.flusher = createFlusher<Snapshot>({
      intervalMs: options.flushIntervalMs,
      maxAcks: options.flushMax,
      write: (batch) => this.write(toWrite(batch)),
      onFlushed: (flushed, durationMs) => {
        const unwritten = this.unwrittenKeys;
        this.unwrittenKeys = new Set();
        const written: WrittenPosition[] = [];
        for (const { logId, readerId, position } of toWrite(flushed))
          if (!unwritten.has(readerKey(logId, readerId))) written.push({ logId, readerId, position });
        for (const { logId, readerId, position } of written) if (position) this.listener?.(logId, readerId, position);
        options.onWritten?.(written, durationMs);
      },
      // The storage's own error (with its detail) for the log, not the client-facing one.
      onError: (error) => options.onError?.(error instanceof DlogError && error.cause !== undefined ? error.cause : error),
    });
  }

  /** Registers the one listener told of every durable position (the reader sessions). */
  onDurable(listener: DurableListener): void {
    if (this.listener) throw new Error("PositionStore.onDurable: a listener is registered already");
    this.listener = listener;
  }

  /**
   * Registers the one listener told of every reader another gateway took over (the reader
   * sessions): at once, when the storage watches readers; at the latest by the next write.
   */
  onFenced(listener: FencedListener): void {
    if (this.fencedListener) throw new Error("PositionStore.onFenced: a listener is registered already");
    this.fencedListener = listener;
    // Another gateway's write: a session opened there after this one's (a higher epoch) took it over.
    // Its DeleteReader: every session here is of the deleted reader. A new reader of that id restarts
    // at epoch 1, so only this keeps an older session here from writing over (and fencing) its sessions.
    this.storage.watchReaders?.((logId, readerId, stored) => {
      if (stored === null) this.fence(logId, readerId, ALL_EPOCHS, "deleted");
      else this.fence(logId, readerId, decodePosition(stored).epoch - 1n, new PositionsFencedError([{ logId, readerId }]));
    });
  }

  private fence(logId: number, readerId: string, upToEpoch: bigint, why: PositionsFencedError | "deleted"): void {
    const key = readerKey(logId, readerId);
    const before = this.fencedEpochs.get(key);
    if (before === undefined || upToEpoch > before) this.fencedEpochs.set(key, upToEpoch);
    this.fencedListener?.(logId, readerId, upToEpoch, why);
  }

  /** A write of a session another gateway's newer one fenced. */
  private isFenced(write: WrittenPosition): boolean {
    const upTo = this.fencedEpochs.get(readerKey(write.logId, write.readerId));
    return write.position !== null && upTo !== undefined && write.position.epoch <= upTo;
  }

  /**
   * The reader's position changed; `snapshot` is asked for its latest state when the next write
   * starts, so many changes between writes cost one write. A later call for the reader replaces it.
   * `acks` (records newly acked) count towards `flushMax`. A snapshot that returns undefined is
   * skipped (e.g. its log was deleted meanwhile).
   */
  changed(logId: number, readerId: string, snapshot: () => ReaderPosition | undefined, acks = 0): void {
    const key = readerKey(logId, readerId);
    this.flusher.markDirty(key, () => ({ logId, readerId, position: snapshot() }));
    if (acks > 0) this.flusher.noteAcks(acks);
  }

  /**
   * Writes the reader's position decided on what `get` read just before (a session's open, SetPosition),
   * only if nothing was written of the reader since: true once it is durable. False, writing nothing,
   * when another gateway wrote the reader in between (the compare-and-set failed, or the watch told a
   * newer session's write): the caller reads it again and decides again, so a position decided on a
   * stale read never lands over what was written since. `snapshot` is asked when the write starts; one
   * that returns undefined (its log was deleted meanwhile) writes nothing and counts as written.
   */
  async claim(logId: number, readerId: string, snapshot: () => ReaderPosition | undefined): Promise<boolean> {
    const key = readerKey(logId, readerId);
    let settled = false;
    // A write that failed stays dirty and is retried; a claim is not: its caller decides again.
    this.flusher.markDirty(key, () => ({ logId, readerId, position: settled ? undefined : snapshot(), claim: true }));
    try {
      await this.flusher.flush();
    } finally {
      settled = true;
    }
    return !this.lostClaims.delete(key);
  }

  /** The reader is deleted by the next write. */
  delete(logId: number, readerId: string): void {
    this.flusher.markDirty(readerKey(logId, readerId), () => ({ logId, readerId, position: null }));
  }

  /** Resolves once every change made before the call is on disk; rejects if the write that carried them failed. */
  flush(): Promise<void> {
    return this.flusher.flush();
  }

  /**
   * The reader's latest position. A change waiting for the next write is answered from memory, as
   * the write would store it (a session opening just after the last one ended needs no write and
   * read back first: its own open writes both); one in the write in flight is waited for. On a store
   * several gateways share, memory is not the last word (another gateway may have taken the reader
   * over since): the waiting change is written first (its CAS finds out) and the store is read.
   */
  async get(logId: number, readerId: string): Promise<ReaderPosition | undefined> {
    const key = readerKey(logId, readerId);
    const waiting = this.storage.watchReaders === undefined ? this.flusher.waiting(key)?.() : undefined;
    if (waiting && waiting.position !== undefined) return waiting.position === null ? undefined : decodePosition(encodePosition(waiting.position));
    if (this.flusher.isPending(key)) await this.flusher.flush();
    const stored = await this.storage.getPosition(logId, readerId);
    // Every write of the sessions fenced here is behind: from now on the store's epoch decides (see `fencedEpochs`).
    if (!this.flusher.isPending(key)) this.fencedEpochs.delete(key);
    return stored ? decodePosition(stored) : undefined;
  }

  /** Every stored reader of a log, in reader id order. */
  async list(logId: number): Promise<Array<{ readerId: string; position: ReaderPosition }>> {
    const stored = await this.storage.listPositions(logId);
    return stored.map(({ readerId, position }) => ({ readerId, position: decodePosition(position) }));
  }

  /**
   * The log is being deleted: its readers' waiting changes are dropped and the write in flight is
   * awaited, so nothing written before this resolves can land after the log's deletion. (Changes
   * made later must be skipped by their snapshot.)
   */
  async forgetLog(logId: number): Promise<void> {
    const prefix = `${logId}/`;
    await this.flusher.forget((key) => key.startsWith(prefix));
    for (const key of this.fencedEpochs.keys()) if (key.startsWith(prefix)) this.fencedEpochs.delete(key);
  }

  get counters(): Readonly<FlusherCounters> {
    return this.flusher.counters;
  }

  /** Readers with a change waiting for the next write. */
  get dirtyCount(): number {
    return this.flusher.dirtyCount;
  }

  /** Writes what is waiting; afterwards `changed` throws. */
  close(): Promise<void> {
    return this.flusher.close();
  }

  /**
   * One LevelDB batch, always fsynced: a position is cheap to write and costly to lose. On a store
   * several gateways share, a reader another gateway wrote since this one read it is read again: a
   * session there with the same or a higher epoch took it over (this one's session is fenced and its
   * writes dropped); an older one is written over, which fences it. A claim is not written again: its
   * caller decides again on what is stored now.
   */
  private async write(batch: PendingWrite[]): Promise<void> {
    let pending: PendingWrite[] = [];
    for (const write of batch) {
      if (!this.isFenced(write)) {
        pending.push(write);
        continue;
      }
      if (this.loseClaim(write)) continue;
      this.unwrittenKeys.add(readerKey(write.logId, write.readerId));
      // A session of that epoch still live here (opened just as the fence came in) ends now: nothing it acks would land.
      this.fence(write.logId, write.readerId, write.position!.epoch, new PositionsFencedError([{ logId: write.logId, readerId: write.readerId }]));
    }
    for (let round = 1; pending.length > 0; round++) {
      const writes = pending.map(({ logId, readerId, position }) => ({ logId, readerId, position: position ? encodePosition(position) : null }));
      try {
        await this.storage.writePositions(writes, true);
        return;
      } catch (error) {
        if (!(error instanceof PositionsFencedError) || round >= CONFLICT_ATTEMPTS) {
          // The storage's own message may name server paths: it stays in `cause` (logged), not in what a client hears.
          throw new DlogError("UNAVAILABLE", "reader positions could not be written (storage error); they are kept and retried", {
            cause: error,
            reason: "STORAGE_UNAVAILABLE",
          });
        }
        // The rest of the batch landed; the readers in conflict are read again (which renews the CAS base).
        const conflicted = new Set(error.fenced.map((f) => readerKey(f.logId, f.readerId)));
        const again: PendingWrite[] = [];
        for (const write of pending) {
          if (!conflicted.has(readerKey(write.logId, write.readerId)) || this.loseClaim(write)) continue;
          const stored = await this.storage.getPosition(write.logId, write.readerId);
          const storedEpoch = stored ? decodePosition(stored).epoch : undefined;
          // A session fenced meanwhile (the reader deleted elsewhere: a newer reader may hold a lower epoch) is not written again.
          if (write.position === null || (!this.isFenced(write) && storedEpoch !== undefined && storedEpoch < write.position.epoch)) {
            again.push(write);
          } else {
            this.unwrittenKeys.add(readerKey(write.logId, write.readerId));
            this.fence(write.logId, write.readerId, storedEpoch ?? write.position.epoch, error);
          }
        }
        pending = again;
      }
    }
  }

  /** A claim refused (fenced, or its CAS failed) is not written: its caller decides again on a fresh read. */
  private loseClaim(write: PendingWrite): boolean {
    if (!write.claim) return false;
    const key = readerKey(write.logId, write.readerId);
    this.unwrittenKeys.add(key);
    this.lostClaims.add(key);
    return true;
  }
}

/** One reader's state as the flusher carries it: `position` null deletes the reader, undefined skips it; `claim`: see `claim()`. */
interface Snapshot {
  logId: number;
  readerId: string;
  position: ReaderPosition | null | undefined;
  claim?: boolean;
}

/** A write of a flush: a claim is written only over what its caller read. */
interface PendingWrite extends WrittenPosition {
  claim: boolean;
}

/** The snapshots a flush writes: a skipped one (undefined, e.g. its log was deleted) is left out. */
function toWrite(batch: ReadonlyArray<PositionWrite<Snapshot>>): PendingWrite[] {
  const written: PendingWrite[] = [];
  for (const { position: snapshot } of batch) {
    if (snapshot && snapshot.position !== undefined) {
      written.push({ logId: snapshot.logId, readerId: snapshot.readerId, position: snapshot.position, claim: snapshot.claim === true });
    }
  }
  return written;
}

/** Reader ids cannot contain "/", so the key is unambiguous. */
function readerKey(logId: number, readerId: string): string {
  return `${logId}/${readerId}`;
}
