package io.dlog.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.dlog.client.Appender;
import io.dlog.client.DLSN;
import io.dlog.client.DlogClient;
import io.dlog.client.DlogException;
import io.dlog.client.FlowLimits;
import io.dlog.client.Reader;
import io.dlog.client.ReaderOptions;
import io.dlog.client.ReaderRecord;
import io.dlog.client.ReaderStatus;
import io.dlog.client.ReconnectPolicy;
import io.dlog.client.StartAt;
import io.dlog.testing.DlogdExtension;
import io.dlog.testing.DlogdServer;
import io.dlog.v1.Ack;
import io.dlog.v1.Open;
import io.dlog.v1.ReaderInfo;
import io.dlog.v1.ReaderServiceGrpc;
import io.dlog.v1.SessionRequest;
import io.dlog.v1.SessionResponse;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The client conformance scenario of test/conformance/README.md, step by step, against a real dlogd. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ConformanceTest {
  private static final Duration WAIT = Duration.ofSeconds(10);

  @RegisterExtension
  static DlogdExtension dlogd = DlogdExtension.create(
      DlogdServer.options().durable().args("--ack-flush-interval", "50ms", "--heartbeat", "1s"));

  private final String log = "conf-java-" + UUID.randomUUID().toString().substring(0, 8);
  private final Map<Integer, DLSN> dlsn = new HashMap<>();
  private DlogClient client;
  /** Reader R, open from step 3 to step 4. */
  private Reader r;

  @BeforeAll
  void connect() {
    client = dlogd.client();
  }

  @AfterAll
  void closeReaders() {
    if (r != null) r.cancel();
  }

  @Test
  @Order(1)
  void step1_appendsPipelinedOneRecordPerCall() {
    List<CompletableFuture<DLSN>> answers = new ArrayList<>();
    try (Appender appender = client.appender(log)) {
      for (int n = 1; n <= 1000; n++) answers.add(appender.append(Integer.toString(n)));
      appender.flush().join();
    }
    for (int n = 1; n <= 1000; n++) {
      DLSN answer = answers.get(n - 1).join();
      if (n > 1) assertTrue(answer.compareTo(dlsn.get(n - 1)) > 0, "DLSN(#" + n + ") " + answer + " after " + dlsn.get(n - 1));
      dlsn.put(n, answer);
    }
  }

  @Test
  @Order(2)
  void step2_readsAcksAndDrainsToTheLastAck() throws Exception {
    Reader reader = client.reader(options("R"));
    for (int n = 1; n <= 300; n++) {
      ReaderRecord record = next(reader);
      assertEquals(n, number(record));
      record.ack();
    }
    assertEquals(dlsn.get(300), reader.drain());
  }

  @Test
  @Order(3)
  void step3_resumesAfterTheDrainedPosition() throws Exception {
    r = client.reader(options("R"));
    ReaderRecord first = next(r);
    first.ack();
    assertEquals(301, number(first));
    // Attempt 1, unless the server says the first session was sent #301 already (the reader had it
    // buffered, not handed out, when it drained): records up to Opened.delivered_high come with attempt >= 2.
    DLSN deliveredBefore = r.opened().deliveredHigh();
    if (deliveredBefore != null && deliveredBefore.compareTo(dlsn.get(301)) >= 0) assertTrue(first.attempt() >= 2, "attempt " + first.attempt());
    else assertEquals(1, first.attempt());
  }

  @Test
  @Order(4)
  void step4_individualOutOfOrderAcksLeaveAHole() throws Exception {
    assertNotNull(r, "step 3 opened R");
    List<ReaderRecord> run = new ArrayList<>();
    for (int n = 302; n <= 1000; n++) {
      ReaderRecord record = next(r);
      assertEquals(n, number(record));
      run.add(record);
      if (run.size() == 10 || n == 1000) {
        java.util.Collections.reverse(run);
        for (ReaderRecord each : run) if (number(each) != 700) each.ack();
        run.clear();
      }
    }
    ReaderStatus status = awaitStatus(r, s -> dlsn.get(699).equals(s.durableFloor()) && s.durableHoles() == 300);
    assertNotNull(status, "a status with durable floor DLSN(#699) and 300 durable holes; last: " + r.status());
    r.cancel(); // disconnect without drain
    r = null;
  }

  @Test
  @Order(5)
  void step5_redeliversTheHoleAfterAResume() throws Exception {
    try (Reader reader = client.reader(options("R"))) {
      ReaderRecord first = next(reader);
      assertEquals(700, number(first));
      first.ack();
      assertNull(reader.poll(Duration.ofMillis(500)), "nothing after #700 until a new record");
      dlsn.put(1001, client.append(log, utf8("1001")).get(0));
      ReaderRecord appended = next(reader);
      assertEquals(1001, number(appended));
      assertEquals(1, appended.attempt());
      appended.ack();
      assertTrue(first.attempt() >= 2, "#700 after a resume has attempt " + first.attempt());
      assertTrue(first.redelivered());
    }
  }

  @Test
  @Order(6)
  void step6_aNewSessionFencesTheOldOneAndRejectIsRefused() throws Exception {
    AtomicInteger reconnects = new AtomicInteger();
    Reader a = client.reader(options("R").onReconnecting(x -> reconnects.incrementAndGet()));
    a.ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);
    try (Reader b = client.reader(options("R"))) {
      b.ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);
      DlogException fenced = assertThrows(DlogException.class, () -> drainUntilFailure(a));
      assertEquals(Status.Code.ABORTED, fenced.code());
      assertInstanceOf(DlogException.ReaderFenced.class, fenced);
      assertEquals(DlogException.Reason.READER_FENCED, fenced.reason());
      assertEquals(0, reconnects.get(), "a fenced reader does not reconnect");
      assertFalse(a.isOpen());

      Reader c = client.reader(options("R").takeover(ReaderOptions.Takeover.REJECT));
      DlogException rejected = assertThrows(DlogException.class, () -> drainUntilFailure(c));
      assertEquals(Status.Code.ALREADY_EXISTS, rejected.code());
      assertEquals(DlogException.Reason.READER_LIVE, rejected.reason());
      c.close();
    } finally {
      a.close();
    }
  }

  @Test
  @Order(7)
  void step7_nackRedeliversAtOnceWithTheAttemptRaised() throws Exception {
    try (Reader reader = client.reader(options("N"))) {
      ReaderRecord first = next(reader);
      assertEquals(1, number(first));
      assertEquals(1, first.attempt());
      first.nack();
      // Records after #1 may already be on their way: #1 comes again among them, not necessarily next.
      ReaderRecord again = awaitRecord(reader, 1, Duration.ofSeconds(1));
      assertEquals(2, again.attempt());
      assertTrue(again.redelivered());
      again.nack();
      ReaderRecord third = awaitRecord(reader, 1, Duration.ofSeconds(1));
      assertEquals(3, third.attempt());
      third.ack();
    }
  }

  @Test
  @Order(8)
  void step8_flowLimitBoundsOutstandingRecords() throws Exception {
    try (Reader reader = client.reader(options("F").flow(FlowLimits.defaults().withMaxOutstandingRecords(10)))) {
      List<ReaderRecord> held = new ArrayList<>();
      for (int n = 1; n <= 10; n++) {
        ReaderRecord record = next(reader);
        assertEquals(n, number(record));
        held.add(record);
      }
      assertNull(reader.poll(Duration.ofMillis(500)), "nothing beyond 10 unacked records");
      held.forEach(ReaderRecord::ack);
      assertEquals(11, number(next(reader)));
    }
  }

  @Test
  @Order(9)
  void step9_badInputIsRefusedAndMovesNothing() throws Exception {
    RawSession session = new RawSession(client, Open.newBuilder().setLog(log).setReaderId("B").build());
    int delivered = 0;
    while (delivered < 5) {
      SessionResponse response = session.next();
      if (response.hasRecords()) delivered += response.getRecords().getRecordsCount();
    }
    String before = position("B");
    session.send(SessionRequest.newBuilder()
        .setAck(Ack.newBuilder().addDlsns(new DLSN(1, 999999, 0).toProto())).build());
    DlogException refused = session.failure();
    assertEquals(Status.Code.INVALID_ARGUMENT, refused.code());
    assertEquals(DlogException.Reason.DLSN_NOT_DELIVERED, refused.reason());
    assertEquals(before, position("B"), "GetPosition(B) unchanged by the refused ack");

    Reader missing = client.reader(ReaderOptions.of("no-such-log-" + log, "B"));
    DlogException notFound = assertThrows(DlogException.class, () -> drainUntilFailure(missing));
    assertEquals(Status.Code.NOT_FOUND, notFound.code());
    assertEquals(DlogException.Reason.LOG_NOT_FOUND, notFound.reason());
    missing.close();
  }

  @Test
  @Order(10)
  void step10_killDashNineUnderTheReaderLosesNothing() throws Exception {
    survivesRestart("K", true);
  }

  @Test
  @Order(11)
  void step11_gracefulRestartRedeliversNothing() throws Exception {
    survivesRestart("G", false);
  }

  /**
   * Steps 10 and 11: a reader acking each record goes on by itself across a server restart. For
   * kill -9 the reader first waits for a status covering its acks so far and reads 20 more, so that
   * at the kill some acks are durable and some are not: what comes again must be among the latter.
   * For SIGTERM the stop comes while the last acks still wait in the client (coalescing): a
   * graceful server takes them before it ends the session.
   */
  private void survivesRestart(String readerId, boolean kill) throws Exception {
    int total = (int) client.getLog(log).getRecordCount();
    int downAt = kill ? 320 : 300;
    Map<Integer, ReaderRecord> first = new HashMap<>();
    Map<Integer, Boolean> durableAtDown = null;
    List<String> problems = new ArrayList<>();
    ReaderOptions options = options(readerId).reconnect(ReconnectPolicy.defaults().maxDelay(Duration.ofMillis(500)));
    if (!kill) options.ackInterval(Duration.ofMillis(500)); // well past how long a loaded server takes to act on SIGTERM
    try (Reader reader = client.reader(options)) {
      long deadline = System.nanoTime() + Duration.ofSeconds(45).toNanos();
      while (first.size() < total) {
        if (System.nanoTime() - deadline > 0) fail("only " + first.size() + " of " + total + " records arrived; " + problems);
        ReaderRecord record = reader.poll(Duration.ofMillis(200));
        if (record == null) continue;
        int n = number(record);
        ReaderRecord earlier = first.putIfAbsent(n, record);
        if (earlier != null) {
          if (!kill) problems.add("#" + n + " arrived twice after a graceful restart (attempt " + record.attempt() + ")");
          else {
            if (record.attempt() < 2) problems.add("#" + n + " came again with attempt " + record.attempt());
            if (durableAtDown != null && durableAtDown.getOrDefault(n, false)) problems.add("#" + n + " came again although its ack was durable before the kill");
          }
        }
        if (!kill && first.size() == downAt && earlier == null) Thread.sleep(5); // the earlier acks leave; this one waits out the interval
        record.ack();
        if (kill && first.size() == 300 && earlier == null) awaitDurableAcks(first.values());
        if (first.size() == downAt && durableAtDown == null) {
          durableAtDown = new HashMap<>();
          for (Map.Entry<Integer, ReaderRecord> each : first.entrySet()) durableAtDown.put(each.getKey(), each.getValue().ackDurable());
          if (kill) dlogd.server().kill();
          else dlogd.server().stop();
          dlogd.server().restart();
        }
      }
    }
    assertTrue(problems.isEmpty(), String.join("; ", problems));
  }

  /** Waits (bounded) until a status frame says every ack sent so far is durable. */
  private static void awaitDurableAcks(java.util.Collection<ReaderRecord> acked) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!acked.stream().allMatch(ReaderRecord::ackDurable)) {
      if (System.nanoTime() - deadline > 0) fail("no status frame covered the acks of the first 300 records (acks_durable)");
      Thread.sleep(5);
    }
  }

  private ReaderOptions options(String readerId) {
    return ReaderOptions.of(log, readerId).fallback(StartAt.earliest());
  }

  private static ReaderRecord next(Reader reader) throws InterruptedException {
    ReaderRecord record = reader.poll(WAIT);
    assertNotNull(record, "a record within " + WAIT.toSeconds() + " s");
    return record;
  }

  /** Polls until record #n arrives (holding the others unacked). */
  private static ReaderRecord awaitRecord(Reader reader, int n, Duration within) throws InterruptedException {
    long deadline = System.nanoTime() + within.toNanos();
    for (long left; (left = deadline - System.nanoTime()) > 0; ) {
      ReaderRecord record = reader.poll(Duration.ofNanos(left));
      if (record != null && number(record) == n) return record;
    }
    return fail("#" + n + " did not come again within " + within.toMillis() + " ms");
  }

  /** Polls until the reader fails, returning nothing: the failure is what poll throws. */
  private static void drainUntilFailure(Reader reader) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (System.nanoTime() - deadline < 0) {
      reader.poll(Duration.ofMillis(100));
    }
    fail("the reader did not fail within " + WAIT.toSeconds() + " s");
  }

  private static ReaderStatus awaitStatus(Reader reader, java.util.function.Predicate<ReaderStatus> wanted) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (System.nanoTime() - deadline < 0) {
      ReaderStatus status = reader.status();
      if (status != null && wanted.test(status)) return status;
      reader.poll(Duration.ofMillis(50));
    }
    return null;
  }

  private String position(String readerId) {
    try {
      ReaderInfo info = client.getPosition(log, readerId);
      return DLSN.fromProto(info.getFloor()) + " holes " + info.getHolesCount();
    } catch (DlogException.NotFound e) {
      return "none (" + e.reasonName() + ")";
    }
  }

  private static int number(ReaderRecord record) {
    return Integer.parseInt(record.text());
  }

  private static byte[] utf8(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }

  /** A session driven by hand, for what the high-level reader never sends (an ack of an undelivered DLSN). */
  private static final class RawSession implements StreamObserver<SessionResponse> {
    private final LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
    private final StreamObserver<SessionRequest> requests;

    RawSession(DlogClient client, Open open) {
      requests = ReaderServiceGrpc.newStub(client.channel()).session(this);
      requests.onNext(SessionRequest.newBuilder().setOpen(open).build());
    }

    void send(SessionRequest request) {
      requests.onNext(request);
    }

    SessionResponse next() throws InterruptedException {
      Object event = events.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
      if (event instanceof SessionResponse response) return response;
      throw new AssertionError("expected a session message, got " + event);
    }

    /** The error that ends the session (skipping messages before it). */
    DlogException failure() throws InterruptedException {
      long deadline = System.nanoTime() + WAIT.toNanos();
      while (System.nanoTime() - deadline < 0) {
        Object event = events.poll(100, TimeUnit.MILLISECONDS);
        if (event instanceof Throwable error) return DlogException.from(error);
        if ("completed".equals(event)) throw new AssertionError("the session ended OK instead of failing");
      }
      throw new AssertionError("the session did not fail within " + WAIT.toSeconds() + " s");
    }

    @Override
    public void onNext(SessionResponse response) {
      events.add(response);
    }

    @Override
    public void onError(Throwable error) {
      events.add(error);
    }

    @Override
    public void onCompleted() {
      events.add("completed");
    }
  }
}
