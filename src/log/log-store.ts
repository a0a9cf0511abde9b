import { DLSN } from "../dlsn.js";
import { DlogError, logDeletedError } from "../errors.js";
import { validateName } from "../names.js";
import { type LogChange, type LogMeta, type SegmentMeta, type Storage, type StoredLog, storageError } from "../storage/storage.js";
import { SerialQueue } from "../util/serial-queue.js";
import type { DecodedRecord } from "./entry-codec.js";
import { AppendResult, type RecordInput } from "./append-result.js";
import { GroupCommit } from "./group-commit.js";
import { EntryCache } from "./entry-cache.js";
import { LogReader } from "./log-reader.js";
import { type LogHead, type LogInfo, type LogState, describeLog, firstDlsnOf, headOf, newLogState } from "./log-state.js";
import { appendHash, decodeProducerSlot } from "./producer-codec.js";
import { type ProducerAppend, type ProducerLimits, ProducerTable, reused, tooOld } from "./producer-table.js";
import { type Floor, firstRecordFrom, resolveStart } from "./resolve-start.js";
import type { StartPosition } from "./start-position.js";
import { rejectWaiters, waitForCommitted, wakeWaiters } from "./tail-waiters.js";
import { type TruncateOptions, type TruncateResult, truncateSegments } from "./truncation.js";

export type { AppendResult, RecordInput } from "./append-result.js";
export type { LogReader } from "./log-reader.js";
export type { LogHead, LogInfo, SegmentInfo } from "./log-state.js";
export type { Floor } from "./resolve-start.js";
export type { TruncateOptions, TruncateResult } from "./truncation.js";

export interface LogStoreOptions {
  /** fsync every group-committed batch (`--no-fsync` turns it off). */
  sync: boolean;
  /** Create a log on its first append instead of answering NOT_FOUND. */
  autoCreate: boolean;
  maxRecordBytes: number;
  maxRecordsPerAppend: number;
  /** Roll to a new segment once the open one holds this many payload bytes. */
  segmentMaxBytes: number;
  /** Roll to a new segment once the open one is this old. */
  segmentMaxAgeMs: number;
  /** Idempotent producers: appends remembered per producer, producers remembered per log. */
  producers: ProducerLimits;
  /** Resident bytes (estimated) of recently written and read entries kept decoded for other readers; 0: none. Default 32 MiB. */
  entryCacheBytes?: number;
  /** Appends to one log in one group-committed batch share one entry (consecutive slots). Default on. */
  packAppends?: boolean;
  now?: () => number;
  /** After each group-committed batch is durable: its records and write time (metrics). */
  onCommitted?: ((records: number, durationMs: number) => void) | undefined;
}

const DEFAULT_ENTRY_CACHE_BYTES = 32 * 1024 * 1024;

/** Who sent an idempotent append: `seq` numbers the producer's appends to one log 1, 2, 3, ... */
export interface ProducerRef {
  id: string;
  seq: bigint;
}

/**
 * The log layer's front door: the logs by name and their admin, over any `Storage`.
 * Appends go to `GroupCommit`, reads to `LogReader`, start positions to `resolve-start.ts`,
 * truncation to `truncation.ts`; every storage write takes its turn on one queue.
 */
export class LogStore {
  private readonly storage: Storage;
  private readonly options: LogStoreOptions;
  private readonly now: () => number;
  private readonly logs = new Map<string, LogState>();
  private readonly creating = new Map<string, Promise<LogState>>();
  private readonly writes = new SerialQueue();
  private readonly commits: GroupCommit;
  private readonly cache: EntryCache;
  private closed = false;
  private readonly closedController = new AbortController();
  /** A write failed: memory may be ahead of disk until `reload()` has read the state back. */
  private stale: DlogError | undefined;
  private reloading: Promise<void> | undefined;
  /** Ids of logs whose deletion is being written: a reload must not bring them back. */
  private readonly deleting = new Set<number>();
  private deleteHook: ((logId: number, name: string) => Promise<void>) | undefined;

