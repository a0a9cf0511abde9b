import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Status } from "nice-grpc";
import { Boundary, type Record as WireRecord } from "../../src/gen/dlog/v1/common.js";
import { Takeover } from "../../src/gen/dlog/v1/reader.js";
import { fixtureForFile } from "../helpers/fixture.js";
import { TestSession, appendNumbered, dlsnKey, numberOf } from "../helpers/session.js";

const SERVER_TEST = { timeout: 30_000 };
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// A short heartbeat so a paused session reports why it is paused without waiting 5 s; few holes allowed.
const fixture = fixtureForFile({ metrics: true, args: ["--heartbeat", "150ms", "--max-holes", "20"] });

describe("fencing", () => {
  test("a second session takes over: the first gets ABORTED, its late acks are refused, the second redelivers what was unacked", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "fence";
    await appendNumbered(clients, LOG, 200);
    const a = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 50 } });
    const firstFifty = await a.session.records(50);
    assert.deepEqual(firstFifty.map(numberOf), range(1, 50));
    a.session.ackUpTo(firstFifty[19]!.dlsn!);
    // The ack frees room for 20 more: receiving them proves the server applied it. A is then at its limit again.
    const next = await a.session.records(20);
    assert.deepEqual(next.map(numberOf), range(51, 70));

    const b = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 1000 } });
    assert.equal(b.opened.epoch, a.opened.epoch + 1n, "the newcomer has the next epoch");
    assert.equal(dlsnKey(b.opened.resumeAfter), dlsnKey(firstFifty[19]!.dlsn), "it resumes after what the first session acked");
    // A has not heard of the takeover yet: it acks everything it got.
    a.session.ackUpTo(next.at(-1)!.dlsn!);
    const fenced = await a.session.failed();
    assert.equal(Status[fenced.code], "ABORTED");
    assert.match(fenced.details, /fenced by a newer session/);
    assert.deepEqual(a.session.received.map(numberOf), range(1, 70), "the fenced session got nothing after the takeover");

    const redelivered = await b.session.records(50);
    assert.deepEqual(redelivered.slice(0, 50).map(numberOf), range(21, 70), "the newcomer redelivers exactly the unacked records, in order");
    await sleep(250); // past the flush interval: a late ack that had been taken would be on disk now
    const position = await clients.readers.getPosition({ log: LOG, readerId: "r" });
    assert.equal(dlsnKey(position.floor), dlsnKey(firstFifty[19]!.dlsn), "the late acks did not move the position");

    const rest = await b.session.records(180 - redelivered.length);
    const all = [...redelivered, ...rest];
    assert.deepEqual(all.map(numberOf), range(21, 200));
    b.session.ackUpTo(all.at(-1)!.dlsn!);
    b.session.drain();
    assert.equal(dlsnKey((await b.session.drained()).durableFloor), dlsnKey(all.at(-1)!.dlsn));
  });

  test("a takeover while the first session streams and acks: no acked record reaches the second, nothing is skipped", SERVER_TEST, async (t) => {
    const { clients } = fixture;
    const LOG = "fence-race";
    const TOTAL = 20_000;
    await appendNumbered(clients, LOG, TOTAL);
    const a = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 100 } });
    const acked = new Set<number>();
    const reading = (async () => {
      try {
        for (;;) {
          const frame = await a.session.next();
          if (frame?.$case !== "records") continue;
          const records = frame.value.records;
          a.session.ackUpTo(records.at(-1)!.dlsn!);
          for (const r of records) acked.add(numberOf(r));
        }
      } catch {
        // fenced
      }
    })();
    // The takeover at a random point of the first session's stream, well before its end: after a
    // fixed sleep, a fast run had the first session ack all 20 000 and the newcomer nothing to deliver.
    const raceAt = 500 + Math.floor(Math.random() * 4_500);
    for (const deadline = Date.now() + 10_000; acked.size < raceAt; await sleep(1)) {
      assert.ok(Date.now() < deadline, `the first session acked ${acked.size} records in 10 s`);
    }
    const b = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 5_000, maxBatchRecords: 1_000 } });
    await reading;
    assert.equal(Status[a.session.error!.code], "ABORTED");
    const ofB: number[] = [];
    await b.session.until(
      (frame) => {
        if (frame.$case !== "records") return undefined;
        ofB.push(...frame.value.records.map(numberOf));
        b.session.ackUpTo(frame.value.records.at(-1)!.dlsn!);
        return ofB.at(-1) === TOTAL ? true : undefined;
      },
      "the newcomer to reach the end of the log",
      15_000,
    );
    const firstOfB = ofB[0]!;
    t.diagnostic(`the first session had received ${a.session.received.length} records; the newcomer started at #${firstOfB}`);
    assert.ok(firstOfB > 1, "the first session acked something before the takeover");
    assert.deepEqual(ofB, range(firstOfB, TOTAL), "the newcomer delivers every record after its resume position, once, in order");
    assert.equal(dlsnKey(b.opened.resumeAfter), dlsnKey(a.session.received.find((r) => numberOf(r) === firstOfB - 1)?.dlsn));
    const ofA = new Set(a.session.received.map(numberOf));
    for (let n = 1; n < firstOfB; n++) assert.ok(ofA.has(n), `record ${n}, below the newcomer's start, reached the first session`);
    for (let n = 1; n < firstOfB; n++) assert.ok(acked.has(n), `record ${n}, below the newcomer's start, was acked by the first session`);
    b.session.drain();
    assert.equal(dlsnKey((await b.session.drained()).durableFloor), dlsnKey(b.session.received.at(-1)!.dlsn));
  });

  test("a session fenced while it reads at the head of the log ends with ABORTED, never INTERNAL", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "fence-at-head";
    await appendNumbered(clients, LOG, 100);
    for (let i = 0; i < 40; i++) {
      const { session } = await TestSession.open(clients, {
        log: LOG,
        readerId: "r",
        override: { at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } },
      });
      await session.records(1); // it reads on to the end of the log now
      await clients.readers.setPosition({ log: LOG, readerId: "r", force: true, position: { at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } } });
      const failure = await session.failed();
      assert.equal(Status[failure.code], "ABORTED", failure.details);
    }
  });

  test("takeover REJECT gets ALREADY_EXISTS and leaves the live session alone", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "reject";
    await appendNumbered(clients, LOG, 30);
    const a = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 10 } });
    const first = await a.session.records(10);

    const b = new TestSession(clients, { kind: { $case: "open", value: { log: LOG, readerId: "r", takeover: Takeover.TAKEOVER_REJECT } } });
    const refused = await b.failed();
    assert.equal(Status[refused.code], "ALREADY_EXISTS");
    assert.match(refused.details, /reader "r" of log "reject" has a live session .*takeover TAKEOVER_FENCE/);

    a.session.ackUpTo(first.at(-1)!.dlsn!);
    assert.deepEqual((await a.session.records(10)).map(numberOf), range(11, 20), "the live session goes on");
    a.session.drain();
    await a.session.drained();
    const c = await TestSession.open(clients, { log: LOG, readerId: "r", takeover: Takeover.TAKEOVER_REJECT });
    assert.equal(numberOf((await c.session.records(1))[0]!), 11, "with no live session, REJECT opens normally");
    c.session.drain();
    await c.session.drained();
  });
});

