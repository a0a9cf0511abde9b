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
  /**
   * Writes entries and metadata atomically. Resolves once written (and fsynced when `sync`).
   * A log's entries come in DLSN order, within a batch and from one batch to the next (the log
   * layer's one write queue sees to it): an engine may keep each log in write order.
   */
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
  /** All position changes in one batch, fsynced when `sync`. A replicated engine may refuse some with `PositionsFencedError`. */
  writePositions(writes: PositionWrite[], sync: boolean): Promise<void>;
  close(): Promise<void>;
  /**
   * The error a write would get now, without trying (`addsRecords`: an append), so callers
   * refuse before changing anything; undefined when writes are taken. Optional: a store without
   * fault handling just fails its writes.
   */
  writeRefusal?(addsRecords: boolean): DlogError | undefined;
  /** Frees the disk space of a log's deleted entries now (a full disk), where the engine can. */
  compact?(logId: number): Promise<void>;
  /**
   * A store several gateways share: tells of each log another gateway created, committed to or
   * deleted, so this one's state (and its readers at the tail) follow. Optional: a store only one
   * process opens has nothing to tell.
   */
  watchLogs?(listener: (change: LogChange) => void): void;
  /**
   * A store several gateways share: tells of each reader another gateway wrote, with what it wrote
   * (a takeover ends the session here at once), or deleted (null; not the readers of a deleted log,
   * which `watchLogs` tells).
   */
  watchReaders?(listener: (logId: number, readerId: string, position: StoredPosition | null) => void): void;
}

/**
 * What `watchLogs` tells: a log's state as another gateway committed it, or its deletion. The
 * store's own writes keep going on the state it had until the listener calls `adopt()`, on its
 * write queue, once no append assigned on the old state is left to write (or reloads instead).
 */
export type LogChange = ({ kind: "changed"; log: StoredLog } | { kind: "deleted"; logId: number }) & { adopt(): void };

/**
 * A replicated engine refused some reader positions of a `writePositions` batch because another
 * gateway wrote them since this one read them (compare-and-set). Every other write of the batch
 * landed. The refusal sticks until the position is read again (`getPosition`); the position store
 * then decides by the sessions' epochs: a newer session elsewhere fenced this one, an older one is
 * written over (and fenced by that).
 */
export class PositionsFencedError extends DlogError {
  readonly fenced: ReadonlyArray<{ logId: number; readerId: string }>;
  constructor(fenced: ReadonlyArray<{ logId: number; readerId: string }>, cause?: unknown) {
    const names = fenced.map((f) => `"${f.readerId}"`).join(", ");
    super("ABORTED", `reader ${names} was taken over by another dlogd gateway: this session is fenced`, { reason: "READER_FENCED", cause });
    this.fenced = fenced;
  }
}

/** How a storage failure behaves: space may return, a resource may free up, or neither is known. */
export type StorageFaultKind = "disk-full" | "transient" | "failed";

/** errno names found in LevelDB's and Node's messages, and what an operator reads for each. */
const TRANSIENT_CAUSES: Array<[RegExp, string]> = [
  [/EMFILE|ENFILE|too many open files/i, "too many open files"],
  [/EAGAIN|EWOULDBLOCK|resource temporarily unavailable/i, "a resource is temporarily unavailable"],
  [/ENOMEM|cannot allocate memory/i, "out of memory"],
  [/EINTR|EBUSY|interrupted system call|device or resource busy/i, "the device is busy"],
];

function describeCause(error: unknown): string {
  const e = error as { message?: unknown; code?: unknown; cause?: { message?: unknown; code?: unknown } } | undefined;
  return `${String(e?.message ?? error)} ${String(e?.code ?? "")} ${String(e?.cause?.message ?? "")} ${String(e?.cause?.code ?? "")}`;
}

/** Sorts a storage failure by what can end it (LevelDB reports errno text: "IO error: <file>: No space left on device"). */
export function classifyStorageError(error: unknown): StorageFaultKind {
  const text = describeCause(error);
  if (/ENOSPC|no space left on device|EDQUOT|disk quota exceeded/i.test(text)) return "disk-full";
  return TRANSIENT_CAUSES.some(([pattern]) => pattern.test(text)) ? "transient" : "failed";
}

/**
 * A failed storage operation as the error callers see: DISK_FULL (RESOURCE_EXHAUSTED) when
 * the disk is out of space, STORAGE_UNAVAILABLE (UNAVAILABLE) for anything else. The message
 * names the kind of failure but never the cause's text, which holds server paths; the cause is
 * kept for the server's own log. A DlogError passes through unchanged.
 */
export function storageError(message: string, error: unknown): DlogError {
  if (error instanceof DlogError) return error;
  const kind = classifyStorageError(error);
  if (kind === "disk-full") {
    return new DlogError(
      "RESOURCE_EXHAUSTED",
      `${message}: the disk holding the data dir is full; writes that add data are refused until space is freed (Truncate or DeleteLog old data, or grow the disk), then dlogd recovers by itself`,
      { reason: "DISK_FULL", cause: error },
    );
  }
  const text = describeCause(error);
  const what = TRANSIENT_CAUSES.find(([pattern]) => pattern.test(text))?.[1] ?? "an I/O error";
  return new DlogError("UNAVAILABLE", `${message}: storage is unavailable (${what}); dlogd retries by itself, try again shortly`, {
    reason: "STORAGE_UNAVAILABLE",
    cause: error,
  });
}