  private constructor(storage: Storage, options: LogStoreOptions) {
    this.storage = storage;
    this.options = options;
    this.now = options.now ?? Date.now;
    this.cache = new EntryCache(options.entryCacheBytes ?? DEFAULT_ENTRY_CACHE_BYTES);
    this.commits = new GroupCommit(storage, this.writes, this.cache, {
      ...options,
      packAppends: options.packAppends ?? true,
      now: this.now,
      onWriteFailed: (error) => (this.stale ??= error),
      staleError: () => this.stale,
    });
  }

  static async open(storage: Storage, options: LogStoreOptions): Promise<LogStore> {
    const store = new LogStore(storage, options);
    for (const stored of await storage.loadLogs()) store.logs.set(stored.meta.name, store.stateOf(stored));
    // A store other gateways share: their commits and deletions reach this one's state (and readers at the tail).
    storage.watchLogs?.((change) => void store.writes.run(() => store.applyRemote(change)).catch(() => undefined));
    return store;
  }

  private stateOf(stored: StoredLog): LogState {
    return newLogState(stored.meta, liveSegments(stored), new ProducerTable(stored.meta.id, this.options.producers, stored.producers));
  }

  /** Another gateway committed to a log, created or deleted one: on the write queue, between this store's own writes. */
  private async applyRemote(change: LogChange): Promise<void> {
    if (this.closed) return;
    const id = change.kind === "deleted" ? change.logId : change.log.meta.id;
    if (this.deleting.has(id)) return;
    const local = [...this.logs.values()].find((log) => log.meta.id === id);
    if (local && this.commits.segmentsBeingWritten(local).size > 0) {
      // Appends assigned on the old state are left: refused, and the store reloads before the next.
      this.stale ??= new DlogError("UNAVAILABLE", `log "${local.meta.name}" was changed through another dlogd gateway; retry the call`, {
        reason: "STORAGE_UNAVAILABLE",
      });
      return;
    }
    change.adopt();
    if (change.kind === "deleted") {
      if (local) this.forget(local);
      return;
    }
    if (local) this.refresh(local, change.log);
    else if (!this.logs.has(change.log.meta.name)) this.logs.set(change.log.meta.name, this.stateOf(change.log));
  }

  /** The log is gone from storage: readers waiting on it hear so. */
  private forget(log: LogState): void {
    const name = log.meta.name;
    log.deleted = true;
    this.logs.delete(name);
    rejectWaiters(log, logDeletedError(name));
  }

  /**
   * Takes the stored state into the same LogState object, so readers holding it see it and those
   * at the tail wake. The next append starts a new segment, as after a restart.
   */
  private refresh(log: LogState, stored: StoredLog): void {
    const fresh = this.stateOf(stored);
    log.producers = fresh.producers;
    log.meta = fresh.meta;
    log.segments = fresh.segments;
    log.committed = fresh.committed;
    log.open = undefined;
    wakeWaiters(log);
  }

  /** Group-committed batches (one fsync each when sync) and what they carried. */
  get counters(): Readonly<GroupCommit["counters"]> {
    return this.commits.counters;
  }

  /** The shared entry cache's hits, misses and evictions, and the resident bytes it charges now. */
  get entryCacheCounters(): Readonly<EntryCache["counters"]> & { readonly bytes: number } {
    return this.cache.stats;
  }

  // ---- admin ---------------------------------------------------------------------------------

  has(name: string): boolean {
    return this.logs.has(name);
  }

  async createLog(name: string): Promise<LogInfo> {
    validateName("log", name);
    this.checkUsable();
    await this.reloadIfStale();
    if (this.logs.has(name) || this.creating.has(name)) {
      throw new DlogError("ALREADY_EXISTS", `log "${name}" already exists`, { reason: "LOG_EXISTS", metadata: { log: name } });
    }
    return describeLog(await this.createState(name));
  }

