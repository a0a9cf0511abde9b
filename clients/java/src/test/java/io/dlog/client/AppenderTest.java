package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dlog.testing.DlogdExtension;
import io.dlog.testing.DlogdServer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The appender contract: one-record appends packed into entries, each caller its own DLSN, errors to every caller of an entry. */
@org.junit.jupiter.api.Timeout(90)
class AppenderTest {
  // One entry per request, so entries show how the appender batched (the server packs appends
  // committed together otherwise).
  @RegisterExtension
  static DlogdExtension dlogd = DlogdExtension.create(DlogdServer.options().args("--no-pack-appends"));

  private static List<DLSN> appendAll(Appender appender, int count) {
    List<CompletableFuture<DLSN>> answers = new ArrayList<>();
    for (int i = 0; i < count; i++) answers.add(appender.append("r" + i));
    appender.flush().join();
    return answers.stream().map(CompletableFuture::join).toList();
  }

  private static Set<Long> entries(List<DLSN> dlsns) {
    Set<Long> entries = new HashSet<>();
    for (DLSN dlsn : dlsns) entries.add(dlsn.segment() * 1_000_000_000L + dlsn.entry());
    return entries;
  }

  @Test
  void oneRecordAppendsTravelAsLargeEntriesEachWithItsOwnDlsnInOrder() {
    try (Appender appender = dlogd.client().appender("packed")) {
      List<DLSN> dlsns = appendAll(appender, 2000);
      for (int i = 1; i < dlsns.size(); i++) assertTrue(dlsns.get(i).compareTo(dlsns.get(i - 1)) > 0, "strictly increasing at " + i);
      assertTrue(entries(dlsns).size() <= 20, "2000 appends in " + entries(dlsns).size() + " entries");
      List<LogRecord> stored = dlogd.client().read("packed", StartAt.earliest(), 0);
      for (int i = 0; i < 2000; i++) {
        assertEquals(dlsns.get(i), stored.get(i).dlsn());
        assertEquals("r" + i, stored.get(i).text(), "each caller's record at its own DLSN");
      }
    }
  }

