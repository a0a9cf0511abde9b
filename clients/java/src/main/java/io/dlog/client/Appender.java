package io.dlog.client;

import com.google.protobuf.ByteString;
import io.dlog.v1.AppendRequest;
import io.dlog.v1.AppendResponse;
import io.dlog.v1.LogServiceGrpc;
import io.dlog.v1.RecordInput;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A pipelined producer over {@code AppendStream}: many appends in flight on one stream, answered
 * in order. One-record appends are packed into entries (see {@link AppenderOptions}); each call's
 * future completes with its own record's DLSN, and a failed entry fails every call in it. Thread-safe.
 *
 * <pre>{@code
 * try (Appender appender = client.appender("events")) {
 *   List<CompletableFuture<DLSN>> results = new ArrayList<>();
 *   for (String line : lines) results.add(appender.append(line));
 *   appender.flush().join();
 * }
 * }</pre>
 */
public final class Appender implements AutoCloseable {
  private final LogServiceGrpc.LogServiceStub stub;
  private final ScheduledExecutorService scheduler;
  private final String log;
  private final AppenderOptions options;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition room = lock.newCondition();
  // Guarded by lock.
  private Batch current;
  private final ArrayDeque<Batch> sealed = new ArrayDeque<>();
  private Stream stream;
  private long bufferedBytes;
  private int inFlight;
  private long nextRequestId = 1;
  private boolean closed;
  private final List<CompletableFuture<Void>> idle = new ArrayList<>();

  /** Records of one entry and who waits for them: single-record callers, or one multi-record call. */
  private static final class Batch {
    final List<RecordInput> records = new ArrayList<>();
    final List<CompletableFuture<DLSN>> callers = new ArrayList<>();
    CompletableFuture<List<DLSN>> entry;
    long bytes;
    ScheduledFuture<?> linger;

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

  Appender(LogServiceGrpc.LogServiceStub stub, ScheduledExecutorService scheduler, String log, AppenderOptions options) {
    this.stub = stub;
    this.scheduler = scheduler;
    this.log = log;
    this.options = options.copy();
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

  /** Appends the records as one entry of their own (record i gets slot i), in order with the other appends. */
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

  /** Append requests on the wire and not yet answered. */
  public int inFlight() {
    lock.lock();
    try {
      return inFlight;
    } finally {
      lock.unlock();
    }
  }

  /** Payload bytes appended and not yet answered. */
  public long inFlightBytes() {
    lock.lock();
    try {
      return bufferedBytes;
    } finally {
      lock.unlock();
    }
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
    boolean answered;
    lock.lock();
    try {
      last = stream;
      stream = null;
      answered = last == null || last.sent.isEmpty();
    } finally {
      lock.unlock();
    }
    if (last == null) return;
    if (answered) last.requests.onCompleted();
    else last.requests.cancel("appender closed before every answer came", null);
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
    while (!sealed.isEmpty() && inFlight < options.maxInFlight) {
      Batch batch = sealed.poll();
      if (stream == null) stream = new Stream();
      inFlight++;
      stream.sent.add(batch);
      stream.requests.onNext(AppendRequest.newBuilder().setLog(log).addAllRecords(batch.records).setRequestId(nextRequestId++).build());
      stream.requestIds.add(nextRequestId - 1);
    }
  }

  private boolean idleNow() {
    return current == null && sealed.isEmpty() && inFlight == 0;
  }

  /** Under lock: an answered (or failed) entry frees its room. */
  private void released(Batch batch, List<CompletableFuture<Void>> wake) {
    inFlight--;
    bufferedBytes -= batch.bytes;
    room.signalAll();
    if (idleNow() && !idle.isEmpty()) {
      wake.addAll(idle);
      idle.clear();
    }
  }

  /** One AppendStream call and the entries it still owes answers for, in order. */
  private final class Stream implements ClientResponseObserver<AppendRequest, AppendResponse> {
    final ArrayDeque<Batch> sent = new ArrayDeque<>();
    final ArrayDeque<Long> requestIds = new ArrayDeque<>();
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
      Batch batch;
      long expected;
      List<CompletableFuture<Void>> wake = new ArrayList<>(0);
      lock.lock();
      try {
        batch = sent.poll();
        Long id = requestIds.poll();
        if (batch == null || id == null) return;
        expected = id;
        released(batch, wake);
        pump();
      } finally {
        lock.unlock();
      }
      if (response.hasError()) {
        batch.fail(DlogException.from(response.getError()));
      } else if (response.getRequestId() != expected) {
        // Answers are matched by order: once one is out of place none after it can be trusted.
        batch.fail(DlogException.of(Status.Code.INTERNAL,
            "answer for append " + response.getRequestId() + " arrived in place of " + expected, "", Map.of(), null));
        requests.cancel("answers out of order", null);
      } else {
        batch.succeed(response);
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

    /** Appends in flight on a broken stream have an unknown outcome: each fails; later appends open a new stream. */
    private void ended(DlogException error) {
      List<Batch> failed = new ArrayList<>();
      List<CompletableFuture<Void>> wake = new ArrayList<>(0);
      lock.lock();
      try {
        if (stream == this) stream = null;
        for (Batch batch; (batch = sent.poll()) != null; ) {
          failed.add(batch);
          released(batch, wake);
        }
        requestIds.clear();
        pump();
      } finally {
        lock.unlock();
      }
      for (Batch batch : failed) batch.fail(error);
      for (CompletableFuture<Void> done : wake) done.complete(null);
    }
  }
}
