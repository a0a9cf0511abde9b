/**
 * DistributedLog's "At-least-once Processing" tutorial (ReaderWithOffsets),
 * rewritten on the dlog client. Every step the tutorial did by hand is now the
 * server's job; the comments say which step went where.
 *
 *   node dist/clients/typescript/examples/reader-with-offsets.js [ADDRESS] [LOG] [READER_ID]
 *
 * Append something in another terminal (`dlog append --log messages hello`),
 * stop this program with Ctrl-C, start it again: it goes on after the last
 * record it processed — nothing skipped, nothing read twice.
 */
import { createDlogClient } from "../src/index.js";

const [address = process.env.DLOG_ADDR ?? "127.0.0.1:7070", log = "messages", readerId = "reader-with-offsets"] = process.argv.slice(2);

const client = createDlogClient({ address, token: process.env.DLOG_TOKEN });

// Tutorial step 1, "Open the offset store": `factory.open(new File(offsetStoreFile), options)`.
// Gone: reader positions live in dlogd's own LevelDB, next to the log, one key per (log, reader).

// Step 2, "Read the reader read position": `offsetDB.get(readerId)`, InitialDLSN when absent.
// Gone: opening a session makes the server look up the stored position. `fallback`
// is the tutorial's `dlsn = DLSN.InitialDLSN` for a reader seen for the first time.
//
// Step 3, "Read records": `dlm.openAsyncLogReader(dlsn)`. The session starts strictly
// *after* the stored position (the tutorial re-read its last stored record), and skips
// records acked out of order before a restart (holes), which the tutorial could not track.
const reader = client.reader({ log, readerId, fallback: "earliest" });

reader.on("opened", (opened) => {
  const where = opened.resumeAfter ? `after ${opened.resumeAfter}` : "at the start";
  console.error(`reading ${log} as ${readerId}: resuming ${where} (${opened.source} position${opened.reconnects > 0 ? ", after a reconnect" : ""})`);
});

// Step 5, "Record read position": a timer writing `lastDLSN` to LevelDB every 10 s,
// losing up to 10 s of progress on a crash and everything since the last tick on
// shutdown. Now the server batches acked positions into one fsynced LevelDB write
// every 100 ms (or 1000 acks), and tells us each time what is durable:
reader.on("status", (status) => {
  if (status.durableFloor) console.error(`durable position: ${status.durableFloor} (lag ${status.lag})`);
});

// Shutdown: the tutorial simply stopped, dropping whatever the timer had not written.
// close() sends the last acks, drains the session, and returns the final durable position.
let stopping = false;
const stop = (): void => {
  if (stopping) process.exit(130);
  stopping = true;
  void reader.close();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

try {
  for await (const record of reader) {
    // "process the record"
    console.log(`Read record ${record.dlsn} : ${record.text()}${record.redelivered ? " (again)" : ""}`);
    // Step 4, "Track read position": `lastReadDLSN.set(record.getDlsn())`. An ack is that,
    // kept by the server: acks are coalesced into one message per batch, and acks out of
    // order are kept as holes above the floor instead of being lost.
    record.ack();
  }
  const final = await reader.close();
  console.error(`stopped; the next run starts after ${final ?? "the beginning"}`);
} finally {
  client.close();
}
