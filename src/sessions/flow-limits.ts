import { DlogError } from "../errors.js";

/** How much a session may have out at once (SPEC §3 flow control). */
export interface FlowLimits {
  maxOutstandingRecords: number;
  maxOutstandingBytes: number;
  maxBatchRecords: number;
}

export const DEFAULT_FLOW: Readonly<FlowLimits> = {
  maxOutstandingRecords: 1000,
  maxOutstandingBytes: 64 * 1024 * 1024,
  maxBatchRecords: 256,
};

/** Upper bounds: a session's unacked records are held in server memory for redelivery. */
const CEILING: Readonly<FlowLimits> = {
  maxOutstandingRecords: 100_000,
  maxOutstandingBytes: 1024 * 1024 * 1024,
  maxBatchRecords: 10_000,
};

const FIELD: Record<keyof FlowLimits, string> = {
  maxOutstandingRecords: "max_outstanding_records",
  maxOutstandingBytes: "max_outstanding_bytes",
  maxBatchRecords: "max_batch_records",
};

/** Applies a requested change: 0 (unset) keeps the current value; anything past the ceiling is refused. */
export function mergeFlow(current: Readonly<FlowLimits>, requested: Partial<FlowLimits>): FlowLimits {
  const next = { ...current };
  for (const key of Object.keys(FIELD) as Array<keyof FlowLimits>) {
    const value = requested[key];
    if (value === undefined || value === 0) continue;
    if (!Number.isSafeInteger(value) || value < 0 || value > CEILING[key]) {
      throw new DlogError("INVALID_ARGUMENT", `${FIELD[key]} must be between 1 and ${CEILING[key]} (0 keeps the current ${current[key]}), got ${value}`, {
        reason: "LIMIT_EXCEEDED",
        metadata: { limit: FIELD[key], max: String(CEILING[key]), value: String(value) },
      });
    }
    next[key] = value;
  }
  return next;
}
