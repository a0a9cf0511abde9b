import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Status } from "nice-grpc";
import { Boundary, type DLSN as WireDLSN, type Record as WireRecord } from "../../src/gen/dlog/v1/common.js";
import { type DeepPartial, type Open, ResumePolicy, ResumeSource } from "../../src/gen/dlog/v1/reader.js";
import { type Clients, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { fixtureForFile } from "../helpers/fixture.js";
import { TestSession, appendNumbered, compareDlsn, dlsnKey, numberOf } from "../helpers/session.js";

const SERVER_TEST = { timeout: 30_000 };

/** Reads until records 1..count arrived (flow limits the session to exactly `count` outstanding). */
async function readFirst(session: TestSession, count: number): Promise<WireRecord[]> {
  const records = await session.records(count);
  assert.deepEqual(
    records.map(numberOf),
    Array.from({ length: count }, (_, i) => i + 1),
    `the first ${count} records, in order`,
  );
  return records;
}

/** Waits for proof that the server applied acks up to `dlsn`: the next records (room freed) or a Status past it. */
async function ackApplied(session: TestSession, dlsn: WireDLSN): Promise<void> {
  await session.until(
    (frame) => (frame.$case === "records" || (frame.$case === "status" && dlsnKey(frame.value.ackedFloor) === dlsnKey(dlsn)) ? true : undefined),
    `the ack up to ${dlsnKey(dlsn)} to be applied`,
  );
}

/**
 * Reads the rest of the log in a new session and checks it is exactly `from`..`to`, each once:
 * records the earlier session was sent (up to Opened.delivered_high, at least `deliveredBefore`)
 * come with attempt 2, the rest with attempt 1.
 */
async function assertResumesAt(clients: Clients, log: string, readerId: string, from: number, to: number, deliveredBefore = from - 1): Promise<void> {
  const { session, opened } = await TestSession.open(clients, { log, readerId });
  assert.equal(opened.source, ResumeSource.RESUME_SOURCE_STORED);
  const records = await session.records(to - from + 1);
  assert.equal(numberOf(records[0]!), from, `the first record after reconnecting is #${from}`);
  assert.deepEqual(
    records.map(numberOf),
    Array.from({ length: to - from + 1 }, (_, i) => from + i),
    "every later record once, in order: no duplicates",
  );
  assert.ok(opened.deliveredHigh, "Opened says what the earlier session was sent");
  const high = records.findIndex((r) => compareDlsn(r.dlsn!, opened.deliveredHigh!) > 0);
  const sentBefore = high < 0 ? records : records.slice(0, high);
  assert.ok(
    from + sentBefore.length - 1 >= deliveredBefore,
    `delivered_high ${dlsnKey(opened.deliveredHigh)} covers the #${deliveredBefore} the earlier session got`,
  );
  assert.deepEqual(sentBefore.filter((r) => r.attempt !== 2).map(numberOf), [], "records sent to the earlier session come with attempt 2");
  assert.deepEqual(
    records
      .slice(sentBefore.length)
      .filter((r) => r.attempt !== 1)
      .map(numberOf),
    [],
    "first deliveries have attempt 1",
  );
  session.ackUpTo(records.at(-1)!.dlsn!);
  session.drain();
  await session.drained();
}

describe("resume after a disconnect", () => {
  const fixture = fixtureForFile({ metrics: true });

  test("read 300 of 1000, ack, drain: the next session starts at #301", SERVER_TEST, async () => {
    const { clients } = fixture;
    await appendNumbered(clients, "drain-300", 1000);
    const { session } = await TestSession.open(clients, { log: "drain-300", readerId: "r", flow: { maxOutstandingRecords: 300 } });
    const first = await readFirst(session, 300);
    session.ackUpTo(first.at(-1)!.dlsn!);
    session.drain();
    const drained = await session.drained();
    assert.equal(dlsnKey(drained.durableFloor), dlsnKey(first.at(-1)!.dlsn));
    await assertResumesAt(clients, "drain-300", "r", 301, 1000);
  });

  for (const pauseMs of [0, 30]) {
    test(`read 300 of 1000, ack, cancel the call: a session opened ${pauseMs} ms later starts at #301`, SERVER_TEST, async () => {
      const { clients } = fixture;
      const log = `cancel-300-${pauseMs}`;
      await appendNumbered(clients, log, 1000);
      const { session } = await TestSession.open(clients, { log, readerId: "r", flow: { maxOutstandingRecords: 300 } });
      const first = await readFirst(session, 300);
      session.ackUpTo(first.at(-1)!.dlsn!);
      await ackApplied(session, first.at(-1)!.dlsn!);
      // Reconnect well inside the flush interval: the ended session's acks must not be lost or stale.
      session.cancel();
      await sleep(pauseMs);
      await assertResumesAt(clients, log, "r", 301, 1000);
    });
  }

  test("cancel with #700 unacked: the next session sends #700 with attempt 2, newer records with 1; delivered_high says #700", SERVER_TEST, async () => {
    const { clients } = fixture;
    const log = "cancel-700";
    const dlsns = await appendNumbered(clients, log, 700);
    const { session } = await TestSession.open(clients, { log, readerId: "r", flow: { maxOutstandingRecords: 700 } });
    const first = await readFirst(session, 700);
    session.ack(first.slice(0, 699).map((r) => r.dlsn!));
    await session.status((s) => s.acksDurable === 1n, "the ack of #1..#699 to be durable");
    session.cancel();

    const info = await clients.readers.getPosition({ log, readerId: "r" });
    assert.equal(dlsnKey(info.floor), dlsnKey(dlsns[698]));
    assert.equal(dlsnKey(info.deliveredHigh), dlsnKey(dlsns[699]), "GetPosition: #700 was delivered");
    const next = await TestSession.open(clients, { log, readerId: "r" });
    assert.equal(dlsnKey(next.opened.deliveredHigh), dlsnKey(dlsns[699]), "Opened: #700 was delivered");
    const [again] = await next.session.records(1);
    assert.deepEqual([numberOf(again!), again!.attempt], [700, 2], "#700 may have been processed: attempt 2");
    await appendNumbered(clients, log, 2, { from: 701 });
    assert.deepEqual(
      (await next.session.records(2)).map((r) => [numberOf(r), r.attempt]),
      [
        [701, 1],
        [702, 1],
      ],
    );
    next.session.cancel();
  });

  test("a half-close ends the session like a drain, with the acks it sent", SERVER_TEST, async () => {
    const { clients } = fixture;
    await appendNumbered(clients, "half-close", 100);
    const { session } = await TestSession.open(clients, { log: "half-close", readerId: "r", flow: { maxOutstandingRecords: 40 } });
    const first = await readFirst(session, 40);
    session.ack(first.map((r) => r.dlsn!));
    session.halfClose();
    const drained = await session.drained();
    assert.equal(dlsnKey(drained.durableFloor), dlsnKey(first.at(-1)!.dlsn));
    await assertResumesAt(clients, "half-close", "r", 41, 100);
  });

  test("drain answers the durable position, and a new session starts right after it with no takeover", SERVER_TEST, async () => {
    const { clients } = fixture;
    await appendNumbered(clients, "drain", 100);
    const fencedBefore = (await fixture.metrics()).get("dlog_sessions_fenced_total");
    const { session, opened } = await TestSession.open(clients, { log: "drain", readerId: "r", flow: { maxOutstandingRecords: 50 } });
    const first = await readFirst(session, 50);
    session.ack(first.map((r) => r.dlsn!).reverse()); // individual acks, out of order
    session.drain();
    const drained = await session.drained();
    const fifty = dlsnKey(first.at(-1)!.dlsn);
    assert.equal(dlsnKey(drained.durableFloor), fifty, "Drained carries the floor of the acked records");
    assert.equal(drained.durableHoles, 0n);
    assert.equal(dlsnKey((await clients.readers.getPosition({ log: "drain", readerId: "r" })).floor), fifty, "and it is on disk");

    const started = Date.now();
    const next = await TestSession.open(clients, { log: "drain", readerId: "r", flow: { maxOutstandingRecords: 50 } });
    const openMs = Date.now() - started;
    assert.equal(dlsnKey(next.opened.resumeAfter), fifty);
    assert.ok(next.opened.epoch > opened.epoch, "a new session has a newer epoch");
    assert.equal(numberOf((await next.session.records(1))[0]!), 51);
    assert.ok(openMs < 1_000, `the new session opened in ${openMs} ms`);
    assert.equal((await fixture.metrics()).get("dlog_sessions_fenced_total"), fencedBefore, "nothing was fenced");
    next.session.drain();
    await next.session.drained();
  });
});

test("read 300 of 1000, ack, graceful restart (SIGTERM): resumes at #301 with zero duplicates", SERVER_TEST, async (t) => {
  const dir = tempDir("dlog-sessions-restart-");
  let server = await startDlogd({ process: true, dataDir: dir.path });
  let clients = connect(server.address);
  // A test that times out must not leave its server (and so this file's process) running.
  const onAbort = (): void => void server.kill9();
  t.signal.addEventListener("abort", onAbort, { once: true });
  try {
    await appendNumbered(clients, "restart", 1000);
    const { session } = await TestSession.open(clients, { log: "restart", readerId: "r", flow: { maxOutstandingRecords: 300 } });
    const first = await readFirst(session, 300);
    session.ackUpTo(first.at(-1)!.dlsn!);
    await ackApplied(session, first.at(-1)!.dlsn!);
    assert.equal(await server.stop("SIGTERM"), 0, "dlogd exits 0 on SIGTERM");
    const ended = await session.failed();
    assert.equal(Status[ended.code], "UNAVAILABLE");
    assert.match(ended.details, /shutting down.*reconnect/);
    clients.close();

    server = await startDlogd({ process: true, dataDir: dir.path });
    clients = connect(server.address);
    const position = await clients.readers.getPosition({ log: "restart", readerId: "r" });
    assert.equal(dlsnKey(position.floor), dlsnKey(first.at(-1)!.dlsn), "the acked floor survived the restart");
    await assertResumesAt(clients, "restart", "r", 301, 1000);
  } finally {
    t.signal.removeEventListener("abort", onAbort);
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});

describe("start and resume policies", () => {
  const fixture = fixtureForFile();
  let dlsns: WireDLSN[];
  const LOG = "policies";
  const txidOf = (n: number): bigint => 1000n + 10n * BigInt(n);
  before(async () => {
    dlsns = await appendNumbered(fixture.clients, LOG, 20, { txid: txidOf });
  });

  /** Opens, returns the Opened frame and the number of the first record, then drains without acking. */
  async function firstOf(open: DeepPartial<Open>): Promise<{ source: ResumeSource; resumeAfter: string; first: number }> {
    const { session, opened } = await TestSession.open(fixture.clients, { log: LOG, ...open });
    const [record] = await session.records(1);
    session.drain();
    await session.drained();
    return { source: opened.source, resumeAfter: dlsnKey(opened.resumeAfter), first: numberOf(record!) };
  }

  /** Gives `readerId` a stored position: records 1..n acked. */
  async function storeAt(readerId: string, n: number): Promise<void> {
    const { session } = await TestSession.open(fixture.clients, { log: LOG, readerId, flow: { maxOutstandingRecords: n } });
    const records = await session.records(n);
    session.ackUpTo(records[n - 1]!.dlsn!);
    session.drain();
    assert.equal(dlsnKey((await session.drained()).durableFloor), dlsnKey(dlsns[n - 1]));
  }

  test("a new reader starts at EARLIEST by default (source FALLBACK)", SERVER_TEST, async () => {
    const result = await firstOf({ readerId: "default" });
    assert.equal(result.source, ResumeSource.RESUME_SOURCE_FALLBACK);
    assert.equal(result.first, 1);
  });

  test("fallback DLSN starts at that record (inclusive)", SERVER_TEST, async () => {
    const result = await firstOf({ readerId: "fb-dlsn", fallback: { at: { $case: "dlsn", value: dlsns[4]! } } });
    assert.equal(result.source, ResumeSource.RESUME_SOURCE_FALLBACK);
    assert.equal(result.first, 5);
  });

  test("fallback txid starts at the first record with txid >= it", SERVER_TEST, async () => {
    const result = await firstOf({ readerId: "fb-txid", fallback: { at: { $case: "txid", value: txidOf(7) + 5n } } });
    assert.equal(result.source, ResumeSource.RESUME_SOURCE_FALLBACK);
    assert.equal(result.first, 8);
  });

  test("fallback LATEST starts after the head: only records appended later arrive", SERVER_TEST, async () => {
    const { clients } = fixture;
    const tail = await appendNumbered(clients, "policies-latest", 5);
    const { session, opened } = await TestSession.open(clients, {
      log: "policies-latest",
      readerId: "fb-latest",
      fallback: { at: { $case: "boundary", value: Boundary.BOUNDARY_LATEST } },
    });
    assert.equal(opened.source, ResumeSource.RESUME_SOURCE_FALLBACK);
    assert.equal(dlsnKey(opened.resumeAfter), dlsnKey(tail[4]), "resumes after the head");
    assert.equal(dlsnKey(opened.logHead), dlsnKey(tail[4]));
    await appendNumbered(clients, "policies-latest", 1, { from: 6 });
    assert.deepEqual((await session.records(1)).map(numberOf), [6]);
    session.drain();
    await session.drained();
  });

  test("a stored position wins over the fallback (source STORED)", SERVER_TEST, async () => {
    await storeAt("stored", 8);
    const result = await firstOf({ readerId: "stored", fallback: { at: { $case: "boundary", value: Boundary.BOUNDARY_LATEST } } });
    assert.equal(result.source, ResumeSource.RESUME_SOURCE_STORED);
    assert.equal(result.resumeAfter, dlsnKey(dlsns[7]));
    assert.equal(result.first, 9);
  });

  test("an override re-positions the reader durably (source OVERRIDE)", SERVER_TEST, async () => {
    await storeAt("override", 8);
    const earliest = await firstOf({ readerId: "override", override: { at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } } });
    assert.equal(earliest.source, ResumeSource.RESUME_SOURCE_OVERRIDE);
    assert.equal(earliest.first, 1);
    const txid = await firstOf({ readerId: "override", override: { at: { $case: "txid", value: txidOf(15) } } });
    assert.equal(txid.source, ResumeSource.RESUME_SOURCE_OVERRIDE);
    assert.equal(txid.first, 15);
    // The override was made durable: without one, the reader resumes there.
    const after = await firstOf({ readerId: "override" });
    assert.equal(after.source, ResumeSource.RESUME_SOURCE_STORED);
    assert.equal(after.first, 15);
  });

  test("resume policy CLIENT starts after the client checkpoint, even behind the stored position", SERVER_TEST, async () => {
    await storeAt("client", 8);
    const result = await firstOf({ readerId: "client", clientCheckpoint: dlsns[2]!, resumePolicy: ResumePolicy.RESUME_POLICY_CLIENT });
    assert.equal(result.source, ResumeSource.RESUME_SOURCE_CLIENT);
    assert.equal(result.resumeAfter, dlsnKey(dlsns[2]));
    assert.equal(result.first, 4);
  });

  test("resume policy MAX takes whichever of stored and client checkpoint is further", SERVER_TEST, async () => {
    await storeAt("max", 8);
    const behind = await firstOf({ readerId: "max", clientCheckpoint: dlsns[2]!, resumePolicy: ResumePolicy.RESUME_POLICY_MAX });
    assert.equal(behind.source, ResumeSource.RESUME_SOURCE_STORED);
    assert.equal(behind.first, 9);
    const ahead = await firstOf({ readerId: "max", clientCheckpoint: dlsns[11]!, resumePolicy: ResumePolicy.RESUME_POLICY_MAX });
    assert.equal(ahead.source, ResumeSource.RESUME_SOURCE_CLIENT);
    assert.equal(ahead.first, 13);
  });

  test("resume policy STORED ignores the client checkpoint", SERVER_TEST, async () => {
    await storeAt("stored-policy", 8);
    const result = await firstOf({ readerId: "stored-policy", clientCheckpoint: dlsns[15]!, resumePolicy: ResumePolicy.RESUME_POLICY_STORED });
    assert.equal(result.source, ResumeSource.RESUME_SOURCE_STORED);
    assert.equal(result.first, 9);
  });

  test("resume policy CLIENT without a checkpoint is INVALID_ARGUMENT", SERVER_TEST, async () => {
    const session = new TestSession(fixture.clients, {
      kind: { $case: "open", value: { log: LOG, readerId: "client-none", resumePolicy: ResumePolicy.RESUME_POLICY_CLIENT } },
    });
    const failure = await session.failed();
    assert.equal(Status[failure.code], "INVALID_ARGUMENT");
    assert.match(failure.details, /CLIENT needs a client_checkpoint/);
  });
});
