package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ReconnectPolicyTest {
  private final AtomicLong now = new AtomicLong();

  @Test
  void delaysGrowExponentiallyUpToTheCapWithFullJitter() {
    ReconnectPolicy.Backoff top = ReconnectPolicy.defaults().newBackoff(() -> 1.0, now::get);
    long[] expected = {50, 100, 200, 400, 800, 1600, 3200, 5000, 5000};
    for (long millis : expected) assertEquals(Duration.ofMillis(millis), top.next());
    ReconnectPolicy.Backoff bottom = ReconnectPolicy.defaults().newBackoff(() -> 0.0, now::get);
    assertEquals(Duration.ZERO, bottom.next(), "full jitter: anywhere in [0, cap]");
  }

  @Test
  void givesUpAfterTheElapsedBudgetAndStartsOverAfterAReset() {
    ReconnectPolicy.Backoff backoff = ReconnectPolicy.defaults().maxElapsed(Duration.ofSeconds(1)).newBackoff(() -> 0.5, now::get);
    assertEquals(Duration.ofMillis(25), backoff.next());
    now.addAndGet(Duration.ofSeconds(2).toNanos());
    assertNull(backoff.next());
    backoff.reset();
    assertEquals(Duration.ofMillis(25), backoff.next());
  }

  @Test
  void honoursMaxAttemptsAndDisabled() {
    ReconnectPolicy.Backoff two = ReconnectPolicy.defaults().maxAttempts(2).newBackoff(() -> 1.0, now::get);
    two.next();
    two.next();
    assertNull(two.next());
    assertNull(ReconnectPolicy.disabled().newBackoff(() -> 1.0, now::get).next());
    assertThrows(IllegalArgumentException.class, () -> ReconnectPolicy.defaults().multiplier(0.5));
  }
}
