/** ReaderSessions without any network: a LogStore over a temporary LevelDB, frames pulled straight from sessions. */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { DLSN } from "../../src/dlsn.js";
import { isDlogError } from "../../src/errors.js";
import { type OpenRequest, ReaderSessions } from "../../src/sessions/reader-sessions.js";
import type { Session, SessionFrame } from "../../src/sessions/session.js";
import { bytes } from "../helpers/dlogd.js";
import { openStore } from "../helpers/log-store.js";
import { recordsOf } from "../helpers/memory-log.js";

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

async function setup(t: TestContext, records = 10, grantKeepMs?: number) {
  const store = await openStore();
  const sessions = new ReaderSessions({
    logs: store.store,
    storage: store.storage,
    flushIntervalMs: 20,
    flushMax: 1000,
    maxHoles: 100,
    heartbeatMs: 60_000,
    shutdownAckWaitMs: 200,
    grantKeepMs,
  });
  const dlsns =
    records > 0
      ? (
          await store.store.append(
            "log",
            Array.from({ length: records }, (_, i) => ({ payload: bytes(`${i + 1}`) })),
          )
        ).dlsns
      : [];
  t.after(async () => {
    await sessions.close();
    await store[Symbol.asyncDispose]();
  });
  const open = (readerId: string, extra: Partial<OpenRequest> = {}): Promise<Session> =>
    sessions.open({ log: "log", readerId, resumePolicy: "stored", flow: {}, takeover: "fence", ackWaitMs: 0, ...extra });
  return { store, sessions, dlsns, open };
}

/** Pulls frames of `session` until `match` returns something (2 s at most). */
async function until<T>(frames: AsyncIterator<SessionFrame>, match: (frame: SessionFrame) => T | undefined): Promise<T> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const timeout = sleep(Math.max(1, deadline - Date.now()), "timeout" as const);
    const next = await Promise.race([frames.next(), timeout]);
    if (next === "timeout") throw new Error("no matching frame in time");
    if (next.done) throw new Error("the session ended");
    const found = match(next.value);
    if (found !== undefined) return found;
  }
}

test("1000 sessions of new reader ids opened and ended leave no per-reader state behind", async (t) => {
  const { sessions, open } = await setup(t, 3, 50);
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const refs: Array<WeakRef<Session>> = [];
  /** 100 sessions on new reader ids, each delivered its records and then abandoned (a function, so none stays in scope). */
  const round = async (n: number): Promise<void> => {
    const opened = await Promise.all(Array.from({ length: 100 }, (_, i) => open(`reader-${n}-${i}`)));
    await Promise.all(
      opened.map(async (session) => {
        const frames = session.frames()[Symbol.asyncIterator]();
        await until(frames, (frame) => (frame.kind === "records" ? true : undefined));
        session.handleGone();
        await frames.return?.(undefined);
      }),
    );
    for (const session of opened) refs.push(new WeakRef(session));
  };
  for (let n = 0; n < 10; n++) await round(n);
  await sessions.positions.flush();
  // Each ended session left a resume grant for its reader (held for grantKeepMs, then given back by a write).
  assert.ok(sessions.sizes.grants > 0, "grants of the ended sessions' readers");
  await sleep(100);
  await sessions.positions.flush();
  assert.deepEqual(sessions.sizes, { live: 0, readerQueues: 0, dirtyPositions: 0, grants: 0 });
  for (let i = 0; i < 5; i++) {
    gc();
    await sleep(10);
  }
  const alive = refs.flatMap((ref, i) => (ref.deref() !== undefined ? [i] : []));
  assert.equal(alive.length, 0, `${alive.length} of 1000 ended sessions are still reachable (e.g. #${alive.slice(0, 5).join(", #")})`);
});

