package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dlog.testing.DlogdExtension;
import io.dlog.v1.ResumeSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

@Timeout(60)
class ReaderTest {
  @RegisterExtension
  static DlogdExtension dlogd = DlogdExtension.create();
  private static DLSN last;

  @BeforeAll
  static void fill() {
    List<byte[]> entry = new ArrayList<>();
    for (int i = 1; i <= 1000; i++) entry.add(Integer.toString(i).getBytes());
    last = dlogd.client().append("reader-test", entry).get(999);
  }

  @Test
  void acksAreCoalescedIntoFewMessagesAndDrainReturnsTheFinalPosition() throws Exception {
    List<ReaderStatus> statuses = new CopyOnWriteArrayList<>();
    Reader reader = dlogd.client().reader(ReaderOptions.of("reader-test", "coalesced").onStatus(statuses::add));
    OpenedInfo opened = reader.ready().get(10, TimeUnit.SECONDS);
    assertEquals(ResumeSource.RESUME_SOURCE_FALLBACK, opened.source());
    ReaderRecord record = null;
    for (int n = 1; n <= 1000; n++) {
      record = reader.poll(Duration.ofSeconds(10));
      assertNotNull(record);
      assertEquals(Integer.toString(n), record.text());
      record.ack();
    }
    assertEquals(last, reader.drain());
    assertEquals(last, reader.drain(), "drain is idempotent");
    assertTrue(record.ackMessage() > 0 && record.ackMessage() <= 100, "1000 acks went out in " + record.ackMessage() + " messages");
    assertFalse(reader.isOpen());
    assertNull(reader.poll(Duration.ofMillis(10)), "a drained reader hands out nothing");
    assertEquals(last, dlogd.client().reader(ReaderOptions.of("reader-test", "coalesced")).ready().get(10, TimeUnit.SECONDS).resumeAfter());
  }

  @Test
  void aReaderWhoseClientIsClosedUnderItFailsWithCancelledInsteadOfReconnecting() throws Exception {
    DlogClient client = DlogClient.connect(dlogd.address());
    Reader reader = client.reader(ReaderOptions.of("reader-test", "orphaned"));
    assertNotNull(reader.poll(Duration.ofSeconds(10)));
    client.close();
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    DlogException failure = null;
    while (failure == null && System.nanoTime() - deadline < 0) {
      try {
        reader.poll(Duration.ofMillis(50));
      } catch (DlogException error) {
        failure = error;
      }
    }
    assertNotNull(failure, "poll kept returning after its client was closed");
    assertTrue(failure instanceof DlogException.Cancelled, failure.toString());
    assertTrue(failure.getMessage().contains("DlogClient was closed"), failure.getMessage());
    assertFalse(reader.isOpen());
  }

  @Test
  void closingTheClientWhileAReconnectIsPendingEndsTheReaderAtOnce() throws Exception {
    try (Relay relay = new Relay(dlogd.address())) {
      DlogClient client = DlogClient.connect(relay.address());
      java.util.concurrent.CountDownLatch reconnecting = new java.util.concurrent.CountDownLatch(1);
      // The reconnect waits 3 s: close() comes while it waits.
      Reader reader = client.reader(ReaderOptions.of("reader-test", "reconnect-pending")
          .reconnect(ReconnectPolicy.defaults().initialDelay(Duration.ofSeconds(3)).maxDelay(Duration.ofSeconds(3)))
          .onReconnecting(attempt -> reconnecting.countDown()));
      assertNotNull(reader.poll(Duration.ofSeconds(10)));
      relay.cut();
      assertTrue(reconnecting.await(10, TimeUnit.SECONDS), "the reader noticed the break");
      client.close();
      DlogException failure = org.junit.jupiter.api.Assertions.assertThrows(DlogException.class,
          () -> { for (int i = 0; i < 2000; i++) reader.poll(Duration.ofMillis(1)); }, "poll kept returning after its client was closed");
      assertTrue(failure instanceof DlogException.Cancelled, failure.toString());
      assertFalse(reader.isOpen());
    }
  }

  @Test
  void theStatusFramesReportTheDurablePosition() throws Exception {
    List<ReaderStatus> statuses = new CopyOnWriteArrayList<>();
    try (Reader reader = dlogd.client().reader(ReaderOptions.of("reader-test", "status").onStatus(statuses::add))) {
      ReaderRecord first = reader.poll(Duration.ofSeconds(10));
      assertNotNull(first);
      first.ack();
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (!first.dlsn().equals(reader.durablePosition()) && System.nanoTime() - deadline < 0) reader.poll(Duration.ofMillis(20));
      assertEquals(first.dlsn(), reader.durablePosition());
      assertTrue(statuses.stream().anyMatch(status -> first.dlsn().equals(status.durableFloor())), "the listener saw it: " + statuses);
    }
  }

  @Test
  void autoAckAcksEachRecordWhenTheNextIsAskedFor() throws Exception {
    Reader reader = dlogd.client().reader(ReaderOptions.of("reader-test", "auto").autoAck(true));
    ReaderRecord tenth = null;
    int n = 0;
    for (ReaderRecord record : reader) {
      if (++n == 3) record.nack(); // settled by the application: auto-ack leaves it alone
      if (n == 10) {
        tenth = record;
        break;
      }
    }
    assertNotNull(reader.poll(Duration.ofSeconds(10)), "asking for the next acks #10");
    DLSN position = reader.drain();
    assertEquals(new DLSN(tenth.dlsn().segment(), tenth.dlsn().entry(), 1), position, "#1 and #2 acked, #3 nacked and not acked since");
  }

  @Test
  void flowLimitsChangeMidStream() throws Exception {
    try (Reader reader = dlogd.client().reader(ReaderOptions.of("reader-test", "flow")
        .flow(FlowLimits.defaults().withMaxOutstandingRecords(5).withMaxBatchRecords(2)))) {
      for (int n = 1; n <= 5; n++) assertNotNull(reader.poll(Duration.ofSeconds(10)), "record " + n);
      assertNull(reader.poll(Duration.ofMillis(300)), "no more than 5 unacked");
      reader.setFlow(FlowLimits.defaults().withMaxOutstandingRecords(8));
      for (int n = 6; n <= 8; n++) {
        ReaderRecord record = reader.poll(Duration.ofSeconds(10));
        assertNotNull(record, "record " + n + " after the limit grew");
        assertEquals(Integer.toString(n), record.text());
      }
      assertNull(reader.poll(Duration.ofMillis(300)), "no more than 8 unacked");
    }
  }

  @Test
  void pollTimesOutWithNullAtTheEndOfTheLog() throws Exception {
    try (Reader reader = dlogd.client().reader(ReaderOptions.of("reader-test", "tail").fallback(StartAt.latest()))) {
      reader.ready().get(10, TimeUnit.SECONDS);
      long start = System.nanoTime();
      assertNull(reader.poll(Duration.ofMillis(200)));
      assertTrue(System.nanoTime() - start >= Duration.ofMillis(190).toNanos());
      assertTrue(reader.isOpen());
      DLSN appended = dlogd.client().append("reader-test", "new".getBytes()).get(0);
      ReaderRecord record = reader.poll(Duration.ofSeconds(10));
      assertNotNull(record);
      assertEquals(appended, record.dlsn());
      record.ack();
    }
  }
}