  private createState(name: string): Promise<LogState> {
    const inFlight = this.creating.get(name);
    if (inFlight) return inFlight;
    const created = (async () => {
      const id = await this.storage.nextLogId();
      const meta: LogMeta = {
        id,
        name,
        createdTimeMs: this.now(),
        lastTxid: 0n,
        nextSequenceId: 0n,
        recordCount: 0n,
        byteCount: 0n,
        truncatedRecordCount: 0n,
        firstLiveSegment: 0n,
        lastSegment: 0n,
      };
      await this.write(() => this.storage.commit({ entries: [], logs: [meta], segments: [] }, true));
      const state = newLogState(meta, [], new ProducerTable(id, this.options.producers));
      this.logs.set(name, state);
      return state;
    })();
    this.creating.set(name, created);
    // Every caller awaits this same promise and this reaction runs first: appends waiting for the
    // log then resume in call order, and none arriving meanwhile can overtake them (see append()).
    const done = (): void => void this.creating.delete(name);
    created.then(done, done);
    return created;
  }

  async deleteLog(name: string): Promise<bigint> {
    this.get(name);
    this.checkUsable();
    await this.reloadIfStale();
    const log = this.get(name);
    log.deleted = true;
    this.logs.delete(name);
    rejectWaiters(log, logDeletedError(name));
    await this.deleteHook?.(log.meta.id, name);
    this.deleting.add(log.meta.id);
    try {
      await this.write(() => this.storage.deleteLog(log.meta.id, name));
      this.cache.forgetLog(log.meta.id);
    } catch (error) {
      // Refused or failed: the log stays (the reload after a failure tells whether the deletion landed).
      if (!this.logs.has(name)) {
        log.deleted = false;
        this.logs.set(name, log);
      }
      throw error;
    } finally {
      this.deleting.delete(log.meta.id);
    }
    return log.committed.meta.recordCount;
  }

  /**
   * Registers the one hook awaited when a log is deleted, after it is gone from the store and
   * before its data is: the reader sessions end the log's sessions there and settle its positions.
   */
  onDelete(hook: (logId: number, name: string) => Promise<void>): void {
    if (this.deleteHook) throw new Error("LogStore.onDelete: a hook is registered already");
    this.deleteHook = hook;
  }