describe("flow control", () => {
  test("with max outstanding 10 the server never has more than 10 unacked records out", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "flow-10";
    await appendNumbered(clients, LOG, 300);
    const { session, opened } = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 10 } });
    assert.equal(opened.flow?.maxOutstandingRecords, 10);
    const outstanding = new Map<string, WireRecord>();
    let received = 0;
    let round = 0;
    while (received < 300) {
      const frame = await session.next();
      assert.ok(frame, "the stream ended early");
      if (frame.$case === "status") {
        assert.ok(frame.value.outstandingRecords <= 10n, `Status outstanding ${frame.value.outstandingRecords}`);
        continue;
      }
      if (frame.$case !== "records") continue;
      for (const r of frame.value.records) outstanding.set(dlsnKey(r.dlsn), r);
      received += frame.value.records.length;
      assert.ok(outstanding.size <= 10, `after a batch ${outstanding.size} records are unacked`);
      if (outstanding.size < 10 && received < 300) continue; // let it fill up to the limit
      if (round === 0) {
        // At the limit the session pauses and its heartbeat says why.
        const paused = await session.status((s) => s.pausedReason !== "", "a paused Status");
        assert.match(paused.pausedReason, /max_outstanding_records reached \(10\)/);
        assert.equal(paused.outstandingRecords, 10n);
        assert.equal(session.received.length, 10, "nothing more was sent while paused");
      }
      // Ack a varying part: the oldest few individually, or everything cumulatively.
      const ordered = [...outstanding.values()];
      const part = round++ % 3 === 2 ? ordered : ordered.slice(0, 1 + (round % 4));
      if (part === ordered) session.ackUpTo(ordered.at(-1)!.dlsn!);
      else session.ack(part.map((r) => r.dlsn!));
      for (const r of part) outstanding.delete(dlsnKey(r.dlsn));
    }
    assert.deepEqual(session.received.map(numberOf), range(1, 300), "every record once, in order");
    session.ack([...outstanding.values()].map((r) => r.dlsn!));
    session.drain();
    await session.drained();
  });

  test("a client that stops acking gets no more than max outstanding records (delivered counter stays bounded)", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "no-acks";
    await appendNumbered(clients, LOG, 5_000);
    const before = (await fixture.metrics()).get("dlog_records_delivered_total")!;
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r" }); // default limit: 1000
    const got = await session.records(1000);
    assert.equal(got.length, 1000);
    const paused = await session.status((s) => s.pausedReason !== "", "a paused Status", 2_000);
    assert.match(paused.pausedReason, /max_outstanding_records reached \(1000\)/);
    assert.equal(paused.outstandingRecords, 1000n);
    await sleep(300);
    const delivered = (await fixture.metrics()).get("dlog_records_delivered_total")! - before;
    assert.equal(delivered, 1000, "the server sent exactly the limit and then stopped");
    session.ackUpTo(got.at(-1)!.dlsn!);
    assert.equal(numberOf((await session.records(1))[0]!), 1001, "acking resumes delivery");
    session.cancel();
  });

  test("a client that stops reading makes the server stop sending (HTTP/2 backpressure), then catches up", SERVER_TEST, async (t) => {
    const { clients } = fixture;
    const LOG = "no-reads";
    const TOTAL = 30_000;
    await appendNumbered(clients, LOG, TOTAL, { padTo: 1024, batch: 2_000 });
    const before = (await fixture.metrics()).get("dlog_records_delivered_total")!;
    // Limits far above the log: only transport backpressure can hold the server back.
    const { session } = await TestSession.open(clients, {
      log: LOG,
      readerId: "r",
      flow: { maxOutstandingRecords: 100_000, maxOutstandingBytes: 1024 ** 3, maxBatchRecords: 64 },
    });
    const samples: number[] = [];
    for (let i = 0; i < 4; i++) {
      await sleep(200);
      samples.push((await fixture.metrics()).get("dlog_records_delivered_total")! - before);
    }
    t.diagnostic(`records sent to a client reading nothing, every 200 ms: ${samples.join(", ")} of ${TOTAL}`);
    assert.ok(samples.at(-1)! < TOTAL / 2, `the server sent ${samples.at(-1)} of ${TOTAL} records to a client that reads nothing`);
    assert.equal(samples.at(-1), samples.at(-2), `sending stopped (delivered over time: ${samples.join(", ")})`);
    const all = await session.records(TOTAL, 20_000);
    assert.equal(all.length, TOTAL);
    assert.equal(numberOf(all.at(-1)!), TOTAL);
    session.ackUpTo(all.at(-1)!.dlsn!);
    session.drain();
    await session.drained();
  });

  test("flow changes the limits mid-stream", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "flow-change";
    await appendNumbered(clients, LOG, 200);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 10 } });
    const first = await session.records(10);
    session.flow({ maxOutstandingRecords: 50, maxBatchRecords: 5 });
    // The change is confirmed by a Status, and the room it makes is filled in batches of at most 5.
    const more: WireRecord[] = [];
    await session.until((frame) => {
      if (frame.$case === "records") {
        assert.ok(frame.value.records.length <= 5, `a batch of ${frame.value.records.length} after max_batch_records 5`);
        more.push(...frame.value.records);
      }
      return more.length >= 40 ? true : undefined;
    }, "40 more records");
    assert.deepEqual(more.map(numberOf), range(11, 50));

    session.flow({ maxOutstandingRecords: 5 });
    await session.status((s) => s.outstandingRecords === 50n, "the Status after the flow change");
    session.ack([...first, ...more].slice(0, 40).map((r) => r.dlsn!)); // 10 still out, above the new limit of 5
    await sleep(300);
    const paused = await session.status((s) => s.outstandingRecords === 10n && s.pausedReason !== "", "a paused Status");
    assert.match(paused.pausedReason, /max_outstanding_records reached \(5\)/);
    assert.deepEqual(session.received.length, 50, "nothing sent while above the lowered limit");
    session.ackUpTo(more.at(-1)!.dlsn!);
    const after5 = await session.records(5);
    assert.deepEqual(after5.map(numberOf), range(51, 55));
    session.drain();
    await session.drained();
  });

  test("max outstanding bytes limits delivery by payload size", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "flow-bytes";
    await appendNumbered(clients, LOG, 100, { padTo: 100 });
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingBytes: 1_000n } });
    const got = await session.records(10);
    assert.equal(got.length, 10);
    const paused = await session.status((s) => s.pausedReason !== "", "a paused Status");
    assert.equal(paused.outstandingBytes, 1_000n);
    assert.match(paused.pausedReason, /max_outstanding_bytes reached \(1000\)/);
    session.cancel();
  });
});

