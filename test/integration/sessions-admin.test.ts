import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { ClientError, Status } from "nice-grpc";
import { Boundary, type Position, type DLSN as WireDLSN } from "../../src/gen/dlog/v1/common.js";
import type { DeepPartial, SessionRequest } from "../../src/gen/dlog/v1/reader.js";
import type { Clients } from "../helpers/dlogd.js";
import { fixtureForFile } from "../helpers/fixture.js";
import { TestSession, appendNumbered, dlsnKey, numberOf } from "../helpers/session.js";

const SERVER_TEST = { timeout: 30_000 };

async function statusOf(call: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof ClientError, `expected a gRPC error, got ${String(error)}`);
    return { code: Status[error.code], details: error.details };
  }
  return assert.fail("expected the call to fail");
}

/** The durable floor of a reader, or "none". */
async function floorOf(clients: Clients, log: string, readerId: string): Promise<string> {
  try {
    return dlsnKey((await clients.readers.getPosition({ log, readerId })).floor);
  } catch (error) {
    if (error instanceof ClientError && error.code === Status.NOT_FOUND) return "none";
    throw error;
  }
}

/** Opens a session, takes records 1..n, acks them and drains: the reader's floor is record n. */
async function ackFirst(clients: Clients, log: string, readerId: string, n: number): Promise<WireDLSN> {
  const { session } = await TestSession.open(clients, { log, readerId, flow: { maxOutstandingRecords: n } });
  const records = await session.records(n);
  session.ackUpTo(records[n - 1]!.dlsn!);
  session.drain();
  return (await session.drained()).durableFloor!;
}

// Small segments, so a log of a few hundred records spans several of them.
const fixture = fixtureForFile({ args: ["--segment-max-bytes", "1KiB"] });