  listLogs(prefix = ""): LogInfo[] {
    return [...this.logs.values()]
      .filter((log) => log.meta.name.startsWith(prefix))
      .sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))
      .map(describeLog);
  }

  describe(name: string): LogInfo {
    return describeLog(this.get(name));
  }

  /** The storage id of a log: positions are keyed by it, so a recreated log starts with no readers. */
  logId(name: string): number {
    return this.get(name).meta.id;
  }

  head(name: string): LogHead {
    return headOf(this.get(name));
  }

  /** The first record that still exists, if any. */
  first(name: string): { dlsn: DLSN; sequenceId: bigint } | undefined {
    const first = this.get(name).committed.segments[0];
    return first ? { dlsn: firstDlsnOf(first), sequenceId: first.firstSequenceId } : undefined;
  }

  private get(name: string): LogState {
    validateName("log", name);
    const log = this.logs.get(name);
    if (!log) throw new DlogError("NOT_FOUND", `log "${name}" does not exist`, { reason: "LOG_NOT_FOUND", metadata: { log: name } });
    return log;
  }

  /** Refuses, before anything is assigned, what the store or the storage cannot take now (`addsRecords`: an append). */
  private checkUsable(addsRecords = false): void {
    if (this.closed) throw new DlogError("UNAVAILABLE", "server is shutting down", { reason: "SHUTTING_DOWN" });
    const refused = this.storage.writeRefusal?.(addsRecords);
    if (refused) throw refused;
  }

  /** Runs a storage write on the write queue; a failure leaves the store to reload before the next. */
  private write<T>(op: () => Promise<T>): Promise<T> {
    return this.writes.run(async () => {
      if (this.stale) await this.reloadState();
      try {
        return await op();
      } catch (error) {
        const failed = storageError("storage write failed", error);
        this.stale ??= failed;
        throw failed;
      }
    });
  }

  private async reloadIfStale(): Promise<void> {
    if (this.stale) await this.reload();
  }

  /**
   * After a failed write: reads every log's state back from storage (which knows whether the
   * failed batch landed) into the same LogState objects, so readers holding them see it. The
   * next append of each log starts a new segment, as after a restart.
   */
  private reload(): Promise<void> {
    this.reloading ??= this.writes.run(() => this.reloadState()).finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  /** The body of `reload()`, on the write queue. */
  private async reloadState(): Promise<void> {
    if (!this.stale) return;
    try {
      const stored = new Map((await this.storage.loadLogs()).map((log) => [log.meta.id, log]));
      for (const log of [...this.logs.values()]) {
        const disk = stored.get(log.meta.id);
        stored.delete(log.meta.id);
        if (disk) this.refresh(log, disk);
        else this.forget(log);
      }
      for (const disk of stored.values()) {
        if (this.deleting.has(disk.meta.id)) continue;
        this.logs.set(disk.meta.name, this.stateOf(disk));
      }
      // A truncation whose entry deletion failed left entries below the first live segment: freed now.
      for (const log of this.logs.values()) {
        const firstLive = log.committed.meta.firstLiveSegment;
        if (firstLive <= 1n) continue;
        const cursor = this.storage.openCursor(log.meta.id, 0n, 0n);
        const [first] = await cursor.next(1).finally(() => cursor.close());
        if (first && first.segment < firstLive) await this.storage.deleteSegmentRange(log.meta.id, 0n, firstLive);
      }
      this.stale = undefined;
    } catch (error) {
      throw storageError("storage unavailable", error);
    }
  }

  // ---- append --------------------------------------------------------------------------------

  /**
   * Appends the records as one entry. Resolves once the batch holding it is written.
   * With a producer, a retry of a written (id, seq) with the same records is answered
   * with the original result and `duplicate: true` instead of being written again.
   */
  async append(name: string, records: readonly RecordInput[], producer?: ProducerRef): Promise<AppendResult> {
    validateName("log", name);
    this.checkUsable(true);
    this.commits.validate(name, records);
    const idempotent = producer && producerAppend(producer, records);
    if (this.stale) {
      // Appends waiting for the reload resume in call order (they await one promise).
      await this.reload();
      this.checkUsable(true);
    }
    let log = this.logs.get(name);
    const creating = this.creating.get(name);
    if (!log || creating) {
      if (!creating && !this.options.autoCreate) {
        throw new DlogError("NOT_FOUND", `log "${name}" does not exist (the server runs with --no-auto-create; create it first)`, {
          reason: "LOG_NOT_FOUND",
          metadata: { log: name },
        });
      }
      // Appends that wait for the log's creation resume in call order (see createState).
      log = await (creating ?? this.createState(name));
      this.checkUsable(true);
      if (this.stale) throw this.stale;
    }
    // From here to the enqueue everything is synchronous, so DLSNs, txids and producer seqs are assigned in call order.
    if (!idempotent) return this.commits.enqueue(log, records);
    const decision = log.producers.decide(idempotent, name);
    switch (decision.kind) {
      case "new":
        return this.commits.enqueue(log, records, idempotent);
      case "in-flight":
        return (await decision.result).asDuplicate();
      case "written":
        return this.writtenBefore(log, idempotent, decision.incarnation);
    }
  }

  /** The original answer of a producer's append written in an earlier batch, from its stored slot. */
  private async writtenBefore(log: LogState, append: ProducerAppend, incarnation: bigint): Promise<AppendResult> {
    const name = log.meta.name;
    const stored = await this.storage.getProducerSlots({ logId: log.meta.id, producerId: append.producerId, incarnation }, append.seq);
    const slot = stored && decodeProducerSlot(stored.value, Number(append.seq - stored.firstSeq));
    const metadata = { log: name, producer_id: append.producerId, producer_seq: String(append.seq) };
    // Gone: the window slid past it (or the producer was evicted) while the slot was being read.
    if (slot === undefined) throw tooOld(append, name, append.seq, this.options.producers.window, metadata);
    if (!slot.hash.equals(append.hash)) throw reused(append, name, metadata);
    return new AppendResult(slot.segment, slot.entry, slot.slot, slot.count, slot.txids, slot.firstSequenceId, true);
  }

  /**
   * Resolves once the log holds a committed record with sequence id >= `sequenceId`.
   * Rejects when the log is deleted, the store closes or `signal` aborts.
   */
  waitForRecord(name: string, sequenceId: bigint, signal?: AbortSignal): Promise<void> {
    return this.waitOn(this.get(name), sequenceId, signal);
  }

  /** Waits on the log itself, not its name: a reader of a log deleted meanwhile hears LOG_DELETED. */
  private waitOn(log: LogState, sequenceId: bigint, signal?: AbortSignal): Promise<void> {
    if (log.committed.meta.nextSequenceId > sequenceId) return Promise.resolve();
    if (log.deleted) {
      const name = log.meta.name;
      return Promise.reject(logDeletedError(name));
    }
    // A storage fault does not stop a follower: it waits for appends that come once storage recovers.
    if (this.closed) return Promise.reject(new DlogError("UNAVAILABLE", "server is shutting down", { reason: "SHUTTING_DOWN" }));
    return waitForCommitted(log, sequenceId, signal);
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** A cursor over committed records, starting at the first record at or after `from`. */
  openReader(name: string, from: DLSN): LogReader {
    return this.readerOf(this.get(name), from);
  }

  private readerOf(log: LogState, from: DLSN): LogReader {
    return new LogReader(
      this.storage,
      {
        get name() {
          return log.meta.name;
        },
        get id() {
          return log.meta.id;
        },
        get deleted() {
          return log.deleted;
        },
        get firstLiveSegment() {
          return log.committed.meta.firstLiveSegment;
        },
        get nextSequenceId() {
          return log.committed.meta.nextSequenceId;
        },
        waitForRecord: (sequenceId, signal) => this.waitOn(log, sequenceId, signal),
      },
      from,
      this.cache,
    );
  }

  /** The floor a reader starting at `start` begins after (see resolve-start.ts). */
  async resolveStart(name: string, start: StartPosition): Promise<Floor> {
    const log = this.get(name);
    return resolveStart(log, (from) => this.readerOf(log, from), start);
  }

  /** The first record at or after `from`, if any is committed. */
  async firstRecordFrom(name: string, from: DLSN): Promise<DecodedRecord | undefined> {
    const log = this.get(name);
    return firstRecordFrom((at) => this.readerOf(log, at), from);
  }

  // ---- truncation ----------------------------------------------------------------------------

  /** Drops every committed segment whose records all lie before `before`; past the head only with `force`. */
  async truncate(name: string, before: DLSN, options: TruncateOptions = {}): Promise<TruncateResult> {
    this.get(name);
    this.checkUsable();
    await this.reloadIfStale();
    const log = this.get(name);
    return this.write(async () => {
      if (log.deleted) throw logDeletedError(name);
      // Appends assigned but not yet committed may write to any segment since the last batch (a roll
      // moves on mid-batch): those segments stay, or their records would land in dropped segments.
      return truncateSegments(this.storage, log, before, this.commits.segmentsBeingWritten(log), options);
    });
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /**
   * Aborts once the store has closed (appends in flight written), so long-lived calls
   * such as an idle AppendStream can end with UNAVAILABLE instead of holding shutdown up.
   */
  get closedSignal(): AbortSignal {
    return this.closedController.signal;
  }

  /** Waits for appends in flight, then refuses new work. The storage is closed by its owner. */
  async close(): Promise<void> {
    await this.commits.flush();
    this.closed = true;
    const closing = new DlogError("UNAVAILABLE", "server is shutting down", { reason: "SHUTTING_DOWN" });
    for (const log of this.logs.values()) rejectWaiters(log, closing);
    this.closedController.abort(closing);
  }
}

/** Validates a producer id and seq; the append's content hash identifies a retry. */
function producerAppend(producer: ProducerRef, records: readonly RecordInput[]): ProducerAppend {
  validateName("producer_id", producer.id);
  if (producer.seq < 1n) {
    throw new DlogError(
      "INVALID_ARGUMENT",
      `producer_seq must be >= 1 with a producer_id (a producer numbers its appends to a log 1, 2, 3, ...), got ${producer.seq}`,
      {
        metadata: { field: "producer_seq", value: String(producer.seq) },
      },
    );
  }
  return { producerId: producer.id, seq: producer.seq, hash: appendHash(records) };
}

/** A stored log's segments from its first live one (those below were truncated). */
function liveSegments(stored: { meta: LogMeta; segments: SegmentMeta[] }): SegmentMeta[] {
  return stored.segments.filter((segment) => segment.segment >= stored.meta.firstLiveSegment);
}
