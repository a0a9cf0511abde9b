/**
 * The storage boundary: everything dlog keeps on disk goes through this small
 * interface, so a replicated engine can take LevelDB's place without the log,
 * session or wire layers knowing. Values are plain data; the log layer owns
 * their meaning.
 */

import { DlogError } from "../errors.js";

/** A log's durable metadata, rewritten in the same batch as the entries it describes. */
export interface LogMeta {
  id: number;
  name: string;
  createdTimeMs: number;
  lastTxid: bigint;
  /** Sequence id the next record gets: records ever appended. */
  nextSequenceId: bigint;
  /** Records and payload bytes still stored. */
  recordCount: bigint;
  byteCount: bigint;
  truncatedRecordCount: bigint;
  /** Segments below this number were truncated; their records are invisible even if a crash left some behind. */
  firstLiveSegment: bigint;
  /** Highest segment number ever used, so a reopened log starts a new one above it. */
  lastSegment: bigint;
}

export interface SegmentMeta {
  logId: number;
  segment: bigint;
  firstEntry: bigint;
  lastEntry: bigint;
  /** Slot of the last record in `lastEntry`. */
  lastSlot: bigint;
  firstSequenceId: bigint;
  recordCount: bigint;
  byteCount: bigint;
  firstTxid: bigint;
  lastTxid: bigint;
  createdTimeMs: number;
  firstAppendTimeMs: number;
  lastAppendTimeMs: number;
}

/** One entry: what one append call wrote. `value` is encoded by `log/entry-codec.ts`. */
export interface StoredEntry {
  segment: bigint;
  entry: bigint;
  value: Buffer;
}

export interface EntryWrite extends StoredEntry {
  logId: number;
}

/** A reader's durable position: the acked floor plus acked holes above it. */
export interface StoredPosition {
  /** 25-byte DistributedLog DLSN (SPEC §1): what the tutorial stored. */
  floor: Buffer;
  /** Extra state beside it (sequence ids, holes, epoch), encoded by `positions/position-codec.ts`. */
  extra: Buffer;
}

export interface PositionWrite {
  logId: number;
  readerId: string;
  /** null deletes the reader. */
  position: StoredPosition | null;
}

/** An idempotent producer's state on one log; `value` is encoded by `log/producer-codec.ts`, null deletes it. */
export interface ProducerWrite {
  logId: number;
  producerId: string;
  value: Buffer | null;
}

/** Which of a producer's window slots: a producer's state apart from an earlier, evicted one of the same id. */
export interface ProducerSlotsKey {
  logId: number;
  producerId: string;
  incarnation: bigint;
}

/**
 * The producer's appends with seqs `firstSeq`, `firstSeq + 1`, … written in one batch, as one
 * value (its dedupe window slots, encoded by `log/producer-codec.ts`): one put per producer per
 * batch, however many appends it pipelined.
 */
export interface ProducerSlotsWrite extends ProducerSlotsKey {
  firstSeq: bigint;
  value: Buffer;
}

export interface CommitBatch {
  entries: EntryWrite[];
  logs: LogMeta[];
  segments: SegmentMeta[];
  deletedSegments?: Array<{ logId: number; segment: bigint }>;
  /** Written in the same atomic batch as the entries they describe. */
  producers?: ProducerWrite[];
  producerSlots?: ProducerSlotsWrite[];
}

export interface StoredLog {
  meta: LogMeta;
  segments: SegmentMeta[];
  producers: Array<{ producerId: string; value: Buffer }>;
}

/** Reads entries of one log in key order, in chunks. */
export interface EntryCursor {
  /** Up to `max` entries; an empty array means the end as of the cursor's snapshot. */
  next(max: number): Promise<StoredEntry[]>;
  close(): Promise<void>;
}

export interface Storage {
  /** Every log with its segments and idempotent producers, in name order. */
  loadLogs(): Promise<StoredLog[]>;
  nextLogId(): Promise<number>;
  /** Writes entries and metadata atomically. Resolves once written (and fsynced when `sync`). */
  commit(batch: CommitBatch, sync: boolean): Promise<void>;
  /** Entries of `logId` from `(segment, entry)` on, inclusive. */
  openCursor(logId: number, segment: bigint, entry: bigint): EntryCursor;
  /** Removes entries of segments in [fromSegment, toSegment). */
  deleteSegmentRange(logId: number, fromSegment: bigint, toSegment: bigint): Promise<void>;
  /** Removes the log's metadata, segments, producers and reader positions atomically, then its entries. */
  deleteLog(logId: number, name: string): Promise<void>;
  /** The stored slots value holding `seq`: the one with the highest `firstSeq` at or below it, if any. */
  getProducerSlots(key: ProducerSlotsKey, seq: bigint): Promise<{ firstSeq: bigint; value: Buffer } | undefined>;
  /** Drops a producer's slots values with `firstSeq` below `belowSeq` (all of them when undefined). */
  deleteProducerSlots(key: ProducerSlotsKey, belowSeq?: bigint): Promise<void>;
  getPosition(logId: number, readerId: string): Promise<StoredPosition | undefined>;
  listPositions(logId: number): Promise<Array<{ readerId: string; position: StoredPosition }>>;
  /** All position changes in one batch, fsynced when `sync`. */
  writePositions(writes: PositionWrite[], sync: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * A failed storage operation as the error callers see: DISK_FULL (RESOURCE_EXHAUSTED) when
 * the disk is out of space, STORAGE_UNAVAILABLE (UNAVAILABLE) for anything else.
 */
export function storageError(message: string, error: unknown): DlogError {
  const text = `${(error as Error)?.message ?? String(error)} ${(error as { code?: unknown })?.code ?? ""} ${(error as { cause?: Error })?.cause?.message ?? ""}`;
  const full = /ENOSPC|no space left on device/i.test(text);
  return full
    ? new DlogError("RESOURCE_EXHAUSTED", `${message}: the disk is full; free space, then restart the server`, { reason: "DISK_FULL", cause: error })
    : new DlogError("UNAVAILABLE", message, { reason: "STORAGE_UNAVAILABLE", cause: error });
}
