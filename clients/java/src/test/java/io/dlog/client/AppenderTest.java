package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dlog.testing.DlogdExtension;
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
@org.junit.jupiter.api.Timeout(60)
class AppenderTest {
  @RegisterExtension
  static DlogdExtension dlogd = DlogdExtension.create();

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
