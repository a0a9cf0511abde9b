import { DlogError } from "../errors.js";
import { DiskReserve, freeBytes, probeWrite, walBytes } from "./disk-space.js";
import { type ReopenableStore, ReopeningCursor } from "./reopening-cursor.js";
import {
  type CommitBatch,
  type EntryCursor,
  type PositionWrite,
  type ProducerSlotsKey,
  type Storage,
  type StorageFaultKind,
  type StoredLog,
  type StoredPosition,
  classifyStorageError,
  storageError,
} from "./storage.js";

/** What the server reports about its store: health, metrics and the refusals clients get. */
export interface StorageHealth {
  /** False from a failed write until the database is reopened: every write is refused meanwhile. */
  writable: boolean;
  /** The disk filled up: writes that add records are refused until space returns. */
  diskFull: boolean;
  /** Reopening has kept failing (longer than `brokenAfterMs`): the server reports NOT_SERVING. */
  broken: boolean;
}

/** Told to the server's log; `retry` comes on every attempt, so the listener rate-limits it. */
export type StorageEvent =
  | { kind: "fault"; error: unknown; fault: StorageFaultKind }
  | { kind: "retry"; error: unknown; attempt: number }
  | { kind: "broken"; error: unknown; downMs: number }
  | { kind: "recovered"; downMs: number; attempts: number }
  | { kind: "disk-full"; freeBytes: number; reserveReleased: boolean }
  | { kind: "space-returned"; freeBytes: number; reserveHeld: boolean }
  | { kind: "no-reserve"; freeBytes: number; reserveBytes: number };

export interface ResilientStorageOptions {
  /** Opens the database (again after a fault). */
  open(): Promise<Storage>;
  /** The data dir: free space is measured and the reserve kept there. Undefined in memory. */
  dir?: string | undefined;
  /** Bytes kept free for recovery (`--disk-reserve`); 0: none. */
  reserveBytes?: number;
  /** How long reopening may fail before the store counts as broken. Default 30 s. */
  brokenAfterMs?: number;
  onEvent?(event: StorageEvent): void;
  onHealthChange?(health: StorageHealth): void;
}

const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2_000;
/** A fault this soon after a recovery continues that recovery's backoff. */
const FLAPPING_MS = 10_000;
const READ_ATTEMPTS = 4;
/** How long a write that adds no records waits for a reopen in progress before it is refused. */
const RIDE_OUT_REOPEN_MS = 3_000;
const SPACE_CHECK_MS = 1_000;
/** Free beyond the reserve before appends resume. */
const RESUME_FREE_BYTES = 1024 * 1024;
/** Reopen attempts skipped (no room, a failed write probe) before one is tried anyway (it removes failed compactions' files). */
const MAX_SKIPPED_REOPENS = 10;
/** Room a reopen needs beyond the write-ahead logs it turns into tables (manifest, LOG, table overhead). */
const REOPEN_MARGIN_BYTES = 512 * 1024;

/**
 * The store as the log and session layers see it: a transient failure never poisons it.
 *
 * LevelDB may leave a write-ahead log with a torn record after a failed write, and once a
 * background compaction fails it refuses every write until reopened. So after any failed
 * write this wrapper refuses writes (DISK_FULL or STORAGE_UNAVAILABLE, never a server path),
 * reopens the database in the background with backoff — after a disk-full failure only once
 * the space it needs is free — and then takes writes again. Reads go on meanwhile while the
 * database stays open; cursors reopen themselves at their position across a reopen. A disk-full
 * failure releases the reserve file, and until free space returns only appends are refused, so
 * Truncate and DeleteLog can still free space.
 */
