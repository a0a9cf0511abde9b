import { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import { validateName } from "../names.js";
import type { EntryWrite, LogMeta, SegmentMeta, Storage } from "../storage/storage.js";
import { type DecodedRecord, type EntryRecordInput, decodeEntryInto, encodeEntry, entryRecordCount } from "./entry-codec.js";
import { SerialQueue } from "./serial-queue.js";
import type { StartPosition } from "./start-position.js";

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
  now?: () => number;
}

export interface RecordInput {
  payload: Uint8Array;
  txid?: bigint | undefined;
}

export interface AppendResult {
  dlsns: DLSN[];
  txids: bigint[];
  firstSequenceId: bigint;
}

export interface SegmentInfo {
  segment: bigint;
  firstDlsn: DLSN;
  lastDlsn: DLSN;
  recordCount: bigint;
  byteCount: bigint;
  firstTxid: bigint;
  lastTxid: bigint;
  createdTimeMs: number;
  lastAppendTimeMs: number;
  open: boolean;
}

export interface LogInfo {
  name: string;
  createdTimeMs: number;
  firstDlsn: DLSN | undefined;
  lastDlsn: DLSN | undefined;
  lastTxid: bigint;
  recordCount: bigint;
  byteCount: bigint;
  nextSequenceId: bigint;
  truncatedRecordCount: bigint;
  segments: SegmentInfo[];
}

/** The committed end of a log: what readers can see. */
export interface LogHead {
  /** The last record; undefined when the log holds none. */
  last: DLSN | undefined;
  nextSequenceId: bigint;
}

/** The exclusive lower bound a reader starts after, with the sequence id of the record at it. */
export interface Floor {
  dlsn: DLSN;
  sequenceId: bigint;
}

export interface TruncateResult {
  segmentsDeleted: number;
  recordsDeleted: bigint;
  firstDlsn: DLSN | undefined;
}

interface Waiter {
  afterSequenceId: bigint;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** In-memory state of one log. `meta`/`segments` run ahead of disk while a batch is being written. */
interface LogState {
  meta: LogMeta;
  /** Sorted by segment number; the last may be open. */
  segments: SegmentMeta[];
  /** The segment appends go to; undefined after a reopen or truncation, so the next append starts a new one. */
  open: SegmentMeta | undefined;
  /** What the last successful commit wrote: describe() and readers see this. */
  committed: { meta: LogMeta; segments: SegmentMeta[] };
  deleted: boolean;
  waiters: Set<Waiter>;
}

interface PendingAppend {
  log: LogState;
  entry: EntryWrite;
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

const READ_CHUNK_ENTRIES = 256;

function firstDlsnOf(segment: SegmentMeta): DLSN {
  return new DLSN(segment.segment, segment.firstEntry, 0n);
}

function lastDlsnOf(segment: SegmentMeta): DLSN {
  return new DLSN(segment.segment, segment.lastEntry, segment.lastSlot);
}

/**
 * The log layer: appends (group-committed), reads, tail notification,
 * segments and truncation, over any `Storage`.
 */
export class LogStore {
  private readonly storage: Storage;
  private readonly options: LogStoreOptions;
  private readonly now: () => number;
  private readonly logs = new Map<string, LogState>();
  private readonly creating = new Map<string, Promise<LogState>>();
  private readonly writes = new SerialQueue();
  private pending: PendingAppend[] = [];
  private commitScheduled = false;
  private failure: Error | undefined;
  private closed = false;
  private readonly closedController = new AbortController();
  /** Group-committed batches (one fsync each when sync) and what they carried. */
  readonly counters = { commits: 0, recordsAppended: 0, bytesAppended: 0 };

