package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dlog.v1.Ack;
import io.dlog.v1.Record;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AckTrackerTest {
  private final AckTracker tracker = new AckTracker();

  private List<ReaderRecord> deliver(int from, int to) {
    List<ReaderRecord> records = new ArrayList<>();
    for (int entry = from; entry <= to; entry++) {
      ReaderRecord record = new ReaderRecord(Record.newBuilder().setDlsn(new DLSN(1, entry, 0).toProto()).setAttempt(1).build(), null, false);
      tracker.delivered(record);
      records.add(record);
    }
    return records;
  }

  @Test
  void manyAcksInOrderBecomeOneCumulativeAck() {
    List<ReaderRecord> records = deliver(0, 99);
    records.forEach(tracker::ack);
    AckTracker.Batch batch = tracker.take();
    assertEquals(new DLSN(1, 99, 0).toProto(), batch.ack().getUpTo());
    assertEquals(0, batch.ack().getDlsnsCount());
    assertEquals(100, batch.acked().size());
    assertFalse(tracker.pending());
  }

  @Test
  void acksAboveAGapGoIndividuallyUntilTheGapCloses() {
    List<ReaderRecord> records = deliver(0, 9);
    for (int i = 0; i < 10; i++) if (i != 3) tracker.ack(records.get(i));
    Ack first = tracker.take().ack();
    assertEquals(new DLSN(1, 2, 0).toProto(), first.getUpTo());
    assertEquals(6, first.getDlsnsCount(), "entries 4..9 individually");
    tracker.ack(records.get(3));
    Ack second = tracker.take().ack();
    assertEquals(new DLSN(1, 9, 0).toProto(), second.getUpTo(), "the gap closed: one cumulative ack covers all");
    assertEquals(0, second.getDlsnsCount());
  }

  @Test
  void aSecondDeliveryIsSettledByAckingEither() {
    ReaderRecord first = deliver(0, 0).get(0);
    ReaderRecord again = new ReaderRecord(Record.newBuilder().setDlsn(new DLSN(1, 0, 0).toProto()).setAttempt(2).build(), null, true);
    tracker.delivered(again);
    assertTrue(tracker.ack(again));
    assertFalse(tracker.ack(first), "the same DLSN is acked once");
    assertEquals(1, tracker.take().acked().size());
    assertFalse(tracker.nack(first), "an acked DLSN has nothing to redeliver");
    assertNull(tracker.take().nack());
  }

  @Test
  void nacksGoOutTogether() {
    List<ReaderRecord> records = deliver(0, 2);
    records.forEach(tracker::nack);
    AckTracker.Batch batch = tracker.take();
    assertNull(batch.ack());
    assertEquals(3, batch.nack().getDlsnsCount());
  }
}
