import type { DLSN } from "../dlsn.js";

/** Where a read or a reader starts: the first record at or after it. */
export type StartPosition =
  | { kind: "earliest" }
  | { kind: "latest" }
  | { kind: "dlsn"; dlsn: DLSN }
  | { kind: "txid"; txid: bigint }
  | { kind: "time"; timeMs: number };

export function describeStart(start: StartPosition): string {
  switch (start.kind) {
    case "earliest":
    case "latest":
      return start.kind.toUpperCase();
    case "dlsn":
      return `DLSN ${start.dlsn.toString()}`;
    case "txid":
      return `txid ${start.txid}`;
    case "time":
      return `time ${new Date(start.timeMs).toISOString()}`;
  }
}