test("a refused open changes nothing: the live session goes on", async (t) => {
  const { open, dlsns } = await setup(t);
  const live = await open("r");
  const refusals: Array<[Partial<OpenRequest>, string, RegExp]> = [
    [{ resumePolicy: "client" }, "INVALID_ARGUMENT", /resume_policy CLIENT needs a client_checkpoint/],
    [
      { resumePolicy: "client", clientCheckpoint: new DLSN(1n, 0n, INT64_MAX) },
      "OUT_OF_RANGE",
      /open\.client_checkpoint 1\/0\/9223372036854775807 is after the end of log "log"/,
    ],
    [{ resumePolicy: "max", clientCheckpoint: new DLSN(1n, 1n, 0n) }, "OUT_OF_RANGE", /open\.client_checkpoint 1\/1\/0 is after the end/],
    [{ override: { kind: "dlsn", dlsn: new DLSN(99n, 0n, INT64_MIN) } }, "OUT_OF_RANGE", /open\.override 99\/0\/-9223372036854775808 is after the end/],
    [{ fallback: { kind: "dlsn", dlsn: new DLSN(2n, 0n, 0n) } }, "OUT_OF_RANGE", /open\.fallback 2\/0\/0 is after the end/],
    [{ ackWaitMs: -1 }, "INVALID_ARGUMENT", /ack_wait_ms/],
    [{ flow: { maxOutstandingRecords: 10_000_000 } }, "INVALID_ARGUMENT", /max_outstanding_records/],
  ];
  for (const [extra, code, message] of refusals) {
    await assert.rejects(
      open("r", extra),
      (error) => isDlogError(error, code as never) && message.test(error.message),
      JSON.stringify(extra, (_, v) => (typeof v === "bigint" ? String(v) : v)),
    );
    assert.equal(live.isEnded, false, `the live session survived ${message}`);
  }
  // The last record of the log is a valid checkpoint, and the next entry a valid start.
  const atEnd = await open("r", { resumePolicy: "client", clientCheckpoint: dlsns.at(-1)! });
  assert.equal(live.isEnded, true, "a valid open takes over");
  atEnd.handleGone();
  (await open("r", { override: { kind: "dlsn", dlsn: dlsns.at(-1)!.nextEntry() } })).handleGone();
});

test("SetPosition after the log's head is OUT_OF_RANGE naming the value sent, and stores nothing", async (t) => {
  const { sessions, dlsns } = await setup(t);
  await sessions.setPosition("log", "r", { kind: "dlsn", dlsn: dlsns[3]! }, false);
  for (const dlsn of [new DLSN(1n, 1_000_000n, 0n), new DLSN(99n, 0n, 0n), new DLSN(INT64_MAX, INT64_MAX, INT64_MAX)]) {
    await assert.rejects(sessions.setPosition("log", "r", { kind: "dlsn", dlsn }, true), (error) => {
      assert.ok(isDlogError(error, "OUT_OF_RANGE"));
      assert.equal(error.reason, "POSITION_OUT_OF_RANGE");
      assert.ok(error.message.includes(dlsn.toString()), error.message);
      return true;
    });
  }
  const info = await sessions.getPosition("log", "r");
  assert.equal(info.floor.toString(), dlsns[3]!.justBefore().toString(), "the position is what the last valid SetPosition stored");
});

test("an ack message with valid DLSNs and an up_to past what was delivered applies nothing", async (t) => {
  const { sessions, open, dlsns } = await setup(t);
  const session = await open("r", { flow: { maxOutstandingRecords: 5 } });
  const frames = session.frames()[Symbol.asyncIterator]();
  await until(frames, (frame) => (frame.kind === "records" && frame.count === 5 ? true : undefined));
  session.handleAck([dlsns[0]!, dlsns[1]!], new DLSN(9n, 0n, 0n));
  assert.equal(session.isEnded, true);
  await assert.rejects(frames.next(), (error) => isDlogError(error, "INVALID_ARGUMENT") && /9\/0\/0 has not been delivered yet/.test(error.message));
  await sessions.positions.flush();
  const info = await sessions.getPosition("log", "r");
  assert.equal(info.floor.toString(), dlsns[0]!.justBefore().toString(), "the floor did not move");
});