describe("reader admin", () => {
  const LOG = "admin";
  let dlsns: WireDLSN[];
  before(async () => {
    dlsns = await appendNumbered(fixture.clients, LOG, 100);
  });

  test("GetPosition returns the durable floor; NOT_FOUND for a reader that has none", SERVER_TEST, async () => {
    const { clients } = fixture;
    await ackFirst(clients, LOG, "get", 30);
    const info = await clients.readers.getPosition({ log: LOG, readerId: "get" });
    assert.equal(dlsnKey(info.floor), dlsnKey(dlsns[29]));
    assert.equal(info.lag, 70n);
    assert.equal(info.live, false);
    assert.deepEqual(info.holes, []);
    const missing = await statusOf(clients.readers.getPosition({ log: LOG, readerId: "nobody" }));
    assert.equal(missing.code, "NOT_FOUND");
    assert.match(missing.details, /reader "nobody" of log "admin" has no position/);
  });

  test("GetPosition shows acked holes above the floor", SERVER_TEST, async () => {
    const { clients } = fixture;
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "holes", flow: { maxOutstandingRecords: 10 } });
    const records = await session.records(10);
    session.ack([records[0]!.dlsn!, records[1]!.dlsn!, records[5]!.dlsn!, records[7]!.dlsn!]);
    session.drain();
    const drained = await session.drained();
    assert.equal(dlsnKey(drained.durableFloor), dlsnKey(dlsns[1]));
    assert.equal(drained.durableHoles, 2n);
    const info = await clients.readers.getPosition({ log: LOG, readerId: "holes" });
    assert.deepEqual(info.holes.map(dlsnKey), [dlsnKey(dlsns[5]), dlsnKey(dlsns[7])]);
    // The next session skips the acked holes.
    const next = await TestSession.open(clients, { log: LOG, readerId: "holes", flow: { maxOutstandingRecords: 8 } });
    assert.equal(next.opened.durableHoles, 2n);
    const again = await next.session.records(8);
    assert.deepEqual(again.map(numberOf), [3, 4, 5, 7, 9, 10, 11, 12]);
    next.session.cancel();
  });

  test("SetPosition is FAILED_PRECONDITION while a session is live; with force it fences the session and re-positions", SERVER_TEST, async () => {
    const { clients } = fixture;
    await ackFirst(clients, LOG, "set", 10);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "set", flow: { maxOutstandingRecords: 5 } });
    await session.records(5);
    const refused = await statusOf(clients.readers.setPosition({ log: LOG, readerId: "set", position: { at: { $case: "dlsn", value: dlsns[39]! } } }));
    assert.equal(refused.code, "FAILED_PRECONDITION");
    assert.match(refused.details, /has a live session .*pass force/);
    assert.equal(await floorOf(clients, LOG, "set"), dlsnKey(dlsns[9]), "the position did not move");

    const info = await clients.readers.setPosition({
      log: LOG,
      readerId: "set",
      position: { at: { $case: "dlsn", value: dlsns[39]! } },
      force: true,
    });
    assert.equal(info.live, false);
    const fenced = await session.failed();
    assert.equal(fenced.code, Status.ABORTED);
    assert.match(fenced.details, /reader "set" of log "admin" was re-positioned by an admin call \(SetPosition with force\)/);
    assert.doesNotMatch(fenced.details, /newer session/);
    const next = await TestSession.open(clients, { log: LOG, readerId: "set" });
    assert.equal(numberOf((await next.session.records(1))[0]!), 40, "the position is inclusive: delivery starts at record 40");
    next.session.cancel();
  });

  test("SetPosition accepts EARLIEST, LATEST, a txid and a time; the position is required", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG_TXID = "set-forms";
    const txids = await appendNumbered(clients, LOG_TXID, 20, { txid: (n) => 100n * BigInt(n) });
    await ackFirst(clients, LOG_TXID, "r", 5);
    const set = (position: DeepPartial<Position>) => clients.readers.setPosition({ log: LOG_TXID, readerId: "r", position });
    const latest = await set({ at: { $case: "boundary", value: Boundary.BOUNDARY_LATEST } });
    assert.equal(dlsnKey(latest.floor), dlsnKey(txids[19]));
    assert.equal(latest.lag, 0n);
    assert.equal((await set({ at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } })).lag, 20n);
    assert.equal((await set({ at: { $case: "txid", value: 1250n } })).lag, 8n, "the first record with txid >= 1250 is #13");
    assert.equal((await set({ at: { $case: "timeMs", value: BigInt(Date.now() + 3_600_000) } })).lag, 0n, "a time after every record: the end");
    const { session } = await TestSession.open(clients, { log: LOG_TXID, readerId: "r" });
    const afterEnd = await session.records(1, 300).catch((error: Error) => {
      if (/timed out|no session frame/.test(error.message)) return []; // nothing came: what is expected
      throw error;
    });
    assert.equal(afterEnd.length, 0, "nothing after the end");
    session.drain();
    await session.drained();
    assert.equal((await set({ at: { $case: "txid", value: 1250n } })).live, false);
    const next = await TestSession.open(clients, { log: LOG_TXID, readerId: "r" });
    assert.equal(numberOf((await next.session.records(1))[0]!), 13);
    next.session.cancel();
    const missing = await statusOf(clients.readers.setPosition({ log: LOG_TXID, readerId: "r" }));
    assert.equal(missing.code, "INVALID_ARGUMENT");
    assert.match(missing.details, /position is required/);
  });

  test("ListReaders shows each reader's position, lag and whether a session is live", SERVER_TEST, async () => {
    const { clients } = fixture;
    const other = await appendNumbered(clients, "list", 50);
    await ackFirst(clients, "list", "idle", 20);
    const { session } = await TestSession.open(clients, { log: "list", readerId: "busy", flow: { maxOutstandingRecords: 5 } });
    const five = await session.records(5);
    session.ackUpTo(five[4]!.dlsn!);
    await session.status((s) => dlsnKey(s.durableFloor) === dlsnKey(five[4]!.dlsn), "the ack to be durable");
    const { readers } = await clients.readers.listReaders({ log: "list" });
    const byId = new Map(readers.map((r) => [r.readerId, r]));
    assert.deepEqual([...byId.keys()].sort(), ["busy", "idle"]);
    assert.equal(byId.get("idle")!.live, false);
    assert.equal(byId.get("idle")!.lag, 30n);
    assert.equal(dlsnKey(byId.get("idle")!.floor), dlsnKey(other[19]));
    assert.equal(byId.get("busy")!.live, true);
    assert.equal(byId.get("busy")!.lag, 45n);
    session.cancel();
  });

  test("DeleteReader removes the position (FAILED_PRECONDITION while live, NOT_FOUND when absent)", SERVER_TEST, async () => {
    const { clients } = fixture;
    await ackFirst(clients, LOG, "delete", 10);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "delete" });
    await session.records(1);
    const refused = await statusOf(clients.readers.deleteReader({ log: LOG, readerId: "delete" }));
    assert.equal(refused.code, "FAILED_PRECONDITION");
    assert.match(refused.details, /has a live session .*pass force to end it and delete it/);
    session.drain();
    await session.drained();
    await clients.readers.deleteReader({ log: LOG, readerId: "delete" });
    assert.equal(await floorOf(clients, LOG, "delete"), "none");
    assert.ok(!(await clients.readers.listReaders({ log: LOG })).readers.some((r) => r.readerId === "delete"));
    const again = await statusOf(clients.readers.deleteReader({ log: LOG, readerId: "delete" }));
    assert.equal(again.code, "NOT_FOUND");
    assert.match(again.details, /reader "delete" of log "admin" does not exist/);
    const fresh = await TestSession.open(clients, { log: LOG, readerId: "delete" });
    assert.equal(numberOf((await fresh.session.records(1))[0]!), 1, "a deleted reader starts over from its fallback");
    await clients.readers.deleteReader({ log: LOG, readerId: "delete", force: true });
    const gone = await fresh.session.failed();
    assert.equal(gone.code, Status.ABORTED, `force fences the live session: ${gone.details} ${fixture.server.output()}`);
    assert.match(gone.details, /reader "delete" of log "admin" was deleted by an admin call \(DeleteReader with force\)/);
  });
});

