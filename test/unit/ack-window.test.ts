import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { isDlogError } from "../../src/errors.js";
import { EntryBatch, type EntryRecordInput, EntryRecords, type EntryRun, encodeEntry } from "../../src/log/entry-codec.js";
import { AckWindow, type AckedHole } from "../../src/sessions/ack-window.js";

/** A record as a test names it; `batchOf` stores it in an entry. */
interface AdmittedRecord {
  readonly dlsn: DLSN;
  readonly sequenceId: bigint;
  readonly payload: Uint8Array;
}

/**
 * The records as a log read returns them: stored entries (consecutive records of one entry share
 * it, earlier slots of an entry read from the middle hold empty records), one run per entry.
 */
function batchOf(records: readonly AdmittedRecord[]): EntryBatch {
  const runs: EntryRun[] = [];
  for (let i = 0; i < records.length; ) {
    const first = records[i]!;
    let end = i + 1;
    while (end < records.length && records[end]!.dlsn.segment === first.dlsn.segment && records[end]!.dlsn.entry === first.dlsn.entry) end++;
    const from = Number(first.dlsn.slot);
    const inputs: EntryRecordInput[] = Array.from({ length: from }, () => ({ payload: new Uint8Array(0), txid: 0n }));
    for (let k = i; k < end; k++) {
      assert.equal(Number(records[k]!.dlsn.slot), from + k - i, "a test batch holds consecutive slots of an entry");
      inputs.push({ payload: records[k]!.payload, txid: 0n });
    }
    const value = encodeEntry(inputs, 0, first.sequenceId - BigInt(from));
    runs.push({ entry: new EntryRecords(first.dlsn.segment, first.dlsn.entry, value, false), from, to: from + end - i });
    i = end;
  }
  return new EntryBatch(runs);
}

/** Admits `records` (as a log read would give them) and returns the ones to send. */
function admit(window: AckWindow, records: readonly AdmittedRecord[], nowMs: number): AdmittedRecord[] {
  return window.admit(batchOf(records), nowMs).flatMap(([from, to]) => records.slice(from, to));
}

const PAYLOAD_BYTES = 10;

/** DLSN 1/n/0 with sequence id n. */
function at(n: number): DLSN {
  return new DLSN(1n, BigInt(n), 0n);
}

function record(n: number): AdmittedRecord {
  return { dlsn: at(n), sequenceId: BigInt(n), payload: new Uint8Array(PAYLOAD_BYTES) };
}

function records(from: number, to: number): AdmittedRecord[] {
  const out: AdmittedRecord[] = [];
  for (let n = from; n <= to; n++) out.push(record(n));
  return out;
}

function hole(n: number): AckedHole {
  return { dlsn: at(n), sequenceId: BigInt(n) };
}

/** A window resuming after 1/0/0 with records 1..count delivered. */
function delivered(count: number, options: { maxHoles?: number; holes?: AckedHole[] } = {}): AckWindow {
  const window = new AckWindow({
    floor: at(0),
    floorSequenceId: 0n,
    holes: options.holes ?? [],
    maxHoles: options.maxHoles ?? 100,
  });
  admit(window, records(1, count), 0);
  return window;
}

function holeNumbers(window: AckWindow): number[] {
  return window.holes().map((h) => Number(h.dlsn.entry));
}

function stateOf(window: AckWindow): unknown {
  return {
    floor: window.floor.toString(),
    floorSequenceId: window.floorSequenceId,
    holes: holeNumbers(window),
    outstanding: window.outstandingRecords,
    bytes: window.outstandingBytes,
    version: window.version,
  };
}

function refusedNaming(dlsn: DLSN): (error: unknown) => boolean {
  return (error) => isDlogError(error, "INVALID_ARGUMENT") && error.message.includes(dlsn.toString());
}

test("admit returns every new record to send and counts them outstanding with their bytes", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, holes: [], maxHoles: 10 });
  const sent = admit(window, records(1, 3), 0);
  assert.deepEqual(
    sent.map((r) => r.dlsn.toString()),
    ["1/1/0", "1/2/0", "1/3/0"],
  );
  assert.equal(window.outstandingRecords, 3);
  assert.equal(window.outstandingBytes, 3 * PAYLOAD_BYTES);
  assert.equal(window.deliveredHigh?.toString(), "1/3/0");
  assert.equal(window.deliveredHighSequenceId, 3n);
  assert.equal(window.attemptOf(at(2)), 1);
});

