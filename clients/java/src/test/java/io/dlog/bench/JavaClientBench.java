package io.dlog.bench;

import io.dlog.client.Appender;
import io.dlog.client.AppenderOptions;
import io.dlog.client.DLSN;
import io.dlog.client.DlogClient;
import io.dlog.client.FlowLimits;
import io.dlog.client.Reader;
import io.dlog.client.ReaderOptions;
import io.dlog.client.ReaderRecord;
import io.dlog.client.StartAt;
import io.dlog.testing.DlogdServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/**
 * Throughput of the Java client against one dlogd: deliver + ack through the high-level
 * {@link Reader} (one reader catching up on N records of S bytes, acking each record), and appends
 * through the {@link Appender} (one record per call, packed by its linger) and in 1000-record
 * entries. Prints one line per figure, {@code name: N rec/s}, and a JSON line for scripts.
 *
 * <pre>
 *   make bench-java BENCH_JAVA_ARGS="--records 1000000 --size 100 [--address HOST:PORT]"
 * </pre>
 *
 * Without {@code --address} it starts its own dlogd (a temp data dir, fsync on). {@code --log NAME}
 * reads an existing log of at least {@code --records} records instead of writing one, and
 * {@code --deliver-only} skips the append figures, so several clients can be measured on one log.
 */
public final class JavaClientBench {
  public static void main(String[] args) throws Exception {
    int records = 1_000_000;
    int size = 100;
    int appendRecords = 200_000;
    String address = null;
    String existingLog = null;
    boolean deliverOnly = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--records" -> records = Integer.parseInt(args[++i]);
        case "--size" -> size = Integer.parseInt(args[++i]);
        case "--append-records" -> appendRecords = Integer.parseInt(args[++i]);
        case "--address" -> address = args[++i];
        case "--log" -> existingLog = args[++i];
        case "--deliver-only" -> deliverOnly = true;
        default -> throw new IllegalArgumentException("unknown option " + args[i]
            + " (--records N --size BYTES --append-records N --address HOST:PORT --log EXISTING --deliver-only)");
      }
    }
    DlogdServer server = address == null ? DlogdServer.start(DlogdServer.options().durable()) : null;
    try (DlogClient client = DlogClient.connect(address != null ? address : server.address())) {
      byte[] payload = new byte[size];
      Arrays.fill(payload, (byte) 'x');
      String log = existingLog != null ? existingLog : "bench-java-" + UUID.randomUUID().toString().substring(0, 8);

      double bulk = 0;
      if (existingLog == null) {
        bulk = appendEntries(client, log, payload, records);
        print("java append 1000 records per entry, " + size + " B", bulk);
      }
      warmUp(client, log);
      double deliver = deliverAndAck(client, log, records);
      print("java deliver+ack 1 reader, " + size + " B, catch-up of " + records, deliver);
      double single = 0;
      if (!deliverOnly) {
        single = appendOneByOne(client, log + "-single", payload, appendRecords);
        print("java append 1 record per call (Appender, linger 2 ms), " + size + " B", single);
      }
      System.out.printf("{\"client\":\"java\",\"deliver_ack_1reader\":%.0f,\"append_1record_appender\":%.0f,\"append_1000_per_entry\":%.0f,\"records\":%d,\"size\":%d}%n",
          deliver, single, bulk, records, size);
    } finally {
      if (server != null) server.close();
    }
  }

  private static void print(String name, double rate) {
    System.out.printf("%s: %,.0f rec/s%n", name, rate);
  }

  /** Writes the log to read: entries of 1000 records, 16 in flight. */
  private static double appendEntries(DlogClient client, String log, byte[] payload, int records) {
    List<byte[]> entry = new ArrayList<>();
    for (int i = 0; i < 1000; i++) entry.add(payload);
    long start = System.nanoTime();
    try (Appender appender = client.appender(log, AppenderOptions.defaults().maxInFlight(16))) {
      List<CompletableFuture<List<DLSN>>> answers = new ArrayList<>();
      for (int written = 0; written < records; written += 1000) {
        answers.add(appender.appendEntry(written + 1000 <= records ? entry : entry.subList(0, records - written)));
      }
      appender.flush().join();
      answers.forEach(CompletableFuture::join);
    }
    return records / seconds(start);
  }

  /** A short read first, so the JIT has compiled the delivery path before the measured one. */
  private static void warmUp(DlogClient client, String log) throws InterruptedException {
    try (Reader reader = client.reader(ReaderOptions.of(log, "warm-up").fallback(StartAt.earliest()))) {
      for (int i = 0; i < 50_000; i++) {
        ReaderRecord record = reader.poll(Duration.ofSeconds(10));
        if (record == null) break;
        record.ack();
      }
    }
  }

  /** A fresh reader catches up from the start, acking each record; timed until drained (every ack durable). */
  private static double deliverAndAck(DlogClient client, String log, int records) throws InterruptedException {
    long start = System.nanoTime();
    int received = 0;
    ReaderOptions options = ReaderOptions.of(log, "bench-" + UUID.randomUUID()).fallback(StartAt.earliest())
        .flow(new FlowLimits(10_000, 0, 1_000));
    try (Reader reader = client.reader(options)) {
      while (received < records) {
        ReaderRecord record = reader.poll(Duration.ofSeconds(30));
        if (record == null) throw new IllegalStateException("no record for 30 s after " + received);
        record.ack();
        received++;
      }
    }
    return received / seconds(start);
  }

  /** One record per call, many calls in flight: the appender packs them into entries. */
  private static double appendOneByOne(DlogClient client, String log, byte[] payload, int records) {
    long start = System.nanoTime();
    try (Appender appender = client.appender(log)) {
      CompletableFuture<DLSN> last = null;
      for (int i = 0; i < records; i++) last = appender.append(payload);
      appender.flush().join();
      last.join();
    }
    return records / seconds(start);
  }

  private static double seconds(long startNanos) {
    return (System.nanoTime() - startNanos) / 1e9;
  }
}
