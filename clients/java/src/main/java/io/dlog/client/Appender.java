package io.dlog.client;

import com.google.protobuf.ByteString;
import io.dlog.v1.AppendError;
import io.dlog.v1.AppendRequest;
import io.dlog.v1.AppendResponse;
import io.dlog.v1.LogServiceGrpc;
import io.dlog.v1.RecordInput;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A pipelined producer over {@code AppendStream}: many appends in flight on one stream, answered
 * in order. One-record appends are packed into entries (see {@link AppenderOptions}); each call's
 * future completes with its own record's DLSN, and a refused entry fails every call in it.
 *
 * <p>Entries are idempotent by default: each carries this appender's producer id and a sequence
 * number, so when the stream breaks ({@code UNAVAILABLE}: the server restarted, the connection
 * dropped) the appender reconnects with backoff and sends every unanswered entry again, and the
 * server answers one it had written with the original DLSNs instead of writing it twice. With
 * {@link ReconnectPolicy#disabled()} as {@link AppenderOptions#retry} a broken stream fails what
 * was in flight (its outcome is unknown) and nothing carries a producer id. Thread-safe.
 *
 * <pre>{@code
 * try (Appender appender = client.appender("events")) {
 *   List<CompletableFuture<DLSN>> results = new ArrayList<>();
 *   for (String line : lines) results.add(appender.append(line));
 *   appender.flush().join();
 * }
 * }</pre>
 */
public final class Appender implements AutoCloseable, DlogClient.ClosesWithClient {
  /** An entry renumbered this often is fighting another appender with the same producer id. */
  private static final int MAX_RENUMBERS = 16;

  private final LogServiceGrpc.LogServiceStub stub;
  private final ManagedChannel channel;
  private final ScheduledExecutorService scheduler;
  private final String log;
  private final AppenderOptions options;
  /** Null when retries are off. */
  private final String producerId;
  private final ReconnectPolicy.Backoff backoff;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition room = lock.newCondition();
  // Guarded by lock.
  private Batch current;
  private final ArrayDeque<Batch> sealed = new ArrayDeque<>();
  /** Sent and not yet answered, in seq order: what a reconnect sends again. */
  private final ArrayDeque<Batch> unanswered = new ArrayDeque<>();
  private Stream stream;
  private long bufferedBytes;
  private long nextSeq = 1;
  private long nextRequestId = 1;
  private boolean reconnecting;
  private boolean closed;
  private boolean gaveUp;
  private long reconnects;
  private long resent;
  private long duplicates;
  private final List<CompletableFuture<Void>> idle = new ArrayList<>();

  /** Records of one entry and who waits for them: single-record callers, or one multi-record call. */
  private static final class Batch {
    final List<RecordInput> records = new ArrayList<>();
    final List<CompletableFuture<DLSN>> callers = new ArrayList<>();
    CompletableFuture<List<DLSN>> entry;
    long bytes;
    ScheduledFuture<?> linger;
    long seq;
    /** The request id of its latest send: an answer to an earlier send of it is superseded. */
    long requestId;
    int renumbered;

    void fail(DlogException error) {
      if (entry != null) entry.completeExceptionally(error);
      for (CompletableFuture<DLSN> caller : callers) caller.completeExceptionally(error);
    }

    void succeed(AppendResponse response) {
      List<io.dlog.v1.DLSN> wire = response.getDlsnsList();
      if (wire.size() != records.size()) {
        fail(DlogException.of(Status.Code.INTERNAL,
            "the server answered " + wire.size() + " DLSNs for an entry of " + records.size() + " records", "", Map.of(), null));
        return;
      }
      if (entry != null) {
        List<DLSN> dlsns = new ArrayList<>(wire.size());
        for (io.dlog.v1.DLSN dlsn : wire) dlsns.add(DLSN.fromProto(dlsn));
        entry.complete(dlsns);
      } else {
        for (int i = 0; i < callers.size(); i++) callers.get(i).complete(DLSN.fromProto(wire.get(i)));
      }
    }
  }

  Appender(LogServiceGrpc.LogServiceStub stub, ManagedChannel channel, ScheduledExecutorService scheduler, String log, AppenderOptions options) {
    this.stub = stub;
    this.channel = channel;
    this.scheduler = scheduler;
    this.log = log;
    this.options = options.copy();
    this.backoff = this.options.retry.enabled() ? this.options.retry.newBackoff() : null;
    this.producerId = backoff == null ? null : this.options.producerId != null ? this.options.producerId : "java-" + UUID.randomUUID();
  }

  /** The producer id of the idempotent appends; null when retries are off. */
  public String producerId() {
    return producerId;
  }

  /** Streams opened again after a break. */
  public long reconnects() {
    return locked(() -> reconnects);
  }

  /** Entries sent again: after a reconnect, or renumbered after a refused one before them. */
  public long resent() {
    return locked(() -> resent);
  }

  /** Resent entries the server had written already (answered with their original DLSNs). */
  public long duplicates() {
    return locked(() -> duplicates);
  }

  private <T> T locked(java.util.function.Supplier<T> read) {
    lock.lock();
    try {
      return read.get();
    } finally {
      lock.unlock();
    }
  }

  public String log() {
    return log;
  }

  /** Appends one record, packed with its neighbours into an entry; completes with its DLSN. May block while the in-flight bound is reached. */
  public CompletableFuture<DLSN> append(byte[] payload) {
    return appendOne(RecordInput.newBuilder().setPayload(ByteString.copyFrom(payload)).build());
  }

  /** Appends one UTF-8 record. */
  public CompletableFuture<DLSN> append(String text) {
    return appendOne(RecordInput.newBuilder().setPayload(ByteString.copyFrom(text, StandardCharsets.UTF_8)).build());
  }

  /** Appends one record with an explicit txid (non-decreasing per log). */
  public CompletableFuture<DLSN> append(byte[] payload, long txid) {
    return appendOne(RecordInput.newBuilder().setPayload(ByteString.copyFrom(payload)).setTxid(txid).build());
  }

  /** Appends the records to one entry, in consecutive slots, in order with the other appends. */
  public CompletableFuture<List<DLSN>> appendEntry(List<byte[]> payloads) {
    if (payloads.isEmpty()) throw new IllegalArgumentException("an entry needs at least one record");
    Batch batch = new Batch();
    batch.entry = new CompletableFuture<>();
    for (byte[] payload : payloads) {
      batch.records.add(RecordInput.newBuilder().setPayload(ByteString.copyFrom(payload)).build());
      batch.bytes += payload.length;
    }
    lock.lock();
    try {
      if (!waitForRoom(batch.bytes, batch.entry)) return batch.entry;
      if (current != null) seal(current);
      bufferedBytes += batch.bytes;
      sealed.add(batch);
      pump();
    } finally {
      lock.unlock();
    }
    return batch.entry;
  }

  /** Sends what is batching now; completes when every append made so far is answered. */
  public CompletableFuture<Void> flush() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    lock.lock();
    try {
      if (current != null) seal(current);
      if (idleNow()) done.complete(null);
      else idle.add(done);
    } finally {
      lock.unlock();
    }
    return done;
  }

  /** A broken stream waits for its reconnect (for tests of what happens meanwhile). */
  boolean reconnectPending() {
    return locked(() -> reconnecting);
  }

  /** Entries sent and not yet answered. */
  public int inFlight() {
    return locked(unanswered::size);
  }

  /** Payload bytes appended and not yet answered. */
  public long inFlightBytes() {
    return locked(() -> bufferedBytes);
  }

  /** Sends what is batching, waits for every answer (up to the close timeout), then ends the stream. Later appends fail. */
  @Override
  public void close() {
    lock.lock();
    try {
      if (closed) return;
      closed = true;
    } finally {
      lock.unlock();
    }
    try {
      flush().get(options.closeTimeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      // The callers' futures carry each append's outcome.
    }
    Stream last;
    List<Batch> abandoned = new ArrayList<>();
    List<CompletableFuture<Void>> wake = new ArrayList<>(0);
    lock.lock();
    try {
      last = stream;
      stream = null;
      abandonAll(abandoned, wake);
    } finally {
      lock.unlock();
    }
    if (last != null) {
      if (abandoned.isEmpty()) last.requests.onCompleted();
      else last.requests.cancel("appender closed before every answer came", null);
    }
    DlogException error = DlogException.of(Status.Code.CANCELLED,
        "the appender closed after " + options.closeTimeout.toMillis() + " ms without an answer; the outcome is unknown", "", Map.of(), null);
    for (Batch batch : abandoned) batch.fail(error);
    for (CompletableFuture<Void> done : wake) done.complete(null);
  }

  /** Under lock: everything batching, sealed or unanswered is given up, to be failed by the caller. */
  private void abandonAll(List<Batch> abandoned, List<CompletableFuture<Void>> wake) {
    if (idleNow()) return;
    gaveUp = true;
    if (current != null) seal(current);
    abandoned.addAll(sealed);
    sealed.clear();
    for (Batch batch : abandoned) bufferedBytes -= batch.bytes;
    while (!unanswered.isEmpty()) abandoned.add(settleHead(wake));
  }

  /**
   * Its DlogClient closed: the channel and the scheduler are gone, so nothing here can be answered,
   * sent or reconnected any more (a reconnect waiting for its backoff never runs). Every append
   * not yet answered fails now, and later appends fail.
   */
  @Override
  public void clientClosed() {
    List<Batch> abandoned = new ArrayList<>();
    List<CompletableFuture<Void>> wake = new ArrayList<>(0);
    lock.lock();
    try {
      closed = true;
      stream = null; // its end, as the channel closes, changes nothing more
      reconnecting = false;
      abandonAll(abandoned, wake);
      room.signalAll();
    } finally {
      lock.unlock();
    }
    DlogException error = DlogException.clientClosed("appender");
    for (Batch batch : abandoned) batch.fail(error);
    for (CompletableFuture<Void> done : wake) done.complete(null);
  }

  private CompletableFuture<DLSN> appendOne(RecordInput record) {
    CompletableFuture<DLSN> result = new CompletableFuture<>();
    long bytes = record.getPayload().size();
    lock.lock();
    try {
      if (!waitForRoom(bytes, result)) return result;
      if (current != null && current.bytes + bytes > options.maxBatchBytes) seal(current);
      Batch batch = current;
      if (batch == null) {
        current = batch = new Batch();
        if (!options.linger.isZero()) {
          Batch lingering = batch;
          batch.linger = scheduler.schedule(() -> sealLingering(lingering), options.linger.toNanos(), TimeUnit.NANOSECONDS);
        }
      }
      batch.records.add(record);
      batch.callers.add(result);
      batch.bytes += bytes;
      bufferedBytes += bytes;
      if (options.linger.isZero() || batch.records.size() >= options.maxBatchRecords || batch.bytes >= options.maxBatchBytes) seal(batch);
    } finally {
      lock.unlock();
    }
    return result;
  }

  /** Blocks while the bytes bound is reached; false (and {@code result} failed) when closed or interrupted. */
  private boolean waitForRoom(long bytes, CompletableFuture<?> result) {
    // One append larger than the bound still goes out alone, or it would wait forever.
    while (!closed && bufferedBytes > 0 && bufferedBytes + bytes > options.maxInFlightBytes) {
      try {
        room.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        result.completeExceptionally(DlogException.of(Status.Code.CANCELLED, "interrupted while waiting for room to append", "", Map.of(), e));
        return false;
      }
    }
    if (closed) {
      result.completeExceptionally(DlogException.of(Status.Code.CANCELLED, "the appender is closed", "", Map.of(), null));
      return false;
    }
    return true;
  }

  private void sealLingering(Batch batch) {
    lock.lock();
    try {
      if (current == batch) seal(batch);
    } finally {
      lock.unlock();
    }
  }

  private void seal(Batch batch) {
    if (current == batch) current = null;
    if (batch.linger != null) batch.linger.cancel(false);
    sealed.add(batch);
    pump();
  }

  /** Sends sealed entries while fewer than maxInFlight are unanswered. Under lock. */
  private void pump() {
    // After a reconnect only the oldest unanswered entry goes out until it is answered: a server
    // that is still down costs one message per attempt, not every entry in flight.
    if (gaveUp || reconnecting || (stream != null && stream.probing)) return;
    while (!sealed.isEmpty() && unanswered.size() < options.maxInFlight) {
      Batch batch = sealed.poll();
      if (producerId != null) batch.seq = nextSeq++;
      unanswered.add(batch);
      if (stream == null) stream = new Stream();
      send(stream, batch);
    }
  }

  private void send(Stream target, Batch batch) {
    batch.requestId = nextRequestId++;
    target.sent.add(new Sent(batch, batch.requestId));
    AppendRequest.Builder request = AppendRequest.newBuilder().setLog(log).addAllRecords(batch.records).setRequestId(batch.requestId);
    if (producerId != null) request.setProducerId(producerId).setProducerSeq(batch.seq);
    target.requests.onNext(request.build());
  }

  /** Sends again, in order, the unanswered entries that went out on an earlier stream. */
  private void resendRest(Stream target) {
    for (Batch batch : unanswered) {
      if (batch.requestId >= target.firstRequestId) continue;
      resent++;
      send(target, batch);
    }
  }

  /** An entry before these was refused (so not written): all unanswered move down to {@code from} and go again. */
  private void renumberAndResend(Stream target, long from) {
    nextSeq = from;
    target.probing = false;
    for (Batch batch : unanswered) {
      batch.seq = nextSeq++;
      batch.renumbered++;
      resent++;
      send(target, batch);
    }
  }

  private void reopen() {
    lock.lock();
    try {
      reconnecting = false;
      if (gaveUp) return; // close() settled everything
      reconnects++;
      channel.resetConnectBackoff(); // the server is back or not: ask now, not after the channel's own backoff
      if (unanswered.isEmpty()) {
        pump();
        return;
      }
      Stream reopened = stream = new Stream();
      reopened.probing = unanswered.size() > 1;
      resent++;
      send(reopened, unanswered.peek());
    } finally {
      lock.unlock();
    }
  }

  private boolean idleNow() {
    return current == null && sealed.isEmpty() && unanswered.isEmpty();
  }

  /** Under lock: the oldest unanswered entry is settled, freeing its room. */
  private Batch settleHead(List<CompletableFuture<Void>> wake) {
    Batch batch = unanswered.poll();
    bufferedBytes -= batch.bytes;
    room.signalAll();
    if (idleNow() && !idle.isEmpty()) {
      wake.addAll(idle);
      idle.clear();
    }
    return batch;
  }

  private record Sent(Batch batch, long requestId) {}

  /** One AppendStream call and, in order, the sends it owes answers for. */
  private final class Stream implements ClientResponseObserver<AppendRequest, AppendResponse> {
    final ArrayDeque<Sent> sent = new ArrayDeque<>();
    /** Sends with a lower request id went out on an earlier stream. */
    final long firstRequestId = nextRequestId;
    boolean probing;
    ClientCallStreamObserver<AppendRequest> requests;

    Stream() {
      stub.appendStream(this);
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<AppendRequest> stream) {
      this.requests = stream;
    }

    @Override
    public void onNext(AppendResponse response) {
      Batch settled = null;
      DlogException failure = null;
      List<CompletableFuture<Void>> wake = new ArrayList<>(0);
      lock.lock();
      try {
        Sent answered = sent.poll();
        if (answered == null || response.getRequestId() != answered.requestId()) {
          // Answers are matched by order: once one is out of place none after it can be trusted.
          requests.cancel("answer for append " + response.getRequestId() + " arrived in place of "
              + (answered == null ? "none" : answered.requestId()), null);
          return;
        }
        boolean probe = probing;
        probing = false;
        Batch batch = answered.batch();
        if (batch.requestId == answered.requestId()) { // else superseded by a resend: its answer is the one that counts
          if (unanswered.peek() != batch) {
            requests.cancel("an answer arrived for an entry that is not the oldest unanswered one", null);
            return;
          }
          if (backoff != null) backoff.reset();
          if (!response.hasError()) {
            if (response.getDuplicate()) duplicates++;
            settled = settleHead(wake);
          } else {
            AppendError error = response.getError();
            String expected = error.getMetadataOrDefault("expected_seq", "");
            if ("PRODUCER_SEQUENCE_GAP".equals(error.getReason()) && !expected.isEmpty() && batch.renumbered < MAX_RENUMBERS) {
              renumberAndResend(this, Long.parseLong(expected));
            } else {
              settled = settleHead(wake);
              failure = DlogException.from(error);
            }
          }
        }
        if (probe) resendRest(this);
        pump();
      } finally {
        lock.unlock();
      }
      if (settled != null) {
        if (failure != null) settled.fail(failure);
        else settled.succeed(response);
      }
      for (CompletableFuture<Void> done : wake) done.complete(null);
    }

    @Override
    public void onError(Throwable error) {
      ended(DlogException.from(error));
    }

    @Override
    public void onCompleted() {
      ended(DlogException.of(Status.Code.UNAVAILABLE, "the append stream ended before answering every append", "", Map.of(), null));
    }

    /**
     * A broken stream: with retries, reconnect and send the unanswered entries again (the server
     * recognises the ones it wrote); without, or when the error is not a loss, each fails (its
     * outcome is unknown) and later appends open a new stream.
     */
    private void ended(DlogException cause) {
      DlogException error = cause;
      List<Batch> failed = new ArrayList<>();
      List<CompletableFuture<Void>> wake = new ArrayList<>(0);
      lock.lock();
      try {
        if (stream != this) return;
        stream = null;
        if (!unanswered.isEmpty()) {
          Duration delay = backoff != null && error.code() == Status.Code.UNAVAILABLE ? backoff.next() : null;
          if (delay != null) {
            try {
              scheduler.schedule(Appender.this::reopen, delay.toNanos(), TimeUnit.NANOSECONDS);
              reconnecting = true;
              return;
            } catch (RejectedExecutionException clientClosed) {
              // DlogClient.close() stopped the scheduler under an appender still open: its appends fail now.
              error = DlogException.clientClosed("appender");
            }
          }
          if (backoff != null) backoff.reset();
          while (!unanswered.isEmpty()) failed.add(settleHead(wake));
        }
        pump();
      } finally {
        lock.unlock();
      }
      for (Batch batch : failed) batch.fail(error);
      for (CompletableFuture<Void> done : wake) done.complete(null);
    }
  }
}