describe("bad input: a clear status, and the position unchanged", () => {
  const LOG = "bad";
  let dlsns: WireDLSN[];
  before(async () => {
    dlsns = await appendNumbered(fixture.clients, LOG, 100);
  });

  /** Sends `messages` on a new session (the first is usually open) and returns how the call failed. */
  async function failureOf(messages: Array<DeepPartial<SessionRequest>>): Promise<{ code: string; details: string }> {
    const session = new TestSession(fixture.clients);
    for (const message of messages) session.send(message);
    const failure = await session.failed();
    return { code: Status[failure.code], details: failure.details };
  }
  const open = (readerId: string, extra: object = {}): DeepPartial<SessionRequest> => ({
    kind: { $case: "open", value: { log: LOG, readerId, ...extra } },
  });

  test("an ack before open is INVALID_ARGUMENT", SERVER_TEST, async () => {
    const failure = await failureOf([{ kind: { $case: "ack", value: { upTo: dlsns[0]! } } }]);
    assert.equal(failure.code, "INVALID_ARGUMENT");
    assert.match(failure.details, /first message of a session must be open, got ack/);
  });

  test("a stream that ends before open, or an empty message, is INVALID_ARGUMENT", SERVER_TEST, async () => {
    const ended = new TestSession(fixture.clients);
    ended.halfClose();
    const failure = await ended.failed();
    assert.equal(Status[failure.code], "INVALID_ARGUMENT");
    assert.match(failure.details, /ended before its first message; send open first/);
    await ackFirst(fixture.clients, LOG, "empty", 5);
    const empty = await failureOf([open("empty"), {}]);
    assert.equal(empty.code, "INVALID_ARGUMENT");
    assert.match(empty.details, /empty session message: set one of ack, nack, flow, drain/);
    assert.equal(await floorOf(fixture.clients, LOG, "empty"), dlsnKey(dlsns[4]));
  });

  test("a second open on the same stream is INVALID_ARGUMENT, position unchanged", SERVER_TEST, async () => {
    await ackFirst(fixture.clients, LOG, "twice", 10);
    const failure = await failureOf([open("twice"), open("twice")]);
    assert.equal(failure.code, "INVALID_ARGUMENT");
    assert.match(failure.details, /already open; open is only valid as the first message/);
    assert.equal(await floorOf(fixture.clients, LOG, "twice"), dlsnKey(dlsns[9]));
  });

  test("an unknown log is NOT_FOUND", SERVER_TEST, async () => {
    const failure = await failureOf([{ kind: { $case: "open", value: { log: "no-such-log", readerId: "r" } } }]);
    assert.equal(failure.code, "NOT_FOUND");
    assert.match(failure.details, /no-such-log/);
  });

  test("a bad reader id is INVALID_ARGUMENT naming the rule", SERVER_TEST, async () => {
    for (const readerId of ["", "a/b", "x".repeat(201), "spaces are bad"]) {
      const failure = await failureOf([open(readerId)]);
      assert.equal(failure.code, "INVALID_ARGUMENT", readerId);
      assert.match(failure.details, /reader_id.*A-Z a-z 0-9 \. _ -/, readerId);
    }
    const admin = await statusOf(fixture.clients.readers.getPosition({ log: LOG, readerId: "a/b" }));
    assert.equal(admin.code, "INVALID_ARGUMENT");
  });

  test("an ack of an undelivered DLSN is INVALID_ARGUMENT naming it; none of that message's acks apply", SERVER_TEST, async () => {
    const { clients } = fixture;
    await ackFirst(clients, LOG, "undelivered", 10);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "undelivered", flow: { maxOutstandingRecords: 10 } });
    const records = await session.records(10); // 11..20
    session.ack([records[0]!.dlsn!, records[1]!.dlsn!, dlsns[50]!]);
    const failure = await session.failed();
    assert.equal(Status[failure.code], "INVALID_ARGUMENT");
    assert.match(failure.details, new RegExp(`DLSN ${dlsnKey(dlsns[50])} has not been delivered yet`));
    assert.equal(await floorOf(clients, LOG, "undelivered"), dlsnKey(dlsns[9]), "the valid acks beside it did not apply either");

    // A DLSN below where the session started was not delivered in it either.
    const again = await TestSession.open(clients, { log: LOG, readerId: "undelivered" });
    await again.session.records(1);
    again.session.ack([dlsns[3]!]);
    const below = await again.session.failed();
    assert.equal(Status[below.code], "INVALID_ARGUMENT");
    assert.match(below.details, new RegExp(`DLSN ${dlsnKey(dlsns[3])} was not delivered in this session`));
    assert.equal(await floorOf(clients, LOG, "undelivered"), dlsnKey(dlsns[9]));
  });

  test("a cumulative ack past what was delivered is INVALID_ARGUMENT, position unchanged", SERVER_TEST, async () => {
    const { clients } = fixture;
    await ackFirst(clients, LOG, "up-to", 10);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "up-to", flow: { maxOutstandingRecords: 5 } });
    await session.records(5);
    session.ackUpTo(dlsns[60]!);
    const failure = await session.failed();
    assert.equal(Status[failure.code], "INVALID_ARGUMENT");
    assert.match(failure.details, /cumulative ack cannot move the position past it/);
    assert.equal(await floorOf(clients, LOG, "up-to"), dlsnKey(dlsns[9]));
  });

  test("a session that failed keeps the acks it had applied: a reconnect at once resumes after them", SERVER_TEST, async () => {
    const { clients } = fixture;
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "kept", flow: { maxOutstandingRecords: 30 } });
    const records = await session.records(30);
    session.ackUpTo(records[29]!.dlsn!);
    await session.records(1); // room freed: the ack was applied
    session.ack([dlsns[90]!]);
    assert.equal((await session.failed()).code, Status.INVALID_ARGUMENT);
    const next = await TestSession.open(clients, { log: LOG, readerId: "kept" });
    assert.equal(dlsnKey(next.opened.resumeAfter), dlsnKey(records[29]!.dlsn));
    assert.equal(numberOf((await next.session.records(1))[0]!), 31);
    next.session.cancel();
  });

  test("a nack of an unknown or acked DLSN is INVALID_ARGUMENT, position unchanged", SERVER_TEST, async () => {
    const { clients } = fixture;
    await ackFirst(clients, LOG, "nack", 10);
    const { session } = await TestSession.open(clients, { log: LOG, readerId: "nack", flow: { maxOutstandingRecords: 5 } });
    await session.records(5);
    session.nack([dlsns[70]!]);
    const failure = await session.failed();
    assert.equal(Status[failure.code], "INVALID_ARGUMENT");
    assert.match(failure.details, new RegExp(`DLSN ${dlsnKey(dlsns[70])} cannot be nacked: it is not a delivered, unacked record`));
    assert.equal(await floorOf(clients, LOG, "nack"), dlsnKey(dlsns[9]));
  });

  test("absurd flow limits are INVALID_ARGUMENT, at open and mid-stream", SERVER_TEST, async () => {
    const atOpen = await failureOf([open("flow", { flow: { maxOutstandingRecords: 10_000_000 } })]);
    assert.equal(atOpen.code, "INVALID_ARGUMENT");
    assert.match(atOpen.details, /max_outstanding_records must be between 1 and 100000 .*got 10000000/);
    const batch = await failureOf([open("flow", { flow: { maxBatchRecords: 1_000_000 } })]);
    assert.match(batch.details, /max_batch_records must be between 1 and 10000/);
    const bytes = await failureOf([open("flow", { flow: { maxOutstandingBytes: 1n << 62n } })]);
    assert.match(bytes.details, /max_outstanding_bytes must be between 1 and 1073741824/);

    await ackFirst(fixture.clients, LOG, "flow", 10);
    const midStream = await failureOf([open("flow"), { kind: { $case: "flow", value: { maxOutstandingRecords: 10_000_000 } } }]);
    assert.equal(midStream.code, "INVALID_ARGUMENT");
    assert.match(midStream.details, /max_outstanding_records must be between 1 and 100000/);
    assert.equal(await floorOf(fixture.clients, LOG, "flow"), dlsnKey(dlsns[9]));
  });

  test("a bad ack_wait is INVALID_ARGUMENT", SERVER_TEST, async () => {
    const failure = await failureOf([open("ack-wait", { ackWaitMs: 100_000_000 })]);
    assert.equal(failure.code, "INVALID_ARGUMENT");
    assert.match(failure.details, /ack_wait_ms must be between 0 \(never\) and 86400000, got 100000000/);
    assert.equal(await floorOf(fixture.clients, LOG, "ack-wait"), "none", "a refused open creates no reader");
  });

  test("bad resume policy or takeover values are INVALID_ARGUMENT", SERVER_TEST, async () => {
    const policy = await failureOf([open("enum", { resumePolicy: 42 })]);
    assert.equal(policy.code, "INVALID_ARGUMENT");
    assert.match(policy.details, /resume_policy 42 is not RESUME_POLICY_STORED, RESUME_POLICY_CLIENT or RESUME_POLICY_MAX/);
    const takeover = await failureOf([open("enum", { takeover: 7 })]);
    assert.match(takeover.details, /takeover 7 is not TAKEOVER_FENCE or TAKEOVER_REJECT/);
  });
});

