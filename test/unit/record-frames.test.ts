import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { EntryCache } from "../../src/log/entry-cache.js";
import { type DecodedRecord, type EntryRun, encodeEntry } from "../../src/log/entry-codec.js";
import { encodeReadResponse, encodeRecordsFrame } from "../../src/server/record-frames.js";
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
    const fast = encodeRecordsFrame(SAMPLES, attempts, lag).bytes;
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
      return record(big, big, big, { txid: big, appendTimeMs: v, sequenceId: big });
    });
  const attempts = records.map((_, i) => i + 1);
  const fast = encodeRecordsFrame(records, attempts, 7n).bytes;
  const reference = SessionResponse.encode({
    kind: { $case: "records", value: { records: records.map((r, i) => asWire(r, attempts[i]!)), lag: 7n } },
  }).finish();
  assert.deepEqual(Buffer.from(fast), Buffer.from(reference));
});

test("a records frame decodes back to every field, int64 values beyond 2^53 and negatives included", () => {
  const decoded = SessionResponse.decode(encodeRecordsFrame(SAMPLES, 2, 5n).bytes);
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

test("records of entries kept for several readers go out encoded once per entry, the same bytes as ts-proto's, whatever part of which entries a frame holds", () => {
  const cache = new EntryCache(1 << 20);
  cache.openReader(3);
  cache.openReader(3); // two readers: what they read is kept, and encoded once for both
  const entry = (e: bigint, first: bigint, payloads: string[]) =>
    cache.decoded(
      3,
      1n,
      e,
      encodeEntry(
        payloads.map((p, i) => ({ payload: Buffer.from(p), txid: BigInt(i) * 1_000_000_007n })),
        1_795_720_579_420,
        first,
      ),
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
    assert.deepEqual(Buffer.from(encodeRecordsFrame(records, 1, 7n, runs).bytes), Buffer.from(reference), records.map((r) => r.dlsn.toString()).join(" "));
  }
  assert.ok(a.encoded && b.encoded, "both entries were encoded once, for every frame");
  // Other attempts are encoded per frame; the shared bytes stay those of attempt 1.
  const again = SessionResponse.encode({ kind: { $case: "records", value: { records: a.records.map((r) => asWire(r, 2)), lag: 0n } } }).finish();
  assert.deepEqual(Buffer.from(encodeRecordsFrame(a.records, 2, 0n, [{ entry: a, from: 0, to: 3 }]).bytes), Buffer.from(again));
});
