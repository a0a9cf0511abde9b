/**
 * The client conformance scenario (test/conformance/README.md), step by step, against a real dlogd
 * started with this client's own test helper. The steps share one server, one log and the readers'
 * positions, so they run in file order (node:test runs a file's tests one after another).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { Boundary, type Record as WireRecord } from "../src/gen/dlog/v1/common.js";
import { Open, type SessionRequest, type SessionResponse } from "../src/gen/dlog/v1/reader.js";
import { type DLSN, type DlogClient, DlogError, type Reader, type ReaderRecord, type ReaderStatus, Status } from "../src/index.js";
import { MessageQueue } from "../src/message-queue.js";
import { type TestServer, startTestServer } from "../src/testing.js";

const RECORDS = 1000;
/** The most any single expectation may take. */
const WAIT_MS = 10_000;
const REPO_DLOGD = fileURLToPath(new URL("../../../../bin/dlogd.js", import.meta.url));

let server: TestServer;
let client: DlogClient;
const log = `conf-typescript-${randomBytes(4).toString("hex")}`;
/** dlsns[n] is record #n's DLSN (index 0 unused). */
const dlsns: DLSN[] = [];

before(async () => {
  // Steps 10-11 restart the server on the same data dir and port: a data dir, not --in-memory.
  server = await startTestServer({
    inMemory: false,
    args: ["--ack-flush-interval", "50ms", "--heartbeat", "1s"],
    dlogd: process.env.DLOG_DLOGD || REPO_DLOGD,
  });
  client = server.client();
});

after(async () => {
  await client?.close();
  await server?.close();
});

const numberOf = (record: ReaderRecord): number => Number(record.text());

/**
 * Polls a reader with a timeout without losing a record: a `next()` still pending when the
 * timeout fires is kept and answers the following poll.
 */
class Poller {
  private pending: Promise<IteratorResult<ReaderRecord>> | undefined;
  constructor(readonly reader: Reader) {}

  async poll(timeoutMs: number): Promise<ReaderRecord | undefined> {
    this.pending ??= this.reader.next();
    const timeout = new AbortController();
    const result = await Promise.race([this.pending, sleep(timeoutMs, "timeout" as const, { signal: timeout.signal })]);
    timeout.abort(); // a pending timer would keep the test process alive
    if (result === "timeout") return undefined;
    this.pending = undefined;
    return result.done ? undefined : result.value;
  }

  async take(count: number): Promise<ReaderRecord[]> {
    const records: ReaderRecord[] = [];
    while (records.length < count) {
      const record = await this.poll(WAIT_MS);
      assert.ok(record, `only ${records.length} of ${count} records arrived within ${WAIT_MS} ms`);
      records.push(record);
    }
    return records;
  }
}

/** Resolves with the first status (the current one included) that `accept`s, within WAIT_MS. */
function waitForStatus(reader: Reader, accept: (status: ReaderStatus) => boolean): Promise<ReaderStatus> {
  if (reader.status && accept(reader.status)) return Promise.resolve(reader.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reader.off("status", onStatus);
      reject(new Error(`no matching status within ${WAIT_MS} ms; last: ${JSON.stringify(reader.status, (_, v) => (typeof v === "bigint" ? String(v) : v))}`));
    }, WAIT_MS);
    const onStatus = (status: ReaderStatus): void => {
      if (!accept(status)) return;
      clearTimeout(timer);
      reader.off("status", onStatus);
      resolve(status);
    };
    reader.on("status", onStatus);
  });
}

function assertRefused(error: unknown, code: Status, reason: string): void {
  assert.ok(error instanceof DlogError, `a DlogError, got ${String(error)}`);
  assert.equal(error.code, code, String(error));
  assert.equal(error.reason, reason, String(error));
}

let readerR: Reader | undefined;
let pollerR: Poller | undefined;
let firstOfR: ReaderRecord | undefined;