  @Test
  void appendsUnansweredWhenTheirClientIsClosedFailWithCancelledInsteadOfHanging() throws Exception {
    DlogClient client = DlogClient.connect(dlogd.address());
    Appender appender = client.appender("orphaned", AppenderOptions.defaults().linger(Duration.ZERO));
    appender.append("first").join(); // the stream is open
    List<CompletableFuture<DLSN>> answers = new ArrayList<>();
    for (int i = 0; i < 2000; i++) answers.add(appender.append("r" + i));
    client.close();
    CompletableFuture<Void> all = CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new));
    try {
      all.get(10, java.util.concurrent.TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException expected) {
      // some failed: the ones checked below
    }
    long failed = answers.stream().filter(CompletableFuture::isCompletedExceptionally).count();
    assertTrue(answers.stream().allMatch(CompletableFuture::isDone), "every append is answered once its client is closed");
    if (failed > 0) {
      Throwable cause = answers.stream().filter(CompletableFuture::isCompletedExceptionally).findFirst().get().handle((ok, error) -> error).join();
      assertInstanceOf(DlogException.Cancelled.class, cause instanceof CompletionException ? cause.getCause() : cause, String.valueOf(cause));
    }
  }

  @Test
  void closingTheClientWhileAReconnectIsPendingFailsTheAppendsAtOnce() throws Exception {
    try (Relay relay = new Relay(dlogd.address())) {
      DlogClient client = DlogClient.connect(relay.address());
      // A reconnect 2 s after the break: close() comes while it waits.
      Appender appender = client.appender("reconnect-pending", AppenderOptions.defaults().linger(Duration.ZERO)
          .retry(ReconnectPolicy.defaults().initialDelay(Duration.ofSeconds(2)).maxDelay(Duration.ofSeconds(2))));
      appender.append("first").join();
      relay.holdAnswers();
      CompletableFuture<DLSN> unanswered = appender.append("second");
      relay.cut();
      for (long until = System.nanoTime() + Duration.ofSeconds(10).toNanos(); !appender.reconnectPending(); ) {
        assertTrue(System.nanoTime() - until < 0, "the appender noticed the break");
        Thread.sleep(5);
      }
      client.close();
      // Failed by close() itself: not left waiting for a reconnect that can no longer run.
      CompletionException failure = org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class,
          () -> unanswered.orTimeout(1, java.util.concurrent.TimeUnit.SECONDS).join());
      assertInstanceOf(DlogException.Cancelled.class, failure.getCause(), String.valueOf(failure.getCause()));
    }
  }

  @Test
  void batchLimitsAndZeroLingerBoundTheEntries() {
    try (Appender appender = dlogd.client().appender("limited", AppenderOptions.defaults().maxBatchRecords(10))) {
      List<DLSN> dlsns = appendAll(appender, 100);
      assertTrue(dlsns.stream().allMatch(dlsn -> dlsn.slot() < 10), "at most 10 records per entry");
    }
    try (Appender appender = dlogd.client().appender("unbatched", AppenderOptions.defaults().linger(Duration.ZERO))) {
      List<DLSN> dlsns = appendAll(appender, 50);
      assertTrue(dlsns.stream().allMatch(dlsn -> dlsn.slot() == 0), "linger 0: every append is its own entry");
      assertEquals(50, entries(dlsns).size());
    }
  }

  @Test
  void aRefusedEntryFailsEveryCallerInItAndTheStreamGoesOn() {
    DlogClient client = dlogd.client();
    client.append("refused", "first".getBytes(StandardCharsets.UTF_8));
    long lastTxid = client.getLog("refused").getLastTxid();
    try (Appender appender = client.appender("refused", AppenderOptions.defaults().linger(Duration.ofMillis(200)))) {
      CompletableFuture<DLSN> plain = appender.append("a");
      CompletableFuture<DLSN> backwards = appender.append("b".getBytes(StandardCharsets.UTF_8), lastTxid - 1);
      appender.flush().join();
      for (CompletableFuture<DLSN> caller : List.of(plain, backwards)) {
        CompletionException failure = org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class, caller::join);
        DlogException error = assertInstanceOf(DlogException.FailedPrecondition.class, failure.getCause());
        assertEquals(DlogException.Reason.TXID_OUT_OF_ORDER, error.reason());
      }
      assertTrue(appender.append("after").join().compareTo(client.getLog("refused").getFirstDlsn() == null ? DLSN.InvalidDLSN
          : DLSN.fromProto(client.getLog("refused").getFirstDlsn())) > 0, "a later append on the same stream succeeds");
    }
    assertEquals(2, client.getLog("refused").getRecordCount(), "nothing of the refused entry was written");
  }

  @Test
  void appendsWaitWhileTheInFlightBytesBoundIsReached() {
    long bound = 1000;
    try (Appender appender = dlogd.client().appender("bounded", AppenderOptions.defaults().maxInFlightBytes(bound))) {
      byte[] payload = new byte[100];
      List<CompletableFuture<DLSN>> answers = new ArrayList<>();
      for (int i = 0; i < 500; i++) {
        answers.add(appender.append(payload));
        assertTrue(appender.inFlightBytes() <= bound, "in flight " + appender.inFlightBytes() + " > " + bound);
      }
      appender.flush().join();
      answers.forEach(CompletableFuture::join);
      assertEquals(0, appender.inFlightBytes());
    }
  }

  @Test
  void aKillDashNineUnderTheAppenderLosesNothingAndWritesNothingTwice() {
    try (DlogdServer server = DlogdServer.start(DlogdServer.options().durable())) {
      DlogClient client = server.client();
      List<CompletableFuture<DLSN>> answers = new ArrayList<>();
      long reconnects;
      try (Appender appender = client.appender("crash",
          AppenderOptions.defaults().retry(ReconnectPolicy.defaults().maxDelay(Duration.ofMillis(300))))) {
        for (int i = 0; i < 3000; i++) {
          answers.add(appender.append("r" + i));
          if (i == 1500) {
            server.kill(); // entries in flight: some written and unanswered, some not written
            server.restart();
          }
        }
        appender.flush().join();
        reconnects = appender.reconnects();
      }
      List<DLSN> dlsns = answers.stream().map(CompletableFuture::join).toList();
      assertTrue(reconnects >= 1, "the appender reconnected");
      List<LogRecord> stored = client.read("crash", StartAt.earliest(), 0);
      assertEquals(3000, stored.size(), "every record once");
      for (int i = 0; i < 3000; i++) {
        assertEquals("r" + i, stored.get(i).text());
        assertEquals(stored.get(i).dlsn(), dlsns.get(i), "the caller of r" + i + " got its record's DLSN");
      }
    }
  }

  @Test
  void entriesWhoseAnswersWereLostAreSentAgainAndAnsweredWithTheirOriginalDlsns() throws Exception {
    DlogClient direct = dlogd.client();
    try (Relay relay = new Relay(dlogd.address());
         DlogClient client = DlogClient.connect(relay.address());
         Appender appender = client.appender("lost-answers", AppenderOptions.defaults().retry(ReconnectPolicy.defaults().maxDelay(Duration.ofMillis(200))))) {
      DLSN first = appender.append("r0").join(); // the stream is up
      relay.holdAnswers();
      List<CompletableFuture<DLSN>> answers = new ArrayList<>();
      for (int i = 1; i < 200; i++) answers.add(appender.append("r" + i));
      appender.flush();
      for (long until = System.nanoTime() + Duration.ofSeconds(20).toNanos(); direct.getLog("lost-answers").getRecordCount() < 200; ) {
        assertTrue(System.nanoTime() - until < 0, "the server wrote the held entries");
        Thread.sleep(10);
      }
      relay.cut(); // written, never answered
      List<DLSN> dlsns = answers.stream().map(CompletableFuture::join).toList();
      assertTrue(appender.duplicates() >= 1, "the resent entries were recognised: " + appender.duplicates());
      assertEquals(200, direct.getLog("lost-answers").getRecordCount(), "nothing written twice");
      List<LogRecord> stored = direct.read("lost-answers", StartAt.earliest(), 0);
      assertEquals(first, stored.get(0).dlsn());
      for (int i = 1; i < 200; i++) assertEquals(stored.get(i).dlsn(), dlsns.get(i - 1), "r" + i + " keeps its original DLSN");
    }
  }

  @Test
  void withoutRetriesABrokenStreamFailsWhatWasInFlight() {
    try (DlogdServer server = DlogdServer.start(DlogdServer.options().durable())) {
      try (Appender appender = server.client().appender("no-retry",
          AppenderOptions.defaults().retry(ReconnectPolicy.disabled()).linger(Duration.ofMillis(500)))) {
        assertEquals(null, appender.producerId());
        CompletableFuture<DLSN> lost = appender.append("maybe");
        appender.flush();
        server.kill();
        CompletionException failure = org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class, lost::join);
        assertInstanceOf(DlogException.Unavailable.class, failure.getCause());
        server.restart();
        DLSN later = null;
        for (long until = System.nanoTime() + Duration.ofSeconds(20).toNanos(); later == null && System.nanoTime() - until < 0; ) {
          try {
            later = appender.append("later").join(); // a new stream, once the channel has redialled
          } catch (CompletionException e) {
            assertInstanceOf(DlogException.Unavailable.class, e.getCause());
          }
        }
        assertTrue(later != null && later.segment() > 0, "a later append opens a new stream");
      }
    }
  }

  @Test
  void unaryAppendWritesOneEntry() {
    DlogClient client = dlogd.client();
    List<DLSN> dlsns = client.append("unary", "a".getBytes(StandardCharsets.UTF_8), "b".getBytes(StandardCharsets.UTF_8));
    assertEquals(List.of(0L, 1L), dlsns.stream().map(DLSN::slot).toList());
    assertEquals(dlsns.get(0).entry(), dlsns.get(1).entry());
    List<DLSN> async = client.appendAsync("unary", List.of("c".getBytes(StandardCharsets.UTF_8))).join();
    assertTrue(async.get(0).compareTo(dlsns.get(1)) > 0);
    DlogException missing = org.junit.jupiter.api.Assertions.assertThrows(DlogException.class,
        () -> client.append("bad name!", "x".getBytes(StandardCharsets.UTF_8)));
    assertEquals(DlogException.Reason.INVALID_NAME, missing.reason());
  }
}
