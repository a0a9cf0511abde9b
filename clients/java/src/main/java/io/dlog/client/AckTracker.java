package io.dlog.client;

import io.dlog.v1.Ack;
import io.dlog.v1.Nack;
import java.util.ArrayList;
import java.util.List;

/**
 * The acks of one session, coalesced: the application acks records one by one, {@link #take()}
 * turns everything acked since the last call into one {@code Ack} message — a cumulative
 * {@code up_to} for the contiguous acked prefix of what was delivered, plus individual DLSNs only
 * for acks above the first unacked record.
 *
 * <p>First deliveries arrive in DLSN order, so the window is sorted and a second delivery (nack,
 * ack_wait) finds its first one by binary search; acking either settles the DLSN. Not
 * thread-safe: its session guards it.
 */
final class AckTracker {
  /** Trim the delivered window once this many settled entries sit before its head. */
  private static final int TRIM_AT = 4096;

  /** What one {@link #take()} produced: at most one Ack and one Nack message, and the records the Ack settles. */
  record Batch(Ack ack, Nack nack, List<ReaderRecord> acked) {}

  private ArrayList<ReaderRecord> window = new ArrayList<>();
  private int head;
  private io.dlog.v1.DLSN high;
  /** The last up_to handed out: everything at or below it is acked on the server's side. */
  private io.dlog.v1.DLSN covered;
  private ArrayList<ReaderRecord> acks = new ArrayList<>();
  private final ArrayList<io.dlog.v1.DLSN> nacks = new ArrayList<>();

  boolean pending() {
    return !acks.isEmpty() || !nacks.isEmpty();
  }

  /** Records in the window not yet covered by a cumulative ack. */
  int outstanding() {
    return window.size() - head;
  }

  void delivered(ReaderRecord record) {
    io.dlog.v1.DLSN dlsn = record.wire.getDlsn();
    if (high == null || DLSN.compare(dlsn, high) > 0) {
      window.add(record);
      high = dlsn;
      return;
    }
    record.primary = find(dlsn);
  }

  /** Marks the record acked; false when its DLSN was already acked. */
  boolean ack(ReaderRecord record) {
    ReaderRecord target = record.primary != null ? record.primary : record;
    if (target.acked) return false;
    target.acked = true;
    record.acked = true;
    acks.add(target);
    return true;
  }

  /** Asks for the record again; false when its DLSN is already acked (nothing to redeliver). */
  boolean nack(ReaderRecord record) {
    ReaderRecord target = record.primary != null ? record.primary : record;
    if (target.acked) return false;
    nacks.add(target.wire.getDlsn());
    return true;
  }

  /** Everything acked and nacked since the last call. */
  Batch take() {
    Ack ack = null;
    List<ReaderRecord> acked = List.of();
    if (!acks.isEmpty()) {
      int next = head;
      while (next < window.size() && window.get(next).acked) next++;
      io.dlog.v1.DLSN upTo = null;
      if (next > head) {
        upTo = window.get(next - 1).wire.getDlsn();
        covered = upTo;
        head = next;
      }
      Ack.Builder builder = Ack.newBuilder();
      for (ReaderRecord record : acks) {
        io.dlog.v1.DLSN dlsn = record.wire.getDlsn();
        if (covered == null || DLSN.compare(dlsn, covered) > 0) builder.addDlsns(dlsn);
      }
      if (upTo != null) builder.setUpTo(upTo);
      if (upTo != null || builder.getDlsnsCount() > 0) ack = builder.build();
      acked = acks;
      acks = new ArrayList<>();
      trim();
    }
    Nack nack = null;
    if (!nacks.isEmpty()) {
      nack = Nack.newBuilder().addAllDlsns(nacks).build();
      nacks.clear();
    }
    return new Batch(ack, nack, acked);
  }

  private ReaderRecord find(io.dlog.v1.DLSN dlsn) {
    int low = head;
    int top = window.size() - 1;
    while (low <= top) {
      int middle = (low + top) >>> 1;
      int order = DLSN.compare(window.get(middle).wire.getDlsn(), dlsn);
      if (order == 0) return window.get(middle);
      if (order < 0) low = middle + 1;
      else top = middle - 1;
    }
    return null;
  }

  private void trim() {
    if (head >= TRIM_AT && head * 2 >= window.size()) {
      window = new ArrayList<>(window.subList(head, window.size()));
      head = 0;
    }
  }
}
