/**
 * How dlog shows things: records, payloads, logs, readers and positions, as
 * text for people or as one JSON object per line (exact values, strings for int64).
 */
import { isUtf8 } from "node:buffer";
import type { DLSN, LogInfo, LogRecord, ReaderPosition, ReaderRecord, StartAt } from "../../clients/typescript/src/index.js";
import type { PayloadEncoding } from "./options.js";
import { table } from "./output.js";

export function dlsnText(dlsn: DLSN | undefined): string {
  return dlsn?.toString() ?? "-";
}

const isoTime = (ms: number): string => new Date(ms).toISOString();

/**
 * A floor or resume point lies before the log's first record: 1/0/-1 for a new
 * reader, the bound before a truncated log's first segment, 0/-1/-1 on an empty log.
 */
export function beforeFirstRecord(dlsn: DLSN, first: DLSN | undefined): boolean {
  if (first !== undefined) return dlsn.isBefore(first);
  return dlsn.segment <= 0n || (dlsn.entry <= 0n && dlsn.slot < 0n);
}

/** A reader's floor (delivery resumes strictly after it) in words; --format json keeps the DLSN. */
export function floorText(floor: DLSN | undefined, first: DLSN | undefined): string {
  if (floor === undefined) return "none";
  if (beforeFirstRecord(floor, first)) return "none (before the first record)";
  if (floor.slot < 0n) return `before ${floor.segment}/${floor.entry}/0`; // the bound a seek to S/E/0 leaves
  return floor.toString();
}

/** Where a session starts, from its resume point (exclusive). */
export function resumeText(after: DLSN | undefined, first: DLSN | undefined): string {
  if (after === undefined || beforeFirstRecord(after, first)) return "from the start";
  if (after.slot < 0n) return `at ${after.segment}/${after.entry}/0`;
  return `after ${after}`;
}

// ---- records ----

function encodePayload(payload: Buffer, encoding: PayloadEncoding): string {
  return encoding === "text" ? payload.toString("utf8") : payload.toString(encoding);
}

/**
 * One line per record. Text shows the payload alone (decoded as UTF-8 unless
 * --payload says otherwise); JSON names its encoding, and by default falls back
 * to base64 for payloads that are not valid UTF-8, so no byte is lost.
 */
export function recordFormatter(json: boolean, encoding: PayloadEncoding | undefined): (record: LogRecord | ReaderRecord) => string {
  if (!json) {
    const chosen = encoding ?? "text";
    return (record) => `${encodePayload(record.payload, chosen)}\n`;
  }
  return (record) => {
    const payload = record.payload;
    const chosen = encoding ?? (isUtf8(payload) ? "text" : "base64");
    const object: Record<string, unknown> = {
      dlsn: record.dlsn.toString(),
      txid: record.txid.toString(),
      time: isoTime(record.appendTimeMs),
      payload: encodePayload(payload, chosen),
      encoding: chosen,
    };
    if ("attempt" in record) {
      object.attempt = record.attempt;
      if (record.redelivered) object.redelivered = true;
    }
    return `${JSON.stringify(object)}\n`;
  };
}

// ---- logs ----

export function logJson(info: LogInfo): Record<string, unknown> {
  return {
    log: info.log,
    created: isoTime(info.createdTimeMs),
    firstDlsn: info.firstDlsn?.toString() ?? null,
    lastDlsn: info.lastDlsn?.toString() ?? null,
    lastTxid: info.lastTxid.toString(),
    recordCount: info.recordCount.toString(),
    byteCount: info.byteCount.toString(),
    nextSequenceId: info.nextSequenceId.toString(),
    truncatedRecordCount: info.truncatedRecordCount.toString(),
    segments: info.segments.map((segment) => ({
      segment: segment.segment.toString(),
      firstDlsn: segment.firstDlsn?.toString() ?? null,
      lastDlsn: segment.lastDlsn?.toString() ?? null,
      recordCount: segment.recordCount.toString(),
      byteCount: segment.byteCount.toString(),
      firstTxid: segment.firstTxid.toString(),
      lastTxid: segment.lastTxid.toString(),
      created: isoTime(segment.createdTimeMs),
      lastAppend: isoTime(segment.lastAppendTimeMs),
      open: segment.open,
    })),
  };
}