export class ResilientStorage implements Storage, ReopenableStore {
  readonly counters = { errors: 0, reopens: 0 };
  private readonly options: ResilientStorageOptions;
  private readonly reserve: DiskReserve | undefined;
  private inner: Storage | undefined;
  /** Bumped on every reopen: a cursor of an older generation reopens itself. */
  private generation = 0;
  private fault: { error: DlogError; kind: StorageFaultKind; since: number } | undefined;
  private diskFull = false;
  private broken = false;
  private closed = false;
  private spaceTimer: NodeJS.Timeout | undefined;
  private checkingSpace = false;
  private readonly usableWaiters = new Set<() => void>();
  /** When the last fault ended and the backoff it had reached: a fault soon after goes on from there. */
  private lastRecovery = { at: Number.NEGATIVE_INFINITY, delayMs: RETRY_FIRST_MS };
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(options: ResilientStorageOptions) {
    this.options = options;
    const reserveBytes = options.reserveBytes ?? 0;
    this.reserve = options.dir !== undefined && reserveBytes > 0 ? new DiskReserve(options.dir, reserveBytes) : undefined;
  }

  /**
   * Opens the database. A disk too full for LevelDB to open (it writes its logs out as tables
   * first) gets the reserve's space: the server then starts with appends refused.
   */
  static async open(options: ResilientStorageOptions): Promise<ResilientStorage> {
    const storage = new ResilientStorage(options);
    await storage.reserve?.adopt();
    try {
      storage.inner = await options.open();
    } catch (error) {
      if (classifyStorageError(error) !== "disk-full" || !(await storage.reserve?.release())) throw error;
      storage.inner = await options.open();
      storage.diskFull = true;
      storage.emit({ kind: "disk-full", freeBytes: await storage.free(), reserveReleased: true });
      storage.watchSpace();
      return storage;
    }
    if (storage.reserve && !storage.reserve.held && !(await storage.reserve.create())) {
      storage.emit({ kind: "no-reserve", freeBytes: await storage.free(), reserveBytes: storage.reserve.bytes });
    }
    return storage;
  }

  get health(): StorageHealth {
    return { writable: this.fault === undefined, diskFull: this.diskFull, broken: this.broken };
  }

  /** The error a write would get now, without trying: `addsRecords` for appends. */
  writeRefusal(addsRecords: boolean): DlogError | undefined {
    if (this.closed) return new DlogError("UNAVAILABLE", "server is shutting down", { reason: "SHUTTING_DOWN" });
    if (this.fault) return this.fault.error;
    if (addsRecords && this.diskFull) return storageError("append refused", Object.assign(new Error("disk full"), { code: "ENOSPC" }));
    return undefined;
  }

  // ---- Storage --------------------------------------------------------------------------------

  loadLogs(): Promise<StoredLog[]> {
    return this.read((inner) => inner.loadLogs());
  }

  nextLogId(): Promise<number> {
    return this.write(false, (inner) => inner.nextLogId());
  }

  commit(batch: CommitBatch, sync: boolean): Promise<void> {
    return this.write(batch.entries.length > 0, (inner) => inner.commit(batch, sync));
  }

  openCursor(logId: number, segment: bigint, entry: bigint): EntryCursor {
    return new ReopeningCursor(this, logId, segment, entry);
  }

  async deleteSegmentRange(logId: number, fromSegment: bigint, toSegment: bigint): Promise<void> {
    await this.write(false, (inner) => inner.deleteSegmentRange(logId, fromSegment, toSegment));
    await this.reclaim(logId);
  }

  async deleteLog(logId: number, name: string): Promise<void> {
    await this.write(false, (inner) => inner.deleteLog(logId, name));
    await this.reclaim(logId);
  }

  /**
   * On a full disk, frees the space of what was just deleted (a compaction) instead of waiting
   * for LevelDB to get to it. The deletion itself is durable already: a compaction that fails
   * for lack of room is a fault like any failed write, not a failed Truncate or DeleteLog.
   */
  private async reclaim(logId: number): Promise<void> {
    const inner = this.inner;
    if (this.diskFull && inner?.compact && !this.fault) {
      await inner.compact(logId).catch((error: unknown) => this.writeFailed(error, inner));
    }
    this.checkSpaceSoon();
  }

