import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { DlogError } from "../../src/errors.js";
import { type DecodedRecord, type EntryRecordInput, EntryRecords, type EntryRun, encodeEntry } from "../../src/log/entry-codec.js";
import { LazyRecordsFrame, encodeReadResponse, encodeRecordsFrame, passEncoded } from "../../src/server/record-frames.js";
import type { Record as WireRecord } from "../../src/gen/dlog/v1/common.js";
import { ReadResponse } from "../../src/gen/dlog/v1/log.js";
import { SessionResponse } from "../../src/gen/dlog/v1/reader.js";

function record(segment: bigint, entry: bigint, slot: bigint, fields: Partial<DecodedRecord> = {}): DecodedRecord {
  return {
    dlsn: new DLSN(segment, entry, slot),
    txid: 1_795_720_579_420n,
    appendTimeMs: 1_795_720_579_420,
    sequenceId: 41n,
    payload: Buffer.from("payload"),
    ...fields,
  };
}

/** The same record as ts-proto's object, the reference encoding. */
function asWire(r: DecodedRecord, attempt: number): WireRecord {
  return {
    dlsn: { segment: r.dlsn.segment, entry: r.dlsn.entry, slot: r.dlsn.slot },
    txid: r.txid,
    appendTimeMs: BigInt(r.appendTimeMs),
    payload: r.payload,
    sequenceId: r.sequenceId,
    attempt,
  };
}

/** Each record as the last slot of a stored entry of its own (earlier slots empty), and the run naming it. */
function storedRuns(records: readonly DecodedRecord[]): EntryRun[] {
  return records.map((r) => {
    const slot = Number(r.dlsn.slot);
    const inputs: EntryRecordInput[] = Array.from({ length: slot }, () => ({ payload: Buffer.alloc(0), txid: 0n }));
    inputs.push({ payload: r.payload, txid: r.txid });
    const entry = new EntryRecords(r.dlsn.segment, r.dlsn.entry, encodeEntry(inputs, r.appendTimeMs, r.sequenceId - BigInt(slot)), false);
    return { entry, from: slot, to: slot + 1 };
  });
}

const SAMPLES: DecodedRecord[] = [
  record(1n, 0n, 0n, { sequenceId: 0n }),
  record(1n, 2n, 3n),
  record(7n, 300n, 1n, { payload: Buffer.alloc(0), txid: 0n }),
  record(2n, 16_384n, 0n, { payload: Buffer.alloc(70_000, 7), sequenceId: 9_007_199_254_740_993n }),
  record(9_223_372_036_854_775_807n, 1n, 0n, { txid: -5n, appendTimeMs: 0 }),
];

test("a records frame is byte-identical to ts-proto's encoding of the same SessionResponse", () => {
  const attempts = SAMPLES.map((_, i) => i + 1);
  for (const lag of [0n, 1n, 123_456_789n]) {
    const fast = encodeRecordsFrame(storedRuns(SAMPLES), attempts, lag).bytes;
    const reference = SessionResponse.encode({
      kind: { $case: "records", value: { records: SAMPLES.map((r, i) => asWire(r, attempts[i]!)), lag } },
    }).finish();
    assert.deepEqual(Buffer.from(fast), Buffer.from(reference), `lag ${lag}`);
  }
});

test("every varint length encodes as ts-proto's: each field at 0, 1, 127, 128 and each power of two to 2^53 - 1, either side", () => {
  const values = [0, 1, 127, 128];
  for (let bits = 8; bits <= 53; bits++) values.push(2 ** bits - 1, 2 ** bits);
  const records = values
    .filter((v) => v <= Number.MAX_SAFE_INTEGER)
    .map((v) => {
      const big = BigInt(v);
      // A slot is below an entry's record count (a u32): its lengths up to 2^14 + 1 stand for the rest.
      const slot = BigInt(Math.min(v, 16_385));
      return record(big, big, slot, { txid: big, appendTimeMs: v, sequenceId: big + slot });
    });
  const attempts = records.map((_, i) => i + 1);
  const fast = encodeRecordsFrame(storedRuns(records), attempts, 7n).bytes;
  const reference = SessionResponse.encode({
    kind: { $case: "records", value: { records: records.map((r, i) => asWire(r, attempts[i]!)), lag: 7n } },
  }).finish();
  assert.deepEqual(Buffer.from(fast), Buffer.from(reference));
});

test("a records frame decodes back to every field, int64 values beyond 2^53 and negatives included", () => {
  const decoded = SessionResponse.decode(encodeRecordsFrame(storedRuns(SAMPLES), 2, 5n).bytes);
  assert.equal(decoded.kind?.$case, "records");
  const batch = decoded.kind.$case === "records" ? decoded.kind.value : assert.fail();
  assert.equal(batch.lag, 5n);
  assert.equal(batch.records.length, SAMPLES.length);
  batch.records.forEach((wire, i) => {
    const expected = SAMPLES[i]!;
    assert.deepEqual(wire.dlsn, { segment: expected.dlsn.segment, entry: expected.dlsn.entry, slot: expected.dlsn.slot });
    assert.equal(wire.txid, expected.txid);
    assert.equal(wire.appendTimeMs, BigInt(expected.appendTimeMs));
    assert.equal(wire.sequenceId, expected.sequenceId);
    assert.deepEqual(Buffer.from(wire.payload), Buffer.from(expected.payload));
    assert.equal(wire.attempt, 2);
  });
});

