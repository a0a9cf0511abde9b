import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Clients, type Dlogd, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession, appendNumbered, dlsnKey, numberOf } from "../helpers/session.js";
import type { DLSN as WireDLSN } from "../../src/gen/dlog/v1/common.js";
import { ResumeSource } from "../../src/gen/dlog/v1/reader.js";

const LOG = "crash";
const READER = "crash-reader";
/** Enough that the reader is mid-log at every kill: it reads up to ~200k records/s on a fast machine. */
const RECORDS = 600_000;
const MAX_OUTSTANDING = 100;
const KILLS = 4;

/** One kill -9: what the client knew just before it, and what the next session did. */
interface Crash {
  /** Highest record the client had acked (acks are sent in order, so everything below is acked too). */
  ackedHigh: number;
  /** Highest record delivered before the kill. */
  deliveredHigh: number;
  /** The last durable floor a Status frame had shown the client. */
  durableSeen: number;
  /** Where the next session resumed (Opened.resume_after). */
  resumedAfter: number;
}

/** Restarts on the same port when it is free again, else on any port (the client reconnects either way). */
async function restart(dataDir: string, port: string, args: string[]): Promise<Dlogd> {
  try {
    return await startDlogd({ dataDir, args, listen: `127.0.0.1:${port}` });
  } catch {
    return startDlogd({ dataDir, args });
  }
}

