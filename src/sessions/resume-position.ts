/**
 * Where an open resumes: the request's own positions checked against the log's head and resolved
 * before anything is touched, then the start picked by the resume policy from them and the stored
 * position, moved past what truncation removed.
 */
import { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import type { LogStore } from "../log/log-store.js";
import type { StartPosition } from "../log/start-position.js";
import { type ReaderPosition, freshPosition } from "../positions/position-codec.js";
import type { OpenRequest } from "./reader-sessions.js";
import type { ResumeSource } from "./session.js";

/** What an open names, resolved: the override, or the client checkpoint and the fallback. */
export interface RequestedPositions {
  override?: ReaderPosition | undefined;
  client?: ReaderPosition | undefined;
  fallback?: ReaderPosition | undefined;
}

/** Refuses an open whose own fields cannot work, before anything (a live session included) is touched. */
export function checkOpenPositions(logs: LogStore, request: OpenRequest): void {
  if (!request.override && request.resumePolicy === "client" && !request.clientCheckpoint) {
    throw new DlogError("INVALID_ARGUMENT", "resume_policy CLIENT needs a client_checkpoint", { metadata: { field: "open.client_checkpoint" } });
  }
  if (request.clientCheckpoint && request.resumePolicy !== "stored") {
    checkNotBeyondHead(logs, request.log, request.clientCheckpoint, "open.client_checkpoint", "checkpoint");
  }
  if (request.override?.kind === "dlsn") checkNotBeyondHead(logs, request.log, request.override.dlsn, "open.override", "start");
  if (request.fallback?.kind === "dlsn") checkNotBeyondHead(logs, request.log, request.fallback.dlsn, "open.fallback", "start");
}

/**
 * A position after the log's head would skip the records appended next: refused. A start (the
 * first record to deliver) may be at most the next entry's first DLSN; a checkpoint (the last
 * record processed) at most the last record.
 */
export function checkNotBeyondHead(logs: LogStore, log: string, dlsn: DLSN, field: string, kind: "start" | "checkpoint"): void {
  const last = logs.head(log).last;
  const beyond = kind === "start" ? dlsn.isAfter(last ? last.nextEntry() : DLSN.INITIAL) : last ? dlsn.isAfter(last) : !dlsn.isBefore(DLSN.INITIAL);
  if (!beyond) return;
  throw new DlogError(
    "OUT_OF_RANGE",
    `${field} ${dlsn.toString()} is after the end of log "${log}" (${last ? `last record ${last.toString()}` : "no records yet"}); a position there would skip the records appended next`,
    { reason: "POSITION_OUT_OF_RANGE", metadata: { log, field, dlsn: dlsn.toString() } },
  );
}

/** The positions the request names, resolved before anything is touched: a failure here leaves the live session alone. */
export async function requestedPositions(logs: LogStore, request: OpenRequest): Promise<RequestedPositions> {
  if (request.override) return { override: await positionFrom(logs, request.log, request.override, 0n) };
  const client = request.clientCheckpoint && request.resumePolicy !== "stored" ? await positionAt(logs, request.log, request.clientCheckpoint, 0n) : undefined;
  return { client, fallback: await positionFrom(logs, request.log, request.fallback ?? { kind: "earliest" }, 0n) };
}

export function startPosition(
  logs: LogStore,
  request: OpenRequest,
  requested: RequestedPositions,
  stored: ReaderPosition | undefined,
  epoch: bigint,
): { position: ReaderPosition; source: ResumeSource; skipped: bigint } {
  // What earlier sessions delivered stays known whatever the new start: it marks their records.
  const history = { epoch, deliveredHigh: stored?.deliveredHigh, deliveredThrough: stored?.deliveredThrough ?? -1n };
  const { override, client, fallback } = requested;
  let position: ReaderPosition;
  let source: ResumeSource;
  if (override) {
    position = { ...override, ...history };
    source = "override";
  } else if (client && (request.resumePolicy === "client" || (request.resumePolicy === "max" && (!stored || client.floor.isAfter(stored.floor))))) {
    // Stored holes above the client's floor are still acked records.
    const holes = request.resumePolicy === "max" && stored ? stored.holes.filter((h) => h.dlsn.isAfter(client.floor)) : [];
    position = { ...client, ...history, holes };
    source = "client";
  } else if (stored) {
    position = { ...stored, epoch };
    source = "stored";
  } else {
    position = { ...fallback!, ...history };
    source = "fallback";
  }
  let skipped = 0n;
  const first = logs.first(request.log);
  if (first && position.floor.isBefore(first.dlsn) && position.floorSequenceId + 1n < first.sequenceId) {
    skipped = first.sequenceId - position.floorSequenceId - 1n;
    position = {
      ...position,
      floor: first.dlsn.justBefore(),
      floorSequenceId: first.sequenceId - 1n,
      holes: position.holes.filter((hole) => hole.dlsn.isAfter(first.dlsn)),
    };
  }
  return { position, source, skipped };
}

/** A position with no holes, just before the first record at or after `start`. */
export async function positionFrom(logs: LogStore, log: string, start: StartPosition, epoch: bigint): Promise<ReaderPosition> {
  const floor = await logs.resolveStart(log, start);
  return freshPosition(floor.dlsn, floor.sequenceId, epoch);
}

/** The position "everything up to and including `dlsn` is processed". */
async function positionAt(logs: LogStore, log: string, dlsn: DLSN, epoch: bigint): Promise<ReaderPosition> {
  const record = await logs.firstRecordFrom(log, dlsn);
  const sequenceId = record ? (record.dlsn.equals(dlsn) ? record.sequenceId : record.sequenceId - 1n) : logs.head(log).nextSequenceId - 1n;
  return freshPosition(dlsn, sequenceId, epoch);
}
