/** Structured JSON logs, one object per line on stderr. */
export type Level = "debug" | "info" | "warn" | "error";

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: Level, write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const emit = (at: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[at] < ORDER[level]) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level: at, msg, ...fields }, (_k, v: unknown) =>
      typeof v === "bigint" ? v.toString() : v,
    );
    write(`${line}\n`);
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
  };
}

/**
 * One log line that may repeat (a failing retry loop): written at most once per `intervalMs`;
 * the line after a quiet spell says how many were left out.
 */
export function rateLimited(
  write: (msg: string, fields?: Record<string, unknown>) => void,
  intervalMs: number,
  now: () => number = Date.now,
): (msg: string, fields?: Record<string, unknown>) => void {
  let last = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (msg, fields) => {
    const at = now();
    if (at - last < intervalMs) {
      suppressed++;
      return;
    }
    last = at;
    write(msg, suppressed > 0 ? { ...fields, suppressed } : fields);
    suppressed = 0;
  };
}
