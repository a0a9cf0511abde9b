/** One figure of the benchmark table. Throughput is records/s or ops/s. */
export interface Measurement {
  name: string;
  value: number;
  unit: string;
  detail?: string;
}

/** Options every peer function takes; each field has a moderate default. */
export interface PeerOptions {
  /** Records (messages, entries) to move. */
  records?: number;
  /** Payload bytes per record. */
  size?: number;
  /** Wall-clock bound for the whole function; loops stop early and report what they did. */
  timeoutMs?: number;
}

export const DEFAULT_RECORDS = 200_000;
export const DEFAULT_SIZE = 100;
export const DEFAULT_TIMEOUT_MS = 30_000;

const SKIPPED = "skipped: ";

/** A row that could not be measured; `value` is NaN and `detail` starts with "skipped: ". */
export function skipped(name: string, unit: string, reason: string): Measurement {
  return { name, value: Number.NaN, unit, detail: SKIPPED + reason };
}

export function isSkipped(m: Measurement): boolean {
  return Number.isNaN(m.value) && (m.detail?.startsWith(SKIPPED) ?? false);
}

/** Rate of `count` items over `ms`; notes an early stop at the deadline in `detail`. */
export function rate(name: string, count: number, ms: number, unit: string, detail: string, wanted: number): Measurement {
  const stopped = count < wanted ? `; stopped at deadline after ${count} of ${wanted}` : "";
  return { name, value: ms > 0 ? (count * 1000) / ms : 0, unit, detail: `${detail}${stopped}` };
}

/** A monotonic deadline `ms` from now. */
export function deadline(ms: number): () => boolean {
  const end = performance.now() + ms;
  return () => performance.now() > end;
}