  private constructor(storage: Storage, options: LogStoreOptions) {
    this.storage = storage;
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  static async open(storage: Storage, options: LogStoreOptions): Promise<LogStore> {
    const store = new LogStore(storage, options);
    for (const { meta, segments } of await storage.loadLogs()) {
      const live = segments.filter((segment) => segment.segment >= meta.firstLiveSegment);
      store.logs.set(meta.name, {
        meta,
        segments: live,
        open: undefined, // a reopened log starts a new segment (SPEC §1)
        committed: { meta: { ...meta }, segments: live.map((segment) => ({ ...segment })) },
        deleted: false,
        waiters: new Set(),
      });
    }
    return store;
  }

  // ---- admin ---------------------------------------------------------------------------------

  has(name: string): boolean {
    return this.logs.has(name);
  }

  async createLog(name: string): Promise<LogInfo> {
    validateName("log", name);
    this.checkUsable();
    if (this.logs.has(name) || this.creating.has(name)) {
      throw new DlogError("ALREADY_EXISTS", `log "${name}" already exists`);
    }
    return this.describeState(await this.createState(name));
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
      await this.writes.run(() => this.storage.commit({ entries: [], logs: [meta], segments: [] }, true));
      const state: LogState = {
        meta,
        segments: [],
        open: undefined,
        committed: { meta: { ...meta }, segments: [] },
        deleted: false,
        waiters: new Set(),
      };
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
    const log = this.get(name);
    log.deleted = true;
    this.logs.delete(name);
    const gone = new DlogError("NOT_FOUND", `log "${name}" was deleted`);
    for (const waiter of log.waiters) waiter.reject(gone);
    log.waiters.clear();
    await this.writes.run(() => this.storage.deleteLog(log.meta.id, name));
    return log.committed.meta.recordCount;
  }

  listLogs(prefix = ""): LogInfo[] {
    return [...this.logs.values()]
      .filter((log) => log.meta.name.startsWith(prefix))
      .sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0))
      .map((log) => this.describeState(log));
  }

  describe(name: string): LogInfo {
    return this.describeState(this.get(name));
  }

  /** The storage id of a log: positions are keyed by it, so a recreated log starts with no readers. */
  logId(name: string): number {
    return this.get(name).meta.id;
  }

  head(name: string): LogHead {
    const log = this.get(name);
    const last = log.committed.segments.at(-1);
    return {
      last: last ? lastDlsnOf(last) : undefined,
      nextSequenceId: log.committed.meta.nextSequenceId,
    };
  }

  /** The first record that still exists, if any. */
  first(name: string): { dlsn: DLSN; sequenceId: bigint } | undefined {
    const first = this.get(name).committed.segments[0];
    return first ? { dlsn: firstDlsnOf(first), sequenceId: first.firstSequenceId } : undefined;
  }

  private describeState(log: LogState): LogInfo {
    const { meta, segments } = log.committed;
    const first = segments[0];
    const last = segments.at(-1);
    return {
      name: meta.name,
      createdTimeMs: meta.createdTimeMs,
      firstDlsn: first ? firstDlsnOf(first) : undefined,
      lastDlsn: last ? lastDlsnOf(last) : undefined,
      lastTxid: meta.lastTxid,
      recordCount: meta.recordCount,
      byteCount: meta.byteCount,
      nextSequenceId: meta.nextSequenceId,
      truncatedRecordCount: meta.truncatedRecordCount,
      segments: segments.map((segment) => ({
        segment: segment.segment,
        firstDlsn: firstDlsnOf(segment),
        lastDlsn: lastDlsnOf(segment),
        recordCount: segment.recordCount,
        byteCount: segment.byteCount,
        firstTxid: segment.firstTxid,
        lastTxid: segment.lastTxid,
        createdTimeMs: segment.createdTimeMs,
        lastAppendTimeMs: segment.lastAppendTimeMs,
        open: log.open?.segment === segment.segment,
      })),
    };
  }

  private get(name: string): LogState {
    validateName("log", name);
    const log = this.logs.get(name);
    if (!log) throw new DlogError("NOT_FOUND", `log "${name}" does not exist`);
    return log;
  }