  getProducerSlots(key: ProducerSlotsKey, seq: bigint): Promise<{ firstSeq: bigint; value: Buffer } | undefined> {
    return this.read((inner) => inner.getProducerSlots(key, seq));
  }

  deleteProducerSlots(key: ProducerSlotsKey, belowSeq?: bigint): Promise<void> {
    return this.write(false, (inner) => inner.deleteProducerSlots(key, belowSeq));
  }

  getPosition(logId: number, readerId: string): Promise<StoredPosition | undefined> {
    return this.read((inner) => inner.getPosition(logId, readerId));
  }

  listPositions(logId: number): Promise<Array<{ readerId: string; position: StoredPosition }>> {
    return this.read((inner) => inner.listPositions(logId));
  }

  writePositions(writes: PositionWrite[], sync: boolean): Promise<void> {
    return this.write(false, (inner) => inner.writePositions(writes, sync));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.spaceTimer);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.wakeUsable();
    const inner = this.inner;
    this.inner = undefined;
    await inner?.close();
  }

  // ---- reads and writes -----------------------------------------------------------------------

  /** The open database of the current generation, for cursors. */
  current(): { inner: Storage; generation: number } {
    if (!this.inner) throw new DlogError("UNAVAILABLE", "storage is being reopened after a failure; retry shortly", { reason: "STORAGE_UNAVAILABLE" });
    return { inner: this.inner, generation: this.generation };
  }

  /** Runs a read, retrying a failed one a few times (a reopen in between is waited for). */
  async read<T>(op: (inner: Storage) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op(this.current().inner);
      } catch (error) {
        if (!(error instanceof DlogError)) this.counters.errors++;
        await this.retryRead(attempt, error);
      }
    }
  }

  /** After failed read `attempt`: waits before the next one (or for a reopen), or throws once the attempts are spent. */
  async retryRead(attempt: number, error: unknown): Promise<void> {
    if (attempt >= READ_ATTEMPTS || this.closed) throw storageError("storage read failed", error);
    await this.untilUsable(RETRY_FIRST_MS * 2 ** attempt);
  }

  private async write<T>(addsRecords: boolean, op: (inner: Storage) => Promise<T>): Promise<T> {
    // Writes that add nothing (positions, Truncate, DeleteLog) ride out a short reopen; appends fail fast.
    if (!addsRecords && this.fault) await this.untilUsable(RIDE_OUT_REOPEN_MS);
    const refused = this.writeRefusal(addsRecords);
    if (refused) throw refused;
    const inner = this.current().inner;
    try {
      return await op(inner);
    } catch (error) {
      throw this.writeFailed(error, inner);
    }
  }

  /** Starts a fault (once): writes are refused from now on until the database is reopened. */
  private writeFailed(error: unknown, inner: Storage): DlogError {
    if (error instanceof DlogError) return error;
    this.counters.errors++;
    const mapped = storageError("storage write failed", error);
    // A write that failed on a database already being replaced is part of the fault in progress.
    if (this.fault || this.closed || inner !== this.inner) return this.fault?.error ?? mapped;
    const kind = classifyStorageError(error);
    this.fault = { error: mapped, kind, since: Date.now() };
    this.emit({ kind: "fault", error, fault: kind });
    this.healthChanged();
    void this.recover(kind === "disk-full");
    return mapped;
  }

  /** Reopens the database with backoff until it opens; then writes are taken again. */
  private async recover(diskFull: boolean): Promise<void> {
    const since = this.fault!.since;
    if (diskFull) await this.enterDiskFull();
    // Faults in quick succession (a compaction that fails again after each reopen) back off further.
    let delay = Date.now() - this.lastRecovery.at < FLAPPING_MS ? Math.min(this.lastRecovery.delayMs * 2, RETRY_MAX_MS) : RETRY_FIRST_MS;
    let skipped = 0;
    for (let attempt = 1; ; attempt++) {
      await this.sleep(delay);
      if (this.closed) return;
      delay = Math.min(delay * 2, RETRY_MAX_MS);
      try {
        // Closing first would stop reads for nothing while the reopen cannot succeed yet (no room,
        // or the disk still fails a synced write); but some faults only a reopen clears (files of
        // a failed compaction hold space, a probe may pass where LevelDB fails), so now and then it is tried.
        if (this.inner && skipped < MAX_SKIPPED_REOPENS) {
          skipped++;
          await (diskFull ? this.checkRoomToReopen() : this.probeWrite());
        }
        skipped = 0;
        const old = this.inner;
        this.inner = undefined;
        this.generation++;
        await old?.close().catch(() => undefined);
        const reopened = await this.options.open();
        if (this.closed) {
          await reopened.close();
          return;
        }
        this.inner = reopened;
        this.lastRecovery = { at: Date.now(), delayMs: delay };
        this.counters.reopens++;
        this.fault = undefined;
        this.broken = false;
        this.emit({ kind: "recovered", downMs: Date.now() - since, attempts: attempt });
        this.healthChanged();
        this.wakeUsable();
        return;
      } catch (error) {
        this.emit({ kind: "retry", error, attempt });
        if (!this.broken && Date.now() - since >= (this.options.brokenAfterMs ?? 30_000)) {
          this.broken = true;
          this.emit({ kind: "broken", error, downMs: Date.now() - since });
          this.healthChanged();
        }
      }
    }
  }

  private async probeWrite(): Promise<void> {
    if (this.options.dir !== undefined) await probeWrite(this.options.dir);
  }

  private async checkRoomToReopen(): Promise<void> {
    const dir = this.options.dir;
    if (dir === undefined) return;
    const needed = (await walBytes(dir)) + REOPEN_MARGIN_BYTES;
    const free = await freeBytes(dir);
    if (free < needed) {
      throw Object.assign(new Error(`waiting for disk space: ${free} bytes free, reopening needs about ${needed}`), { code: "ENOSPC" });
    }
  }

  // ---- disk space -----------------------------------------------------------------------------

  private async enterDiskFull(): Promise<void> {
    if (this.diskFull) return;
    this.diskFull = true;
    const reserveReleased = (await this.reserve?.release()) ?? false;
    this.emit({ kind: "disk-full", freeBytes: await this.free(), reserveReleased });
    this.healthChanged();
    this.watchSpace();
  }

  private watchSpace(): void {
    if (this.spaceTimer !== undefined) return;
    this.spaceTimer = setInterval(() => this.checkSpaceSoon(), SPACE_CHECK_MS);
    this.spaceTimer.unref();
  }

  /** Ends disk-full mode once there is room for the reserve and a write buffer beyond it. */
  private checkSpaceSoon(): void {
    if (!this.diskFull || this.fault || this.checkingSpace || this.closed) return;
    this.checkingSpace = true;
    void (async () => {
      try {
        const free = await this.free();
        if (free < (this.reserve?.bytes ?? 0) + RESUME_FREE_BYTES || this.closed) return;
        const reserveHeld = (await this.reserve?.create()) ?? false;
        if (this.reserve && !reserveHeld) return;
        this.diskFull = false;
        clearInterval(this.spaceTimer);
        this.spaceTimer = undefined;
        this.emit({ kind: "space-returned", freeBytes: await this.free(), reserveHeld });
        this.healthChanged();
      } catch {
        // Measured again on the next tick.
      } finally {
        this.checkingSpace = false;
      }
    })();
  }

  private async free(): Promise<number> {
    return this.options.dir === undefined ? Number.POSITIVE_INFINITY : freeBytes(this.options.dir).catch(() => 0);
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Resolves when the database is usable again, or after `ms`. */
  private untilUsable(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.usableWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.timers.add(timer);
      if (this.fault) this.usableWaiters.add(done);
    });
  }

  private wakeUsable(): void {
    for (const wake of [...this.usableWaiters]) wake();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private emit(event: StorageEvent): void {
    this.options.onEvent?.(event);
  }

  private healthChanged(): void {
    this.options.onHealthChange?.(this.health);
  }
}
