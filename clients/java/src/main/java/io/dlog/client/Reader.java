package io.dlog.client;

import io.dlog.v1.Drain;
import io.dlog.v1.Open;
import io.dlog.v1.Record;
import io.dlog.v1.ReaderServiceGrpc;
import io.dlog.v1.ResumePolicy;
import io.dlog.v1.SessionRequest;
import io.dlog.v1.SessionResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A high-level, at-least-once reader: iterate or poll, ack, and the reader coalesces acks into few
 * messages, reconnects with backoff, resumes from the server's durable position and drains on
 * close. Meant for one consuming thread (like a Kafka consumer); records may be acked from any
 * thread.
 *
 * <pre>{@code
 * try (Reader reader = client.reader(ReaderOptions.of("orders", "billing"))) {
 *   for (ReaderRecord record : reader) {
 *     handle(record.payload());
 *     record.ack();
 *   }
 * } // close() drains: the acks are sent and made durable
 * }</pre>
 */
public final class Reader implements AutoCloseable, Iterable<ReaderRecord>, DlogClient.ClosesWithClient {
  private static final Logger LOG = Logger.getLogger(Reader.class.getName());
  private static final SessionRequest DRAIN = SessionRequest.newBuilder().setDrain(Drain.getDefaultInstance()).build();

  private final ReaderServiceGrpc.ReaderServiceStub stub;
  private final ManagedChannel channel;
  private final ScheduledExecutorService scheduler;
  private final ReaderOptions options;
  private final ReconnectPolicy.Backoff backoff;

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  // Guarded by lock.
  private ArrayDeque<ReaderRecord> buffer = new ArrayDeque<>();
  private DlogException failure;
  private DlogException closeError;
  private Session session;
  private io.dlog.v1.DLSN earlierYieldedHigh;
  private ScheduledFuture<?> pendingReconnect;
  private StartAt override;
  private FlowLimits flow;
  private int sessions;
  private volatile boolean stopping;

  /** Taken from {@link #buffer} in one swap, read by the consuming thread only. */
  private ArrayDeque<ReaderRecord> local = new ArrayDeque<>();
  /** The record handed out last, for auto-ack (consuming thread only). */
  private ReaderRecord handed;

  private volatile OpenedInfo opened;
  private volatile ReaderStatus status;
  private volatile DLSN durable;
  private final CompletableFuture<OpenedInfo> firstOpen = new CompletableFuture<>();
  /** Completes when the session loop is over: drained, failed, or stopped. */
  private final CompletableFuture<Void> finished = new CompletableFuture<>();
  private CompletableFuture<DLSN> closing;

  Reader(ReaderServiceGrpc.ReaderServiceStub stub, ManagedChannel channel, ScheduledExecutorService scheduler, ReaderOptions options) {
    this.stub = stub;
    this.channel = channel;
    this.scheduler = scheduler;
    this.options = options.copy();
    this.backoff = this.options.reconnect.newBackoff();
    this.override = this.options.from;
    this.flow = this.options.flow;
    openSession();
  }

  public String log() {
    return options.log;
  }

  public String readerId() {
    return options.readerId;
  }

  /** What the server said when the current (or last) session opened; null before the first. */
  public OpenedInfo opened() {
    return opened;
  }

  /** The last status frame; null before the first. */
  public ReaderStatus status() {
    return status;
  }

  /** The durable floor the server last reported: a server crash would replay everything after it. Null until known. */
  public DLSN durablePosition() {
    return durable;
  }

  /** Completes when the first session is open; fails if it never opens. */
  public CompletableFuture<OpenedInfo> ready() {
    return firstOpen;
  }

  /** The error that ended the reader, or null. */
  public DlogException failure() {
    lock.lock();
    try {
      return failure;
    } finally {
      lock.unlock();
    }
  }

  /** False once the reader was closed or failed: {@link #poll} then returns null at once. */
  public boolean isOpen() {
    lock.lock();
    try {
      return !stopping && failure == null;
    } finally {
      lock.unlock();
    }
  }

