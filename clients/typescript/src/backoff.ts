/** How the reader retries a lost session: exponential backoff with full jitter, bounded in attempts and time. */
export interface ReconnectOptions {
  /** First delay before re-opening (ms). Default 50. */
  initialDelayMs?: number | undefined;
  /** Largest delay between attempts (ms). Default 5000. */
  maxDelayMs?: number | undefined;
  /** Growth of the delay per failed attempt. Default 2. */
  multiplier?: number | undefined;
  /** Give up after this many consecutive failed attempts. Default: unbounded (see `maxElapsedMs`). */
  maxAttempts?: number | undefined;
  /** Give up when the session has been down this long (ms). Default 60 000. */
  maxElapsedMs?: number | undefined;
}

export interface Backoff {
  /** The delay before the next attempt, or `undefined` when the budget is spent. */
  next(): number | undefined;
  /** A session opened: the next loss starts from the first delay again. */
  reset(): void;
  readonly attempts: number;
}

/**
 * Full jitter (a uniform delay in [0, cap]) spreads reconnecting clients apart
 * after a server restart instead of having them all return in lock-step.
 */
export function createBackoff(options: ReconnectOptions = {}, random: () => number = Math.random, now: () => number = Date.now): Backoff {
  const initial = options.initialDelayMs ?? 50;
  const max = options.maxDelayMs ?? 5_000;
  const multiplier = options.multiplier ?? 2;
  const maxAttempts = options.maxAttempts ?? Number.POSITIVE_INFINITY;
  const maxElapsed = options.maxElapsedMs ?? 60_000;
  if (!(initial >= 0) || !(max >= initial) || !(multiplier >= 1) || !(maxAttempts >= 0) || !(maxElapsed >= 0)) {
    throw new RangeError("reconnect options: need 0 <= initialDelayMs <= maxDelayMs, multiplier >= 1, maxAttempts >= 0 and maxElapsedMs >= 0");
  }
  let attempts = 0;
  let since: number | undefined;
  return {
    get attempts() {
      return attempts;
    },
    next() {
      since ??= now();
      if (attempts >= maxAttempts || now() - since >= maxElapsed) return undefined;
      const cap = Math.min(max, initial * multiplier ** attempts);
      attempts++;
      return Math.round(random() * cap);
    },
    reset() {
      attempts = 0;
      since = undefined;
    },
  };
}