test("step 1: 1000 appends, one record per call, pipelined: each gets its DLSN, strictly increasing", async () => {
  const appender = client.appender(log);
  const answers = Array.from({ length: RECORDS }, (_, i) => appender.append(String(i + 1)));
  const results = await Promise.all(answers);
  await appender.close();
  assert.ok(results.every((result) => result.length === 1));
  dlsns.push(undefined as unknown as DLSN, ...results.map((result) => result[0]!));
  for (let n = 2; n <= RECORDS; n++) assert.ok(dlsns[n]!.isAfter(dlsns[n - 1]!), `DLSN(#${n}) must follow DLSN(#${n - 1})`);
  assert.equal((await client.getLog(log)).recordCount, BigInt(RECORDS));
});

test("step 2: read #1-#300, ack each, drain: the final position is DLSN(#300)", async () => {
  const reader = client.reader({ log, readerId: "R", fallback: "earliest" });
  const records = await new Poller(reader).take(300);
  for (const record of records) record.ack();
  const final = await reader.close();
  assert.deepEqual(
    records.map(numberOf),
    Array.from({ length: 300 }, (_, i) => i + 1),
  );
  assert.ok(final?.equals(dlsns[300]!), `drained at ${final}, want ${dlsns[300]}`);
});

test("step 3: reopening R starts at #301", async () => {
  readerR = client.reader({ log, readerId: "R", fallback: "earliest" });
  pollerR = new Poller(readerR);
  const first = await pollerR.poll(WAIT_MS);
  assert.ok(first);
  assert.equal(numberOf(first), 301);
  firstOfR = first;
  // Step 2's session may have sent #301 ahead of the loop before its drain: then the server says so.
  const high = readerR.opened?.deliveredHigh;
  const sentBefore = high !== undefined && !high.isBefore(first.dlsn);
  if (sentBefore) assert.ok(first.attempt >= 2, `#301 was sent before (delivered_high ${high}) but has attempt ${first.attempt}`);
  else assert.equal(first.attempt, 1);
});

test("step 4: individual acks out of order, never #700: durable floor #699, 300 durable holes; then disconnect without drain", async () => {
  assert.ok(readerR && pollerR && firstOfR, "step 3 opened R");
  const pending = [firstOfR, ...(await pollerR.take(RECORDS - 301))];
  assert.deepEqual(
    pending.map(numberOf),
    Array.from({ length: RECORDS - 300 }, (_, i) => i + 301),
  );
  for (let start = 0; start < pending.length; start += 10) {
    for (const record of pending.slice(start, start + 10).reverse()) if (numberOf(record) !== 700) record.ack();
  }
  const status = await waitForStatus(readerR, (s) => s.durableFloor?.equals(dlsns[699]!) === true && s.durableHoles === 300n);
  assert.ok(status.durableFloor?.equals(dlsns[699]!));
  await readerR.cancel();
});

test("step 5: reopening R redelivers exactly #700 (attempt >= 2), then nothing until #1001 is appended", async () => {
  const reader = client.reader({ log, readerId: "R", fallback: "earliest" });
  const poller = new Poller(reader);
  try {
    const first = await poller.poll(WAIT_MS);
    assert.ok(first);
    assert.equal(numberOf(first), 700);
    assert.ok(first.dlsn.equals(dlsns[700]!));
    assert.ok(first.attempt >= 2 && first.redelivered, `attempt ${first.attempt}`);
    first.ack();
    const extra = await poller.poll(500);
    assert.equal(extra, undefined, `nothing may arrive between #700 and a new append, got #${extra && numberOf(extra)}`);
    const [dlsn1001] = await client.append(log, "1001");
    dlsns.push(dlsn1001!);
    const next = await poller.poll(WAIT_MS);
    assert.ok(next);
    assert.equal(numberOf(next), 1001);
    assert.equal(next.attempt, 1);
    next.ack();
  } finally {
    await reader.close();
  }
});

/** Steps 10-11 read to #1001, which step 5 appends; keep them meaningful if step 5 failed early. */
async function ensureRecord1001(): Promise<void> {
  if (dlsns.length > RECORDS + 1) return;
  const info = await client.getLog(log);
  if (info.recordCount === BigInt(RECORDS)) dlsns.push((await client.append(log, "1001"))[0]!);
  else dlsns.push(info.lastDlsn!);
}