test("admit refuses records out of order or at/below the floor (a server bug)", () => {
  const window = delivered(3);
  assert.throws(() => admit(window, [record(3)], 0), /increasing DLSN order/);
  assert.throws(() => admit(window, [record(2)], 0), /increasing DLSN order/);
  const fresh = new AckWindow({ floor: at(5), floorSequenceId: 5n, maxHoles: 10 });
  assert.throws(() => admit(fresh, [record(5)], 0), /increasing DLSN order/);
});

test("in-order acks advance the floor and free the payload bytes", () => {
  const window = delivered(3);
  assert.equal(window.ack([at(1)]), 1);
  assert.equal(window.floor.toString(), "1/1/0");
  assert.equal(window.ack([at(2), at(3)]), 2);
  assert.equal(window.floor.toString(), "1/3/0");
  assert.equal(window.floorSequenceId, 3n);
  assert.equal(window.outstandingRecords, 0);
  assert.equal(window.outstandingBytes, 0);
  assert.equal(window.holeCount, 0);
});

test("out-of-order acks leave holes and the floor jumps when the gap fills", () => {
  const window = delivered(5);
  window.ack([at(4), at(2), at(5)]);
  assert.equal(window.floor.toString(), "1/0/0");
  assert.deepEqual(holeNumbers(window), [2, 4, 5]);
  assert.equal(window.holeCount, 3);
  assert.equal(window.outstandingRecords, 2);

  window.ack([at(1)]);
  assert.equal(window.floor.toString(), "1/2/0");
  assert.deepEqual(holeNumbers(window), [4, 5]);

  window.ack([at(3)]);
  assert.equal(window.floor.toString(), "1/5/0");
  assert.equal(window.floorSequenceId, 5n);
  assert.deepEqual(window.holes(), []);
});

test("acking a record twice is a no-op, above or below the floor, and leaves the version alone", () => {
  const window = delivered(3);
  assert.equal(window.ack([at(1), at(3)]), 2);
  const before = stateOf(window);
  assert.equal(window.ack([at(1), at(3), at(3)]), 0);
  assert.deepEqual(stateOf(window), before);
});

test("the version increments whenever the floor or the holes change", () => {
  const window = delivered(3);
  const v0 = window.version;
  window.ack([at(2)]);
  assert.equal(window.version, v0 + 1);
  window.ack([at(1)]);
  assert.equal(window.version, v0 + 2);
  window.nack([at(3)]);
  assert.equal(window.version, v0 + 2, "a nack changes neither floor nor holes");
});

test("ack of a DLSN not delivered yet is refused naming it, and nothing changes", () => {
  const window = delivered(3);
  window.ack([at(2)]);
  const before = stateOf(window);
  assert.throws(() => window.ack([at(1), at(9)]), refusedNaming(at(9)));
  assert.deepEqual(stateOf(window), before, "the valid ack in the same batch was not applied");
});

test("ack of a DLSN at or before the session's start floor is refused naming it", () => {
  const window = new AckWindow({ floor: at(10), floorSequenceId: 10n, maxHoles: 10 });
  admit(window, records(11, 12), 0);
  const before = stateOf(window);
  assert.throws(() => window.ack([at(11), at(10)]), refusedNaming(at(10)));
  assert.throws(() => window.ack([at(3)]), refusedNaming(at(3)));
  assert.deepEqual(stateOf(window), before);
});

test("ack of a DLSN inside the window that matches no delivered record is refused naming it", () => {
  const window = delivered(3);
  const between = new DLSN(1n, 2n, 1n);
  const before = stateOf(window);
  assert.throws(() => window.ack([at(1), between]), refusedNaming(between));
  assert.deepEqual(stateOf(window), before);
});

test("ack of a DLSN this session already moved the floor past is a harmless no-op", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, maxHoles: 10 });
  // Records 1 and 3 only: 1/2/0 does not exist, but it is below the floor once 3 is acked.
  admit(window, [record(1), record(3)], 0);
  window.ack([at(1), at(3)]);
  assert.equal(window.floor.toString(), "1/3/0");
  assert.equal(window.ack([at(2), at(1)]), 0);
});

