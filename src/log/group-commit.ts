import { performance } from "node:perf_hooks";
import { DlogError, logDeletedError } from "../errors.js";
import {
  type EntryWrite,
  type LogMeta,
  type ProducerSlotsWrite,
  type ProducerWrite,
  type SegmentMeta,
  type Storage,
  storageError,
} from "../storage/storage.js";
import type { SerialQueue } from "../util/serial-queue.js";
import { AppendResult, type RecordInput } from "./append-result.js";
import type { EntryCache } from "./entry-cache.js";
import { type EntryRecordInput, encodeEntry } from "./entry-codec.js";
import type { LogState } from "./log-state.js";
import type { ProducerAppend, SlotDeletion } from "./producer-table.js";
import { wakeWaiters } from "./tail-waiters.js";

export interface GroupCommitOptions {
  /** fsync every group-committed batch. */
  sync: boolean;
  maxRecordBytes: number;
  maxRecordsPerAppend: number;
  /** Roll to a new segment once the open one holds this many payload bytes. */
  segmentMaxBytes: number;
  /** Roll to a new segment once the open one is this old. */
  segmentMaxAgeMs: number;
  now: () => number;
  /**
   * A batch failed to write: memory is ahead of disk until the store reloads its state. Every
   * append assigned so far has been refused; none is assigned until the store has reloaded.
   */
  onWriteFailed(error: DlogError): void;
  /** Set while the store has not reloaded after a failed write: a batch assigned on that state is refused. */
  staleError(): DlogError | undefined;
  /** After each batch is durable: the records it carried and how long its write (and fsync) took. For metrics. */
  onCommitted?: ((records: number, durationMs: number) => void) | undefined;
  /**
   * Appends to one log that go into the same batch share one entry (consecutive slots, up to
   * `maxRecordsPerAppend` records and PACK_MAX_BYTES): fewer, larger entries are cheaper to read.
   * Off: one entry per append.
   */
  packAppends: boolean;
}

/** Batches one turn of the write queue writes back to back (each started as the one before is durable). */
const MAX_CHAINED_BATCHES = 8;

/** Payload bytes past which a packed entry takes no more appends (a single append may be larger). */
const PACK_MAX_BYTES = 1024 * 1024;

interface PendingAppend {
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

/** A log's state as a batch writes it: what `committed` becomes once the batch is durable. */
interface CommitSnapshot {
  log: LogState;
  meta: LogMeta;
  segments: SegmentMeta[];
  /** Numbers of the segments the batch writes entries to. */
  written: bigint[];
}

/** An entry of the batch being gathered: the records of one or more appends to one log, encoded when the batch is taken. */
interface PendingEntry {
  log: LogState;
  segment: bigint;
  entry: bigint;
  appendTimeMs: number;
  firstSequenceId: bigint;
  records: EntryRecordInput[];
  bytes: number;
  appends: PendingAppend[];
}

/**
 * Appends: validates records, assigns DLSNs and txids in call order (rolling segments),
 * and writes every append that arrives in one turn of the event loop (or while the batch
 * before is being written) as one storage batch. With `packAppends`, the appends of one log
 * in a batch share its entry: each one's records take the next slots, so DLSNs still grow in
 * call order, and an entry is never extended once written.
 */
export class GroupCommit {
  private readonly storage: Storage;
  private readonly writes: SerialQueue;
  private readonly cache: EntryCache;
  private readonly options: GroupCommitOptions;
  private pending: PendingEntry[] = [];
  /** Per log, the entry of the batch being gathered that its next append may join. */
  private packing = new Map<LogState, PendingEntry>();
  private commitScheduled = false;
  /** Group-committed batches (one fsync each when sync) and what they carried. */
  readonly counters = { commits: 0, recordsAppended: 0, bytesAppended: 0 };

