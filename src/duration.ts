import { DlogError } from "./errors.js";

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration as people type it to dlogd and dlog: a whole number and a unit
 * (`100ms`, `10s`, `5m`, `1h`, `1d`), in milliseconds. `source` names the flag
 * or variable in the error.
 */
export function parseDuration(text: string, source: string): number {
  const match = /^(\d+)\s*(ms|s|m|h|d)$/.exec(text);
  const unit = DURATION_UNITS[match?.[2] ?? ""];
  if (!match || unit === undefined || Number(match[1]) < 1) {
    throw new DlogError("INVALID_ARGUMENT", `${source}: "${text}" is not valid; expected a duration such as 100ms, 10s, 5m or 1h`);
  }
  return Number(match[1]) * unit;
}