test("an ack before anything is delivered is refused", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, maxHoles: 10 });
  assert.throws(() => window.ack([at(1)]), refusedNaming(at(1)));
});

test("ackUpTo acks every delivered record up to the DLSN and moves the floor", () => {
  const window = delivered(5);
  window.ack([at(4)]);
  assert.equal(window.ackUpTo(at(3)), 3);
  assert.equal(window.floor.toString(), "1/4/0", "the hole at 4 is absorbed");
  assert.equal(window.outstandingRecords, 1);
  assert.equal(window.ackUpTo(at(2)), 0, "at or below the floor is a no-op");
  assert.equal(window.ackUpTo(at(5)), 1);
  assert.equal(window.floor.toString(), "1/5/0");
});

test("ackUpTo a DLSN between records stops the floor at the last delivered record before it", () => {
  const window = delivered(3);
  assert.equal(window.ackUpTo(new DLSN(1n, 2n, 7n)), 2);
  assert.equal(window.floor.toString(), "1/2/0");
});

test("ackUpTo beyond the highest delivered record is refused naming it, and nothing changes", () => {
  const window = delivered(3);
  const before = stateOf(window);
  assert.throws(() => window.ackUpTo(at(4)), refusedNaming(at(4)));
  assert.deepEqual(stateOf(window), before);
});

test("ackUpTo at or before the start floor is a harmless no-op", () => {
  const window = new AckWindow({ floor: at(10), floorSequenceId: 10n, maxHoles: 10 });
  admit(window, records(11, 12), 0);
  assert.equal(window.ackUpTo(at(4)), 0);
  assert.equal(window.floor.toString(), "1/10/0");
});

test("nack queues the records for redelivery once each, in DLSN order; taking them raises the attempt", () => {
  const window = delivered(3);
  assert.equal(window.nack([at(3), at(1), at(3)]), 2);
  assert.equal(window.nack([at(1)]), 0, "a record queued already is not queued twice");
  assert.equal(window.redeliveriesQueued, 2);
  const again = window.takeRedeliveries(10, 50);
  assert.deepEqual(
    again.map((r) => [r.dlsn.toString(), r.attempt, r.batch.sequenceIdAt(r.index), r.batch.payloadBytes(r.index, r.index + 1)]),
    [
      ["1/1/0", 2, 1n, PAYLOAD_BYTES],
      ["1/3/0", 2, 3n, PAYLOAD_BYTES],
    ],
  );
  assert.equal(again[0]!.batch.dlsnAt(again[0]!.index).toString(), "1/1/0");
  assert.equal(window.attemptOf(at(3)), 2);
  assert.equal(window.outstandingRecords, 3, "a nacked record stays outstanding");
  assert.equal(window.redeliveriesQueued, 0);
  assert.equal(window.nack([at(1)]), 1, "once sent again it can be nacked again");
});

test("a queued record acked before its turn is not sent again", () => {
  const window = delivered(3);
  window.nack([at(1), at(2)]);
  window.ack([at(1)]);
  assert.equal(window.redeliveriesQueued, 1);
  assert.deepEqual(
    window.takeRedeliveries(10, 0).map((r) => r.dlsn.toString()),
    ["1/2/0"],
  );
});

test("the redelivery queue never holds more than the window, however often the ack wait expires", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, maxHoles: 10 });
  admit(window, records(1, 500), 0);
  // A client that reads nothing: ack_wait 1 ms expires on every tick and nothing is taken.
  for (let now = 1; now <= 1000; now++) window.expired(now, 1);
  assert.equal(window.redeliveriesQueued, 500);
  window.ackUpTo(at(400));
  assert.equal(window.redeliveriesQueued, 100, "acked records leave the queue's count");
  assert.equal(window.takeRedeliveries(1000, 2000).length, 100);
});

