package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.dlog.testing.DlogdServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The reader goes on by itself when the server dies and comes back: nothing lost. */
@Timeout(90)
class ReaderReconnectTest {
  @Test
  void aReaderKeepsIteratingAcrossAKillAndRestartOfTheServer() throws Exception {
    try (DlogdServer server = DlogdServer.start(DlogdServer.options().durable().args("--ack-flush-interval", "50ms"))) {
      DlogClient client = server.client();
      List<byte[]> entry = new ArrayList<>();
      for (int i = 1; i <= 2000; i++) entry.add(Integer.toString(i).getBytes());
      client.append("survivor", entry);
      AtomicInteger reconnecting = new AtomicInteger();
      Set<String> seen = new HashSet<>();
      int deliveries = 0;
      try (Reader reader = client.reader(ReaderOptions.of("survivor", "r")
          .onReconnecting(event -> reconnecting.incrementAndGet())
          .reconnect(ReconnectPolicy.defaults().maxDelay(Duration.ofMillis(500))))) {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (seen.size() < 2000) {
          if (System.nanoTime() - deadline > 0) fail("only " + seen.size() + " of 2000 records after the restart");
          ReaderRecord record = reader.poll(Duration.ofMillis(200));
          if (record == null) continue;
          deliveries++;
          seen.add(record.text());
          record.ack();
          if (deliveries == 500) {
            server.kill();
            server.restart();
          }
        }
        assertTrue(reconnecting.get() >= 1, "it reconnected");
        assertTrue(reader.opened().reconnects() >= 1);
      }
      assertEquals(2000, seen.size());
    }
  }
}
