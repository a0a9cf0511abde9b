package io.dlog.client;

import java.time.Duration;
import java.util.Objects;

/**
 * How an {@link Appender} batches and bounds its appends. One-record appends made within
 * {@link #linger} of each other travel as one entry (up to {@link #maxBatchRecords} records or
 * {@link #maxBatchBytes} bytes), as DistributedLog's own writer packs records into entries; each
 * caller still gets its own record's DLSN.
 */
public final class AppenderOptions {
  Duration linger = Duration.ofMillis(2);
  int maxBatchRecords = 1000;
  int maxBatchBytes = 1 << 20;
  long maxInFlightBytes = 8L << 20;
  int maxInFlight = 1024;
  Duration closeTimeout = Duration.ofSeconds(30);
  ReconnectPolicy retry = ReconnectPolicy.defaults();
  String producerId;

  public static AppenderOptions defaults() {
    return new AppenderOptions();
  }

  /** How long a batch waits for more records before it is sent (default 2 ms; zero: every append is its own entry). */
  public AppenderOptions linger(Duration linger) {
    if (linger.isNegative()) throw new IllegalArgumentException("linger must be >= 0");
    this.linger = Objects.requireNonNull(linger);
    return this;
  }

  /** Most records in one entry (default 1000; the server's --max-records-per-append is 10000). */
  public AppenderOptions maxBatchRecords(int records) {
    if (records < 1) throw new IllegalArgumentException("maxBatchRecords must be >= 1");
    this.maxBatchRecords = records;
    return this;
  }

  /** Most payload bytes in one entry (default 1 MiB); a larger single record goes alone. */
  public AppenderOptions maxBatchBytes(int bytes) {
    if (bytes < 1) throw new IllegalArgumentException("maxBatchBytes must be >= 1");
    this.maxBatchBytes = bytes;
    return this;
  }

  /**
   * Payload bytes appended and not yet answered (batching, queued or on the wire); past it
   * {@code append} blocks until answers free room (default 8 MiB).
   */
  public AppenderOptions maxInFlightBytes(long bytes) {
    if (bytes < 1) throw new IllegalArgumentException("maxInFlightBytes must be >= 1");
    this.maxInFlightBytes = bytes;
    return this;
  }

  /**
   * Entries on the wire and not yet answered (default 1024); later ones wait in the client. With
   * retries keep it at or below the server's {@code --producer-window} (default 1024), or a resend
   * may be too old for the server to recognise.
   */
  public AppenderOptions maxInFlight(int requests) {
    if (requests < 1) throw new IllegalArgumentException("maxInFlight must be >= 1");
    this.maxInFlight = requests;
    return this;
  }

  /** How long {@link Appender#close()} waits for the answers (default 30 s). */
  public AppenderOptions closeTimeout(Duration timeout) {
    this.closeTimeout = Objects.requireNonNull(timeout);
    return this;
  }

  /**
   * When the stream breaks (UNAVAILABLE), reconnect with this backoff and send every unanswered
   * entry again; entries carry a producer id and sequence number, so the server writes each once.
   * {@link ReconnectPolicy#disabled()}: fail what was in flight instead, and send no producer id.
   */
  public AppenderOptions retry(ReconnectPolicy policy) {
    this.retry = Objects.requireNonNull(policy);
    return this;
  }

  /** The producer id of the idempotent entries (log-name charset). Default: a random one per appender. */
  public AppenderOptions producerId(String id) {
    this.producerId = Objects.requireNonNull(id);
    return this;
  }

  AppenderOptions copy() {
    AppenderOptions copy = new AppenderOptions();
    copy.linger = linger;
    copy.maxBatchRecords = maxBatchRecords;
    copy.maxBatchBytes = maxBatchBytes;
    copy.maxInFlightBytes = maxInFlightBytes;
    copy.maxInFlight = maxInFlight;
    copy.closeTimeout = closeTimeout;
    copy.retry = retry;
    copy.producerId = producerId;
    return copy;
  }
}