test("nack of an unknown, undelivered or already acked DLSN is refused naming it, and nothing changes", () => {
  const window = delivered(3);
  window.ack([at(2)]);
  for (const bad of [at(2), at(9), new DLSN(1n, 1n, 5n), at(0)]) {
    assert.throws(() => window.nack([at(1), bad]), refusedNaming(bad));
  }
  assert.equal(window.attemptOf(at(1)), 1, "the valid DLSN in the refused batch was not redelivered");
});

test("expired queues records unacked past the ack wait; each is sent again with a raised attempt", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, maxHoles: 10 });
  admit(window, records(1, 2), 0);
  admit(window, records(3, 3), 500);
  window.ack([at(2)]);

  assert.equal(window.expired(999, 1000), 0);
  assert.equal(window.expired(1000, 1000), 1);
  const first = window.takeRedeliveries(10, 1000);
  assert.deepEqual(
    first.map((r) => [r.dlsn.toString(), r.attempt]),
    [["1/1/0", 2]],
  );
  assert.equal(window.expired(2000, 1000), 2);
  const second = window.takeRedeliveries(10, 2000);
  assert.deepEqual(
    second.map((r) => [r.dlsn.toString(), r.attempt]),
    [
      ["1/1/0", 3],
      ["1/3/0", 2],
    ],
  );
});

test("records an earlier session may have delivered count their first delivery here as attempt 2", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, maxHoles: 10, deliveredThrough: 2n });
  admit(window, records(1, 4), 0);
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => window.attemptOf(at(n))),
    [2, 2, 1, 1],
  );
});

test("inherited holes are skipped by admit and absorbed into the floor", () => {
  const window = new AckWindow({
    floor: at(0),
    floorSequenceId: 0n,
    holes: [hole(1), hole(2), hole(4), hole(7)],
    maxHoles: 100,
  });
  assert.equal(window.holeCount, 4);
  const sent = admit(window, records(1, 5), 0);
  assert.deepEqual(
    sent.map((r) => Number(r.dlsn.entry)),
    [3, 5],
  );
  assert.equal(window.floor.toString(), "1/2/0", "holes right after the floor are absorbed");
  assert.equal(window.floorSequenceId, 2n);
  assert.deepEqual(holeNumbers(window), [4, 7], "the unreached hole is still persisted");
  assert.equal(window.outstandingRecords, 2);

  assert.equal(window.ack([at(4)]), 0, "acking an inherited hole again is a no-op");
  window.ack([at(3)]);
  assert.equal(window.floor.toString(), "1/4/0");
  assert.deepEqual(holeNumbers(window), [7]);
});

test("an inherited hole that the log no longer holds is dropped when delivery passes it", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, holes: [hole(2), hole(6)], maxHoles: 10 });
  const v0 = window.version;
  admit(window, [record(1), record(3)], 0);
  assert.deepEqual(holeNumbers(window), [6]);
  assert.ok(window.version > v0);
});

test("inherited holes at or below the floor are ignored", () => {
  const window = new AckWindow({ floor: at(5), floorSequenceId: 5n, holes: [hole(3), hole(8)], maxHoles: 10 });
  assert.deepEqual(holeNumbers(window), [8]);
});

test("holesFull turns on at maxHoles and off when the gap fills", () => {
  const window = delivered(4, { maxHoles: 2 });
  window.ack([at(2)]);
  assert.equal(window.holesFull, false);
  window.ack([at(3)]);
  assert.equal(window.holeCount, 2);
  assert.equal(window.holesFull, true);
  window.ack([at(1)]);
  assert.equal(window.holesFull, false);
});

test("holesFull counts inherited holes not yet reached", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, holes: [hole(5), hole(6)], maxHoles: 2 });
  assert.equal(window.holesFull, true);
});

test("outstanding bytes track payload sizes through admit, ack and nack", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, maxHoles: 10 });
  admit(
    window,
    [
      { dlsn: at(1), sequenceId: 1n, payload: new Uint8Array(3) },
      { dlsn: at(2), sequenceId: 2n, payload: new Uint8Array(40) },
      { dlsn: at(3), sequenceId: 3n, payload: new Uint8Array(0) },
    ],
    0,
  );
  assert.equal(window.outstandingBytes, 43);
  window.nack([at(2)]);
  assert.equal(window.outstandingBytes, 43);
  window.ack([at(2)]);
  assert.equal(window.outstandingBytes, 3);
  window.ackUpTo(at(3));
  assert.equal(window.outstandingBytes, 0);
});

