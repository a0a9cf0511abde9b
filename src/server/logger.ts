import { type DestinationStream, pino, stdSerializers } from "pino";

/**
 * Structured logs (pino): one JSON object per line on stderr, `{"level":"info","time":…,…,"msg":…}`.
 * Fields come first, the message last, as pino has it: `logger.info({ log, readerId }, "session opened")`.
 */
export type Level = "debug" | "info" | "warn" | "error";

/** One log call. Narrower than pino's own, so `logger.info("msg", { fields })` (fields silently dropped) does not type-check. */
export interface LogFn {
  (fields: object, msg: string): void;
  (msg: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger whose every line carries `bindings` (log, reader, session, peer, …). */
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: Level): boolean;
}

/**
 * An error with its `cause` chain (pino's errWithCause), where a cause that is not an Error
 * (a string, a code) is kept as text instead of being dropped.
 */
function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const serialized = stdSerializers.errWithCause(error) as unknown as Record<string, unknown>;
  if (serialized.cause === undefined && error.cause !== undefined) serialized.cause = String(error.cause);
  return serialized;
}

/** `destination` defaults to stderr, written synchronously: no line is lost when the process exits. */
export function createLogger(level: Level, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
    },
    destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/**
 * One log line that may repeat (a failing retry loop, refused calls): written at most once per
 * `intervalMs` per key; the line after a quiet spell says how many were left out. Keys must come
 * from a bounded set (a level, a method and status code, a token name), never from a client's input.
 */
export function rateLimited(
  logger: Logger,
  level: Level,
  intervalMs: number,
  now: () => number = Date.now,
): (fields: Record<string, unknown>, msg: string, key?: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (fields, msg, key = "") => {
    const at = now();
    const seen = last.get(key);
    if (seen && at - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    logger[level](seen && seen.suppressed > 0 ? { ...fields, suppressed: seen.suppressed } : fields, msg);
    last.set(key, { at, suppressed: 0 });
  };
}