test("step 6: a second session fences the first (ABORTED, READER_FENCED, no reconnect); REJECT is refused with ALREADY_EXISTS", async () => {
  await ensureRecord1001();
  const a = client.reader({ log, readerId: "R" });
  await a.ready();
  const b = client.reader({ log, readerId: "R" });
  try {
    await b.ready();
    await assert.rejects(a.next(), (error) => (assertRefused(error, Status.ABORTED, "READER_FENCED"), true));
    assert.equal(await new Poller(a).poll(500), undefined, "a fenced reader must not reconnect");
    assert.equal(a.opened?.reconnects, 0);
    const end = await a.closed;
    assert.equal(end.reason, "failed");
    assertRefused(end.error, Status.ABORTED, "READER_FENCED");
    const c = client.reader({ log, readerId: "R", takeover: "reject" });
    await assert.rejects(c.ready(), (error) => (assertRefused(error, Status.ALREADY_EXISTS, "READER_LIVE"), true));
    await c.close().catch(() => undefined);
  } finally {
    await a.close().catch(() => undefined);
    await b.close();
  }
});

test("step 7: a nack delivers the record again at once, attempt + 1", async () => {
  const reader = client.reader({ log, readerId: "N", fallback: "earliest" });
  const poller = new Poller(reader);
  /** The next delivery of #number within 1 s (other records may come first). */
  const again = async (number: number): Promise<ReaderRecord> => {
    const deadline = performance.now() + 1000;
    for (;;) {
      const record = await poller.poll(Math.max(0, deadline - performance.now()));
      assert.ok(record, `#${number} did not come again within 1 s`);
      if (numberOf(record) === number) return record;
    }
  };
  try {
    const first = await poller.poll(WAIT_MS);
    assert.ok(first && numberOf(first) === 1 && first.attempt === 1);
    first.nack();
    const second = await again(1);
    assert.ok(second.attempt === 2 && second.redelivered, `attempt ${second.attempt}`);
    second.nack();
    const third = await again(1);
    assert.equal(third.attempt, 3);
    third.ack();
  } finally {
    await reader.close();
  }
});

test("step 8: flow limit 10: exactly 10 unacked records, then nothing; acking them lets #11 through", async () => {
  const reader = client.reader({ log, readerId: "F", fallback: "earliest", flow: { maxOutstandingRecords: 10 } });
  const poller = new Poller(reader);
  try {
    const ten = await poller.take(10);
    assert.deepEqual(ten.map(numberOf), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(await poller.poll(500), undefined, "more than 10 unacked records were delivered");
    for (const record of ten) record.ack();
    const eleventh = await poller.poll(WAIT_MS);
    assert.ok(eleventh);
    assert.equal(numberOf(eleventh), 11);
    eleventh.ack();
  } finally {
    await reader.close();
  }
});

test("step 9: an ack of an undelivered DLSN ends the session (INVALID_ARGUMENT, DLSN_NOT_DELIVERED) and changes nothing; an unknown log is NOT_FOUND", async () => {
  // A session driven message by message: the high-level reader never sends such an ack.
  const requests = new MessageQueue<SessionRequest>();
  const abort = new AbortController();
  const responses = client.readers.session(requests, { signal: abort.signal })[Symbol.asyncIterator]();
  const next = async (): Promise<SessionResponse> => {
    const result = await responses.next();
    assert.ok(!result.done, "the session ended early");
    return result.value;
  };
  requests.push({
    kind: { $case: "open", value: Open.fromPartial({ log, readerId: "B", fallback: { at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } } }) },
  });
  let before: Awaited<ReturnType<DlogClient["getPosition"]>>;
  try {
    const delivered: WireRecord[] = [];
    while (delivered.length < 5) {
      const kind = (await next()).kind;
      if (kind?.$case === "records") delivered.push(...kind.value.records);
    }
    const second = delivered[1]!.dlsn!;
    requests.push({ kind: { $case: "ack", value: { dlsns: [], upTo: second } } }); // #1-#2: a position to compare with
    for (;;) {
      const kind = (await next()).kind;
      if (kind?.$case === "status" && kind.value.durableFloor?.entry === second.entry && kind.value.durableFloor.segment === second.segment) break;
    }
    before = await client.getPosition(log, "B");
    assert.ok(before.floor?.equals(dlsns[2]!));
    requests.push({ kind: { $case: "ack", value: { dlsns: [{ segment: 1n, entry: 999_999n, slot: 0n }], upTo: undefined } } });
    const failure = await (async () => {
      for (;;) {
        try {
          const result = await responses.next();
          if (result.done) return undefined;
        } catch (error) {
          return error;
        }
      }
    })();
    assertRefused(failure, Status.INVALID_ARGUMENT, "DLSN_NOT_DELIVERED");
  } finally {
    requests.end();
    abort.abort();
  }
  const afterwards = await client.getPosition(log, "B");
  assert.ok(afterwards.floor?.equals(before.floor!), `the refused ack moved B from ${before.floor} to ${afterwards.floor}`);
  assert.deepEqual(afterwards.holes.map(String), before.holes.map(String));
  const missing = client.reader({ log: `${log}-missing`, readerId: "B" });
  await assert.rejects(missing.ready(), (error) => (assertRefused(error, Status.NOT_FOUND, "LOG_NOT_FOUND"), true));
  await missing.close().catch(() => undefined);
});

