import { performance } from "node:perf_hooks";
import { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import { type CommitBatch, type EntryWrite, type SegmentMeta, type Storage, storageError } from "../storage/storage.js";
import type { SerialQueue } from "../util/serial-queue.js";
import type { EntryCache } from "./entry-cache.js";
import { type EntryRecordInput, encodeEntry } from "./entry-codec.js";
import type { LogState } from "./log-state.js";
import type { ProducerAppend, SlotDeletion } from "./producer-table.js";
import { wakeWaiters } from "./tail-waiters.js";

export interface RecordInput {
  payload: Uint8Array;
  txid?: bigint | undefined;
}

export interface AppendResult {
  dlsns: DLSN[];
  txids: bigint[];
  firstSequenceId: bigint;
  /** A retry of a producer's append that was written before: nothing new was written. */
  duplicate?: boolean;
}

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
}

interface PendingAppend {
  log: LogState;
  entry: EntryWrite;
  result: AppendResult;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

/**
 * Appends: validates records, assigns DLSNs and txids in call order (rolling segments),
 * and writes every append that arrives in one turn of the event loop as one storage batch.
 */
export class GroupCommit {
  private readonly storage: Storage;
  private readonly writes: SerialQueue;
  private readonly cache: EntryCache;
  private readonly options: GroupCommitOptions;
  private pending: PendingAppend[] = [];
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
        { reason: "LIMIT_EXCEEDED", metadata: { log, limit: "max_records_per_append", max: String(this.options.maxRecordsPerAppend), value: String(records.length) } },
      );
    }
    for (let i = 0; i < records.length; i++) {
      const size = records[i]!.payload.length;
      if (size > this.options.maxRecordBytes) {
        throw new DlogError(
          "INVALID_ARGUMENT",
          `record ${i} is ${size} bytes; the limit is ${this.options.maxRecordBytes} bytes (--max-record-bytes)`,
          { reason: "LIMIT_EXCEEDED", metadata: { log, limit: "max_record_bytes", max: String(this.options.maxRecordBytes), value: String(size), record: String(i) } },
        );
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
    const assigned = this.assign(log, records);
    const result = new Promise<AppendResult>((resolve, reject) => this.pending.push({ ...assigned, resolve, reject }));
    if (producer) log.producers.admit(producer, assigned.result, result);
    this.scheduleCommit();
    return result;
  }

  /** Segments of `log` that appends assigned but not yet committed write to. */
  segmentsBeingWritten(log: LogState): Set<bigint> {
    return new Set(this.pending.filter((p) => p.log === log).map((p) => p.entry.segment));
  }

  /** Writes the appends assigned so far; runs on the write queue like every batch. */
  flush(): Promise<void> {
    return this.writes.run(() => this.commitPending());
  }

  private assign(log: LogState, records: readonly RecordInput[]): Omit<PendingAppend, "resolve" | "reject"> {
    const meta = log.meta;
    const nowMs = this.options.now();
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
          { reason: "TXID_OUT_OF_ORDER", metadata: { log: log.meta.name, record: String(i), txid: String(given), last_txid: String(txid) } },
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
      append.reject(new DlogError("NOT_FOUND", `log "${append.log.meta.name}" was deleted`, { reason: "LOG_DELETED", metadata: { log: append.log.meta.name } }));
      return false;
    });
    this.pending = [];
    if (batch.length === 0) return;
    const stale = this.options.staleError();
    if (stale) {
      for (const append of batch) append.reject(stale);
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
    const producers: CommitBatch["producers"] = [];
    const producerSlots: CommitBatch["producerSlots"] = [];
    const slotDeletions: SlotDeletion[] = [];
    for (const log of touched) {
      const writes = log.producers.takeWrites();
      producers.push(...writes.producers);
      producerSlots.push(...writes.producerSlots);
      slotDeletions.push(...writes.deletions);
    }
    const started = performance.now();
    try {
      await this.storage.commit(
        { entries: batch.map((append) => append.entry), logs: snapshots.map((s) => s.meta), segments: touchedSegments, producers, producerSlots },
        this.options.sync,
      );
    } catch (error) {
      // Memory is now ahead of disk, and so is every append assigned since: all are refused,
      // and the store reloads from disk (which knows whether the batch landed) before the next.
      const failed = storageError("append failed", error);
      const assigned = this.pending;
      this.pending = [];
      for (const append of [...batch, ...assigned]) append.reject(failed);
      this.options.onWriteFailed(failed);
      return;
    }
    const durationMs = performance.now() - started;
    for (const snapshot of snapshots) snapshot.log.committed = { meta: snapshot.meta, segments: snapshot.segments };
    this.counters.commits++;
    let records = 0;
    for (const append of batch) {
      this.cache.put(append.entry.logId, append.entry.segment, append.entry.entry, append.entry.value);
      records += append.result.dlsns.length;
      this.counters.bytesAppended += append.entry.value.length;
      append.resolve(append.result);
    }
    this.counters.recordsAppended += records;
    this.options.onCommitted?.(records, durationMs);
    for (const { log } of snapshots) wakeWaiters(log);
    // After the answers, still on the write queue: stale slots are never read, so a failure here costs nothing but space.
    for (const { key, belowSeq } of slotDeletions) await this.storage.deleteProducerSlots(key, belowSeq).catch(() => undefined);
  }
}
