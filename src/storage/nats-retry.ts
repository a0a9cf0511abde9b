/**
 * Which JetStream failures a retry may get past, and the retry loop itself: an operation safe to
 * repeat is retried through a leader election or a reconnect, and out of time it is UNAVAILABLE.
 */
import { RequestError } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { DlogError } from "../errors.js";

/** Per attempt, and in all, of an operation retried through a leader election (`NatsStorageOptions.retry` by default). */
export const RETRY = { attemptMs: 2_000, totalMs: 20_000 };

/**
 * True for failures a retry may get past: no leader (no responders among them: nothing was stored),
 * no answer in time or a reconnect (the request may have been carried out: only what is safe to
 * repeat is retried, see `retrying`).
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof AnswerLostError || isNoResponders(error)) return true;
  if (error instanceof JetStreamApiError) return error.status === 503 || error.code === 10008;
  const e = error as { name?: string; message?: string; code?: string } | undefined;
  const text = `${e?.name ?? ""} ${e?.message ?? ""} ${e?.code ?? ""}`;
  return /timeout|no responders|503|disconnect|reconnect|connection closed|temporarily unavailable|leader/i.test(text);
}

/**
 * A publish no stream server took (nats.js reports it as "jetstream is not enabled"): between a
 * leader's hand-over and the next election nobody answers the stream's subjects. Nothing was stored.
 */
export function isNoResponders(error: unknown): boolean {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause instanceof RequestError && cause.isNoResponders();
}

export function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** A transient failure past the retries' deadline, as the client hears it: UNAVAILABLE, try again. */
export function outOfTime(error: unknown, totalMs: number): DlogError {
  if (error instanceof DlogError) return error;
  return new DlogError("UNAVAILABLE", `NATS JetStream did not answer within ${totalMs} ms (no leader, or not connected); retry the call`, {
    reason: "STORAGE_UNAVAILABLE",
    cause: error,
  });
}

/**
 * Runs `op` until it succeeds, fails for good, or `totalMs` has passed; each attempt bounded by
 * `attemptMs` inside `op`. An attempt whose answer was lost may have been carried out, so `op` must be
 * safe to repeat: a read, a purge, a compare-and-set write (`casPut` tells its own landed attempt
 * from another gateway's write), or a put of a value no one else writes (producer slots). Out of time, the last failure is UNAVAILABLE (the client tries again), not
 * the client library's own error, which reached a reader as INTERNAL ("timeout", a node paused while
 * leading the entries stream on a loaded machine).
 */
export async function retrying<T>(retry: { totalMs: number }, op: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + retry.totalMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (!isTransient(error)) throw error;
      if (Date.now() >= deadline) throw outOfTime(error, retry.totalMs);
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(error, attempt)));
    }
  }
}

/** Back-off before the next attempt: none after a request given up (the new leader or connection is there), else 100 ms doubling to 1 s. */
export function retryDelayMs(error: unknown, attempt: number): number {
  return error instanceof AnswerLostError ? 0 : Math.min(100 * 2 ** attempt, 1_000);
}

/**
 * A request given up before its timeout because its answer will not come: its stream elected a new
 * leader meanwhile (a leader stopped gracefully hands over and leaves what it had not answered
 * unanswered), or the connection it went out on was lost. Transient: nothing was decided that a
 * retry (idempotent) cannot find.
 */
export class AnswerLostError extends Error {
  constructor(why: string) {
    super(`${why} while a request waited for its answer; it is retried`);
    this.name = "AnswerLostError";
  }
}