  /**
   * `writes` is the store's one write queue: batches never interleave with other storage writes.
   * Committed entries go into `cache`, where the readers they wake find them.
   */
  constructor(storage: Storage, writes: SerialQueue, cache: EntryCache, options: GroupCommitOptions) {
    this.storage = storage;
    this.writes = writes;
    this.cache = cache;
    this.options = options;
  }

  /** Refuses, naming `log` in the error, an append over a limit or with txids out of order. */
  validate(log: string, records: readonly RecordInput[]): void {
    if (records.length === 0) {
      throw new DlogError("INVALID_ARGUMENT", "an append needs at least one record", { metadata: { log, field: "records" } });
    }
    if (records.length > this.options.maxRecordsPerAppend) {
      throw new DlogError(
        "INVALID_ARGUMENT",
        `an append may hold at most ${this.options.maxRecordsPerAppend} records (--max-records-per-append), got ${records.length}`,
        {
          reason: "LIMIT_EXCEEDED",
          metadata: { log, limit: "max_records_per_append", max: String(this.options.maxRecordsPerAppend), value: String(records.length) },
        },
      );
    }
    for (let i = 0; i < records.length; i++) {
      const size = records[i]!.payload.length;
      if (size > this.options.maxRecordBytes) {
        throw new DlogError("INVALID_ARGUMENT", `record ${i} is ${size} bytes; the limit is ${this.options.maxRecordBytes} bytes (--max-record-bytes)`, {
          reason: "LIMIT_EXCEEDED",
          metadata: { log, limit: "max_record_bytes", max: String(this.options.maxRecordBytes), value: String(size), record: String(i) },
        });
      }
    }
    let previous: bigint | undefined;
    for (let i = 0; i < records.length; i++) {
      const txid = records[i]!.txid;
      if (txid === undefined) continue;
      if (previous !== undefined && txid < previous) {
        throw new DlogError("FAILED_PRECONDITION", `transaction id out of order: record ${i} has txid ${txid} after ${previous}`, {
          reason: "TXID_OUT_OF_ORDER",
          metadata: { log, record: String(i), txid: String(txid), last_txid: String(previous) },
        });
      }
      previous = txid;
    }
  }

  /**
   * Assigns the append its DLSNs and txids now (synchronously, so in call order) and
   * resolves once the batch holding it is written. Throws, changing nothing, when refused.
   * A producer's append also moves its dedupe window, in the same batch.
   */
  enqueue(log: LogState, records: readonly RecordInput[], producer?: ProducerAppend): Promise<AppendResult> {
    const { entry, result: assigned } = this.assign(log, records);
    const result = new Promise<AppendResult>((resolve, reject) => entry.appends.push({ result: assigned, resolve, reject }));
    if (producer) log.producers.admit(producer, assigned, result);
    this.scheduleCommit();
    return result;
  }

  /** Segments of `log` that appends assigned but not yet committed write to. */
  segmentsBeingWritten(log: LogState): Set<bigint> {
    return new Set(this.pending.filter((p) => p.log === log).map((p) => p.segment));
  }

  /** Writes the appends assigned so far; runs on the write queue like every batch. */
  flush(): Promise<void> {
    return this.writes.run(() => this.commitPending());
  }