describe("ack holes", () => {
  test("past the holes limit delivery pauses (saying why) and no ack is dropped; acking the gap resumes it", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "holes-limit";
    await appendNumbered(clients, LOG, 200);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 50 } });
    const first = await session.records(50);
    session.ack(first.slice(1).map((r) => r.dlsn!)); // everything but #1: 49 holes above the floor
    const paused = await session.status((s) => s.pausedReason !== "", "a paused Status");
    assert.match(paused.pausedReason, /ack holes limit reached \(20\)/);
    assert.equal(paused.holes, 49n, "every ack is kept beyond the limit");
    assert.equal(paused.outstandingRecords, 1n);
    await sleep(200);
    assert.equal(session.received.length, 50, "nothing new while paused");
    session.ack([first[0]!.dlsn!]);
    const resumed = await session.records(1);
    assert.equal(numberOf(resumed[0]!), 51);
    session.ackUpTo(resumed.at(-1)!.dlsn!);
    session.drain();
    assert.equal(dlsnKey((await session.drained()).durableFloor), dlsnKey(resumed.at(-1)!.dlsn));
  });
});

describe("redelivery", () => {
  test("records not acked within ack_wait are delivered again with attempt raised", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "ack-wait";
    await appendNumbered(clients, LOG, 20);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r", ackWaitMs: 200, flow: { maxOutstandingRecords: 3 } });
    const started = Date.now();
    const first = await session.records(3);
    assert.deepEqual(
      first.map((r) => [numberOf(r), r.attempt]),
      [
        [1, 1],
        [2, 1],
        [3, 1],
      ],
    );
    const second = await session.records(3);
    const waitedMs = Date.now() - started;
    assert.deepEqual(
      second.map((r) => [numberOf(r), r.attempt]),
      [
        [1, 2],
        [2, 2],
        [3, 2],
      ],
    );
    assert.ok(waitedMs >= 150, `redelivered after ${waitedMs} ms, not before ack_wait`);
    const third = await session.records(3);
    assert.deepEqual(
      third.map((r) => [numberOf(r), r.attempt]),
      [
        [1, 3],
        [2, 3],
        [3, 3],
      ],
    );
    session.ack([first[0]!.dlsn!, first[1]!.dlsn!]);
    const fresh = await session.records(2);
    assert.deepEqual(
      fresh.map((r) => [numberOf(r), r.attempt]),
      [
        [4, 1],
        [5, 1],
      ],
      "acking frees room for new records, attempt 1",
    );
    const fourth = await session.until((frame) => (frame.$case === "records" ? frame.value.records : undefined), "more records");
    // Record 3 was redelivered before 4 and 5 were first delivered, so it expires first (they may share a timer tick).
    assert.deepEqual(fourth.map((r) => [numberOf(r), r.attempt]).slice(0, 1), [[3, 4]], "the record still unacked comes again first");
    assert.ok(fourth.slice(1).every((r) => [4, 5].includes(numberOf(r)) && r.attempt === 2));
    session.ack([first[2]!.dlsn!, ...fresh.map((r) => r.dlsn!)]);
    session.drain();
    assert.equal(dlsnKey((await session.drained()).durableFloor), dlsnKey(fresh[1]!.dlsn));
  });

  test("nack delivers the named records again with attempt + 1", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "nack";
    await appendNumbered(clients, LOG, 20);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r", flow: { maxOutstandingRecords: 5 } });
    const first = await session.records(5);
    session.nack([first[3]!.dlsn!, first[1]!.dlsn!]);
    const again = await session.records(2);
    assert.deepEqual(
      again.map((r) => [numberOf(r), r.attempt]),
      [
        [2, 2],
        [4, 2],
      ],
      "redelivered in log order",
    );
    session.nack([first[1]!.dlsn!]);
    assert.deepEqual(
      (await session.records(1)).map((r) => [numberOf(r), r.attempt]),
      [[2, 3]],
    );
    session.ackUpTo(first[4]!.dlsn!);
    assert.deepEqual(
      (await session.records(5)).map((r) => [numberOf(r), r.attempt]),
      range(6, 10).map((n) => [n, 1]),
    );
    session.drain();
    await session.drained();
  });
});

