import assert from "node:assert/strict";
import { test } from "node:test";
import type { DLSN as WireDLSN } from "../src/gen/dlog/v1/common.js";
import { AckTracker, type Trackable } from "../src/ack-tracker.js";

class Delivery implements Trackable {
  acked = false;
  primary: Trackable | undefined = undefined;
  ackMessage = 0;
  readonly segmentNumber = 1;
  readonly entryNumber: number;
  readonly slotNumber: number;
  readonly wireDlsn: WireDLSN;
  constructor(entry: number, slot = 0) {
    this.entryNumber = entry;
    this.slotNumber = slot;
    this.wireDlsn = { segment: 1n, entry: BigInt(entry), slot: BigInt(slot) };
  }
}

function deliver(tracker: AckTracker<Delivery>, entries: number[]): Delivery[] {
  return entries.map((entry) => {
    const delivery = new Delivery(entry);
    tracker.delivered(delivery);
    return delivery;
  });
}

const at = (entry: number, slot = 0): WireDLSN => ({ segment: 1n, entry: BigInt(entry), slot: BigInt(slot) });

test("acks of a contiguous prefix go out as one cumulative up_to", () => {
  const tracker = new AckTracker<Delivery>();
  const records = deliver(tracker, [0, 1, 2, 3, 4]);
  for (const record of records.slice(0, 3)) tracker.ack(record);
  const { ack, nack } = tracker.take(1);
  assert.deepEqual(ack, { dlsns: [], upTo: at(2) });
  assert.equal(nack, undefined);
  assert.equal(tracker.pending, false);
});

test("acks above the first unacked record go out individually, then fold into up_to once the gap closes", () => {
  const tracker = new AckTracker<Delivery>();
  const [r0, r1, r2, r3] = deliver(tracker, [0, 1, 2, 3]);
  tracker.ack(r2!);
  tracker.ack(r3!);
  assert.deepEqual(tracker.take(1).ack, { dlsns: [at(2), at(3)], upTo: undefined });
  tracker.ack(r0!);
  assert.deepEqual(tracker.take(1).ack, { dlsns: [], upTo: at(0) });
  tracker.ack(r1!);
  assert.deepEqual(tracker.take(1).ack, { dlsns: [], upTo: at(3) });
});

test("many acks between two takes make one message", () => {
  const tracker = new AckTracker<Delivery>();
  const records = deliver(
    tracker,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  for (const record of records) tracker.ack(record);
  const { ack } = tracker.take(1);
  assert.deepEqual(ack, { dlsns: [], upTo: at(999) });
  assert.deepEqual(tracker.take(1), { ack: undefined, nack: undefined });
});

test("acking the same DLSN twice is sent once", () => {
  const tracker = new AckTracker<Delivery>();
  const [r0] = deliver(tracker, [0]);
  assert.equal(tracker.ack(r0!), true);
  assert.equal(tracker.ack(r0!), false);
  assert.deepEqual(tracker.take(1).ack, { dlsns: [], upTo: at(0) });
});

test("a nacked record holds the cumulative ack back until its redelivery is acked", () => {
  const tracker = new AckTracker<Delivery>();
  const [r0, r1, r2] = deliver(tracker, [0, 1, 2]);
  tracker.ack(r0!);
  assert.equal(tracker.nack(r1!), true);
  tracker.ack(r2!);
  const first = tracker.take(1);
  assert.deepEqual(first.ack, { dlsns: [at(2)], upTo: at(0) });
  assert.deepEqual(first.nack, { dlsns: [at(1)] });

  const again = new Delivery(1);
  tracker.delivered(again); // the server delivers DLSN 1/1/0 a second time
  assert.equal(again.primary, r1);
  tracker.ack(again);
  assert.deepEqual(tracker.take(1).ack, { dlsns: [], upTo: at(2) });
});

test("acking either delivery of a DLSN settles both", () => {
  const tracker = new AckTracker<Delivery>();
  const [r0] = deliver(tracker, [0, 1]);
  const again = new Delivery(0);
  tracker.delivered(again);
  tracker.ack(r0!);
  assert.equal(tracker.ack(again), false);
  assert.equal(tracker.nack(again), false);
  assert.deepEqual(tracker.take(1).ack, { dlsns: [], upTo: at(0) });
});

test("a late second delivery of a DLSN already covered by up_to is not acked again", () => {
  const tracker = new AckTracker<Delivery>();
  const records = deliver(tracker, [0, 1]);
  for (const record of records) tracker.ack(record);
  tracker.take(1);
  const late = new Delivery(0);
  tracker.delivered(late);
  tracker.ack(late);
  assert.deepEqual(tracker.take(1), { ack: undefined, nack: undefined });
});

test("the window is trimmed as it advances, and lookups still find later records", () => {
  const tracker = new AckTracker<Delivery>();
  const records = deliver(
    tracker,
    Array.from({ length: 20_000 }, (_, i) => i),
  );
  for (const record of records.slice(0, 15_000)) tracker.ack(record);
  tracker.take(1);
  assert.equal(tracker.outstanding, 5_000);
  const again = new Delivery(17_000);
  tracker.delivered(again);
  assert.equal(again.primary, records[17_000]);
});

test("each acked record is stamped with the number of the Ack message that carried it", () => {
  const tracker = new AckTracker<Delivery>();
  const [r0, r1, r2] = deliver(tracker, [0, 1, 2]);
  tracker.ack(r0!);
  tracker.take(1);
  tracker.ack(r2!);
  tracker.take(2);
  assert.deepEqual([r0!.ackMessage, r1!.ackMessage, r2!.ackMessage], [1, 0, 2]);
});

test("DLSNs past 2^53 (ordered by their bigints) are tracked in order: a second delivery finds its first one", () => {
  const wide = (entry: bigint): Trackable & { wireDlsn: WireDLSN } => ({
    acked: false,
    primary: undefined,
    ackMessage: 0,
    segmentNumber: -1,
    entryNumber: -1,
    slotNumber: -1,
    wireDlsn: { segment: 1n, entry, slot: 0n },
  });
  const tracker = new AckTracker<Trackable>();
  const first = [new Delivery(5), wide(2n ** 60n), wide(2n ** 60n + 1n)];
  for (const record of first) tracker.delivered(record);
  const again = wide(2n ** 60n);
  tracker.delivered(again);
  assert.equal(again.primary, first[1]);
  tracker.ack(first[0]!);
  tracker.ack(again);
  assert.deepEqual(tracker.take(1).ack, { dlsns: [], upTo: { segment: 1n, entry: 2n ** 60n, slot: 0n } });
});