  /** Assigns the append its slots: in the log's entry of the batch being gathered, or in a new entry. */
  private assign(log: LogState, records: readonly RecordInput[]): { entry: PendingEntry; result: AppendResult } {
    const meta = log.meta;
    const nowMs = this.options.now();
    // Txids never decrease, within an entry too: an unset one is max(the txid before it, now).
    // Checked before anything changes, so a refused append leaves no trace.
    const nowTxid = BigInt(nowMs);
    let txid = meta.lastTxid;
    let fromLog = true; // `txid` is still the log's last, not one of this append's
    const inputs = new Array<EntryRecordInput>(records.length);
    let bytes = 0;
    for (let i = 0; i < records.length; i++) {
      const given = records[i]!.txid;
      if (given !== undefined && given < txid) {
        throw new DlogError(
          "FAILED_PRECONDITION",
          fromLog
            ? `transaction id out of order: txid ${given} is lower than the log's last txid ${txid}`
            : `transaction id out of order: record ${i} has txid ${given}, lower than ${txid} before it in the same append`,
          { reason: "TXID_OUT_OF_ORDER", metadata: { log: log.meta.name, record: String(i), txid: String(given), last_txid: String(txid) } },
        );
      }
      if (given !== undefined) txid = given;
      else if (nowTxid > txid) txid = nowTxid;
      fromLog = false;
      inputs[i] = { payload: records[i]!.payload, txid };
      bytes += records[i]!.payload.length;
    }
    const segment = this.segmentForAppend(log, nowMs);
    const firstSequenceId = meta.nextSequenceId;
    const open = this.packing.get(log);
    let entry: PendingEntry;
    if (
      open !== undefined &&
      open.segment === segment.segment &&
      open.records.length + inputs.length <= this.options.maxRecordsPerAppend &&
      open.bytes + bytes <= PACK_MAX_BYTES
    ) {
      entry = open;
    } else {
      entry = {
        log,
        segment: segment.segment,
        entry: segment.recordCount === 0n ? segment.firstEntry : segment.lastEntry + 1n,
        appendTimeMs: nowMs,
        firstSequenceId,
        records: [],
        bytes: 0,
        appends: [],
      };
      this.pending.push(entry);
      if (this.options.packAppends) this.packing.set(log, entry);
    }
    const firstSlot = entry.records.length;
    const txids: bigint[] = [];
    for (let i = 0; i < inputs.length; i++) {
      txids.push(inputs[i]!.txid);
      entry.records.push(inputs[i]!);
    }
    entry.bytes += bytes;
    const count = BigInt(inputs.length);
    const lastTxid = inputs[inputs.length - 1]!.txid;

    if (segment.recordCount === 0n) {
      segment.firstSequenceId = firstSequenceId;
      segment.firstTxid = inputs[0]!.txid;
      segment.firstAppendTimeMs = entry.appendTimeMs;
    }
    segment.lastEntry = entry.entry;
    segment.lastSlot = BigInt(entry.records.length - 1);
    segment.recordCount += count;
    segment.byteCount += BigInt(bytes);
    segment.lastTxid = lastTxid;
    // Records of an entry share its append time (the first append's).
    segment.lastAppendTimeMs = entry.appendTimeMs;
    meta.lastTxid = lastTxid;
    meta.nextSequenceId += count;
    meta.recordCount += count;
    meta.byteCount += BigInt(bytes);

    return { entry, result: new AppendResult(segment.segment, entry.entry, firstSlot, inputs.length, txids, firstSequenceId) };
  }