test("acks after a drain are ignored: the position Drained reported is the one stored", async (t) => {
  const { sessions, open, dlsns } = await setup(t);
  const session = await open("r", { flow: { maxOutstandingRecords: 5 } });
  const frames = session.frames()[Symbol.asyncIterator]();
  await until(frames, (frame) => (frame.kind === "records" && frame.count === 5 ? true : undefined));
  session.handleAck([dlsns[0]!], undefined);
  session.handleDrain({ explicit: true });
  session.handleAck([], dlsns[4]!);
  const drained = await until(frames, (frame) => (frame.kind === "drained" ? frame : undefined));
  assert.equal(drained.durableFloor.toString(), dlsns[0]!.toString());
  assert.equal(drained.acksDurable, 1, "one ack message counted");
  session.handleAck([], dlsns[4]!);
  await sessions.positions.flush();
  assert.equal((await sessions.getPosition("log", "r")).floor.toString(), dlsns[0]!.toString());
});

test("DeleteLog ends the log's sessions with LOG_DELETED and writes none of their positions afterwards", async (t) => {
  const { store, sessions, open, dlsns } = await setup(t);
  const session = await open("r");
  const frames = session.frames()[Symbol.asyncIterator]();
  await until(frames, (frame) => (frame.kind === "records" ? true : undefined));
  const logId = store.store.logId("log");
  session.handleAck([dlsns[0]!], undefined); // dirty: would be written by the next flush
  await store.store.deleteLog("log");
  assert.equal(session.isEnded, true);
  await assert.rejects(frames.next(), (error) => isDlogError(error, "NOT_FOUND") && error.reason === "LOG_DELETED");
  await sessions.positions.flush();
  assert.deepEqual(await store.storage.listPositions(logId), [], "no position under the deleted log");
});

test("a stalled client with ack_wait 1 ms: the redelivery queue stays within the window", async (t) => {
  const { open } = await setup(t, 500);
  const session = await open("r", { ackWaitMs: 1, flow: { maxOutstandingRecords: 500, maxBatchRecords: 500 } });
  const frames = session.frames()[Symbol.asyncIterator]();
  await until(frames, (frame) => (frame.kind === "records" && frame.count === 500 ? true : undefined));
  // The client reads nothing more: every ack-wait tick finds all 500 expired again.
  await sleep(300);
  assert.ok(session.redeliveriesQueued <= 500, `${session.redeliveriesQueued} redeliveries queued for a window of 500`);
  assert.equal(session.outstandingRecords, 500);
  session.handleGone();
});

test("20 000 individual acks cost what the flusher promises: a write per interval, per 1000 acks, and per session request", async (t) => {
  const RECORDS = 20_000;
  const store = await openStore();
  const sessions = new ReaderSessions({ logs: store.store, storage: store.storage, flushIntervalMs: 100, flushMax: 1000, maxHoles: 100, heartbeatMs: 60_000 });
  t.after(async () => {
    await sessions.close();
    await store[Symbol.asyncDispose]();
  });
  for (let i = 0; i < RECORDS; i += 10_000) {
    await store.store.append(
      "log",
      Array.from({ length: 10_000 }, (_, j) => ({ payload: bytes(`${i + j}`) })),
    );
  }
  const started = performance.now();
  const session = await sessions.open({ log: "log", readerId: "r", resumePolicy: "stored", flow: {}, takeover: "fence", ackWaitMs: 0 });
  const frames = session.frames()[Symbol.asyncIterator]();
  let acked = 0;
  while (acked < RECORDS) {
    const frame = await until(frames, (f) => (f.kind === "records" ? recordsOf(f) : undefined));
    // One DLSN per ack entry, 100 per message.
    for (let i = 0; i < frame.length; i += 100)
      session.handleAck(
        frame.slice(i, i + 100).map((r) => r.dlsn),
        undefined,
      );
    acked += frame.length;
  }
  session.handleDrain({ explicit: true });
  await until(frames, (f) => (f.kind === "drained" ? f : undefined));
  const elapsedMs = performance.now() - started;
  const c = sessions.positions.counters;
  t.diagnostic(
    `${RECORDS} acks in ${elapsedMs.toFixed(0)} ms: ${c.flushes} flushes (${c.timerFlushes} timer, ${c.ackFlushes} ack-max, ${c.requestedFlushes} requested), ${c.positionsWritten} positions`,
  );
  assert.equal(sessions.counters.acks, RECORDS);
  assert.equal(c.flushes, c.timerFlushes + c.ackFlushes + c.requestedFlushes);
  assert.ok(c.ackFlushes <= RECORDS / 1000, `${c.ackFlushes} ack-max flushes for ${RECORDS} acks`);
  assert.ok(c.timerFlushes <= Math.ceil(elapsedMs / 100) + 1, `${c.timerFlushes} timer flushes in ${elapsedMs.toFixed(0)} ms`);
  // The open, the drain, and a delivery reservation per half reservation (4096 records).
  assert.ok(c.requestedFlushes <= 2 + Math.ceil(RECORDS / 4096) + 1, `${c.requestedFlushes} requested flushes`);
  assert.ok(c.positionsWritten <= c.flushes, "one reader: written at most once per flush");
  assert.ok(c.ackFlushes + c.timerFlushes >= 1, "acks were batched into writes");
});