test("a Read response is byte-identical to ts-proto's, with attempt left out", () => {
  const fast = encodeReadResponse(SAMPLES).bytes;
  const reference = ReadResponse.encode({ records: SAMPLES.map((r) => asWire(r, 0)) }).finish();
  assert.deepEqual(Buffer.from(fast), Buffer.from(reference));
  assert.deepEqual(Buffer.from(encodeReadResponse([]).bytes), Buffer.from(ReadResponse.encode({ records: [] }).finish()));
});

test("records go out as ts-proto encodes them, whatever part of which entries a frame holds: from the stored bytes, or copied from entries kept for several readers and encoded once", () => {
  for (const shared of [false, true]) {
    const entry = (e: bigint, first: bigint, payloads: string[]) =>
      new EntryRecords(
        1n,
        e,
        encodeEntry(
          payloads.map((p, i) => ({ payload: Buffer.from(p), txid: BigInt(i) * 1_000_000_007n })),
          1_795_720_579_420,
          first,
        ),
        shared,
      );
    const a = entry(4n, 10n, ["a0", "", "a2".repeat(100)]);
    const b = entry(5n, 13n, ["b0", "b1"]);
    const frames: EntryRun[][] = [
      [{ entry: a, from: 0, to: 3 }],
      [{ entry: a, from: 1, to: 3 }],
      [
        { entry: a, from: 2, to: 3 },
        { entry: b, from: 0, to: 2 },
      ],
      [{ entry: b, from: 0, to: 1 }],
      [
        { entry: a, from: 0, to: 1 },
        { entry: a, from: 2, to: 3 },
        { entry: b, from: 1, to: 2 },
      ],
    ];
    for (const runs of frames) {
      const records = runs.flatMap((run) => run.entry.records.slice(run.from, run.to));
      const reference = SessionResponse.encode({ kind: { $case: "records", value: { records: records.map((r) => asWire(r, 1)), lag: 7n } } }).finish();
      const named = `${shared ? "shared" : "lone"}: ${records.map((r) => r.dlsn.toString()).join(" ")}`;
      assert.deepEqual(Buffer.from(encodeRecordsFrame(runs, 1, 7n).bytes), Buffer.from(reference), named);
      // Attempts per record, counted across the runs.
      const attempts = records.map((_, i) => i + 2);
      const each = SessionResponse.encode({ kind: { $case: "records", value: { records: records.map((r, i) => asWire(r, attempts[i]!)), lag: 0n } } }).finish();
      assert.deepEqual(Buffer.from(encodeRecordsFrame(runs, attempts, 0n).bytes), Buffer.from(each), `${named}, attempts each`);
    }
    assert.equal(a.encoded !== undefined && b.encoded !== undefined, shared, "shared entries, and only they, were encoded once for every frame");
  }
});

test("a lazy records frame encodes as grpc-js serializes it, the same bytes as an encoded one, frame after frame through one reused buffer", () => {
  const type = passEncoded(SessionResponse);
  const small = storedRuns(SAMPLES.slice(0, 2));
  const large = storedRuns(SAMPLES);
  const copies: Buffer[] = [];
  // grpc-js copies each serialized message at once, as here.
  for (const runs of [large, small, large, small]) copies.push(Buffer.from(type.encode(new LazyRecordsFrame(runs, 1, 3n) as never).finish()));
  for (const [i, runs] of [large, small, large, small].entries()) {
    assert.deepEqual(copies[i], Buffer.from(encodeRecordsFrame(runs, 1, 3n).bytes), `frame ${i}`);
  }
});

test("a damaged stored entry is INTERNAL naming the entry, not a RangeError or records read past its end", () => {
  const value = encodeEntry(
    ["a", "bb", "ccc"].map((p) => ({ payload: Buffer.from(p), txid: 7n })),
    1_795_720_579_420,
    1n,
  );
  assert.equal(new EntryRecords(2n, 9n, value, false).count, 3);
  const isDamaged = (error: unknown) => error instanceof DlogError && error.code === "INTERNAL" && /entry 2\/9 is damaged/.test(error.message);
  // Cut inside the last record's header (10 and 4 bytes short) or its payload (1 byte short); then one byte too long.
  for (const cut of [value.length - 4, value.length - 10, value.length - 1]) {
    assert.throws(() => new EntryRecords(2n, 9n, value.subarray(0, cut), false), isDamaged, `cut at ${cut}`);
  }
  assert.throws(() => new EntryRecords(2n, 9n, Buffer.concat([value, Buffer.of(0)]), false), isDamaged);
  // So is a count far beyond the bytes, refused before it sizes the index (4 bytes a record): the
  // array buffers in use do not grow by the 64 MiB an index for 2^24 records would take.
  const inflated = Buffer.from(value);
  inflated.writeUInt32BE(1 << 24, 17);
  const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
  assert.throws(() => new EntryRecords(2n, 9n, inflated, false), isDamaged);
  assert.ok(process.memoryUsage().arrayBuffers - arrayBuffersBefore < 1 << 20, "the index was sized from the damaged count");
});
