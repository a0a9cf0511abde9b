/** Wire ↔ core conversions, in one place. */
import { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import type { LogInfo } from "../log/log-store.js";
import type { StartPosition } from "../log/start-position.js";
import { Boundary, type DLSN as WireDLSN, type Position } from "../gen/dlog/v1/common.js";
import type { LogInfo as WireLogInfo } from "../gen/dlog/v1/log.js";

export function toWireDlsn(dlsn: DLSN): WireDLSN {
  return { segment: dlsn.segment, entry: dlsn.entry, slot: dlsn.slot };
}

export function optionalWireDlsn(dlsn: DLSN | undefined): WireDLSN | undefined {
  return dlsn ? toWireDlsn(dlsn) : undefined;
}

export function fromWireDlsn(wire: WireDLSN | undefined, field: string): DLSN {
  if (!wire) throw new DlogError("INVALID_ARGUMENT", `${field} is required`, { metadata: { field } });
  return new DLSN(wire.segment, wire.entry, wire.slot);
}

/** A start position from the wire; `undefined` when the message leaves it unset. */
export function fromWirePosition(position: Position | undefined, field: string): StartPosition | undefined {
  const at = position?.at;
  if (!at) return undefined;
  switch (at.$case) {
    case "boundary":
      if (at.value === Boundary.BOUNDARY_EARLIEST) return { kind: "earliest" };
      if (at.value === Boundary.BOUNDARY_LATEST) return { kind: "latest" };
      throw new DlogError("INVALID_ARGUMENT", `${field}.boundary must be BOUNDARY_EARLIEST or BOUNDARY_LATEST`, { metadata: { field: `${field}.boundary` } });
    case "dlsn":
      return { kind: "dlsn", dlsn: fromWireDlsn(at.value, `${field}.dlsn`) };
    case "dlsnBytes":
      return { kind: "dlsn", dlsn: DLSN.deserializeBytes(at.value) };
    case "txid":
      return { kind: "txid", txid: at.value };
    case "timeMs":
      return { kind: "time", timeMs: Number(at.value) };
  }
}

export function toWireLogInfo(info: LogInfo): WireLogInfo {
  return {
    log: info.name,
    createdTimeMs: BigInt(info.createdTimeMs),
    firstDlsn: optionalWireDlsn(info.firstDlsn),
    lastDlsn: optionalWireDlsn(info.lastDlsn),
    lastTxid: info.lastTxid,
    recordCount: info.recordCount,
    byteCount: info.byteCount,
    nextSequenceId: info.nextSequenceId,
    truncatedRecordCount: info.truncatedRecordCount,
    segments: info.segments.map((segment) => ({
      segment: segment.segment,
      firstDlsn: toWireDlsn(segment.firstDlsn),
      lastDlsn: toWireDlsn(segment.lastDlsn),
      recordCount: segment.recordCount,
      byteCount: segment.byteCount,
      firstTxid: segment.firstTxid,
      lastTxid: segment.lastTxid,
      createdTimeMs: BigInt(segment.createdTimeMs),
      lastAppendTimeMs: BigInt(segment.lastAppendTimeMs),
      open: segment.open,
    })),
  };
}