test("an open reads its first batch from storage only once its epoch write is durable, and hands out the session only then", async (t) => {
  // No entry cache: the first batch comes from a LevelDB cursor, whose opening the test sees.
  const store = await openStore({ entryCacheBytes: 0 });
  await store.store.append("log", [{ payload: bytes("1") }, { payload: bytes("2") }]);
  const logStorage = store.storage;
  /** What reached the storage, in order: a cursor read beside the epoch's fsync slows the fsync down. */
  const calls: string[] = [];
  const openCursor = logStorage.openCursor;
  logStorage.openCursor = (...args) => {
    calls.push("cursor");
    return openCursor(...args);
  };
  let releaseWrite!: () => void;
  const held = new Promise<void>((resolve) => (releaseWrite = resolve));
  let writesHeld = 0;
  const sessions = new ReaderSessions({
    logs: store.store,
    // Position writes wait for the test: the open's epoch write stays on its way to disk.
    storage: {
      ...logStorage,
      writePositions: async (writes, sync) => {
        writesHeld++;
        calls.push("position write");
        await held;
        return logStorage.writePositions(writes, sync);
      },
    },
    flushIntervalMs: 20,
    flushMax: 1000,
    maxHoles: 100,
    heartbeatMs: 60_000,
  });
  t.after(async () => {
    releaseWrite();
    await sessions.close();
    await store[Symbol.asyncDispose]();
  });
  let opened: Session | undefined;
  const opening = sessions.open({ log: "log", readerId: "r", resumePolicy: "stored", flow: {}, takeover: "fence", ackWaitMs: 0 }).then((s) => (opened = s));
  for (let waited = 0; writesHeld === 0; waited += 5) {
    assert.ok(waited < 2_000, "in 2 s: no position write started");
    await sleep(5);
  }
  await sleep(20);
  assert.equal(opened, undefined, "the session (and so its Opened frame) waits for the epoch write");
  assert.deepEqual(calls, ["position write"], "no log cursor while the epoch write is on its way to disk");
  releaseWrite();
  const session = await opening;
  const frames = session.frames()[Symbol.asyncIterator]();
  assert.equal((await frames.next()).value?.kind, "opened");
  const records = await until(frames, (frame) => (frame.kind === "records" ? recordsOf(frame) : undefined));
  assert.deepEqual(
    records.map((r) => Buffer.from(r.payload).toString()),
    ["1", "2"],
  );
  assert.deepEqual(calls, ["position write", "cursor"], "the first batch is read after the epoch write");
  session.handleGone();
});

/** Counts the log cursors `store`'s storage opens from now on. */
function countCursors(store: Awaited<ReturnType<typeof openStore>>): { opened: number } {
  const count = { opened: 0 };
  const storage = store.storage;
  const openCursor = storage.openCursor;
  storage.openCursor = (...args) => {
    count.opened++;
    return openCursor(...args);
  };
  return count;
}

const payloadsOf = (frame: Extract<SessionFrame, { kind: "records" }>): string[] => recordsOf(frame).map((r) => Buffer.from(r.payload).toString());