  private checkUsable(): void {
    if (this.closed) throw new DlogError("UNAVAILABLE", "server is shutting down");
    if (this.failure) {
      throw new DlogError("UNAVAILABLE", `storage failed earlier (${this.failure.message}); restart the server`);
    }
  }

  // ---- append (group commit) -------------------------------------------------------------------

  /** Appends the records as one entry. Resolves once the batch holding it is written. */
  async append(name: string, records: readonly RecordInput[]): Promise<AppendResult> {
    validateName("log", name);
    this.checkUsable();
    this.validateRecords(records);
    let log = this.logs.get(name);
    const creating = this.creating.get(name);
    if (!log || creating) {
      if (!creating && !this.options.autoCreate) {
        throw new DlogError("NOT_FOUND", `log "${name}" does not exist (the server runs with --no-auto-create; create it first)`);
      }
      // Appends that wait for the log's creation resume in call order (see createState).
      log = await (creating ?? this.createState(name));
      this.checkUsable();
    }
    // From here to the push everything is synchronous, so DLSNs and txids are assigned in call order.
    return new Promise<AppendResult>((resolve, reject) => {
      const pending = this.assign(log, records);
      this.pending.push({ ...pending, resolve, reject });
      this.scheduleCommit();
    });
  }

  private validateRecords(records: readonly RecordInput[]): void {
    if (records.length === 0) {
      throw new DlogError("INVALID_ARGUMENT", "an append needs at least one record");
    }
    if (records.length > this.options.maxRecordsPerAppend) {
      throw new DlogError(
        "INVALID_ARGUMENT",
        `an append may hold at most ${this.options.maxRecordsPerAppend} records (--max-records-per-append), got ${records.length}`,
      );
    }
    for (let i = 0; i < records.length; i++) {
      const size = records[i]!.payload.length;
      if (size > this.options.maxRecordBytes) {
        throw new DlogError(
          "INVALID_ARGUMENT",
          `record ${i} is ${size} bytes; the limit is ${this.options.maxRecordBytes} bytes (--max-record-bytes)`,
        );
      }
    }
    let previous: bigint | undefined;
    for (let i = 0; i < records.length; i++) {
      const txid = records[i]!.txid;
      if (txid === undefined) continue;
      if (previous !== undefined && txid < previous) {
        throw new DlogError("FAILED_PRECONDITION", `transaction id out of order: record ${i} has txid ${txid} after ${previous}`);
      }
      previous = txid;
    }
  }

  private assign(log: LogState, records: readonly RecordInput[]): Omit<PendingAppend, "resolve" | "reject"> {
    const meta = log.meta;
    const nowMs = this.now();
    // Txids never decrease, within an entry too: an unset one is max(the txid before it, now).
    // Checked before anything changes, so a refused append leaves no trace.
    const nowTxid = BigInt(nowMs);
    let txid = meta.lastTxid;
    let fromLog = true; // `txid` is still the log's last, not one of this append's
    const inputs = new Array<EntryRecordInput>(records.length);
    for (let i = 0; i < records.length; i++) {
      const given = records[i]!.txid;
      if (given !== undefined && given < txid) {
        throw new DlogError(
          "FAILED_PRECONDITION",
          fromLog
            ? `transaction id out of order: txid ${given} is lower than the log's last txid ${txid}`
            : `transaction id out of order: record ${i} has txid ${given}, lower than ${txid} before it in the same append`,
        );
      }
      if (given !== undefined) txid = given;
      else if (nowTxid > txid) txid = nowTxid;
      fromLog = false;
      inputs[i] = { payload: records[i]!.payload, txid };
    }
    const segment = this.segmentForAppend(log, nowMs);
    const entryId = segment.recordCount === 0n ? segment.firstEntry : segment.lastEntry + 1n;
    const firstSequenceId = meta.nextSequenceId;
    const dlsns: DLSN[] = [];
    const txids: bigint[] = [];
    let bytes = 0n;
    for (let slot = 0; slot < inputs.length; slot++) {
      dlsns.push(new DLSN(segment.segment, entryId, BigInt(slot)));
      txids.push(inputs[slot]!.txid);
      bytes += BigInt(inputs[slot]!.payload.length);
    }
    const count = BigInt(inputs.length);
    const lastTxid = inputs[inputs.length - 1]!.txid;

    if (segment.recordCount === 0n) {
      segment.firstSequenceId = firstSequenceId;
      segment.firstTxid = inputs[0]!.txid;
      segment.firstAppendTimeMs = nowMs;
    }
    segment.lastEntry = entryId;
    segment.lastSlot = count - 1n;
    segment.recordCount += count;
    segment.byteCount += bytes;
    segment.lastTxid = lastTxid;
    segment.lastAppendTimeMs = nowMs;
    meta.lastTxid = lastTxid;
    meta.nextSequenceId += count;
    meta.recordCount += count;
    meta.byteCount += bytes;

    return {
      log,
      entry: {
        logId: meta.id,
        segment: segment.segment,
        entry: entryId,
        value: encodeEntry(inputs, nowMs, firstSequenceId),
      },
      result: { dlsns, txids, firstSequenceId },
    };
  }

