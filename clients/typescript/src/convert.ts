/** Wire ↔ client conversions: DLSN objects, positions, log and reader infos. */
import { DLSN } from "../../../src/dlsn.js";
import { DlogError } from "./dlog-error.js";
import { Boundary, type DLSN as WireDLSN, type Position } from "./gen/dlog/v1/common.js";
import type { LogInfo as WireLogInfo, SegmentInfo as WireSegmentInfo } from "./gen/dlog/v1/log.js";
import type { ReaderInfo as WireReaderInfo } from "./gen/dlog/v1/reader.js";

/**
 * Where to start reading, every form inclusive: `"earliest"`, `"latest"` (only
 * records appended from now on), a DLSN (the first record at or after it), a
 * txid or an append time.
 */
export type StartAt = "earliest" | "latest" | DLSN | { txid: bigint | number } | { time: Date | number };

/** A log as `describe` shows it. Counts are bigint (int64 on the wire). */
export interface LogInfo {
  log: string;
  createdTimeMs: number;
  /** Unset when the log holds no records. */
  firstDlsn: DLSN | undefined;
  lastDlsn: DLSN | undefined;
  lastTxid: bigint;
  recordCount: bigint;
  byteCount: bigint;
  nextSequenceId: bigint;
  truncatedRecordCount: bigint;
  segments: SegmentInfo[];
}

export interface SegmentInfo {
  segment: bigint;
  firstDlsn: DLSN | undefined;
  lastDlsn: DLSN | undefined;
  recordCount: bigint;
  byteCount: bigint;
  firstTxid: bigint;
  lastTxid: bigint;
  createdTimeMs: number;
  lastAppendTimeMs: number;
  open: boolean;
}

/** A reader's stored position: delivery resumes strictly after `floor`, skipping `holes`. */
export interface ReaderPosition {
  log: string;
  readerId: string;
  floor: DLSN | undefined;
  holes: DLSN[];
  lag: bigint;
  live: boolean;
  epoch: bigint;
  updatedTimeMs: number;
}

export function toWireDlsn(dlsn: DLSN): WireDLSN {
  return { segment: dlsn.segment, entry: dlsn.entry, slot: dlsn.slot };
}

export function fromWireDlsn(wire: WireDLSN): DLSN;
export function fromWireDlsn(wire: WireDLSN | undefined): DLSN | undefined;
export function fromWireDlsn(wire: WireDLSN | undefined): DLSN | undefined {
  return wire ? new DLSN(wire.segment, wire.entry, wire.slot) : undefined;
}

/** Orders wire DLSNs without building DLSN objects (the reader's hot path). */
export const compareWire: (a: WireDLSN, b: WireDLSN) => number = DLSN.compareFields;

export function toWirePosition(at: StartAt): Position {
  if (at === "earliest") return { at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } };
  if (at === "latest") return { at: { $case: "boundary", value: Boundary.BOUNDARY_LATEST } };
  if (at instanceof DLSN) return { at: { $case: "dlsn", value: toWireDlsn(at) } };
  if ("txid" in at) return { at: { $case: "txid", value: BigInt(at.txid) } };
  if ("time" in at) {
    const ms = at.time instanceof Date ? at.time.getTime() : at.time;
    return { at: { $case: "timeMs", value: BigInt(Math.trunc(ms)) } };
  }
  throw DlogError.invalidArgument("toWirePosition", `not a start position: ${String(at)}`);
}

/**
 * Parses a start position typed by a person: `earliest`, `latest`, a DLSN
 * (`1/42/0` or base64), `txid:N`, or `time:` followed by ms since the epoch or an ISO date.
 */
export function parseStartAt(text: string): StartAt {
  const value = text.trim();
  if (/^earliest$/i.test(value)) return "earliest";
  if (/^latest$/i.test(value)) return "latest";
  const txid = /^txid:(-?\d+)$/i.exec(value);
  if (txid) return { txid: BigInt(txid[1]!) };
  const time = /^time:(.+)$/i.exec(value);
  if (time) {
    const raw = time[1]!;
    const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
    if (Number.isNaN(ms)) throw DlogError.invalidArgument("parseStartAt", `"${raw}" is not a time: use ms since the epoch or an ISO date`);
    return { time: ms };
  }
  try {
    return DLSN.parse(value);
  } catch {
    throw DlogError.invalidArgument("parseStartAt", `"${text}" is not a position: use earliest, latest, a DLSN (1/42/0 or base64), txid:N or time:ISO-DATE`);
  }
}

function toSegmentInfo(segment: WireSegmentInfo): SegmentInfo {
  return {
    segment: segment.segment,
    firstDlsn: fromWireDlsn(segment.firstDlsn),
    lastDlsn: fromWireDlsn(segment.lastDlsn),
    recordCount: segment.recordCount,
    byteCount: segment.byteCount,
    firstTxid: segment.firstTxid,
    lastTxid: segment.lastTxid,
    createdTimeMs: Number(segment.createdTimeMs),
    lastAppendTimeMs: Number(segment.lastAppendTimeMs),
    open: segment.open,
  };
}

export function toLogInfo(info: WireLogInfo): LogInfo {
  return {
    log: info.log,
    createdTimeMs: Number(info.createdTimeMs),
    firstDlsn: fromWireDlsn(info.firstDlsn),
    lastDlsn: fromWireDlsn(info.lastDlsn),
    lastTxid: info.lastTxid,
    recordCount: info.recordCount,
    byteCount: info.byteCount,
    nextSequenceId: info.nextSequenceId,
    truncatedRecordCount: info.truncatedRecordCount,
    segments: info.segments.map(toSegmentInfo),
  };
}

export function toReaderPosition(info: WireReaderInfo): ReaderPosition {
  return {
    log: info.log,
    readerId: info.readerId,
    floor: fromWireDlsn(info.floor),
    holes: info.holes.map((hole) => fromWireDlsn(hole)),
    lag: info.lag,
    live: info.live,
    epoch: info.epoch,
    updatedTimeMs: Number(info.updatedTimeMs),
  };
}
