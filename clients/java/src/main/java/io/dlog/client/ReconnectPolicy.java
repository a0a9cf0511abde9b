package io.dlog.client;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.DoubleSupplier;
import java.util.function.LongSupplier;

/**
 * How a reader retries a lost session: exponential backoff with full jitter (a uniform delay in
 * {@code [0, cap]}, so clients reconnecting after a server restart spread apart), bounded in
 * attempts and in time. Only losses are retried: {@code UNAVAILABLE} or a broken connection,
 * never {@code ABORTED} (fenced), bad input, an unknown log or a missing permission.
 */
public final class ReconnectPolicy {
  private final boolean enabled;
  private final Duration initialDelay;
  private final Duration maxDelay;
  private final double multiplier;
  private final int maxAttempts;
  private final Duration maxElapsed;

  private ReconnectPolicy(boolean enabled, Duration initialDelay, Duration maxDelay, double multiplier, int maxAttempts, Duration maxElapsed) {
    if (initialDelay.isNegative() || maxDelay.compareTo(initialDelay) < 0 || !(multiplier >= 1) || maxAttempts < 0 || maxElapsed.isNegative()) {
      throw new IllegalArgumentException(
          "reconnect policy: need 0 <= initialDelay <= maxDelay, multiplier >= 1, maxAttempts >= 0 and maxElapsed >= 0");
    }
    this.enabled = enabled;
    this.initialDelay = initialDelay;
    this.maxDelay = maxDelay;
    this.multiplier = multiplier;
    this.maxAttempts = maxAttempts;
    this.maxElapsed = maxElapsed;
  }

  /** 50 ms first delay, doubling up to 5 s, giving up after 60 s without a session. */
  public static ReconnectPolicy defaults() {
    return new ReconnectPolicy(true, Duration.ofMillis(50), Duration.ofSeconds(5), 2, Integer.MAX_VALUE, Duration.ofSeconds(60));
  }

  /** Never reconnect: the first loss ends the reader with its error. */
  public static ReconnectPolicy disabled() {
    return new ReconnectPolicy(false, Duration.ZERO, Duration.ZERO, 1, 0, Duration.ZERO);
  }

  public ReconnectPolicy initialDelay(Duration delay) {
    return new ReconnectPolicy(enabled, delay, maxDelay.compareTo(delay) < 0 ? delay : maxDelay, multiplier, maxAttempts, maxElapsed);
  }

  public ReconnectPolicy maxDelay(Duration delay) {
    return new ReconnectPolicy(enabled, initialDelay, delay, multiplier, maxAttempts, maxElapsed);
  }

  public ReconnectPolicy multiplier(double factor) {
    return new ReconnectPolicy(enabled, initialDelay, maxDelay, factor, maxAttempts, maxElapsed);
  }

  /** Give up after this many consecutive failed attempts. */
  public ReconnectPolicy maxAttempts(int attempts) {
    return new ReconnectPolicy(enabled, initialDelay, maxDelay, multiplier, attempts, maxElapsed);
  }

  /** Give up when the session has been down this long. */
  public ReconnectPolicy maxElapsed(Duration elapsed) {
    return new ReconnectPolicy(enabled, initialDelay, maxDelay, multiplier, maxAttempts, elapsed);
  }

  public boolean enabled() {
    return enabled;
  }

  Backoff newBackoff() {
    return new Backoff(() -> ThreadLocalRandom.current().nextDouble(), System::nanoTime);
  }

  Backoff newBackoff(DoubleSupplier random, LongSupplier nanoTime) {
    return new Backoff(random, nanoTime);
  }

  /** The state of one reader's retries; reset when a session opens. */
  final class Backoff {
    private final DoubleSupplier random;
    private final LongSupplier nanoTime;
    private int attempts;
    private long since = -1;

    private Backoff(DoubleSupplier random, LongSupplier nanoTime) {
      this.random = random;
      this.nanoTime = nanoTime;
    }

    /** The delay before the next attempt, or null when the budget is spent. */
    synchronized Duration next() {
      if (!enabled) return null;
      long now = nanoTime.getAsLong();
      if (since < 0) since = now;
      if (attempts >= maxAttempts || now - since >= maxElapsed.toNanos()) return null;
      double cap = Math.min(maxDelay.toNanos(), initialDelay.toNanos() * Math.pow(multiplier, attempts));
      attempts++;
      return Duration.ofNanos(Math.round(random.getAsDouble() * cap));
    }

    synchronized int attempts() {
      return attempts;
    }

    synchronized void reset() {
      attempts = 0;
      since = -1;
    }
  }
}
