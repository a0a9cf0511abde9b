import type { DLSN } from "../../../src/dlsn.js";
import { type Opened, ResumeSource, type ReaderStatus as WireReaderStatus } from "./gen/dlog/v1/reader.js";
import { fromWireDlsn } from "./convert.js";

// What a Reader reports (its `opened`/`status`/`reconnecting` events, `reader.closed`) and how it is read off the wire.

export type ResumeSourceName = "stored" | "fallback" | "override" | "client" | "unspecified";

/** What the server said when a session opened. */
export interface OpenedInfo {
  epoch: bigint;
  /** Delivery starts strictly after this DLSN. */
  resumeAfter: DLSN | undefined;
  source: ResumeSourceName;
  logHead: DLSN | undefined;
  skippedByTruncation: bigint;
  durableHoles: bigint;
  /** The highest DLSN this reader was ever sent (kept with its position): records up to it come with attempt >= 2. */
  deliveredHigh: DLSN | undefined;
  flow: { maxOutstandingRecords: number; maxOutstandingBytes: bigint; maxBatchRecords: number };
  /** Sessions this reader opened before this one (0 on the first open). */
  reconnects: number;
}

/** A `status` frame: what is durable, acked and outstanding on the server. */
export interface ReaderStatus {
  /** On disk: a server crash replays everything after it (minus durable holes). */
  durableFloor: DLSN | undefined;
  ackedFloor: DLSN | undefined;
  deliveredHigh: DLSN | undefined;
  outstandingRecords: bigint;
  outstandingBytes: bigint;
  holes: bigint;
  durableHoles: bigint;
  lag: bigint;
  /** Why delivery is paused; empty when it is not. */
  pausedReason: string;
  /** The first `acksDurable` Ack messages of this session are on disk (see `ReaderRecord.ackDurable`). */
  acksDurable: bigint;
  /** Ack messages of this session the server has applied (in memory). */
  acksReceived: bigint;
}

export interface ReconnectingInfo {
  /** 1 for the first retry after a loss. */
  attempt: number;
  delayMs: number;
  error: unknown;
}

/** How a reader ended: what `reader.closed` resolves with. */
export interface ReaderEnd {
  /**
   * `closed`: `close()` (or leaving the loop) drained it; `cancelled`: `cancel()`; `aborted`: its
   * signal; `failed`: an error the reader does not retry (fenced, unknown log, bad input, the
   * reconnect budget spent, a drain that was not answered) — in `error`.
   */
  reason: "closed" | "cancelled" | "aborted" | "failed";
  error: unknown;
  /** The last durable position the server reported. */
  durablePosition: DLSN | undefined;
}

export interface ReaderEvents {
  opened: [OpenedInfo];
  status: [ReaderStatus];
  reconnecting: [ReconnectingInfo];
}

const SOURCE_NAMES: Record<number, ResumeSourceName> = {
  [ResumeSource.RESUME_SOURCE_STORED]: "stored",
  [ResumeSource.RESUME_SOURCE_FALLBACK]: "fallback",
  [ResumeSource.RESUME_SOURCE_OVERRIDE]: "override",
  [ResumeSource.RESUME_SOURCE_CLIENT]: "client",
};

export function openedInfoOf(opened: Opened, reconnects: number): OpenedInfo {
  return {
    epoch: opened.epoch,
    resumeAfter: fromWireDlsn(opened.resumeAfter),
    source: SOURCE_NAMES[opened.source] ?? "unspecified",
    logHead: fromWireDlsn(opened.logHead),
    skippedByTruncation: opened.skippedByTruncation,
    durableHoles: opened.durableHoles,
    deliveredHigh: fromWireDlsn(opened.deliveredHigh),
    flow: {
      maxOutstandingRecords: opened.flow?.maxOutstandingRecords ?? 0,
      maxOutstandingBytes: opened.flow?.maxOutstandingBytes ?? 0n,
      maxBatchRecords: opened.flow?.maxBatchRecords ?? 0,
    },
    reconnects,
  };
}

export function readerStatusOf(wire: WireReaderStatus): ReaderStatus {
  return {
    durableFloor: fromWireDlsn(wire.durableFloor),
    ackedFloor: fromWireDlsn(wire.ackedFloor),
    deliveredHigh: fromWireDlsn(wire.deliveredHigh),
    outstandingRecords: wire.outstandingRecords,
    outstandingBytes: wire.outstandingBytes,
    holes: wire.holes,
    durableHoles: wire.durableHoles,
    lag: wire.lag,
    pausedReason: wire.pausedReason,
    acksDurable: wire.acksDurable,
    acksReceived: wire.acksReceived,
  };
}
