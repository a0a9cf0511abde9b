import { DlogError } from "../errors.js";
import type { LogState, Waiter } from "./log-state.js";

/** Tail notification: readers at the end of a log wait here and are woken by the commit that reaches them (no polling). */

/** Wakes every waiter of `log` whose record is now committed. */
export function wakeWaiters(log: LogState): void {
  if (log.waiters.size === 0) return;
  const next = log.committed.meta.nextSequenceId;
  for (const waiter of log.waiters) {
    if (next > waiter.afterSequenceId) {
      log.waiters.delete(waiter);
      waiter.resolve();
    }
  }
}

/** Ends every wait on `log` with `error` (the log was deleted, the store closed). */
export function rejectWaiters(log: LogState, error: Error): void {
  for (const waiter of log.waiters) waiter.reject(error);
  log.waiters.clear();
}

/** Resolves once `log` holds a committed record with sequence id >= `sequenceId`, or `signal` aborts. */
export function waitForCommitted(log: LogState, sequenceId: bigint, signal?: AbortSignal): Promise<void> {
  if (log.committed.meta.nextSequenceId > sequenceId) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      log.waiters.delete(waiter);
      reject(signal?.reason instanceof Error ? signal.reason : new DlogError("ABORTED", "wait cancelled"));
    };
    const waiter: Waiter = {
      afterSequenceId: sequenceId,
      resolve: () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      reject: (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      },
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    log.waiters.add(waiter);
  });
}