test("a long session with out-of-order acks keeps the floor exact across compaction", () => {
  const window = new AckWindow({ floor: at(0), floorSequenceId: 0n, maxHoles: 10_000 });
  const total = 5000;
  for (let n = 1; n <= total; n += 100) {
    admit(window, records(n, n + 99), n);
    const batch: DLSN[] = [];
    // Ack the batch back to front, then the floor must jump to its end.
    for (let k = n + 99; k >= n; k--) batch.push(at(k));
    window.ack(batch.slice(0, 50));
    assert.equal(window.holeCount, 50);
    window.ack(batch.slice(50));
    assert.equal(window.floor.toString(), at(n + 99).toString());
  }
  assert.equal(window.outstandingRecords, 0);
  assert.equal(window.holeCount, 0);
});

test("individual acks with a cumulative bound past the delivered high are refused together, nothing applied", () => {
  const window = delivered(3);
  const before = stateOf(window);
  assert.throws(() => window.ack([at(1), at(2)], at(9)), refusedNaming(at(9)));
  assert.deepEqual(stateOf(window), before, "the valid individual acks were not applied");
  assert.equal(window.ack([at(3)], at(2)), 3, "individual and cumulative acks apply together");
  assert.equal(window.floor.toString(), at(3).toString());
});

/**
 * The window against a plain model of the contract (one object per record, linear scans): random
 * admits of multi-record entries across batches, inherited holes, individual and cumulative acks,
 * nacks, ack-wait expiry and redelivery; after every step both must agree on everything visible.
 */
test("random sessions agree with a record-by-record model of the window", () => {
  for (let seed = 1; seed <= 40; seed++) checkAgainstModel(seed);
});

interface ModelRecord {
  dlsn: DLSN;
  sequenceId: bigint;
  bytes: number;
  acked: boolean;
  inherited: boolean;
  attempt: number;
  deliveredAt: number;
  queued: boolean;
}

