package io.dlog.examples;

import io.dlog.client.DLSN;
import io.dlog.client.DlogClient;
import io.dlog.client.DlogException;
import io.dlog.client.Reader;
import io.dlog.client.ReaderOptions;
import io.dlog.client.ReaderRecord;
import io.dlog.client.StartAt;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Reader with offsets: DistributedLog's "At-least-once Processing" tutorial
 * (distributedlog-tutorials/.../messaging/ReaderWithOffsets.java), on dlog. The structure is the
 * tutorial's, step by step; what the tutorial did by hand with LevelDB and a timer is now the
 * server's job, and the comments say where each step went.
 *
 * <pre>
 *   mvn -q -f clients/java/pom.xml test-compile exec:java -Dexec.classpathScope=test \
 *       -Dexec.mainClass=io.dlog.examples.ReaderWithOffsets -Dexec.args="127.0.0.1:7070 messages reader-1"
 * </pre>
 *
 * Append something meanwhile ({@code dlog append --log messages hello}), stop it with Ctrl-C, start
 * it again: it goes on after the last record it processed.
 */
public class ReaderWithOffsets {

    private final static String HELP = "ReaderWithOffsets <address> <stream> <reader-id>";

    public static void main(String[] args) throws Exception {
        // The tutorial took a fourth argument, <offset-store-file>: there is no offset store to name now.
        if (3 != args.length) {
            System.out.println(HELP);
            return;
        }

        String address = args[0];
        final String streamName = args[1];
        final String readerId = args[2];

        // The tutorial built a DistributedLogNamespace from a URI; here, a client of one dlogd
        // (TLS and a bearer token are builder options).
        DlogClient client = DlogClient.builder(address).token(System.getenv("DLOG_TOKEN")).build();

        // open the dlm: namespace.openLog(streamName). The log lives in dlogd; check it is there.
        System.out.println("Opening log stream " + streamName);
        client.getLog(streamName);

        // open the offset store: `factory.open(new File(offsetStoreFile), options)` — gone. Reader
        // positions live in dlogd's own LevelDB, one key per (log, reader id), stored as the same
        // 25-byte DLSN.serializeBytes() the tutorial wrote.
        final AtomicReference<DLSN> lastDLSN = new AtomicReference<DLSN>(null);
        final AtomicReference<DLSN> lastDurable = new AtomicReference<DLSN>(null);

        // offset updater: `executorService.scheduleAtFixedRate(..., 10, 10, TimeUnit.SECONDS)` writing
        // lastDLSN every 10 s — gone. The server batches acked positions into one fsynced LevelDB write
        // every 100 ms (or 1000 acks) and says so in a status frame; we print what it reports instead
        // of what we wrote.
        ReaderOptions options = ReaderOptions.of(streamName, readerId)
                // Read the reader read position: `offsetDB.get(readerId)`, DLSN.InitialDLSN when absent.
                // The session looks the stored position up itself; the fallback is the tutorial's
                // `dlsn = DLSN.InitialDLSN` for a reader seen for the first time.
                .fallback(StartAt.at(DLSN.InitialDLSN))
                .onOpened(opened -> System.out.println("Wait for records starting after " + opened.resumeAfter()
                        + " (" + opened.source() + ")"))
                .onStatus(status -> {
                    DLSN durable = status.durableFloor();
                    if (durable != null && !durable.equals(lastDurable.getAndSet(durable))) {
                        System.out.println("Updated reader " + readerId + " offset to " + durable);
                    }
                })
                // FutureUtils.result(reader.asyncClose(), Duration.apply(5, TimeUnit.SECONDS))
                .drainTimeout(Duration.ofSeconds(5));
        try {
            readLoop(client, options, lastDLSN);
        } finally {
            // offsetDB.close(); dlm.close(); namespace.close();
            client.close();
        }
    }

    private static void readLoop(final DlogClient client,
                                 final ReaderOptions options,
                                 final AtomicReference<DLSN> lastDLSN)
            throws Exception {

        final CountDownLatch keepAliveLatch = new CountDownLatch(1);

        // Read records: `dlm.openAsyncLogReader(dlsn)`. The session starts strictly *after* the stored
        // position (the tutorial re-read its last stored record) and skips records acked out of order
        // before a restart, which the tutorial could not track. It reconnects by itself.
        final Reader reader = client.reader(options);

        // The tutorial lost everything since the last timer tick on shutdown. Ctrl-C now drains: the
        // last acks are sent and made durable, and the final position is printed.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            DLSN position = reader.drain();
            System.out.println("Stopped; the next run starts after " + position);
            try {
                keepAliveLatch.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));

        // The tutorial's FutureEventListener: onSuccess for each record, then readNext() again.
        try {
            for (ReaderRecord record : reader) {
                System.out.println("Received record " + record.dlsn() + (record.redelivered() ? " (again)" : ""));
                System.out.println("\"\"\"");
                System.out.println(record.text());
                System.out.println("\"\"\"");
                // Track read position: `lastDLSN.set(record.getDlsn())`. The ack is that, kept by the
                // server: acks are coalesced into few messages, out-of-order acks are kept as holes.
                lastDLSN.set(record.dlsn());
                record.ack();
            }
        } catch (DlogException cause) {
            // onFailure: fenced by another instance (ABORTED), the log deleted, or no server to reconnect to.
            System.err.println("Encountered error on reading records from stream " + reader.log());
            cause.printStackTrace(System.err);
        } finally {
            keepAliveLatch.countDown();
        }
        reader.drain();
    }

}
