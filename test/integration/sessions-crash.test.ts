import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Clients, type DlogdProcess, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession, appendNumbered, numberOf } from "../helpers/session.js";
import { until } from "../reliability/harness.js";
import type { DLSN as WireDLSN } from "../../src/gen/dlog/v1/common.js";
import { ResumeSource } from "../../src/gen/dlog/v1/reader.js";

const LOG = "crash";
const READER = "crash-reader";
/** Enough that the reader is mid-log at every kill: it reads up to ~200k records/s on a fast machine. */
const RECORDS = 600_000;
const MAX_OUTSTANDING = 100;
const KILLS = 4;
/**
 * How far the server may have reserved delivery ahead of what it sent (Session: four windows,
 * at least 8192 records): after a crash, records that far past the last one sent may come marked
 * as possible duplicates (attempt 2) although they never arrived.
 */
const RESERVATION = Math.max(4 * MAX_OUTSTANDING, 8192);

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
async function restart(dataDir: string, port: string, args: string[]): Promise<DlogdProcess> {
  try {
    return await startDlogd({ process: true, dataDir, args, listen: `127.0.0.1:${port}` });
  } catch {
    return startDlogd({ process: true, dataDir, args });
  }
}

/** A test that times out must not leave its server (and so this file's process) running: returns the listener, for removal. */
function killOnAbort(t: TestContext, live: () => { server: DlogdProcess; clients: Clients }): () => void {
  const onAbort = (): void => {
    live().clients.close();
    void live().server.kill9();
  };
  t.signal.addEventListener("abort", onAbort, { once: true });
  return onAbort;
}

async function readAckKill(t: TestContext, args: string[]): Promise<void> {
  const dir = tempDir("dlog-session-crash-");
  let server = await startDlogd({ process: true, dataDir: dir.path, args });
  const port = server.address.slice(server.address.lastIndexOf(":") + 1);
  let clients: Clients = connect(server.address);
  const onAbort = killOnAbort(t, () => ({ server, clients }));
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
    /** Records that came again after a restart, and records never seen before that came marked anyway. */
    let replayed = 0;
    let markedFirstDeliveries = 0;

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
      /** The highest record any earlier session delivered: the server's high-water mark must cover it. */
      const seenBefore = deliveredHigh;
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
            if (deliveries[n]! > 0) {
              replayed++;
              assert.ok(record.attempt >= 2, `record ${n} came again after a crash with attempt ${record.attempt}`);
            } else if (record.attempt >= 2) {
              markedFirstDeliveries++;
              assert.ok(
                n <= seenBefore + MAX_OUTSTANDING + RESERVATION,
                `record ${n}, never delivered before, came with attempt ${record.attempt} (last seen before the crash: ${seenBefore})`,
              );
            }
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
      // The kill timer starts at the first delivery, not at the open: a restart slowed by a busy machine must not leave the kill before it.
      let stopped = false;
      reading.then(
        () => (stopped = true),
        () => (stopped = true),
      );
      await until(() => stopped || deliveredHigh > resumedAfter, `cycle ${cycle}: the first delivery after the open`);
      const killAfterMs = 150 + Math.floor(Math.random() * 450);
      await sleep(killAfterMs);
      killed = true;
      const atEnd = deliveredHigh === RECORDS;
      await server.kill9();
      await reading;
      // A kill after the reader reached the end tests no crash: every kill must land mid-stream.
      assert.ok(!atEnd, `cycle ${cycle}: the reader had read the whole log before the kill; the log is too short for this machine`);
      killsMidStream++;
      t.diagnostic(`cycle ${cycle}: kill -9 after ${killAfterMs} ms at record ${deliveredHigh} (acked ${ackedHigh}, last durable seen ${durableSeen})`);
      clients.close();
      server = await restart(dir.path, port, args);
      clients = connect(server.address);
    }

    assert.equal(killsMidStream, KILLS, "every kill landed while records were still being delivered");
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
      assert.ok(
        ackedAgain <= notYetDurable,
        `restart ${i + 1}: ${ackedAgain} acked records came again, more than the ${notYetDurable} acks not yet seen durable`,
      );
      assert.ok(crash.resumedAfter <= crash.ackedHigh, `restart ${i + 1}: resumed past what was acked`);
      expectedDuplicates += crash.deliveredHigh - crash.resumedAfter;
    }
    assert.equal(duplicates, expectedDuplicates, "the only records delivered twice are those after each resume position that had been delivered before");
    t.diagnostic(`${crashes.length} kills, ${duplicates} records delivered more than once of ${RECORDS}`);
    t.diagnostic(
      `${replayed} replays, every one with attempt >= 2; ${markedFirstDeliveries} first deliveries marked as possible duplicates (within the reservation)`,
    );
    assert.ok(replayed > 0, "the kills replayed something: the attempt check was exercised");
  } finally {
    t.signal.removeEventListener("abort", onAbort);
    clients.close();
    await server.kill9();
    dir.cleanup();
  }
}