function checkAgainstModel(seed: number): void {
  let state = seed;
  const random = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * n);
  };
  // The log: entries of 1 to 4 slots, sequence ids counting on.
  const log: AdmittedRecord[] = [];
  for (let entry = 1n, sequenceId = 1n; log.length < 400; entry++) {
    for (let slot = 0n, slots = 1 + random(4); slot < BigInt(slots); slot++) {
      log.push({ dlsn: new DLSN(1n, entry, slot), sequenceId: sequenceId++, payload: new Uint8Array(random(5)) });
    }
  }
  const inheritedHoles = log.filter(() => random(20) === 0).map((r) => ({ dlsn: r.dlsn, sequenceId: r.sequenceId }));
  const deliveredThrough = BigInt(random(100));
  const window = new AckWindow({ floor: new DLSN(1n, 0n, 0n), floorSequenceId: 0n, holes: inheritedHoles, maxHoles: 1000, deliveredThrough });
  const model: ModelRecord[] = [];
  const queue: ModelRecord[] = [];
  let next = 0;
  let now = 0;
  const inherited = new Set(inheritedHoles.map((h) => h.dlsn.toString()));
  const unacked = (): ModelRecord[] => model.filter((r) => !r.acked);
  const pick = (from: ModelRecord[]): DLSN[] => from.filter(() => random(3) === 0).map((r) => r.dlsn);
  const enqueue = (r: ModelRecord): boolean => {
    if (r.queued) return false;
    r.queued = true;
    queue.push(r);
    return true;
  };

  for (let step = 0; step < 300; step++) {
    now += random(50);
    const op = random(8);
    const context = `seed ${seed} step ${step} op ${op}`;
    if (op <= 1 && next < log.length) {
      const batch = log.slice(next, next + 1 + random(12));
      next += batch.length;
      const sent = admit(window, batch, now);
      const expected: string[] = [];
      for (const r of batch) {
        const isHole = inherited.has(r.dlsn.toString());
        const attempt = isHole ? 0 : r.sequenceId <= deliveredThrough ? 2 : 1;
        model.push({
          dlsn: r.dlsn,
          sequenceId: r.sequenceId,
          bytes: r.payload.length,
          acked: isHole,
          inherited: isHole,
          attempt,
          deliveredAt: now,
          queued: false,
        });
        if (!isHole) expected.push(r.dlsn.toString());
      }
      assert.deepEqual(
        sent.map((r) => r.dlsn.toString()),
        expected,
        context,
      );
    } else if (op === 2) {
      const dlsns = pick(model);
      const newly = dlsns.filter((d) => !model.find((r) => r.dlsn.equals(d))!.acked).length;
      assert.equal(window.ack(dlsns), newly, context);
      for (const d of dlsns) model.find((r) => r.dlsn.equals(d))!.acked = true;
    } else if (op === 3 && model.length > 0) {
      const upTo = model[random(model.length)]!.dlsn;
      const covered = model.filter((r) => !r.dlsn.isAfter(upTo) && !r.acked);
      const extra = pick(model.filter((r) => r.dlsn.isAfter(upTo) && !r.acked));
      assert.equal(window.ack(extra, upTo), covered.length + extra.length, context);
      for (const r of covered) r.acked = true;
      for (const d of extra) model.find((r) => r.dlsn.equals(d))!.acked = true;
    } else if (op === 4) {
      const dlsns = pick(unacked());
      const sorted = model.filter((r) => dlsns.some((d) => d.equals(r.dlsn)));
      assert.equal(window.nack(dlsns), sorted.filter((r) => !r.queued).length, context);
      for (const r of sorted) enqueue(r);
      const acked = model.find((r) => r.acked && !r.inherited && r.dlsn.isAfter(window.floor));
      if (acked) assert.throws(() => window.nack([acked.dlsn]), refusedNaming(acked.dlsn), context);
    } else if (op === 5) {
      const wait = random(200);
      const expired = unacked().filter((r) => r.deliveredAt <= now - wait && !r.queued);
      assert.equal(window.expired(now, wait), expired.length, context);
      for (const r of expired) enqueue(r);
    } else if (op === 6) {
      const max = 1 + random(6);
      const expected: string[] = [];
      while (expected.length < max && queue.length > 0) {
        const r = queue.shift()!;
        r.queued = false;
        if (r.acked) continue;
        r.attempt++;
        r.deliveredAt = now;
        expected.push(`${r.dlsn.toString()}#${r.attempt}`);
      }
      assert.deepEqual(
        window.takeRedeliveries(max, now).map((r) => `${r.dlsn.toString()}#${r.attempt}`),
        expected,
        context,
      );
    } else if (op === 7 && next < log.length) {
      const ahead = log[next]!.dlsn;
      assert.throws(() => window.ack([ahead]), refusedNaming(ahead), context);
    }

    const firstUnacked = model.findIndex((r) => !r.acked);
    const floorIndex = firstUnacked < 0 ? model.length - 1 : firstUnacked - 1;
    const floor = floorIndex < 0 ? new DLSN(1n, 0n, 0n) : model[floorIndex]!.dlsn;
    assert.equal(window.floor.toString(), floor.toString(), context);
    assert.equal(window.floorSequenceId, floorIndex < 0 ? 0n : model[floorIndex]!.sequenceId, context);
    const pendingHoles = inheritedHoles.filter((h) => model.length === 0 || h.dlsn.isAfter(model.at(-1)!.dlsn));
    const holes = [...model.slice(floorIndex + 1).filter((r) => r.acked), ...pendingHoles].map((r) => `${r.dlsn.toString()}@${r.sequenceId}`);
    assert.deepEqual(
      window.holes().map((h) => `${h.dlsn.toString()}@${h.sequenceId}`),
      holes,
      context,
    );
    assert.equal(window.holeCount, holes.length, context);
    assert.equal(window.outstandingRecords, unacked().length, context);
    assert.equal(
      window.outstandingBytes,
      unacked().reduce((sum, r) => sum + r.bytes, 0),
      context,
    );
    assert.equal(window.redeliveriesQueued, queue.filter((r) => !r.acked).length, context);
    for (const [i, r] of model.entries()) assert.equal(window.attemptOf(r.dlsn), i <= floorIndex ? undefined : r.attempt, `${context} ${r.dlsn.toString()}`);
  }
}