  private segmentForAppend(log: LogState, nowMs: number): SegmentMeta {
    const open = log.open;
    if (
      open &&
      open.byteCount < BigInt(this.options.segmentMaxBytes) &&
      nowMs - open.createdTimeMs < this.options.segmentMaxAgeMs
    ) {
      return open;
    }
    const number = log.meta.lastSegment + 1n;
    const segment: SegmentMeta = {
      logId: log.meta.id,
      segment: number,
      firstEntry: 0n,
      lastEntry: 0n,
      lastSlot: 0n,
      firstSequenceId: log.meta.nextSequenceId,
      recordCount: 0n,
      byteCount: 0n,
      firstTxid: 0n,
      lastTxid: 0n,
      createdTimeMs: nowMs,
      firstAppendTimeMs: nowMs,
      lastAppendTimeMs: nowMs,
    };
    log.meta.lastSegment = number;
    if (log.meta.firstLiveSegment === 0n) log.meta.firstLiveSegment = number;
    log.segments.push(segment);
    log.open = segment;
    return segment;
  }

  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    // setImmediate, not a microtask: every append that arrives in this turn of the event loop joins the batch.
    setImmediate(() => {
      this.commitScheduled = false;
      void this.writes.run(() => this.commitPending());
    });
  }

  private async commitPending(): Promise<void> {
    const batch = this.pending.filter((append) => {
      if (!append.log.deleted) return true;
      append.reject(new DlogError("NOT_FOUND", `log "${append.log.meta.name}" was deleted`));
      return false;
    });
    this.pending = [];
    if (batch.length === 0) return;
    if (this.failure) {
      for (const append of batch) append.reject(new DlogError("UNAVAILABLE", `storage failed: ${this.failure.message}`));
      return;
    }
    const touched = new Set<LogState>();
    for (const append of batch) touched.add(append.log);
    const snapshots = [...touched].map((log) => ({
      log,
      meta: { ...log.meta },
      segments: log.segments.map((segment) => ({ ...segment })),
    }));
    const written = new Set(batch.map((append) => `${append.entry.logId}/${append.entry.segment}`));
    const touchedSegments = snapshots.flatMap(({ segments }) =>
      segments.filter((segment) => written.has(`${segment.logId}/${segment.segment}`)),
    );
    try {
      await this.storage.commit(
        { entries: batch.map((append) => append.entry), logs: snapshots.map((s) => s.meta), segments: touchedSegments },
        this.options.sync,
      );
    } catch (error) {
      // A failed write leaves memory ahead of disk: stop taking writes rather than guess (fail-stop).
      this.failure = error as Error;
      const failed = new DlogError("UNAVAILABLE", `storage write failed: ${(error as Error).message}`, { cause: error });
      for (const append of batch) append.reject(failed);
      return;
    }
    for (const snapshot of snapshots) snapshot.log.committed = { meta: snapshot.meta, segments: snapshot.segments };
    this.counters.commits++;
    for (const append of batch) {
      this.counters.recordsAppended += append.result.dlsns.length;
      this.counters.bytesAppended += append.entry.value.length;
      append.resolve(append.result);
    }
    for (const { log } of snapshots) this.wake(log);
  }