describe("tailing", () => {
  test("a session at the head gets a record appended later promptly", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "tail";
    await appendNumbered(clients, LOG, 3);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r" });
    const first = await session.records(3);
    session.ackUpTo(first.at(-1)!.dlsn!);
    await sleep(200); // idle at the head
    const latencies: number[] = [];
    for (let n = 4; n <= 8; n++) {
      const started = performance.now();
      await appendNumbered(clients, LOG, 1, { from: n });
      const [record] = await session.records(1, 2_000);
      latencies.push(performance.now() - started);
      assert.equal(numberOf(record!), n);
      session.ack([record!.dlsn!]);
    }
    const worst = Math.max(...latencies);
    assert.ok(worst < 500, `append → delivery took up to ${worst.toFixed(1)} ms`);
    session.drain();
    await session.drained();
  });
});

describe("with a long heartbeat (--heartbeat 10s): nothing waits for it", () => {
  const slow = fixtureForFile({ args: ["--heartbeat", "10s"] });

  test("a record nacked 5 times in a row comes again at once each time, with attempt 2..6", SERVER_TEST, async () => {
    const { clients } = slow;
    const LOG = "nack-again";
    await appendNumbered(clients, LOG, 3);
    // Room for everything: after each redelivery the session reads on at the end of the log, so the nack lands during a read.
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r" });
    const first = await session.records(3);
    const target = first[1]!;
    const waits: number[] = [];
    for (let attempt = 2; attempt <= 6; attempt++) {
      const started = performance.now();
      session.nack([target.dlsn!]);
      // Far below the 10 s heartbeat that a lost wake-up waits for; generous for a loaded machine.
      const [again] = await session.records(1, 3_000);
      waits.push(performance.now() - started);
      assert.deepEqual([numberOf(again!), again!.attempt], [2, attempt]);
    }
    assert.ok(
      waits.every((ms) => ms < 3_000),
      `redelivery waits: ${waits.map((ms) => ms.toFixed(1)).join(", ")} ms`,
    );
    session.ackUpTo(first[2]!.dlsn!);
    session.drain();
    await session.drained();
  });
});