test("kill -9 while a reader reads and acks (--ack-flush-interval 50ms): none lost, durable position never backward, redeliveries within the crash bound", {
  timeout: 60_000,
}, async (t) => {
  await readAckKill(t, ["--ack-flush-interval", "50ms"]);
});

test("kill -9 while a reader reads and acks (default flush settings): the same guarantees", { timeout: 60_000 }, async (t) => {
  await readAckKill(t, []);
});

/**
 * The crash bound in the terms a client can check (README "Crash bound"): Ack messages are
 * numbered from 1 per session; a status's acks_durable says how many of the first ones are on
 * disk. This client stops acking the moment a status does not cover every ack it sent, then the
 * server is killed: records acked in covered messages never come again.
 */
test("kill -9 after a client stops acking at the first status that does not cover its acks: only records of uncovered ack messages (or never acked) come again, none lost", {
  timeout: 90_000,
}, async (t) => {
  const TOTAL = 60_000;
  const CYCLES = 3;
  const dir = tempDir("dlog-session-acks-durable-");
  let server = await startDlogd({ process: true, dataDir: dir.path });
  const port = server.address.slice(server.address.lastIndexOf(":") + 1);
  let clients: Clients = connect(server.address);
  const onAbort = killOnAbort(t, () => ({ server, clients }));
  try {
    await appendNumbered(clients, "acks-durable", TOTAL, { batch: 10_000 });
    const seen = new Uint8Array(TOTAL + 1);
    /** Records acked in ack messages a status reported durable before the last kill: they never come again. */
    let durableThrough = 0;
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      const last = cycle === CYCLES;
      const { session, opened } = await TestSession.open(clients, { log: "acks-durable", readerId: "r", flow: { maxOutstandingRecords: 1_000 } });
      const resumedAfter = opened.resumeAfter!.slot >= 0n ? numberOfFloor(opened.resumeAfter!) : 0;
      /** `ackedThrough[k]`: every record up to it is acked by messages 1..k (acks go out in order). */
      const ackedThrough: number[] = [resumedAfter];
      let acking = true;
      let covered = 0;
      let highest = resumedAfter;
      let replays = 0;
      const killed = { now: false };
      const reading = (async () => {
        for (;;) {
          let frame;
          try {
            frame = await session.next(10_000);
          } catch (error) {
            if (killed.now) return;
            throw error;
          }
          if (frame === undefined) return;
          if (frame.$case === "status") {
            const durable = Number(frame.value.acksDurable);
            assert.ok(durable >= covered, "acks_durable never goes back");
            assert.ok(BigInt(durable) <= frame.value.acksReceived, "no more durable than received");
            covered = durable;
            // The first status that leaves an ack uncovered: stop acking, so the bound can be checked exactly.
            if (durable < ackedThrough.length - 1) acking = false;
            continue;
          }
          if (frame.$case !== "records") continue;
          const records = frame.value.records;
          for (const record of records) {
            const n = numberOf(record);
            if (seen[n]) {
              replays++;
              assert.ok(n > durableThrough, `record ${n} came again though an ack message covering it was reported durable (through #${durableThrough})`);
            }
            seen[n] = 1;
            highest = Math.max(highest, n);
          }
          if (!acking && !last) continue;
          if (ackedThrough.length % 2 === 0) session.ackUpTo(records.at(-1)!.dlsn!);
          else session.ack(records.map((r) => r.dlsn!));
          ackedThrough.push(numberOf(records.at(-1)!));
          if (last && highest === TOTAL) return;
        }
      })();
      if (last) {
        await reading;
        session.drain();
        const drained = await session.drained();
        assert.equal(drained.acksDurable, BigInt(ackedThrough.length - 1), "Drained: every ack message durable");
        break;
      }
      // Until the client stopped, then a random moment: sometimes before the flush that would cover the rest.
      for (let i = 0; acking && i < 500; i++) await sleep(10);
      assert.ok(!acking, "a status left an ack uncovered (acks are always in flight)");
      await sleep(Math.floor(Math.random() * 150));
      killed.now = true;
      const coveredThrough = ackedThrough[covered]!;
      durableThrough = Math.max(durableThrough, coveredThrough);
      await server.kill9();
      await reading;
      clients.close();
      server = await startDlogd({ process: true, dataDir: dir.path, listen: `127.0.0.1:${port}` }).catch(() =>
        startDlogd({ process: true, dataDir: dir.path }),
      );
      clients = connect(server.address);
      const position = await clients.readers.getPosition({ log: "acks-durable", readerId: "r" });
      const resumeAt = numberOfFloor(position.floor!);
      t.diagnostic(
        `cycle ${cycle}: ${ackedThrough.length - 1} ack messages, ${covered} covered (through #${coveredThrough}); ` +
          `acked through #${ackedThrough.at(-1)}, delivered through #${highest}; resumes after #${resumeAt}; ${replays} replays this session`,
      );
      assert.ok(resumeAt >= coveredThrough, `records acked in covered messages (through #${coveredThrough}) come again: resume after #${resumeAt}`);
      assert.ok(resumeAt <= highest, `resumed after #${resumeAt}, beyond the #${highest} delivered`);
    }
    const lost: number[] = [];
    for (let n = 1; n <= TOTAL; n++) if (!seen[n]) lost.push(n);
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} records never delivered`);
  } finally {
    t.signal.removeEventListener("abort", onAbort);
    clients.close();
    await server.kill9();
    dir.cleanup();
  }
});

/** Record number at a floor DLSN: records are appended in entries of 10 000, slot = offset in the entry. */
function numberOfFloor(dlsn: WireDLSN): number {
  if (dlsn.slot < 0n) return 0;
  return Number(dlsn.entry) * 10_000 + Number(dlsn.slot) + 1;
}

test("epochs grow across kill -9 even when no session acked anything", { timeout: 60_000 }, async (t) => {
  const dir = tempDir("dlog-session-epochs-");
  let server = await startDlogd({ process: true, dataDir: dir.path });
  let clients: Clients = connect(server.address);
  t.signal.addEventListener("abort", () => void server.kill9(), { once: true });
  try {
    await appendNumbered(clients, "epochs", 10);
    const epochs: bigint[] = [];
    for (let cycle = 0; cycle < 4; cycle++) {
      const { session, opened } = await TestSession.open(clients, { log: "epochs", readerId: "r" });
      epochs.push(opened.epoch);
      await session.records(10); // delivered, never acked
      await server.kill9();
      clients.close();
      server = await startDlogd({ process: true, dataDir: dir.path });
      clients = connect(server.address);
    }
    assert.deepEqual(epochs, [1n, 2n, 3n, 4n], "Opened.epoch across crashes");
    assert.equal((await clients.readers.getPosition({ log: "epochs", readerId: "r" })).epoch, 4n);
  } finally {
    clients.close();
    await server.kill9();
    dir.cleanup();
  }
});