  /** Changes the flow limits of the live session and of the sessions after a reconnect. */
  public void setFlow(FlowLimits limits) {
    Session current;
    lock.lock();
    try {
      flow = flow.merge(limits);
      current = session;
    } finally {
      lock.unlock();
    }
    if (current != null) current.send(SessionRequest.newBuilder().setFlow(limits.toProto()).build());
  }

  /**
   * The next record, waiting up to {@code timeout}; null when none came in time or the reader is
   * closed ({@link #isOpen()}). Throws the error that ended the reader (fenced, not found, no
   * reconnect possible) each time it is called after it.
   */
  public ReaderRecord poll(Duration timeout) throws InterruptedException {
    return take(timeout.toNanos());
  }

  /** Blocks for the next record; {@code hasNext()} is false once the reader is closed, and throws its failure. */
  @Override
  public Iterator<ReaderRecord> iterator() {
    return new Iterator<>() {
      private ReaderRecord next;

      @Override
      public boolean hasNext() {
        if (next == null) {
          try {
            next = take(Long.MAX_VALUE);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw DlogException.of(Status.Code.CANCELLED, "interrupted while waiting for a record", "", Map.of(), e);
          }
        }
        return next != null;
      }

      @Override
      public ReaderRecord next() {
        if (!hasNext()) throw new NoSuchElementException("the reader is closed");
        ReaderRecord record = next;
        next = null;
        return record;
      }
    };
  }

  /**
   * Ends the reader: stops delivery, sends the acks made so far, drains the session and returns the
   * final durable position (null if none is known). Records received but not handed out are not
   * acked and come back next time; acks made after this call are dropped. Idempotent.
   *
   * @throws DlogException.DeadlineExceeded when the server does not answer within the drain timeout
   */
  public DLSN drain() {
    CompletableFuture<DLSN> result;
    boolean first = false;
    lock.lock();
    try {
      if (closing == null) {
        closing = new CompletableFuture<>();
        first = true;
      }
      result = closing;
    } finally {
      lock.unlock();
    }
    if (first) shutdown(result);
    try {
      return result.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw DlogException.of(Status.Code.CANCELLED, "interrupted while draining", "", Map.of(), e);
    } catch (ExecutionException e) {
      throw DlogException.from(e.getCause());
    }
  }

  /**
   * Ends the reader at once, without draining: the session is cancelled, acks not yet sent are
   * lost, and their records come again next time (as after a crash of this process).
   */
  public void cancel() {
    lock.lock();
    try {
      if (closing == null) closing = CompletableFuture.completedFuture(durable);
    } finally {
      lock.unlock();
    }
    Session current = stopDelivery();
    if (current != null) current.cancel("cancelled by the application");
    finished.complete(null);
  }