async function readAckKill(t: TestContext, args: string[]): Promise<void> {
  const dir = tempDir("dlog-session-crash-");
  let server = await startDlogd({ dataDir: dir.path, args });
  const port = server.address.slice(server.address.lastIndexOf(":") + 1);
  let clients: Clients = connect(server.address);
  // A test that times out must not leave its server (and so this file's process) running.
  const onAbort = (): void => {
    clients.close();
    void server.kill9();
  };
  t.signal.addEventListener("abort", onAbort, { once: true });
  try {
    // Record number = number of the entry's first slot + slot: one small map per entry, not per record.
    const entryBase = new Map<string, number>();
    for (const [i, dlsn] of (await appendNumbered(clients, LOG, RECORDS, { batch: 10_000 })).entries()) {
      const entry = `${dlsn.segment}/${dlsn.entry}`;
      if (!entryBase.has(entry)) entryBase.set(entry, i + 1 - Number(dlsn.slot));
    }
    /** Record number of a floor: 0 before the first record. */
    const floorNumber = (dlsn: WireDLSN | undefined): number => {
      const base = dlsn && dlsn.slot >= 0n ? entryBase.get(`${dlsn.segment}/${dlsn.entry}`) : undefined;
      return base === undefined ? 0 : base + Number(dlsn!.slot);
    };

    const deliveries = new Uint16Array(RECORDS + 1);
    const durableHistory: Array<{ at: string; floor: number }> = [];
    const noteDurable = (at: string, floor: number): void => {
      const previous = durableHistory.at(-1);
      assert.ok(!previous || floor >= previous.floor, `durable position went backward: ${previous?.at} ${previous?.floor} → ${at} ${floor}`);
      durableHistory.push({ at, floor });
    };
    const crashes: Crash[] = [];
    let ackedHigh = 0;
    let deliveredHigh = 0;
    let durableSeen = 0;
    let killsMidStream = 0;

    for (let cycle = 0; ; cycle++) {
      const last = cycle === KILLS;
      if (cycle > 0) {
        const position = await clients.readers.getPosition({ log: LOG, readerId: READER });
        noteDurable(`GetPosition after restart ${cycle}`, floorNumber(position.floor));
      }
      const { session, opened } = await TestSession.open(clients, { log: LOG, readerId: READER, flow: { maxOutstandingRecords: MAX_OUTSTANDING } });
      const resumedAfter = floorNumber(opened.resumeAfter);
      if (cycle > 0) {
        assert.equal(opened.source, ResumeSource.RESUME_SOURCE_STORED);
        noteDurable(`Opened ${cycle}`, resumedAfter);
        crashes.push({ ackedHigh, deliveredHigh, durableSeen, resumedAfter });
      }
      let expected = resumedAfter + 1;
      ackedHigh = resumedAfter;
      deliveredHigh = resumedAfter;
      let batches = 0;
      let killed = false;

      // Read and ack continuously until the server dies (or, in the last cycle, to the end).
      const reading = (async () => {
        for (;;) {
          if (deliveredHigh === RECORDS) return; // the whole log is read (and acked)
          let frame;
          try {
            frame = await session.next(10_000);
          } catch (error) {
            if (killed) return; // the kill ended the session
            throw error;
          }
          assert.ok(frame, "the session ended by itself");
          if (frame.$case === "status") {
            durableSeen = floorNumber(frame.value.durableFloor);
            noteDurable(`Status in cycle ${cycle}`, durableSeen);
            continue;
          }
          if (frame.$case !== "records") continue;
          const records = frame.value.records;
          for (const record of records) {
            const n = numberOf(record);
            assert.equal(n, expected, "records arrive in order, none skipped");
            expected++;
            deliveries[n]!++;
          }
          deliveredHigh = expected - 1;
          // Both ack forms: cumulative, and every DLSN individually (newest first).
          if (batches++ % 2 === 0) session.ackUpTo(records.at(-1)!.dlsn!);
          else session.ack(records.map((r) => r.dlsn!).reverse());
          ackedHigh = deliveredHigh;
        }
      })();

      if (last) {
        await reading;
        session.drain();
        noteDurable("Drained", floorNumber((await session.drained(10_000)).durableFloor));
        break;
      }
      const killAfterMs = 150 + Math.floor(Math.random() * 450);
      await sleep(killAfterMs);
      killed = true;
      const atEnd = deliveredHigh === RECORDS;
      await server.kill9();
      await reading;
      assert.ok(deliveredHigh > resumedAfter || atEnd, `cycle ${cycle}: the session delivered nothing in ${killAfterMs} ms before the kill`);
      if (atEnd) t.diagnostic(`cycle ${cycle}: the reader had reached the end of the log before the kill`);
      else killsMidStream++;
      t.diagnostic(`cycle ${cycle}: kill -9 after ${killAfterMs} ms at record ${deliveredHigh} (acked ${ackedHigh}, last durable seen ${durableSeen})`);
      clients.close();
      server = await restart(dir.path, port, args);
      clients = connect(server.address);
    }

    // A kill after the reader reached the end tests no crash: at least one must land mid-stream.
    assert.ok(killsMidStream >= 1, `none of the ${KILLS} kills landed while records were still being delivered`);
    const lost = [];
    for (let n = 1; n <= RECORDS; n++) if (deliveries[n] === 0) lost.push(n);
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} records were never delivered`);
    assert.equal(durableHistory.at(-1)!.floor, RECORDS, "the reader finished with everything acked");

    let duplicates = 0;
    for (let n = 1; n <= RECORDS; n++) duplicates += deliveries[n]! - 1;
    let expectedDuplicates = 0;
    for (const [i, crash] of crashes.entries()) {
      // Acked records delivered again: only acks the client had not yet seen durable.
      const ackedAgain = Math.max(0, crash.ackedHigh - crash.resumedAfter);
      const notYetDurable = crash.ackedHigh - crash.durableSeen;
      t.diagnostic(
        `restart ${i + 1}: resumed after ${crash.resumedAfter}; ${ackedAgain} acked records delivered again ≤ ${notYetDurable} acked since the last durable Status`,
      );
      assert.ok(ackedAgain <= notYetDurable, `restart ${i + 1}: ${ackedAgain} acked records came again, more than the ${notYetDurable} acks not yet seen durable`);
      assert.ok(crash.resumedAfter <= crash.ackedHigh, `restart ${i + 1}: resumed past what was acked`);
      expectedDuplicates += crash.deliveredHigh - crash.resumedAfter;
    }
    assert.equal(duplicates, expectedDuplicates, "the only records delivered twice are those after each resume position that had been delivered before");
    t.diagnostic(`${crashes.length} kills, ${duplicates} records delivered more than once of ${RECORDS}`);
  } finally {
    t.signal.removeEventListener("abort", onAbort);
    clients.close();
    await server.kill9();
    dir.cleanup();
  }
}

test("kill -9 while a reader reads and acks (--ack-flush-interval 50ms): none lost, durable position never backward, redeliveries within the crash bound", { timeout: 60_000 }, async (t) => {
  await readAckKill(t, ["--ack-flush-interval", "50ms"]);
});

test("kill -9 while a reader reads and acks (default flush settings): the same guarantees", { timeout: 60_000 }, async (t) => {
  await readAckKill(t, []);
});