describe("heartbeat timing", () => {
  const HEARTBEAT_MS = 2_000;
  const timed = fixtureForFile({ args: ["--heartbeat", `${HEARTBEAT_MS}ms`] });

  test("the first idle status comes one heartbeat after the last frame, not up to 1.5 heartbeats later", { timeout: 30_000 }, async () => {
    const { clients } = timed;
    const LOG = "heartbeat";
    await appendNumbered(clients, LOG, 1);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "r" });
    const [record] = await session.records(1);
    session.ack([record!.dlsn!]);
    await session.status((s) => dlsnKey(s.durableFloor) === dlsnKey(record!.dlsn), "the ack to be durable");
    // A record a little after the last status: off any fixed heartbeat tick.
    await sleep(100);
    await appendNumbered(clients, LOG, 1, { from: 2 });
    await session.records(1);
    const lastFrameAt = performance.now();
    await session.status(() => true, "an idle status", HEARTBEAT_MS * 3);
    const idleMs = performance.now() - lastFrameAt;
    assert.ok(idleMs >= HEARTBEAT_MS - 100, `the idle status came ${idleMs.toFixed(0)} ms after the last frame, before the heartbeat`);
    assert.ok(idleMs < HEARTBEAT_MS * 1.2, `the idle status came ${idleMs.toFixed(0)} ms after the last frame (heartbeat ${HEARTBEAT_MS} ms)`);
    session.cancel();
  });
});
