/** The server-wide outstanding-bytes budget over real Session objects on an in-memory log. */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { OutstandingBudget } from "../../src/sessions/outstanding-budget.js";
import type { SessionFrame } from "../../src/sessions/session.js";
import { MemoryLog, dlsnOf, memorySession, numberAt, recordsOf } from "../helpers/memory-log.js";

function openSession(t: TestContext, log: MemoryLog, budget: OutstandingBudget, readerId: string) {
  const session = memorySession(log, { readerId, budget });
  t.after(() => session.handleGone());
  const frames = session.frames()[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<SessionFrame>> | undefined;
  /** The next frame, or undefined when none comes within `ms`. */
  async function next(ms = 300): Promise<SessionFrame | undefined> {
    pending ??= frames.next();
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([pending, new Promise<"none">((resolve) => (timer = setTimeout(() => resolve("none"), ms)))]);
    clearTimeout(timer);
    if (result === "none") return undefined;
    pending = undefined;
    return result.done ? undefined : result.value;
  }
  /** Record numbers delivered until nothing more comes. */
  async function delivered(): Promise<number[]> {
    const out: number[] = [];
    for (let frame = await next(); frame; frame = await next()) if (frame.kind === "records") out.push(...recordsOf(frame).map((r) => numberAt(r.dlsn)));
    return out;
  }
  return { session, next, delivered };
}

test("past the server-wide budget delivery pauses for every session; acks free room and wake the paused ones", async (t) => {
  const log = new MemoryLog(20, 10); // 10-byte records
  const budget = new OutstandingBudget(30);
  const a = openSession(t, log, budget, "a");
  assert.equal((await a.next())?.kind, "opened");
  assert.deepEqual(await a.delivered(), [1, 2, 3], "a takes the whole budget: 3 records of 10 bytes");
  assert.equal(budget.used, 30);

  const b = openSession(t, log, budget, "b");
  assert.equal((await b.next())?.kind, "opened");
  assert.deepEqual(await b.delivered(), [], "b gets nothing while the budget is in use");

  a.session.handleAck([dlsnOf(1), dlsnOf(2)], undefined);
  assert.equal(budget.used, 10);
  const toB = await b.delivered();
  const toA = await a.delivered();
  assert.equal(toA.length + toB.length, 2, `the 20 freed bytes went out once: a ${toA}, b ${toB}`);
  assert.ok(budget.used <= 30, `used ${budget.used}`);

  a.session.handleGone();
  b.session.handleGone();
  assert.equal(budget.used, 0, "ended sessions give everything back");
});

test("a paused session says why in its status", async (t) => {
  const log = new MemoryLog(5, 10);
  const budget = new OutstandingBudget(10);
  const a = openSession(t, log, budget, "a");
  await a.next();
  assert.deepEqual(await a.delivered(), [1]);
  const b = openSession(t, log, budget, "b");
  await b.next();
  b.session.handleFlow({ maxBatchRecords: 5 }); // asks for a status frame
  const status = await b.next();
  assert.equal(status?.kind, "status");
  assert.match(status.kind === "status" ? status.status.pausedReason : "", /outstanding bytes budget is in use \(--max-outstanding-bytes-total 10\)/);
});
