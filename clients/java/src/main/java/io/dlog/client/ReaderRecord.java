package io.dlog.client;

import io.dlog.v1.Record;

/** One record delivered to a {@link Reader}: process it, then {@link #ack()} (or {@link #nack()} to get it again). */
public final class ReaderRecord extends LogRecord {
  private final Reader.Session session;
  private final boolean redelivered;
  // Ack bookkeeping, guarded by the session.
  boolean acked;
  ReaderRecord primary;
  /** The number of the Ack message (in its session, from 1) that carried this record's ack; 0 until sent. */
  volatile long ackMessage;
  /** The application acked or nacked it: auto-ack leaves it alone. */
  volatile boolean settled;

  ReaderRecord(Record wire, Reader.Session session, boolean redelivered) {
    super(wire);
    this.session = session;
    this.redelivered = redelivered;
  }

  /** 1 = first delivery; >= 2 = delivered again (nack, ack_wait, or after a resume whose acks were not durable). */
  public int attempt() {
    return wire.getAttempt();
  }

  /**
   * Possibly seen before: attempt >= 2, or delivered to this reader by an earlier session before a
   * reconnect. The application may already have processed it.
   */
  public boolean redelivered() {
    return redelivered;
  }

  /**
   * Marks the record processed. Acks are coalesced into few messages; an ack on a session that has
   * ended is dropped (the record comes again). Any thread may ack.
   */
  public void ack() {
    settled = true;
    session.ack(this);
  }

  /** Asks for this record again (attempt + 1), in this session, at once. */
  public void nack() {
    settled = true;
    session.nack(this);
  }

  /** The epoch of the session that delivered it. */
  public long sessionEpoch() {
    return session.epoch;
  }

  /** The number of the Ack message (in its session, from 1) that carried this record's ack; 0 while unsent. */
  public long ackMessage() {
    return ackMessage;
  }

  /**
   * The server said its ack is on disk ({@code acks_durable} of a status frame covers the Ack
   * message that carried it): a server crash now will not deliver it again.
   */
  public boolean ackDurable() {
    long message = ackMessage;
    return message > 0 && session.acksDurable >= message;
  }

  Reader.Session session() {
    return session;
  }

  @Override
  public String toString() {
    return "ReaderRecord{" + dlsn() + ", attempt " + attempt() + ", " + wire.getPayload().size() + " bytes}";
  }
}
