/**
 * dlog on a 3-node JetStream cluster (R3) with two stateless gateways, when a gateway fails or
 * a reader moves between them — real processes throughout. A kill -9 of the gateway a client
 * uses: the TypeScript client (given both addresses) reconnects to the other, its reader resumes
 * within the crash bound and its appender loses nothing. One reader id opened on both gateways:
 * the takeover fences the old one (ABORTED) as soon as the old one's gateway hears of it (its KV
 * watch, milliseconds), and nothing the old one acks after the takeover is written.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Status } from "nice-grpc";
import { createDlogClient, type DLSN } from "../../clients/typescript/src/index.js";
import { Takeover } from "../../src/gen/dlog/v1/reader.js";
import type { Record as WireRecord } from "../../src/gen/dlog/v1/common.js";
import { startAppendProbe } from "./append-probe.js";
import { connect } from "../helpers/dlogd.js";
import { type DlogCluster, startDlogCluster } from "./dlog-cluster.js";
import { appendNumbered, dlsnKey, numberOf, TestSession } from "../helpers/session.js";
import { sleep, until } from "../reliability/harness.js";

let dc: DlogCluster;
before(async () => {
  dc = await startDlogCluster();
});
after(async () => {
  await dc?.close();
});

// The old session's gateway learns of the takeover from its KV watch, not from the takeover itself: until then it
// goes on delivering as its acks free its window (measured, not bounded, here; bench/ measures the takeover time).
test("one reader id on two gateways: the takeover fences the live session (ABORTED) as its gateway hears of it, and nothing it acks after is written", {
  timeout: 60_000,
}, async (t) => {
  // Before the gateway kill below: both gateways are up.
  const [g0, g1] = dc.gateways as [(typeof dc.gateways)[0], (typeof dc.gateways)[0]];
  const log = "takeover";
  const c0 = connect(g0.address);
  const c1 = connect(g1.address);
  try {
    await appendNumbered(c1, log, 20_000, { from: 0 });
    const flow = { maxOutstandingRecords: 200, maxBatchRecords: 50 };

    // The first session reads and acks batch by batch, noting when each record arrived.
    const { session: first } = await TestSession.open(c0, { log, readerId: "r", flow });
    const firstGot: Array<{ record: WireRecord; at: number }> = [];
    let firstEnd: { at: number; error: unknown } | undefined;
    const firstLoop = (async () => {
      try {
        for (;;) {
          const frame = await first.next(20_000);
          if (frame === undefined) break;
          if (frame.$case !== "records" || frame.value.records.length === 0) continue;
          const at = performance.now();
          for (const record of frame.value.records) firstGot.push({ record, at });
          first.ackUpTo(frame.value.records.at(-1)!.dlsn!);
          await sleep(10); // a consumer that does some work: the log lasts until well after the takeover
        }
        firstEnd = { at: performance.now(), error: undefined };
      } catch (error) {
        firstEnd = { at: performance.now(), error };
      }
    })();
    await until(() => firstGot.length >= 1_000 && first.lastStatus?.durableFloor !== undefined, "the first session to read and durably ack");

    const t0 = performance.now();
    const { session: second, opened } = await TestSession.open(c1, { log, readerId: "r", flow, takeover: Takeover.TAKEOVER_FENCE });
    const openedAt = performance.now();
    await until(() => firstEnd !== undefined, "the first session to end", 10_000);
    await firstLoop;
    // Invariant: what the old session acked after the takeover is not written. The new one has acked nothing yet, so the
    // stored position is still the one it opened with, read through the old session's gateway (its last writes behind it).
    const stored = await c0.readers.getPosition({ log, readerId: "r" });
    assert.equal(stored.epoch, opened.epoch, "the stored position is the takeover's, not the fenced session's");
    assert.equal(dlsnKey(stored.floor), dlsnKey(opened.resumeAfter), "the fenced session's acks after the takeover moved the stored position");
    // The new session reads past the last record the old one got, so any record they share shows.
    const lastOfFirst = Math.max(...firstGot.map((g) => numberOf(g.record)));
    const secondGot: WireRecord[] = [];
    await second.until(
      (frame) => {
        if (frame.$case === "records" && frame.value.records.length > 0) {
          secondGot.push(...frame.value.records);
          second.ackUpTo(frame.value.records.at(-1)!.dlsn!);
        }
        return secondGot.length > 0 && numberOf(secondGot.at(-1)!) >= lastOfFirst ? true : undefined;
      },
      () => `the new session to pass record ${lastOfFirst} (at ${secondGot.length > 0 ? numberOf(secondGot.at(-1)!) : "none"})`,
      20_000,
    );

    // Invariant: the old session is ended ABORTED (fenced), not left delivering beside the new one.
    const error = firstEnd!.error as { code?: Status } | undefined;
    assert.equal(error?.code, Status.ABORTED, `the fenced session ended with ${String(firstEnd!.error)}`);
    // What reached the old session after the new one's Opened: what was on its way, and what its acks made room for until
    // its gateway heard of the takeover. None of its acks of them counted (above), so the new session delivers them again.
    const afterTakeover = new Set(firstGot.filter((g) => g.at > openedAt).map((g) => numberOf(g.record)));
    const both = secondGot.map(numberOf).filter((n) => afterTakeover.has(n));
    // The takeover resumes from what the old session made durable, not from the start.
    assert.ok(opened.resumeAfter !== undefined && numberOf(secondGot[0]!) > 0, "the takeover resumed from the stored position");
    t.diagnostic(
      `takeover across gateways: Opened after ${(openedAt - t0).toFixed(0)} ms; the old session ended ${(firstEnd!.at - openedAt).toFixed(0)} ms after it (${afterTakeover.size} records reached it in between, ${both.length} of them delivered again by the new one); the new one resumed at record ${numberOf(secondGot[0]!)}`,
    );
    second.cancel();
  } finally {
    c0.close();
    c1.close();
  }
});

// A gateway's fenced session leaves its final state waiting for the next position write; a session opened on that gateway
// at once must take its epoch from the store (the other gateway's newer session), not from that state.
test("one reader moved back and forth between two gateways: each session opens with a higher epoch, delivers, and fences the one before (ABORTED)", {
  timeout: 60_000,
}, async () => {
  const clients = [connect(dc.gateways[0]!.address), connect(dc.gateways[1]!.address)] as const;
  const log = "ping-pong";
  const MOVES = 8;
  try {
    await appendNumbered(clients[0], log, 2_000, { from: 0 });
    let previous: { session: TestSession; epoch: bigint } | undefined;
    const open = async (i: number): ReturnType<typeof TestSession.open> => {
      // UNAVAILABLE says "retry", and a client does: on a loaded machine the open's position write can lose its CAS to the
      // other gateway's writes more often than the position store tries (seen once in ~20 runs at load 16).
      for (let attempt = 1; ; attempt++) {
        try {
          return await TestSession.open(clients[i % 2]!, {
            log,
            readerId: "r",
            flow: { maxOutstandingRecords: 100, maxBatchRecords: 50 },
            takeover: Takeover.TAKEOVER_FENCE,
          });
        } catch (error) {
          if (attempt >= 3 || (error as { code?: Status }).code !== Status.UNAVAILABLE) throw error;
        }
      }
    };
    for (let i = 0; i <= MOVES; i++) {
      const { session, opened } = await open(i);
      // Invariant: epochs strictly increase across the reader's sessions, whichever gateway opened them.
      if (previous) assert.ok(opened.epoch > previous.epoch, `move ${i}: epoch ${opened.epoch} after ${previous.epoch}`);
      const [first] = await session.records(1);
      session.ackUpTo(first!.dlsn!);
      if (previous) {
        // Invariant: the session it took over ends ABORTED (fenced), on the other gateway.
        const { code } = await previous.session.failed();
        assert.equal(code, Status.ABORTED, `move ${i}: the fenced session ended with ${Status[code]}`);
      }
      previous = { session, epoch: opened.epoch };
    }
    previous?.session.cancel();
  } finally {
    for (const c of clients) c.close();
  }
});

// The appender resends what was in flight through gateway 1: an append gateway 0 wrote before the kill (its commit point
// passed, or its entries published without it) must be stored once (3490a82: no commit publishes after an unfinished append's entries).
test("kill -9 of the gateway a client uses: it reconnects to the other gateway, its reader resumes within the crash bound, its appender loses nothing", {
  timeout: 120_000,
}, async (t) => {
  const [g0, g1] = dc.gateways as [(typeof dc.gateways)[0], (typeof dc.gateways)[0]];
  const log = "gateway-kill";
  const RECORDS = 10_000;
  const admin = connect(g1.address);
  // Both gateways in one channel: gRPC's pick_first uses the first address and moves on when it fails.
  const client = createDlogClient({ address: `ipv4:${g0.address},${g1.address}` });
  try {
    await appendNumbered(admin, log, RECORDS, { from: 0 });
    const reader = client.reader({ log, readerId: "r", reconnect: { initialDelayMs: 20, maxDelayMs: 500, maxElapsedMs: 30_000 } });
    const indexOf = new Map<string, number>();
    let durableIndex = -1;
    let yieldedIndex = -1;
    let lastDurable: DLSN | undefined;
    reader.on("status", (status) => {
      if (status.durableFloor === undefined) return;
      lastDurable = status.durableFloor;
      durableIndex = indexOf.get(status.durableFloor.toString()) ?? durableIndex;
    });
    let reconnected = false;
    reader.on("opened", () => {
      if (killedAt !== undefined) reconnected = true;
    });

    let killedAt: number | undefined;
    let atKill = { durableIndex: -1, yieldedIndex: -1 };
    let firstAfter: number | undefined;
    let resumedMs: number | undefined;
    let repeated = 0;
    const seen = new Uint8Array(RECORDS);
    let distinct = 0;
    // Appends go on meanwhile, through the same client: their stream breaks with the gateway too.
    const probe = startAppendProbe(client, log, { prefix: "after" });
    for await (const record of reader) {
      const i = Number(record.text());
      if (!Number.isInteger(i)) {
        record.ack(); // the probe's own records ("after-N"), after the numbered ones
        continue;
      }
      indexOf.set(record.dlsn.toString(), i);
      if (killedAt !== undefined && reconnected) {
        if (firstAfter === undefined) {
          firstAfter = i;
          resumedMs = performance.now() - killedAt;
        }
        if (i <= atKill.yieldedIndex) {
          repeated++;
          assert.ok(record.redelivered, `record ${i} came again after the reconnect but is not flagged redelivered`);
        }
      }
      if (seen[i] === 0) distinct++;
      seen[i] = 1;
      yieldedIndex = Math.max(yieldedIndex, i);
      record.ack();
      if (distinct === 3_000 && killedAt === undefined) {
        assert.ok(lastDurable !== undefined, "no durable position reported before the kill");
        assert.ok(probe.answered() > 0, "the appender was answered through gateway 0");
        atKill = { durableIndex, yieldedIndex };
        killedAt = performance.now();
        await g0.kill9();
      }
      if (distinct === RECORDS) break;
      if (distinct % 50 === 0) await sleep(1); // a consumer that does some work: the kill lands mid-stream
    }
    await reader.close();

    // Invariant: nothing lost, and what came again lies within the crash bound of the moment of the kill.
    assert.equal(distinct, RECORDS, "every record delivered at least once");
    const bound = atKill.yieldedIndex - atKill.durableIndex;
    assert.ok(firstAfter !== undefined && firstAfter > atKill.durableIndex, `resumed at ${firstAfter}, before the durable position ${atKill.durableIndex}`);
    assert.ok(firstAfter <= atKill.yieldedIndex + 1, `gap: resumed at ${firstAfter} after ${atKill.yieldedIndex}`);
    assert.ok(repeated <= bound, `${repeated} records repeated after the gateway kill; bound ${bound}`);

    // The appender went on through gateway 1: every answered append is in the log once.
    await until(() => probe.outageAfter(killedAt!).outageMs !== undefined, "an append issued after the kill to be answered", 30_000);
    const outage = probe.outageAfter(killedAt!).outageMs!;
    const appends = await probe.stop();
    const answered = appends.filter((a) => a.answeredAt !== undefined);
    const stored = new Map<string, number>();
    for await (const record of client.read(log, { from: "earliest" })) {
      if (record.text().startsWith("after-")) stored.set(record.text(), (stored.get(record.text()) ?? 0) + 1);
    }
    assert.deepEqual(
      answered.filter((a) => stored.get(a.payload) !== 1).map((a) => `${a.payload}×${stored.get(a.payload) ?? 0}`),
      [],
      "answered appends not stored exactly once",
    );
    t.diagnostic(
      `gateway kill -9: reader resumed ${resumedMs?.toFixed(0)} ms after it at record ${firstAfter} (durable ${atKill.durableIndex}, handed out ${atKill.yieldedIndex}); repeated ${repeated}/${bound}; appends resumed after ${outage.toFixed(0)} ms, ${answered.length} answered`,
    );
  } finally {
    client.close();
    admin.close();
  }
});