  private segmentForAppend(log: LogState, nowMs: number): SegmentMeta {
    const open = log.open;
    if (open && open.byteCount < BigInt(this.options.segmentMaxBytes) && nowMs - open.createdTimeMs < this.options.segmentMaxAgeMs) {
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

  /** What the batch writes of `log`, copied now (appends assigned from here on change `log`), and its producers' writes. */
  private snapshotOf(
    log: LogState,
    byLog: Map<LogState, CommitSnapshot>,
    producers: ProducerWrite[],
    producerSlots: ProducerSlotsWrite[],
    slotDeletions: SlotDeletion[],
  ): CommitSnapshot {
    const segments = new Array<SegmentMeta>(log.segments.length);
    for (let i = 0; i < segments.length; i++) segments[i] = { ...log.segments[i]! };
    const snapshot: CommitSnapshot = { log, meta: { ...log.meta }, segments, written: [] };
    byLog.set(log, snapshot);
    const writes = log.producers.takeWrites();
    for (const write of writes.producers) producers.push(write);
    for (const write of writes.producerSlots) producerSlots.push(write);
    for (const deletion of writes.deletions) slotDeletions.push(deletion);
    return snapshot;
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

  /** `chained`: batches started by the ones before it in this turn of the write queue (see below). */
  private async commitPending(chained = 0): Promise<void> {
    // Taken now: appends from here on start the entries of the next batch.
    this.packing.clear();
    const batch = this.pending.filter((entry) => {
      if (!entry.log.deleted) return true;
      rejectAll(entry, logDeletedError(entry.log.meta.name));
      return false;
    });
    this.pending = [];
    if (batch.length === 0) return;
    const stale = this.options.staleError();
    if (stale) {
      for (const entry of batch) rejectAll(entry, stale);
      return;
    }
    // Per log its snapshot, taken once: a batch usually holds one log, and one segment of it.
    const byLog = new Map<LogState, CommitSnapshot>();
    const touchedSegments: SegmentMeta[] = [];
    const producers: ProducerWrite[] = [];
    const producerSlots: ProducerSlotsWrite[] = [];
    const slotDeletions: SlotDeletion[] = [];
    const entries = new Array<EntryWrite>(batch.length);
    let snapshot: CommitSnapshot | undefined;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      const log = entry.log;
      if (snapshot?.log !== log) snapshot = byLog.get(log) ?? this.snapshotOf(log, byLog, producers, producerSlots, slotDeletions);
      if (!snapshot.written.includes(entry.segment)) snapshot.written.push(entry.segment);
      entries[i] = {
        logId: log.meta.id,
        segment: entry.segment,
        entry: entry.entry,
        value: encodeEntry(entry.records, entry.appendTimeMs, entry.firstSequenceId),
      };
    }
    const snapshots = [...byLog.values()];
    const logs = new Array<LogMeta>(snapshots.length);
    for (let i = 0; i < snapshots.length; i++) {
      const { meta, segments, written } = snapshots[i]!;
      logs[i] = meta;
      for (const segment of segments) if (written.includes(segment.segment)) touchedSegments.push(segment);
    }
    const started = performance.now();
    try {
      await this.storage.commit({ entries, logs, segments: touchedSegments, producers, producerSlots }, this.options.sync);
    } catch (error) {
      // Memory is now ahead of disk, and so is every append assigned since: all are refused,
      // and the store reloads from disk (which knows whether the batch landed) before the next.
      const failed = storageError("append failed", error);
      const assigned = this.pending;
      this.pending = [];
      this.packing.clear();
      for (const entry of [...batch, ...assigned]) rejectAll(entry, failed);
      this.options.onWriteFailed(failed);
      return;
    }
    const durationMs = performance.now() - started;
    // Appends that came while this batch was written start theirs now, before this one's answers and
    // deliveries run: the disk then never waits for that work (nor for the GC pauses in it). Only after
    // this batch is durable, so a failed write still refuses everything assigned after it. Bounded, so
    // the store's other writes wait for a few batches at most; slot deletions keep to the queue's order.
    const next = slotDeletions.length === 0 && this.pending.length > 0 && chained < MAX_CHAINED_BATCHES ? this.commitPending(chained + 1) : undefined;
    for (const snapshot of snapshots) snapshot.log.committed = { meta: snapshot.meta, segments: snapshot.segments };
    this.counters.commits++;
    let records = 0;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      const write = entries[i]!;
      this.cache.put(write.logId, write.segment, write.entry, write.value);
      records += entry.records.length;
      this.counters.bytesAppended += write.value.length;
      for (const append of entry.appends) append.resolve(append.result);
    }
    this.counters.recordsAppended += records;
    this.options.onCommitted?.(records, durationMs);
    for (const { log } of snapshots) wakeWaiters(log);
    await next;
    // After the answers, still on the write queue: stale slots are never read, so a failure here costs nothing but space.
    for (const { key, belowSeq } of slotDeletions) await this.storage.deleteProducerSlots(key, belowSeq).catch(() => undefined);
  }
}

function rejectAll(entry: PendingEntry, error: Error): void {
  for (const append of entry.appends) append.reject(error);
}
