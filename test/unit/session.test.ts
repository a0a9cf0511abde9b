/** Session without any network: frames pulled straight from `frames()`, the log in memory. */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DLSN } from "../../src/dlsn.js";
import { DEFAULT_FLOW } from "../../src/sessions/flow-limits.js";
import type { SessionFrame, SessionOptions } from "../../src/sessions/session.js";
import { MemoryLog, dlsnOf, memorySession, numberAt, recordsOf } from "../helpers/memory-log.js";

const FRAME_TIMEOUT_MS = 2_000;

/** A session over `log` resuming after `floor` (record number; 0 = before the first), ended when the test ends. */
function openSession(t: TestContext, log: MemoryLog, overrides: Partial<SessionOptions> = {}, floor = 0) {
  const session = memorySession(log, overrides, floor);
  t.after(() => session.handleGone());
  const frames = session.frames()[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<SessionFrame>> | undefined;
  /** The next frame, or a failure after `timeoutMs` (the pull stays pending for the next call). */
  async function next(timeoutMs = FRAME_TIMEOUT_MS): Promise<SessionFrame | undefined> {
    pending ??= frames.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const result = await Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
    if (result === "timeout") throw new Error(`no frame within ${timeoutMs} ms`);
    pending = undefined;
    return result.done ? undefined : result.value;
  }
  /** Pulls frames until a Records frame; returns its record numbers and attempts. */
  async function records(timeoutMs = FRAME_TIMEOUT_MS): Promise<Array<[number, number]>> {
    for (;;) {
      const frame = await next(timeoutMs);
      assert.ok(frame, "the session ended while records were awaited");
      if (frame.kind !== "records") continue;
      return recordsOf(frame).map((record, i) => [numberAt(record.dlsn), typeof frame.attempts === "number" ? frame.attempts : frame.attempts[i]!]);
    }
  }
  return { session, next, records, close: () => session.handleGone() };
}

test("a nack that lands while a read is in flight is delivered at once, not at the next heartbeat", async (t) => {
  const log = new MemoryLog(3);
  const { session, next, records, close } = openSession(t, log);
  assert.equal((await next())?.kind, "opened");
  assert.deepEqual(await records(), [
    [1, 1],
    [2, 1],
    [3, 1],
  ]);
  for (let attempt = 2; attempt <= 6; attempt++) {
    // The session reads on at the end of the log; the nack arrives during that read.
    const held = log.holdReads();
    const pulled = records();
    await held.entered;
    session.handleNack([dlsnOf(2)]);
    held.release();
    assert.deepEqual(await pulled, [[2, attempt]]);
  }
  close();
});

test("an ack that frees room while a read is in flight lets the next records out at once", async (t) => {
  const log = new MemoryLog(10);
  const { session, next, records, close } = openSession(t, log, { flow: { ...DEFAULT_FLOW, maxOutstandingRecords: 3 } });
  assert.equal((await next())?.kind, "opened");
  assert.deepEqual(await records(), [
    [1, 1],
    [2, 1],
    [3, 1],
  ]);
  session.handleAck([dlsnOf(1), dlsnOf(2), dlsnOf(3)], undefined);
  assert.deepEqual(await records(), [
    [4, 1],
    [5, 1],
    [6, 1],
  ]);
  close();
});

test("the first idle heartbeat comes one heartbeat after the last frame", async (t) => {
  const HEARTBEAT_MS = 300;
  const log = new MemoryLog(1);
  const { next, records, close } = openSession(t, log, { heartbeatMs: HEARTBEAT_MS });
  assert.equal((await next())?.kind, "opened");
  await records();
  // A frame off any fixed tick: a record appended a little later.
  await sleep(HEARTBEAT_MS / 5);
  log.append(1);
  await records();
  const lastFrameAt = performance.now();
  const status = await next(HEARTBEAT_MS * 3);
  const idleMs = performance.now() - lastFrameAt;
  assert.equal(status?.kind, "status");
  assert.ok(idleMs >= HEARTBEAT_MS - 20, `idle status after ${idleMs.toFixed(0)} ms`);
  assert.ok(idleMs < HEARTBEAT_MS * 1.25, `idle status after ${idleMs.toFixed(0)} ms (heartbeat ${HEARTBEAT_MS} ms)`);
  close();
});

test("an ended session closes its log reader", async (t) => {
  const log = new MemoryLog(3);
  const { next, records, close } = openSession(t, log);
  await next();
  await records();
  close();
  assert.equal(await next(), undefined, "the frames end");
  await sleep(0);
  assert.equal(log.openReaders.size, 0);
});

test("a records frame names the entries and slots its records are, a redelivery too", async (t) => {
  const log = new MemoryLog(3);
  const { session, next } = openSession(t, log);
  const nextRecords = async (): Promise<Extract<SessionFrame, { kind: "records" }>> => {
    for (;;) {
      const frame = await next();
      assert.ok(frame, "the session ended while records were awaited");
      if (frame.kind === "records") return frame;
    }
  };
  const runsOf = (frame: Extract<SessionFrame, { kind: "records" }>) => frame.runs.map((run) => [Number(run.entry.entry), run.from, run.to]);
  const first = await nextRecords();
  assert.deepEqual(runsOf(first), [
    [1, 0, 1],
    [2, 0, 1],
    [3, 0, 1],
  ]);
  assert.equal(first.count, 3);
  session.handleNack([dlsnOf(2)]);
  const again = await nextRecords();
  assert.deepEqual(runsOf(again), [[2, 0, 1]]);
  assert.equal(again.count, 1);
  assert.deepEqual(again.attempts, [2]);
});

test("DLSN helpers of the memory log line up with the session's floor", () => {
  assert.ok(dlsnOf(0).isBefore(dlsnOf(1)));
  assert.equal(numberAt(new DLSN(1n, 7n, 0n)), 7);
});
