package io.dlog.client;

import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * How to open a {@link Reader}. Fluent and mutable; the reader copies it when it is created.
 *
 * <pre>{@code
 * ReaderOptions options = ReaderOptions.of("orders", "billing")
 *     .fallback(StartAt.earliest())
 *     .flow(FlowLimits.defaults().withMaxOutstandingRecords(500))
 *     .onStatus(status -> log.info("durable: {}", status.durableFloor()));
 * }</pre>
 */
public final class ReaderOptions {
  /** Which position a session resumes from: the server's, the application's checkpoint, or the further of the two. */
  public enum Resume { STORED, CLIENT, MAX }

  /** When another session holds the reader: end it ({@link #FENCE}, the default) or fail this one ({@link #REJECT}). */
  public enum Takeover { FENCE, REJECT }

  final String log;
  final String readerId;
  StartAt from;
  StartAt fallback;
  DLSN checkpoint;
  Resume resume = Resume.STORED;
  FlowLimits flow = FlowLimits.defaults();
  Duration ackWait = Duration.ZERO;
  Takeover takeover = Takeover.FENCE;
  ReconnectPolicy reconnect = ReconnectPolicy.defaults();
  Duration ackInterval = Duration.ofMillis(2);
  boolean autoAck;
  Duration drainTimeout = Duration.ofSeconds(10);
  Duration openTimeout = Duration.ofSeconds(30);
  Consumer<OpenedInfo> onOpened = info -> {};
  Consumer<ReaderStatus> onStatus = status -> {};
  Consumer<Reconnecting> onReconnecting = reconnecting -> {};

  /** A session was lost and the reader will try again after {@code delay}. */
  public record Reconnecting(int attempt, Duration delay, DlogException error) {}

  private ReaderOptions(String log, String readerId) {
    this.log = Objects.requireNonNull(log, "log");
    this.readerId = Objects.requireNonNull(readerId, "readerId");
  }

  public static ReaderOptions of(String log, String readerId) {
    return new ReaderOptions(log, readerId);
  }

  /** Re-positions the reader on the first open (the open's override); reconnects resume from the stored position. */
  public ReaderOptions from(StartAt start) {
    this.from = start;
    return this;
  }

  /** Where to start when the reader has no stored position (server default: earliest). */
  public ReaderOptions fallback(StartAt start) {
    this.fallback = start;
    return this;
  }

  /** A position the application persisted itself (the last record it processed), used per {@link #resume(Resume)}. */
  public ReaderOptions checkpoint(DLSN dlsn) {
    this.checkpoint = dlsn;
    return this;
  }

  public ReaderOptions resume(Resume policy) {
    this.resume = Objects.requireNonNull(policy);
    return this;
  }

  public ReaderOptions flow(FlowLimits limits) {
    this.flow = Objects.requireNonNull(limits);
    return this;
  }

  /** Records not acked for this long are delivered again in the same session (attempt + 1). Zero: never. */
  public ReaderOptions ackWait(Duration wait) {
    this.ackWait = Objects.requireNonNull(wait);
    return this;
  }

  public ReaderOptions takeover(Takeover policy) {
    this.takeover = Objects.requireNonNull(policy);
    return this;
  }

  /** Reconnect on UNAVAILABLE or a lost connection; {@link ReconnectPolicy#disabled()} turns it off. */
  public ReaderOptions reconnect(ReconnectPolicy policy) {
    this.reconnect = Objects.requireNonNull(policy);
    return this;
  }

  /**
   * The least time between two ack messages (default 2 ms): every ack made in between goes out in
   * one cumulative/individual Ack message. Zero sends as soon as the flusher runs.
   */
  public ReaderOptions ackInterval(Duration interval) {
    this.ackInterval = Objects.requireNonNull(interval);
    return this;
  }

  /**
   * Ack each record when the application asks for the next one ({@code poll} or the iterator), as
   * a loop that processes records one by one would; a record it acked or nacked itself is left
   * alone. The last record, when the loop ends by {@code break}, an exception or a drain, is not
   * acked (it comes again next time): ack it before leaving if it was processed.
   */
  public ReaderOptions autoAck(boolean enabled) {
    this.autoAck = enabled;
    return this;
  }

  /** How long {@link Reader#drain()} waits for the server's answer (default 10 s). */
  public ReaderOptions drainTimeout(Duration timeout) {
    this.drainTimeout = Objects.requireNonNull(timeout);
    return this;
  }

  /** How long a session may take to open before it counts as lost (default 30 s). */
  public ReaderOptions openTimeout(Duration timeout) {
    this.openTimeout = Objects.requireNonNull(timeout);
    return this;
  }

  /** Called (on a gRPC thread) each time a session opens. */
  public ReaderOptions onOpened(Consumer<OpenedInfo> listener) {
    this.onOpened = Objects.requireNonNull(listener);
    return this;
  }

  /** Called (on a gRPC thread) for every status frame: the durable position, holes, lag. */
  public ReaderOptions onStatus(Consumer<ReaderStatus> listener) {
    this.onStatus = Objects.requireNonNull(listener);
    return this;
  }

  /** Called before each reconnect attempt. */
  public ReaderOptions onReconnecting(Consumer<Reconnecting> listener) {
    this.onReconnecting = Objects.requireNonNull(listener);
    return this;
  }

  ReaderOptions copy() {
    ReaderOptions copy = new ReaderOptions(log, readerId);
    copy.from = from;
    copy.fallback = fallback;
    copy.checkpoint = checkpoint;
    copy.resume = resume;
    copy.flow = flow;
    copy.ackWait = ackWait;
    copy.takeover = takeover;
    copy.reconnect = reconnect;
    copy.ackInterval = ackInterval;
    copy.autoAck = autoAck;
    copy.drainTimeout = drainTimeout;
    copy.openTimeout = openTimeout;
    copy.onOpened = onOpened;
    copy.onStatus = onStatus;
    copy.onReconnecting = onReconnecting;
    return copy;
  }
}