describe("truncation", () => {
  test("a reader whose position was truncated away resumes at the first existing record, with the skip counted", SERVER_TEST, async () => {
    const { clients } = fixture;
    const LOG = "truncated";
    // 100-byte records in appends of 10: each append fills (and rolls) a 1 KiB segment.
    for (let from = 1; from <= 200; from += 10) await appendNumbered(clients, LOG, 10, { from, padTo: 100 });
    const segments = (await clients.logs.getLog({ log: LOG })).segments;
    assert.ok(segments.length >= 5, `the log spans ${segments.length} segments`);

    await ackFirst(clients, LOG, "behind", 15);
    await ackFirst(clients, LOG, "ahead", 150);
    const cut = segments[3]!.firstDlsn!;
    const truncated = await clients.logs.truncate({ log: LOG, before: cut });
    assert.ok(truncated.recordsDeleted > 15n);
    const firstLeft = Number(truncated.recordsDeleted) + 1;

    const { session, opened } = await TestSession.open(clients, { log: LOG, readerId: "behind" });
    assert.equal(opened.skippedByTruncation, BigInt(firstLeft - 16), "records between the position and the first one left");
    const [first] = await session.records(1);
    assert.equal(numberOf(first!), firstLeft);
    assert.equal(dlsnKey(first!.dlsn), dlsnKey(cut));
    session.drain();
    await session.drained();
    // The skip was made durable.
    const info = await clients.readers.getPosition({ log: LOG, readerId: "behind" });
    assert.equal(info.lag, BigInt(200 - firstLeft + 1));

    const ahead = await TestSession.open(clients, { log: LOG, readerId: "ahead" });
    assert.equal(ahead.opened.skippedByTruncation, 0n);
    assert.equal(numberOf((await ahead.session.records(1))[0]!), 151);
    ahead.session.cancel();
  });
});