test("a lone reader's next session, after a drain, takes its first batch from the entry its last session ended in, without a log cursor", async (t) => {
  const { store, open, dlsns } = await setup(t, 10);
  const first = await open("r", { flow: { maxBatchRecords: 3 } });
  let frames = first.frames()[Symbol.asyncIterator]();
  assert.deepEqual(await until(frames, (frame) => (frame.kind === "records" ? payloadsOf(frame) : undefined)), ["1", "2", "3"]);
  first.handleAck([], dlsns[2]!);
  first.handleDrain({ explicit: true });
  await until(frames, (frame) => (frame.kind === "drained" ? true : undefined));
  const cursors = countCursors(store);
  const next = await open("r", { flow: { maxBatchRecords: 3 } });
  frames = next.frames()[Symbol.asyncIterator]();
  assert.deepEqual(await until(frames, (frame) => (frame.kind === "records" ? payloadsOf(frame) : undefined)), ["4", "5", "6"]);
  assert.equal(cursors.opened, 0, "the resumed session's first batch came from the entry cache");
  next.handleGone();
});

test("a takeover's first batch, the records the fenced session sent and was not acked, comes from the entry cache with attempt 2", async (t) => {
  const { store, open } = await setup(t, 0);
  // Entries of 3 records: the fenced session's reader has moved past the entry of its first unacked record.
  const dlsns: DLSN[] = [];
  for (let e = 0; e < 3; e++) {
    const { dlsns: appended } = await store.store.append(
      "log",
      [1, 2, 3].map((i) => ({ payload: bytes(`${e * 3 + i}`) })),
    );
    dlsns.push(...appended);
  }
  const old = await open("r", { flow: { maxBatchRecords: 3 } });
  const oldFrames = old.frames()[Symbol.asyncIterator]();
  assert.deepEqual(await until(oldFrames, (frame) => (frame.kind === "records" ? payloadsOf(frame) : undefined)), ["1", "2", "3"]);
  assert.deepEqual(await until(oldFrames, (frame) => (frame.kind === "records" ? payloadsOf(frame) : undefined)), ["4", "5", "6"]);
  old.handleAck([], dlsns[2]!);
  const cursors = countCursors(store);
  const next = await open("r", { flow: { maxBatchRecords: 3 } });
  assert.equal(old.isEnded, true, "the old session was fenced");
  const frames = next.frames()[Symbol.asyncIterator]();
  const batch = await until(frames, (frame) => (frame.kind === "records" ? frame : undefined));
  assert.deepEqual(payloadsOf(batch), ["4", "5", "6"]);
  assert.equal(batch.attempts, 2, "delivered again: attempt 2");
  assert.equal(cursors.opened, 0, "the takeover's first batch came from the entry cache");
  next.handleGone();
});

test("a drained reader's next open reads and writes nothing before its first batch (its grant); a SetPosition since makes it read and write", async (t) => {
  const { store, sessions, dlsns, open } = await setup(t);
  const flow = { maxBatchRecords: 5 };
  const drainAfterFive = async (): Promise<void> => {
    const first = await open("r", { flow });
    const frames = first.frames()[Symbol.asyncIterator]();
    await until(frames, (frame) => (frame.kind === "records" ? true : undefined));
    first.handleAck([], dlsns[4]!);
    first.handleDrain({ explicit: true });
    await until(frames, (frame) => (frame.kind === "drained" ? true : undefined));
    await frames.return?.(undefined);
  };
  await drainAfterFive();
  let reads = 0;
  const getPosition = store.storage.getPosition;
  store.storage.getPosition = (logId, readerId) => {
    reads++;
    return getPosition(logId, readerId);
  };
  const flushes = sessions.flusher.counters.flushes;
  const granted = await open("r", { flow });
  const grantedFrames = granted.frames()[Symbol.asyncIterator]();
  const records = await until(grantedFrames, (frame) => (frame.kind === "records" ? frame : undefined));
  assert.deepEqual([reads, sessions.flusher.counters.flushes - flushes], [0, 0], "storage reads and position writes before the first batch");
  assert.equal(records.count, 5);
  assert.equal(granted.epoch, 2n);
  granted.handleAck([], dlsns[9]!);
  granted.handleDrain({ explicit: true });
  await until(grantedFrames, (frame) => (frame.kind === "drained" ? true : undefined));
  await grantedFrames.return?.(undefined);

  await sessions.setPosition("log", "r", { kind: "earliest" }, false);
  reads = 0;
  const again = await open("r", { flow });
  await until(again.frames()[Symbol.asyncIterator](), (frame) => (frame.kind === "records" ? true : undefined));
  assert.ok(reads > 0, "read back after SetPosition");
});
