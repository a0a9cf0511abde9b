import { DLSN } from "../dlsn.js";
import type { LogStore } from "./log-store.js";

export interface RetentionPolicy {
  /** Drop closed segments whose newest record is older than this (0: keep forever). */
  maxAgeMs: number;
  /** Drop the oldest closed segments while a log holds more payload bytes than this (0: no limit). */
  maxBytes: number;
}

/**
 * Applies retention to every log: whole closed segments only, oldest first, by
 * truncating before the first segment that stays. Returns the records dropped.
 */
export async function applyRetention(logs: LogStore, policy: RetentionPolicy, nowMs = Date.now()): Promise<bigint> {
  if (policy.maxAgeMs <= 0 && policy.maxBytes <= 0) return 0n;
  let dropped = 0n;
  for (const info of logs.listLogs()) {
    let bytes = info.byteCount;
    let keepFrom: DLSN | undefined;
    for (const segment of info.segments) {
      if (segment.open) break;
      const tooOld = policy.maxAgeMs > 0 && nowMs - segment.lastAppendTimeMs > policy.maxAgeMs;
      const tooBig = policy.maxBytes > 0 && bytes > BigInt(policy.maxBytes);
      if (!tooOld && !tooBig) break;
      bytes -= segment.byteCount;
      keepFrom = new DLSN(segment.segment + 1n, 0n, 0n);
    }
    if (keepFrom && logs.has(info.name)) {
      // Forced: when every segment is closed and over the limits, retention may empty the log.
      dropped += (await logs.truncate(info.name, keepFrom, { force: true })).recordsDeleted;
    }
  }
  return dropped;
}
