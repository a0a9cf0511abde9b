/**
 * Resume grants (ResumeGrants): a session that ends cleanly reserves its reader's next session in
 * its final write, so a resume in the same process sends its first record without a position
 * write. Real dlogd processes on loopback, a real LevelDB in a temp dir, real kill -9.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { type Clients, type DlogdProcess, connect, scrapeMetrics, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession, appendNumbered, numberOf } from "../helpers/session.js";
import { until } from "../reliability/harness.js";
import type { Record as WireRecord } from "../../src/gen/dlog/v1/common.js";

const LOG = "grant";
const READER = "r";
const RECORDS = 200;
const BATCH = 10;

/** Fsynced position writes so far (one LevelDB batch each). */
async function positionWrites(server: DlogdProcess): Promise<number> {
  return (await scrapeMetrics(server.metricsAddress!)).get("dlog_position_flushes_total") ?? Number.NaN;
}

const numbered = (records: readonly WireRecord[]): Array<[number, number]> => records.map((r) => [numberOf(r), r.attempt]);

/** [first..last] with the given attempt. */
const range = (first: number, last: number, attempt: number): Array<[number, number]> =>
  Array.from({ length: last - first + 1 }, (_, i) => [first + i, attempt]);

/** One batch of `records` and no more outstanding: exactly that many are sent before an ack. */
const flowOf = (records: number) => ({ maxBatchRecords: records, maxOutstandingRecords: records });

/** A dlogd process with metrics on `dir`, the log written, and a way to restart it on the same dir. */
async function setup(t: TestContext) {
  const dir = tempDir("dlog-grant-");
  const state = { server: await startDlogd({ process: true, dataDir: dir.path, metrics: true }), clients: undefined as unknown as Clients };
  state.clients = connect(state.server.address);
  t.signal.addEventListener("abort", () => void state.server.kill9(), { once: true });
  t.after(async () => {
    state.clients.close();
    await state.server.kill9();
    dir.cleanup();
  });
  await appendNumbered(state.clients, LOG, RECORDS, { batch: RECORDS });
  const restart = async (stop: "kill9" | "SIGTERM"): Promise<void> => {
    state.clients.close();
    if (stop === "kill9") await state.server.kill9();
    else assert.equal(await state.server.stop("SIGTERM"), 0, "clean shutdown");
    state.server = await startDlogd({ process: true, dataDir: dir.path, metrics: true });
    state.clients = connect(state.server.address);
  };
  const open = (extra: Record<string, unknown> = {}) => TestSession.open(state.clients, { log: LOG, readerId: READER, flow: flowOf(BATCH), ...extra });
  return { state, restart, open };
}

/** A first session that receives records 1..10, acks them and drains: its final write reserves the next session. */
async function firstDrained(open: Awaited<ReturnType<typeof setup>>["open"]): Promise<bigint> {
  const { session, opened } = await open();
  const records = await session.records(BATCH);
  session.ackUpTo(records.at(-1)!.dlsn!);
  session.drain();
  await session.drained();
  return opened.epoch;
}

test("a drained resume sends its first record with no position write; GetReader still shows the last session's epoch", { timeout: 30_000 }, async (t) => {
  const { state, open } = await setup(t);
  assert.equal(await firstDrained(open), 1n);
  assert.equal((await state.clients.readers.getPosition({ log: LOG, readerId: READER })).epoch, 1n, "the reserved epoch is not reported as a session's");
  const before = await positionWrites(state.server);
  const { session, opened } = await open();
  const first = await session.records(BATCH);
  assert.equal(await positionWrites(state.server), before, "no position write between the open and the first record");
  assert.equal(opened.epoch, 2n);
  assert.deepEqual(numbered(first), range(11, 20, 1));
  assert.equal((await state.clients.readers.getPosition({ log: LOG, readerId: READER })).epoch, 2n, "the live session's epoch");
  session.cancel();
});

test("attempts in the same process: records sent before come with attempt 2, records only reserved as attempt 1", { timeout: 30_000 }, async (t) => {
  const { state, open } = await setup(t);
  const a = await open({ flow: flowOf(2 * BATCH) });
  await a.session.records(2 * BATCH); // 1..20 sent, none acked
  const writes = await positionWrites(state.server);
  a.session.cancel(); // goes away: its final write (with the grant) follows at the next flush
  await until(async () => (await positionWrites(state.server)) > writes, "the ended session's final write");
  const before = await positionWrites(state.server);
  const { session } = await open({ flow: flowOf(3 * BATCH) });
  const first = await session.records(3 * BATCH);
  assert.equal(await positionWrites(state.server), before, "the grant was used: no write before the first record");
  assert.deepEqual(numbered(first), [...range(1, 20, 2), ...range(21, 30, 1)]);
  session.cancel();
});