  /**
   * Its DlogClient closed: a reconnect waiting for its backoff never runs (the scheduler is gone),
   * so the reader ends now with that error. A live session ends by itself as the channel closes.
   */
  @Override
  public void clientClosed() {
    DlogException error = DlogException.clientClosed("reader");
    lock.lock();
    try {
      if (stopping || pendingReconnect == null) return;
      pendingReconnect.cancel(false);
      pendingReconnect = null;
      failure = error;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    firstOpen.completeExceptionally(error);
    finished.complete(null);
  }

  /** {@link #drain()}, for try-with-resources. */
  @Override
  public void close() {
    drain();
  }

  /** No more records, no more reconnects; returns the session that was current. */
  private Session stopDelivery() {
    lock.lock();
    try {
      stopping = true;
      buffer.clear();
      if (pendingReconnect != null) pendingReconnect.cancel(false);
      changed.signalAll();
      return session;
    } finally {
      lock.unlock();
    }
  }

  private void shutdown(CompletableFuture<DLSN> result) {
    Session current = stopDelivery();
    if (current != null && current.alive) current.drain();
    else finished.complete(null);
    try {
      finished.get(options.drainTimeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      if (current != null) current.cancel("no drained answer in time");
      result.completeExceptionally(DlogException.of(Status.Code.DEADLINE_EXCEEDED,
          "no drained answer within " + options.drainTimeout.toMillis() + " ms; acks since the last status frame may be replayed",
          "", Map.of(), null));
      return;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      result.completeExceptionally(e);
      return;
    } catch (ExecutionException e) {
      result.completeExceptionally(e.getCause());
      return;
    }
    firstOpen.completeExceptionally(DlogException.of(Status.Code.CANCELLED, "the reader was closed before a session opened", "", Map.of(), null));
    lock.lock();
    try {
      if (closeError != null) result.completeExceptionally(closeError);
      else result.complete(durable);
    } finally {
      lock.unlock();
    }
  }

  private ReaderRecord take(long timeoutNanos) throws InterruptedException {
    if (handed != null) {
      if (options.autoAck && !handed.settled) handed.ack();
      handed = null;
    }
    long deadline = timeoutNanos == Long.MAX_VALUE ? 0 : System.nanoTime() + timeoutNanos;
    for (;;) {
      ReaderRecord record;
      while ((record = local.poll()) != null) {
        if (stopping) {
          local.clear();
          break;
        }
        Session owner = record.session();
        if (!owner.alive) continue; // the session died: its records come again on the next one
        io.dlog.v1.DLSN dlsn = record.wire.getDlsn();
        if (owner.yieldedHigh == null || DLSN.compare(dlsn, owner.yieldedHigh) > 0) owner.yieldedHigh = dlsn;
        handed = record;
        return record;
      }
      lock.lockInterruptibly();
      try {
        while (buffer.isEmpty()) {
          if (failure != null) throw failure;
          if (stopping) return null;
          if (timeoutNanos == Long.MAX_VALUE) {
            changed.await();
          } else {
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) return null;
            changed.awaitNanos(remaining);
          }
        }
        if (stopping) return null;
        ArrayDeque<ReaderRecord> taken = buffer;
        buffer = local;
        local = taken;
      } finally {
        lock.unlock();
      }
    }
  }

  private void openSession() {
    lock.lock();
    try {
      pendingReconnect = null;
      if (stopping) {
        finished.complete(null);
        return;
      }
      // A reconnect after a lost server must not wait for the channel's own (slow) redial backoff.
      if (session != null) channel.resetConnectBackoff();
      Session next = new Session(openMessage());
      next.start(); // before it is published: drain() must find its stream started
      session = next;
    } finally {
      lock.unlock();
    }
  }

  private Open openMessage() {
    Open.Builder open = Open.newBuilder()
        .setLog(options.log)
        .setReaderId(options.readerId)
        .setFlow(flow.toProto())
        .setTakeover(options.takeover == ReaderOptions.Takeover.REJECT ? io.dlog.v1.Takeover.TAKEOVER_REJECT : io.dlog.v1.Takeover.TAKEOVER_FENCE)
        .setAckWaitMs((int) Math.min(Integer.MAX_VALUE, options.ackWait.toMillis()));
    if (options.fallback != null) open.setFallback(options.fallback.toProto());
    if (override != null) open.setOverride(override.toProto());
    // After a reconnect the server's stored position is always the better one.
    if (sessions == 0) {
      if (options.checkpoint != null) open.setClientCheckpoint(options.checkpoint.toProto());
      open.setResumePolicy(switch (options.resume) {
        case STORED -> ResumePolicy.RESUME_POLICY_STORED;
        case CLIENT -> ResumePolicy.RESUME_POLICY_CLIENT;
        case MAX -> ResumePolicy.RESUME_POLICY_MAX;
      });
    } else {
      open.setResumePolicy(ResumePolicy.RESUME_POLICY_STORED);
    }
    return open.build();
  }

  private void onOpened(Session owner, io.dlog.v1.Opened wire) {
    OpenedInfo info;
    lock.lock();
    try {
      info = OpenedInfo.fromProto(wire, sessions);
      sessions++;
      override = null; // the server applied it; a reconnect resumes from the stored position
    } finally {
      lock.unlock();
    }
    owner.epoch = info.epoch();
    backoff.reset();
    opened = info;
    firstOpen.complete(info);
    notify(options.onOpened, info);
  }

  private void onStatus(Session owner, io.dlog.v1.ReaderStatus wire) {
    ReaderStatus frame = ReaderStatus.fromProto(owner.epoch, wire);
    owner.acksDurable = wire.getAcksDurable();
    status = frame;
    if (frame.durableFloor() != null) durable = frame.durableFloor();
    notify(options.onStatus, frame);
  }

  private void deliver(Session owner, List<Record> records) {
    List<ReaderRecord> batch = new ArrayList<>(records.size());
    io.dlog.v1.DLSN seenBefore;
    lock.lock();
    try {
      seenBefore = earlierYieldedHigh;
    } finally {
      lock.unlock();
    }
    synchronized (owner) {
      if (!owner.alive || stopping) return;
      for (Record wire : records) {
        boolean redelivered = wire.getAttempt() > 1 || (seenBefore != null && DLSN.compare(wire.getDlsn(), seenBefore) <= 0);
        ReaderRecord record = new ReaderRecord(wire, owner, redelivered);
        owner.tracker.delivered(record);
        batch.add(record);
      }
    }
    lock.lock();
    try {
      if (stopping) return;
      buffer.addAll(batch);
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private void sessionEnded(Session ended, Throwable cause) {
    ended.end();
    DlogException error = cause == null ? null : ended.ownError != null ? ended.ownError : DlogException.from(cause);
    Duration delay = null;
    lock.lock();
    try {
      io.dlog.v1.DLSN high = ended.yieldedHigh;
      if (high != null && (earlierYieldedHigh == null || DLSN.compare(high, earlierYieldedHigh) > 0)) earlierYieldedHigh = high;
      if (ended.drained != null) {
        durable = ended.drained;
        finished.complete(null);
        return;
      }
      if (stopping) {
        if (ended.opened && failure == null) {
          closeError = error != null ? error
              : DlogException.of(Status.Code.UNAVAILABLE, "the session ended before the drain was answered", "", Map.of(), null);
        }
        finished.complete(null);
        return;
      }
      if (error == null) {
        error = DlogException.of(Status.Code.UNAVAILABLE, "the server ended the session stream without drained", "", Map.of(), null);
      }
      if (isRetryable(error, sessions > 0)) delay = backoff.next();
      if (delay != null) {
        try {
          pendingReconnect = scheduler.schedule(this::openSession, delay.toNanos(), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException clientClosed) {
          // DlogClient.close() stopped the scheduler under a reader still open: nothing can reconnect it.
          delay = null;
          error = DlogException.clientClosed("reader");
        }
      }
      if (delay == null) {
        failure = error;
        changed.signalAll();
      }
    } finally {
      lock.unlock();
    }
    if (delay == null) {
      firstOpen.completeExceptionally(error);
      finished.complete(null);
    } else {
      notify(options.onReconnecting, new ReaderOptions.Reconnecting(backoff.attempts(), delay, error));
    }
  }

  /**
   * Worth a new session: the server or the network went away. Not: fenced (ABORTED), bad input, an
   * unknown log, no permission — retrying cannot help. ALREADY_EXISTS after a loss (takeover
   * REJECT) is our own dead session that the server has not noticed yet.
   */
  private boolean isRetryable(DlogException error, boolean reconnecting) {
    return switch (error.code()) {
      case UNAVAILABLE, CANCELLED -> true; // CANCELLED: reset by the server; our own cancels end the loop first
      case DEADLINE_EXCEEDED -> true; // our open timeout: the server did not answer
      case INTERNAL -> String.valueOf(error.getMessage()).matches("(?is).*(RST_STREAM|stream removed|connection).*");
      case ALREADY_EXISTS -> reconnecting && options.takeover == ReaderOptions.Takeover.REJECT;
      default -> false;
    };
  }

  private static <T> void notify(Consumer<T> listener, T value) {
    try {
      listener.accept(value);
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "a reader listener threw", e);
    }
  }

  /** One session stream: its requests and its ack bookkeeping. Acks of a session that ended never reach a newer one. */
  final class Session implements ClientResponseObserver<SessionRequest, SessionResponse> {
    final AckTracker tracker = new AckTracker();
    private final Open open;
    private ClientCallStreamObserver<SessionRequest> requests;
    volatile boolean alive = true;
    /** Drain sent: what the application acks from now on comes again next time. */
    private boolean draining;
    volatile boolean opened;
    volatile DLSN drained;
    volatile long epoch;
    volatile long acksDurable;
    /** The highest DLSN handed to the application from this session (written by the consuming thread). */
    volatile io.dlog.v1.DLSN yieldedHigh;
    /** An error this client decided on (open timeout) that wins over the CANCELLED it causes. */
    volatile DlogException ownError;
    private long acksSent;
    private boolean flushScheduled;
    private long lastFlushNanos;
    private ScheduledFuture<?> openTimer;

    Session(Open open) {
      this.open = open;
    }

    void start() {
      synchronized (this) {
        stub.session(this);
        requests.onNext(SessionRequest.newBuilder().setOpen(open).build());
      }
      long timeout = options.openTimeout.toNanos();
      openTimer = scheduler.schedule(() -> {
        if (!opened && alive) {
          ownError = DlogException.of(Status.Code.DEADLINE_EXCEEDED,
              "the session did not open within " + options.openTimeout.toMillis() + " ms", "", Map.of(), null);
          cancel("open timeout");
        }
      }, timeout, TimeUnit.NANOSECONDS);
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<SessionRequest> stream) {
      this.requests = stream;
    }

    @Override
    public void onNext(SessionResponse response) {
      switch (response.getKindCase()) {
        case OPENED -> {
          opened = true;
          openTimer.cancel(false);
          onOpened(this, response.getOpened());
        }
        case RECORDS -> deliver(this, response.getRecords().getRecordsList());
        case STATUS -> onStatus(this, response.getStatus());
        case DRAINED -> {
          acksDurable = response.getDrained().getAcksDurable();
          drained = response.getDrained().hasDurableFloor() ? DLSN.fromProto(response.getDrained().getDurableFloor()) : durable;
        }
        default -> {}
      }
    }

    @Override
    public void onError(Throwable error) {
      if (openTimer != null) openTimer.cancel(false);
      sessionEnded(this, error);
    }

    @Override
    public void onCompleted() {
      if (openTimer != null) openTimer.cancel(false);
      sessionEnded(this, null);
    }

    synchronized void ack(ReaderRecord record) {
      if (alive && !draining && tracker.ack(record)) scheduleFlush();
    }

    synchronized void nack(ReaderRecord record) {
      if (alive && !draining && tracker.nack(record)) scheduleFlush();
    }

    synchronized void send(SessionRequest request) {
      if (alive && !draining) requests.onNext(request);
    }

    /** Sends the acks made so far, then asks the server to finish. */
    synchronized void drain() {
      if (!alive || draining) return;
      flush();
      requests.onNext(DRAIN);
      draining = true;
    }

    synchronized void end() {
      alive = false;
    }

    void cancel(String why) {
      synchronized (this) {
        if (!alive) return;
      }
      requests.cancel(why, null);
    }

    /** Sends what was acked and nacked so far, as one message each. */
    synchronized void flush() {
      flushScheduled = false;
      if (!alive || draining || !tracker.pending()) return;
      lastFlushNanos = System.nanoTime();
      AckTracker.Batch batch = tracker.take();
      if (batch.ack() != null) {
        long number = ++acksSent;
        for (ReaderRecord record : batch.acked()) record.ackMessage = number;
        requests.onNext(SessionRequest.newBuilder().setAck(batch.ack()).build());
      }
      if (batch.nack() != null) requests.onNext(SessionRequest.newBuilder().setNack(batch.nack()).build());
    }

    private void scheduleFlush() {
      if (flushScheduled) return;
      flushScheduled = true;
      // The coalescing point: every ack made until the flusher runs goes out in one message.
      long wait = lastFlushNanos + options.ackInterval.toNanos() - System.nanoTime();
      scheduler.schedule(this::flush, Math.max(0, wait), TimeUnit.NANOSECONDS);
    }
  }
}