export function logsTable(infos: LogInfo[]): string {
  return table(
    ["LOG", "RECORDS", "BYTES", "FIRST", "LAST", "LAST TXID", "SEGMENTS"],
    infos.map((info) => [
      info.log,
      info.recordCount.toString(),
      info.byteCount.toString(),
      dlsnText(info.firstDlsn),
      dlsnText(info.lastDlsn),
      info.lastTxid.toString(),
      String(info.segments.length),
    ]),
  );
}

export function logText(info: LogInfo): string {
  const lines = [
    `log:          ${info.log}`,
    `created:      ${isoTime(info.createdTimeMs)}`,
    `records:      ${info.recordCount} (${info.byteCount} bytes; ${info.truncatedRecordCount} truncated; next sequence id ${info.nextSequenceId})`,
    `first:        ${dlsnText(info.firstDlsn)}`,
    `last:         ${dlsnText(info.lastDlsn)}`,
    `last txid:    ${info.lastTxid}`,
    `segments:     ${info.segments.length}`,
  ];
  if (info.segments.length === 0) return `${lines.join("\n")}\n`;
  const segments = table(
    ["  SEGMENT", "RECORDS", "BYTES", "FIRST", "LAST", "TXIDS", "OPEN"],
    info.segments.map((segment) => [
      `  ${segment.segment}`,
      segment.recordCount.toString(),
      segment.byteCount.toString(),
      dlsnText(segment.firstDlsn),
      dlsnText(segment.lastDlsn),
      `${segment.firstTxid}..${segment.lastTxid}`,
      segment.open ? "yes" : "",
    ]),
  );
  return `${lines.join("\n")}\n${segments}`;
}

// ---- readers ----

export function readerJson(info: ReaderPosition): Record<string, unknown> {
  return {
    log: info.log,
    readerId: info.readerId,
    floor: info.floor?.toString() ?? null,
    holes: info.holes.map((hole) => hole.toString()),
    lag: info.lag.toString(),
    live: info.live,
    epoch: info.epoch.toString(),
    updated: info.updatedTimeMs > 0 ? isoTime(info.updatedTimeMs) : null,
  };
}

/** `first`: the log's first record, to tell "before the first record" from a real floor. */
export function readersTable(list: ReaderPosition[], first: DLSN | undefined): string {
  return table(
    ["READER", "FLOOR", "HOLES", "LAG", "LIVE", "EPOCH", "UPDATED"],
    list.map((info) => [
      info.readerId,
      info.floor && beforeFirstRecord(info.floor, first) ? "none" : floorText(info.floor, first),
      String(info.holes.length),
      info.lag.toString(),
      info.live ? "yes" : "no",
      info.epoch.toString(),
      info.updatedTimeMs > 0 ? isoTime(info.updatedTimeMs) : "-",
    ]),
  );
}

export function readerText(info: ReaderPosition, first: DLSN | undefined): string {
  const holes =
    info.holes.length === 0 ? "none" : `${info.holes.length} (${info.holes.slice(0, 5).map(String).join(", ")}${info.holes.length > 5 ? ", …" : ""})`;
  const floor = floorText(info.floor, first);
  const resumes = info.floor && !beforeFirstRecord(info.floor, first) && info.floor.slot >= 0n ? " (delivery resumes after it)" : "";
  return [
    `reader:   ${info.readerId} on ${info.log}`,
    `floor:    ${floor}${resumes}`,
    `holes:    ${holes}`,
    `lag:      ${info.lag}`,
    `live:     ${info.live ? "yes" : "no"} (epoch ${info.epoch})`,
    "",
  ].join("\n");
}

/** "1 record", "2 records". */
export function plural(count: number | bigint, noun: string): string {
  return `${count} ${noun}${count === 1 || count === 1n ? "" : "s"}`;
}

/** A start position as typed: earliest, latest, 1/2/3, txid:N, time:ISO. */
export function startAtText(at: StartAt): string {
  if (typeof at === "string") return at;
  if ("segment" in at) return at.toString();
  if ("txid" in at) return `txid:${at.txid}`;
  return `time:${new Date(at.time).toISOString()}`;
}
