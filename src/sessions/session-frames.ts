import type { DLSN } from "../dlsn.js";
import type { EntryRun } from "../log/entry-codec.js";
import type { FlowLimits } from "./flow-limits.js";

// What a session says to its client, in the order it says it: Opened, then records and status frames, Drained last.

export type ResumeSource = "stored" | "fallback" | "override" | "client";

export interface OpenedInfo {
  epoch: bigint;
  resumeAfter: DLSN;
  source: ResumeSource;
  logHead: DLSN | undefined;
  skippedByTruncation: bigint;
  durableHoles: number;
  flow: FlowLimits;
  /** The highest record delivered to an earlier session of this reader. */
  deliveredHigh: DLSN | undefined;
  /** This open took the reader over from a live session: that session's epoch (it is fenced). */
  fencedEpoch?: bigint | undefined;
}

export interface StatusInfo {
  durableFloor: DLSN;
  durableHoles: number;
  ackedFloor: DLSN;
  deliveredHigh: DLSN | undefined;
  outstandingRecords: number;
  outstandingBytes: number;
  holes: number;
  lag: bigint;
  pausedReason: string;
  /** The first `acksDurable` Ack messages of the session are entirely on disk. */
  acksDurable: number;
  /** Ack messages applied so far. */
  acksReceived: number;
}

export type SessionFrame =
  | { kind: "opened"; opened: OpenedInfo }
  /**
   * `count` records: the slots of entries `runs` names, in order (the wire layer copies them from
   * the stored bytes, or from the entry's records encoded once). `attempts`: one number for the
   * whole frame, or one per record.
   */
  | { kind: "records"; count: number; runs: readonly EntryRun[]; attempts: number | number[]; lag: bigint }
  | { kind: "status"; status: StatusInfo }
  | { kind: "drained"; durableFloor: DLSN; durableHoles: number; acksDurable: number };
