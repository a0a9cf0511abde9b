import assert from "node:assert/strict";
import { test } from "node:test";
import type { DLSN as WireDLSN } from "../../src/gen/dlog/v1/common.js";
import { fixtureForFile } from "../helpers/fixture.js";
import { TestSession, appendNumbered, dlsnKey } from "../helpers/session.js";

const RECORDS = 100_000;
const DLSNS_PER_ACK = 100;

const fixture = fixtureForFile({ metrics: true });

const counter = (metrics: Map<string, number>, name: string): number => {
  const value = metrics.get(name);
  assert.ok(value !== undefined, `metric ${name} is exported`);
  return value;
};

test(`${RECORDS} individual acks cost no more position writes than the flush interval and --ack-flush-max allow`, { timeout: 90_000 }, async (t) => {
  const { clients } = fixture;
  await appendNumbered(clients, "batching", RECORDS, { batch: 10_000 });
  const before = await fixture.metrics();
  const started = performance.now();

  const { session } = await TestSession.open(clients, { log: "batching", readerId: "r" });
  let acked = 0;
  let last: WireDLSN | undefined;
  await session.until(
    (frame) => {
      if (frame.$case !== "records") return undefined;
      const dlsns = frame.value.records.map((r) => r.dlsn!);
      // One DLSN per ack entry, ~100 per message: the server counts every one.
      for (let i = 0; i < dlsns.length; i += DLSNS_PER_ACK) session.ack(dlsns.slice(i, i + DLSNS_PER_ACK));
      acked += dlsns.length;
      last = dlsns.at(-1);
      return acked >= RECORDS ? true : undefined;
    },
    `${RECORDS} records`,
    60_000,
  );
  session.drain();
  const drained = await session.drained();
  const elapsedMs = performance.now() - started;
  assert.equal(dlsnKey(drained.durableFloor), dlsnKey(last), "every ack applied: the floor is the last record");

  const now = await fixture.metrics();
  const delta = (name: string): number => counter(now, name) - counter(before, name);
  const acks = delta("dlog_acks_total");
  const writes = delta("dlog_positions_written_total");
  const flushes = delta("dlog_position_flushes_total");
  t.diagnostic(
    `${acks} acks in ${elapsedMs.toFixed(0)} ms → ${flushes} flushes, ${writes} position writes (${((writes / acks) * 1000).toFixed(2)} per 1000 acks)`,
  );
  assert.equal(acks, RECORDS, "every DLSN counted as one ack");
  assert.equal(delta("dlog_records_delivered_total"), RECORDS, "each record delivered once");
  // The flusher's promise: a write per --ack-flush-interval (100 ms) or per --ack-flush-max (1000) acks,
  // plus the writes a session asks for itself (its open, its drain, a delivery reservation per 4096 records).
  const promised = Math.floor(acks / 1000) + Math.ceil(elapsedMs / 100) + 1 + (2 + Math.ceil(RECORDS / 4096) + 1);
  assert.ok(flushes <= promised, `${flushes} flushes for ${acks} acks in ${elapsedMs.toFixed(0)} ms; the flusher promises at most ${promised}`);
  assert.ok(writes <= flushes, `${writes} position writes in ${flushes} flushes: one reader is written once per flush`);
  assert.ok(writes >= RECORDS / 1000 / 2, `the --ack-flush-max bound (1000 acks) forces writes too: ${writes}`);
});