  private wake(log: LogState): void {
    if (log.waiters.size === 0) return;
    const next = log.committed.meta.nextSequenceId;
    for (const waiter of log.waiters) {
      if (next > waiter.afterSequenceId) {
        log.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /**
   * Resolves once the log holds a committed record with sequence id >= `sequenceId`.
   * Rejects when the log is deleted, the store closes or `signal` aborts.
   */
  waitForRecord(name: string, sequenceId: bigint, signal?: AbortSignal): Promise<void> {
    const log = this.get(name);
    if (log.committed.meta.nextSequenceId > sequenceId) return Promise.resolve();
    this.checkUsable();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        log.waiters.delete(waiter);
        reject(signal?.reason instanceof Error ? signal.reason : new DlogError("ABORTED", "wait cancelled"));
      };
      const waiter: Waiter = {
        afterSequenceId: sequenceId,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      log.waiters.add(waiter);
    });
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** A cursor over committed records, starting at the first record at or after `from`. */
  openReader(name: string, from: DLSN): LogReader {
    return new LogReader(this, this.storage, this.get(name), from);
  }

  /**
   * The floor a reader starting at `start` begins after: the record just before
   * the first record at or after `start` (as an exclusive bound), with the
   * sequence id of that record minus one.
   */
  async resolveStart(name: string, start: StartPosition): Promise<Floor> {
    const log = this.get(name);
    const head = this.head(name);
    const atEnd = (): Floor => ({
      dlsn: head.last ?? this.nextDlsnBound(log),
      sequenceId: head.nextSequenceId - 1n,
    });
    switch (start.kind) {
      case "latest":
        return atEnd();
      case "earliest": {
        const first = log.committed.segments[0];
        if (!first) return atEnd();
        return { dlsn: firstDlsnOf(first).justBefore(), sequenceId: first.firstSequenceId - 1n };
      }
      case "dlsn":
        return (await this.floorBeforeFirst(name, start.dlsn, () => true)) ?? { ...atEnd(), dlsn: start.dlsn.justBefore() };
      case "txid": {
        const segment = log.committed.segments.find((s) => s.lastTxid >= start.txid);
        if (!segment) return atEnd();
        return (
          (await this.floorBeforeFirst(name, firstDlsnOf(segment), (r) => r.txid >= start.txid)) ??
          atEnd()
        );
      }
      case "time": {
        const segment = log.committed.segments.find((s) => s.lastAppendTimeMs >= start.timeMs);
        if (!segment) return atEnd();
        return (
          (await this.floorBeforeFirst(
            name,
            firstDlsnOf(segment),
            (r) => r.appendTimeMs >= start.timeMs,
          )) ?? atEnd()
        );
      }
    }
  }

  /** A bound below any DLSN the next append can get, for empty logs. */
  private nextDlsnBound(log: LogState): DLSN {
    const segment = log.committed.meta.lastSegment;
    return segment === 0n ? DLSN.INVALID : new DLSN(segment, 0n, 0n).justBefore();
  }

  /** The floor just before the first record from `from` on that matches. */
  private async floorBeforeFirst(name: string, from: DLSN, match: (r: DecodedRecord) => boolean): Promise<Floor | undefined> {
    const reader = this.openReader(name, from);
    try {
      for (;;) {
        const records = await reader.read(1024);
        if (records.length === 0) return undefined;
        const found = records.find(match);
        if (found) {
          return {
            dlsn: found.dlsn.justBefore(),
            sequenceId: found.sequenceId - 1n,
          };
        }
      }
    } finally {
      await reader.close();
    }
  }

  /** The first record at or after `from`, if any is committed. */
  async firstRecordFrom(name: string, from: DLSN): Promise<DecodedRecord | undefined> {
    const reader = this.openReader(name, from);
    try {
      return (await reader.read(1))[0];
    } finally {
      await reader.close();
    }
  }

  // ---- truncation ----------------------------------------------------------------------------

  /** Drops every committed segment whose records all lie before `before`. */
  async truncate(name: string, before: DLSN): Promise<TruncateResult> {
    const log = this.get(name);
    this.checkUsable();
    return this.writes.run(async () => {
      if (log.deleted) throw new DlogError("NOT_FOUND", `log "${name}" was deleted`);
      // Appends assigned but not yet committed may write to any segment since the last batch (a roll
      // moves on mid-batch): those segments stay, or their records would land in dropped segments.
      const writing = new Set(this.pending.filter((p) => p.log === log).map((p) => p.entry.segment));
      const doomed = log.committed.segments.filter(
        (segment) => lastDlsnOf(segment).isBefore(before) && !writing.has(segment.segment),
      );
      // Only a prefix of segments can go: the log stays contiguous.
      const prefix: SegmentMeta[] = [];
      for (const segment of log.committed.segments) {
        if (doomed[prefix.length] !== segment) break;
        prefix.push(segment);
      }
      if (prefix.length === 0) {
        return { segmentsDeleted: 0, recordsDeleted: 0n, firstDlsn: this.describeState(log).firstDlsn };
      }
      const lastDoomed = prefix[prefix.length - 1]!.segment;
      let records = 0n;
      let bytes = 0n;
      for (const segment of prefix) {
        records += segment.recordCount;
        bytes += segment.byteCount;
      }
      for (const meta of [log.meta, log.committed.meta]) {
        meta.recordCount -= records;
        meta.byteCount -= bytes;
        meta.truncatedRecordCount += records;
        meta.firstLiveSegment = lastDoomed + 1n;
      }
      log.segments = log.segments.filter((segment) => segment.segment > lastDoomed);
      log.committed.segments = log.committed.segments.filter((segment) => segment.segment > lastDoomed);
      if (log.open && log.open.segment <= lastDoomed) log.open = undefined;
      // Metadata first (atomically), then the entries: a crash in between leaves only unreachable entries.
      await this.storage.commit(
        {
          entries: [],
          logs: [{ ...log.committed.meta }],
          segments: [],
          deletedSegments: prefix.map((segment) => ({ logId: log.meta.id, segment: segment.segment })),
        },
        true,
      );
      await this.storage.deleteSegmentRange(log.meta.id, 0n, lastDoomed + 1n);
      return { segmentsDeleted: prefix.length, recordsDeleted: records, firstDlsn: this.describeState(log).firstDlsn };
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
    await this.writes.run(async () => {
      await this.commitPending();
    });
    this.closed = true;
    const closing = new DlogError("UNAVAILABLE", "server is shutting down");
    for (const log of this.logs.values()) {
      for (const waiter of log.waiters) waiter.reject(closing);
      log.waiters.clear();
    }
    this.closedController.abort(closing);
  }
}

/**
 * Reads committed records of one log in order. Keeps a LevelDB iterator open
 * while there is data and reopens it after reaching the end, since an
 * iterator only sees data committed before it was opened.
 */
export class LogReader {
  private readonly store: LogStore;
  private readonly storage: Storage;
  private readonly log: LogState;
  private cursor: ReturnType<Storage["openCursor"]> | undefined;
  private buffered: Array<{ segment: bigint; entry: bigint; value: Buffer }> = [];
  private bufferedIndex = 0;
  /** The first DLSN not yet returned (inclusive lower bound of what comes next). */
  private position: DLSN;
  /** Sequence id the next record is expected to have: what a waiter waits for. */
  private expectedSequenceId = 0n;
  /** Committed records when the cursor was opened: it sees at least these, so at its end nothing below is missing. */
  private snapshotNextSequenceId = 0n;

  constructor(store: LogStore, storage: Storage, log: LogState, from: DLSN) {
    this.store = store;
    this.storage = storage;
    this.log = log;
    this.position = from;
  }

  /** Up to `maxRecords` records, stopping once their payloads reach `maxBytes` (at least one record); empty at the end of the log. */
  async read(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<DecodedRecord[]> {
    if (this.log.deleted) throw new DlogError("NOT_FOUND", `log "${this.log.meta.name}" was deleted`);
    const out: DecodedRecord[] = [];
    let bytes = 0;
    while (out.length < maxRecords && bytes < maxBytes) {
      if (this.bufferedIndex >= this.buffered.length) {
        if (!(await this.fill(maxRecords - out.length))) break;
      }
      const stored = this.buffered[this.bufferedIndex]!;
      const fromSlot =
        stored.segment === this.position.segment && stored.entry === this.position.entry && this.position.slot > 0n
          ? Number(this.position.slot)
          : 0;
      const before = out.length;
      const endSlot = decodeEntryInto(out, stored.segment, stored.entry, stored.value, fromSlot, maxRecords, maxBytes - bytes);
      for (let i = before; i < out.length; i++) bytes += out[i]!.payload.length;
      if (endSlot >= entryRecordCount(stored.value)) {
        this.bufferedIndex++;
        this.position = new DLSN(stored.segment, stored.entry + 1n, 0n);
      } else {
        this.position = new DLSN(stored.segment, stored.entry, BigInt(endSlot));
      }
    }
    const last = out[out.length - 1];
    if (last) this.expectedSequenceId = last.sequenceId + 1n;
    else if (this.snapshotNextSequenceId > this.expectedSequenceId) this.expectedSequenceId = this.snapshotNextSequenceId;
    return out;
  }

  /** Resolves when a record after the last one read is committed. */
  waitForMore(signal?: AbortSignal): Promise<void> {
    return this.store.waitForRecord(this.log.meta.name, this.expectedSequenceId, signal);
  }

  /** Where the next read starts (inclusive). */
  get nextPosition(): DLSN {
    return this.position;
  }

  private async fill(wanted: number): Promise<boolean> {
    this.buffered = [];
    this.bufferedIndex = 0;
    if (!this.cursor) {
      const firstLive = this.log.committed.meta.firstLiveSegment;
      let { segment, entry } = this.position;
      if (segment < firstLive) {
        segment = firstLive;
        entry = 0n;
        this.position = new DLSN(segment, 0n, 0n);
      }
      if (entry < 0n) {
        entry = 0n;
        this.position = new DLSN(segment, 0n, 0n);
      }
      if (segment < 0n) segment = 0n;
      this.snapshotNextSequenceId = this.log.committed.meta.nextSequenceId;
      this.cursor = this.storage.openCursor(this.log.meta.id, segment, entry);
    }
    // A local: close() may run while next() is pending and clear the field.
    const cursor = this.cursor;
    const entries = await cursor.next(Math.min(Math.max(wanted, 16), READ_CHUNK_ENTRIES));
    if (entries.length === 0) {
      if (this.cursor === cursor) this.cursor = undefined;
      await cursor.close();
      return false;
    }
    const firstLive = this.log.committed.meta.firstLiveSegment;
    this.buffered = firstLive > 0n ? entries.filter((e) => e.segment >= firstLive) : entries;
    if (this.buffered.length === 0) return this.fill(wanted);
    return true;
  }

  async close(): Promise<void> {
    const cursor = this.cursor;
    this.cursor = undefined;
    await cursor?.close();
  }
}