interface RestartOutcome {
  first: Map<number, ReaderRecord>;
  again: ReaderRecord[];
  /** Records whose ack was durable (a status covered its Ack message) when the server went down. */
  durableAtStop: Set<number>;
}

/**
 * Reads every record with the high-level reader (automatic reconnect), acking each, and stops the
 * server under it with `signal` (then restarts it on the same data and port). For kill -9 the reader
 * first waits, at 300 records, for a status that covers some of its acks and reads 20 more, so that
 * at the kill some acks are durable and some are not: what comes again must be among the latter.
 */
async function readThroughRestart(readerId: string, signal: "SIGKILL" | "SIGTERM"): Promise<RestartOutcome> {
  const kill = signal === "SIGKILL";
  const last = dlsns.length - 1;
  const stopAt = kill ? 320 : 300;
  // For SIGTERM the last acks still wait in the client (coalescing, 500 ms) when the signal lands:
  // a graceful server takes them before it ends the session.
  const reader = client.reader({
    log,
    readerId,
    fallback: "earliest",
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    ...(kill ? {} : { ackIntervalMs: 500 }),
  });
  const poller = new Poller(reader);
  const first = new Map<number, ReaderRecord>();
  const again: ReaderRecord[] = [];
  let durableAtStop: Set<number> | undefined;
  try {
    while (first.size < last) {
      const record = await poller.poll(2 * WAIT_MS);
      assert.ok(record, `the reader stalled after ${first.size} distinct records`);
      const n = numberOf(record);
      if (first.has(n)) again.push(record);
      else first.set(n, record);
      if (!kill && first.size === stopAt) await sleep(5); // the earlier acks leave; this one waits out the interval
      record.ack();
      if (kill && first.size === 300 && first.get(n) === record) {
        await waitForStatus(reader, (status) => status.acksDurable > 0n);
      }
      if (first.size === stopAt && durableAtStop === undefined) {
        durableAtStop = new Set([...first].filter(([, earlier]) => earlier.ackDurable).map(([m]) => m));
        await server.stop(signal);
        await server.restart();
      }
    }
  } finally {
    await reader.close();
  }
  const missing = Array.from({ length: last }, (_, i) => i + 1).filter((n) => !first.has(n));
  assert.deepEqual(missing, [], "records are missing");
  assert.ok(durableAtStop, "the server was stopped mid-stream");
  return { first, again, durableAtStop };
}

test("step 10: kill -9 under the reader: it goes on by itself, nothing lost, what comes again was not durably acked and has attempt >= 2", {
  timeout: 120_000,
}, async () => {
  await ensureRecord1001();
  const { again, durableAtStop } = await readThroughRestart("K", "SIGKILL");
  assert.ok(durableAtStop.size > 0, "some acks were durable at the kill");
  for (const record of again) {
    const n = numberOf(record);
    assert.ok(!durableAtStop.has(n), `#${n} came again although its ack was durable before the kill`);
    assert.ok(record.attempt >= 2 && record.redelivered, `#${n} came again with attempt ${record.attempt}`);
  }
});

test("step 11: graceful restart (SIGTERM) under the reader: every record exactly once", { timeout: 120_000 }, async () => {
  await ensureRecord1001();
  const { again } = await readThroughRestart("G", "SIGTERM");
  assert.deepEqual(again.map(numberOf), [], "a graceful restart must not deliver anything twice");
});