test("kill -9 while the granted session is live: every record that reached its client comes again with attempt >= 2; epochs grow", {
  timeout: 60_000,
}, async (t) => {
  const { state, restart, open } = await setup(t);
  const epochs = [await firstDrained(open)];
  const before = await positionWrites(state.server);
  const granted = await open({ flow: { maxBatchRecords: BATCH, maxOutstandingRecords: 5 * BATCH } });
  epochs.push(granted.opened.epoch);
  const reached = await granted.session.records(5 * BATCH); // 11..60, never acked
  assert.equal(await positionWrites(state.server), before, "the granted session wrote nothing before the kill");
  assert.deepEqual(numbered(reached), range(11, 60, 1));
  await restart("kill9");
  const after = await open({ flow: flowOf(5 * BATCH) });
  epochs.push(after.opened.epoch);
  const again = await after.session.records(5 * BATCH);
  assert.deepEqual(again.filter((r) => r.attempt < 2).map(numberOf), [], "records the granted session sent come with attempt >= 2");
  assert.deepEqual(
    again.map(numberOf),
    range(11, 60, 0).map(([n]) => n),
  );
  after.session.drain(); // its final write reserves the next epoch, unused at the next kill
  await after.session.drained();
  // A grant left unused at the kill: the restarted server still opens a newer epoch than any session had.
  await restart("kill9");
  const last = await open();
  epochs.push(last.opened.epoch);
  for (let i = 1; i < epochs.length; i++) assert.ok(epochs[i]! > epochs[i - 1]!, `epochs strictly grow: ${epochs.join(", ")}`);
  last.session.cancel();
});

test("SIGTERM and restart: no record that was never sent comes with attempt >= 2", { timeout: 60_000 }, async (t) => {
  const { restart, open } = await setup(t);
  await firstDrained(open); // a grant held at the shutdown
  await restart("SIGTERM");
  const b = await open();
  const sentToB = await b.session.records(BATCH); // 11..20, not acked; the session is granted again below
  assert.deepEqual(numbered(sentToB), range(11, 20, 1), "after a clean restart nothing unsent is marked");
  b.session.drain(); // drained: acked nothing, so 11..20 were never handed out
  await b.session.drained();
  const c = await open(); // granted: live at the shutdown, with 11..20 sent and not acked
  const sentToC = await c.session.records(BATCH);
  assert.deepEqual(numbered(sentToC), range(11, 20, 1));
  await restart("SIGTERM");
  const d = await open({ flow: flowOf(2 * BATCH) });
  assert.deepEqual(numbered(await d.session.records(2 * BATCH)), [...range(11, 20, 2), ...range(21, 30, 1)]);
  d.session.cancel();
});

test("SetPosition and DeleteReader between sessions invalidate the grant: the next open writes, and starts where they say", { timeout: 30_000 }, async (t) => {
  const { state, open } = await setup(t);
  await firstDrained(open);
  await state.clients.readers.setPosition({ log: LOG, readerId: READER, position: { at: { $case: "txid", value: 0n } } });
  assert.equal((await state.clients.readers.getPosition({ log: LOG, readerId: READER })).epoch, 1n, "SetPosition keeps the epoch");
  let before = await positionWrites(state.server);
  const b = await open({ flow: flowOf(2 * BATCH) });
  assert.equal(b.opened.epoch, 2n);
  assert.deepEqual(
    numbered(await b.session.records(2 * BATCH)),
    [...range(1, 10, 2), ...range(11, 20, 1)],
    "records 1..10 were delivered before (attempt 2), 11..20 only reserved (attempt 1)",
  );
  assert.ok((await positionWrites(state.server)) > before, "the open wrote its claim");
  b.session.drain();
  await b.session.drained();

  await state.clients.readers.deleteReader({ log: LOG, readerId: READER });
  before = await positionWrites(state.server);
  const c = await open();
  assert.equal(c.opened.epoch, 1n, "a new reader of that id");
  assert.deepEqual(numbered(await c.session.records(BATCH)), range(1, 10, 1), "a new reader: first deliveries");
  assert.ok((await positionWrites(state.server)) > before, "the open wrote its claim");
  c.session.cancel();
});
