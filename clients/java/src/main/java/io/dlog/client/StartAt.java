package io.dlog.client;

import io.dlog.v1.Boundary;
import io.dlog.v1.Position;
import java.time.Instant;
import java.util.Objects;

/**
 * Where to start reading; every form is inclusive (the first record at or after it).
 *
 * <pre>{@code
 * StartAt.earliest();  StartAt.latest();  StartAt.at(dlsn);  StartAt.txid(42);  StartAt.time(instant);
 * }</pre>
 */
public final class StartAt {
  private final Position wire;
  private final String text;

  private StartAt(Position wire, String text) {
    this.wire = wire;
    this.text = text;
  }

  /** The first record that still exists. */
  public static StartAt earliest() {
    return new StartAt(Position.newBuilder().setBoundary(Boundary.BOUNDARY_EARLIEST).build(), "earliest");
  }

  /** After the last record: only records appended from now on. */
  public static StartAt latest() {
    return new StartAt(Position.newBuilder().setBoundary(Boundary.BOUNDARY_LATEST).build(), "latest");
  }

  /** The first record at or after this DLSN. */
  public static StartAt at(DLSN dlsn) {
    Objects.requireNonNull(dlsn, "dlsn");
    return new StartAt(Position.newBuilder().setDlsn(dlsn.toProto()).build(), dlsn.toString());
  }

  /** The first record with a txid at or above this one. */
  public static StartAt txid(long txid) {
    return new StartAt(Position.newBuilder().setTxid(txid).build(), "txid:" + txid);
  }

  /** The first record appended at or after this time. */
  public static StartAt time(Instant time) {
    return new StartAt(Position.newBuilder().setTimeMs(time.toEpochMilli()).build(), "time:" + time);
  }

  /** The wire form. */
  public Position toProto() {
    return wire;
  }

  @Override
  public String toString() {
    return text;
  }
}
