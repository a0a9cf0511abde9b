import { DLSN } from "../dlsn.js";
import type { LogMeta, SegmentMeta } from "../storage/storage.js";
import type { ProducerTable } from "./producer-table.js";

/** A caller waiting for a record with a sequence id above `afterSequenceId` (see tail-waiters.ts). */
export interface Waiter {
  afterSequenceId: bigint;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** In-memory state of one log. `meta`/`segments` run ahead of disk while a batch is being written. */
export interface LogState {
  meta: LogMeta;
  /** Sorted by segment number; the last may be open. */
  segments: SegmentMeta[];
  /** The segment appends go to; undefined after a reopen or truncation, so the next append starts a new one. */
  open: SegmentMeta | undefined;
  /** What the last successful commit wrote: describe() and readers see this. */
  committed: { meta: LogMeta; segments: SegmentMeta[] };
  deleted: boolean;
  waiters: Set<Waiter>;
  /** Idempotent producers' dedupe windows. */
  producers: ProducerTable;
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

/** State of a log as loaded or created: nothing open, so the next append starts a new segment (SPEC §1). */
export function newLogState(meta: LogMeta, segments: SegmentMeta[], producers: ProducerTable): LogState {
  return {
    producers,
    meta,
    segments,
    open: undefined,
    committed: { meta: { ...meta }, segments: segments.map((segment) => ({ ...segment })) },
    deleted: false,
    waiters: new Set(),
  };
}

export function firstDlsnOf(segment: SegmentMeta): DLSN {
  return new DLSN(segment.segment, segment.firstEntry, 0n);
}

export function lastDlsnOf(segment: SegmentMeta): DLSN {
  return new DLSN(segment.segment, segment.lastEntry, segment.lastSlot);
}

export function headOf(log: LogState): LogHead {
  const last = log.committed.segments.at(-1);
  return {
    last: last ? lastDlsnOf(last) : undefined,
    nextSequenceId: log.committed.meta.nextSequenceId,
  };
}

/** What a log holds as of its last commit. */
export function describeLog(log: LogState): LogInfo {
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
