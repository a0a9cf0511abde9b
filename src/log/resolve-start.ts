import { DLSN } from "../dlsn.js";
import type { DecodedRecord } from "./entry-codec.js";
import type { LogReader } from "./log-reader.js";
import { type LogState, firstDlsnOf, headOf } from "./log-state.js";
import type { StartPosition } from "./start-position.js";

/** The exclusive lower bound a reader starts after, with the sequence id of the record at it. */
export interface Floor {
  dlsn: DLSN;
  sequenceId: bigint;
}

/** Opens a reader over the log being resolved. */
export type OpenReader = (from: DLSN) => LogReader;

/**
 * The floor a reader starting at `start` begins after: the record just before
 * the first record at or after `start` (as an exclusive bound), with the
 * sequence id of that record minus one.
 */
export async function resolveStart(log: LogState, openReader: OpenReader, start: StartPosition): Promise<Floor> {
  const head = headOf(log);
  const atEnd = (): Floor => ({
    dlsn: head.last ?? nextDlsnBound(log),
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
      return (await floorBeforeFirst(openReader, start.dlsn, () => true)) ?? { ...atEnd(), dlsn: start.dlsn.justBefore() };
    case "txid": {
      const segment = log.committed.segments.find((s) => s.lastTxid >= start.txid);
      if (!segment) return atEnd();
      return (await floorBeforeFirst(openReader, firstDlsnOf(segment), (r) => r.txid >= start.txid)) ?? atEnd();
    }
    case "time": {
      const segment = log.committed.segments.find((s) => s.lastAppendTimeMs >= start.timeMs);
      if (!segment) return atEnd();
      return (await floorBeforeFirst(openReader, firstDlsnOf(segment), (r) => r.appendTimeMs >= start.timeMs)) ?? atEnd();
    }
  }
}

/** The first record at or after `from`, if any is committed. */
export async function firstRecordFrom(openReader: OpenReader, from: DLSN): Promise<DecodedRecord | undefined> {
  const reader = openReader(from);
  try {
    return (await reader.read(1))[0];
  } finally {
    await reader.close();
  }
}

/** A bound below any DLSN the next append can get, for empty logs. */
function nextDlsnBound(log: LogState): DLSN {
  const segment = log.committed.meta.lastSegment;
  return segment === 0n ? DLSN.INVALID : new DLSN(segment, 0n, 0n).justBefore();
}

/** The floor just before the first record from `from` on that matches. */
async function floorBeforeFirst(openReader: OpenReader, from: DLSN, match: (r: DecodedRecord) => boolean): Promise<Floor | undefined> {
  const reader = openReader(from);
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
