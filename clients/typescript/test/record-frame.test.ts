/**
 * The reader's records-frame decoder (src/record-frame.ts) against the generated decoder: for
 * every frame here, what the Reader hands out (each record's DLSN, txid, append time, payload,
 * sequence id, attempt, redelivered, and the records' order) is what the generated
 * `SessionResponse.decode` makes of the same bytes, and a frame the generated decoder refuses is
 * refused with a clear error.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { compareOrder, orderOf } from "../src/ack-tracker.js";
import { compareWire } from "../src/convert.js";
import type { DLSN as WireDLSN, Record as WireRecord } from "../src/gen/dlog/v1/common.js";
import { Drained, Opened, SessionResponse } from "../src/gen/dlog/v1/reader.js";
import { ReaderRecord } from "../src/reader-record.js";
import { ReaderSession } from "../src/reader-session.js";
import { RecordFrame, decodeRecordsFrame, decodeSessionResponse } from "../src/record-frame.js";

const NO_DLSN: WireDLSN = { segment: 0n, entry: -1n, slot: -1n };
const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** What the Reader makes of a record: every field it hands out, read through ReaderRecord. */
function handedOut(record: ReaderRecord): unknown {
  return {
    dlsn: [record.dlsn.segment, record.dlsn.entry, record.dlsn.slot],
    wireDlsn: record.wireDlsn,
    txid: record.txid,
    appendTimeMs: record.appendTimeMs,
    payload: Buffer.from(record.payload),
    sequenceId: record.sequenceId,
    text: record.text(),
    attempt: record.attempt,
    redelivered: record.redelivered,
  };
}

/** The same from a generated Record, as the reader handed it out before record-frame.ts. */
function expected(record: WireRecord, redelivered: boolean): unknown {
  const dlsn = record.dlsn ?? NO_DLSN;
  return {
    dlsn: [dlsn.segment, dlsn.entry, dlsn.slot],
    wireDlsn: { segment: dlsn.segment, entry: dlsn.entry, slot: dlsn.slot },
    txid: record.txid,
    appendTimeMs: Number(record.appendTimeMs),
    payload: Buffer.from(record.payload),
    sequenceId: record.sequenceId,
    text: record.payload.toString("utf8"),
    attempt: record.attempt,
    redelivered,
  };
}

/**
 * Decodes `bytes` both ways and compares everything; `byHand`: whether the hand-written decoder
 * must take the frame itself (the fast path) rather than leave it to the generated decoder.
 */
function sameAsGenerated(bytes: Uint8Array, byHand: boolean): RecordFrame | undefined {
  assert.equal(
    decodeRecordsFrame(bytes) !== undefined,
    byHand,
    byHand ? "the frame should take the fast path" : "the frame should go to the generated decoder",
  );
  const generated = SessionResponse.decode(bytes);
  const ours = decodeSessionResponse(bytes);
  assert.equal(ours.kind?.$case, generated.kind?.$case);
  if (generated.kind?.$case !== "records" || ours.kind?.$case !== "records") {
    assert.deepEqual(ours, generated);
    return undefined;
  }
  const frame = ours.kind.value;
  assert.ok(frame instanceof RecordFrame);
  const wires = generated.kind.value.records;
  assert.equal(frame.lag, generated.kind.value.lag);
  assert.equal(frame.count, wires.length);
  // The generated-shaped records a RecordBatch consumer sees.
  assert.deepEqual(frame.records, wires);
  const session = new ReaderSession(2);
  const records = wires.map((_, i) => new ReaderRecord(frame, i, session, undefined));
  for (const [i, record] of records.entries()) assert.deepEqual(handedOut(record), expected(wires[i]!, wires[i]!.attempt > 1), `record ${i}`);
  // Order without bigints is DLSN order, and the redelivery mark it sets is the generated one's.
  for (let i = 0; i < records.length; i++) {
    for (let j = 0; j < records.length; j++) {
      const want = compareWire(wires[i]!.dlsn ?? NO_DLSN, wires[j]!.dlsn ?? NO_DLSN);
      assert.equal(sign(compareOrder(records[i]!, records[j]!)), sign(want), `order of records ${i} and ${j}`);
      const seen: ReaderRecord = new ReaderRecord(frame, i, session, orderOf(records[j]!));
      const again = wires[i]!.attempt > 1 || (wires[i]!.dlsn !== undefined && want <= 0);
      assert.equal(seen.redelivered, again, `record ${i} after record ${j} was handed out`);
    }
  }
  return frame;
}

/** A SessionResponse{records} frame around a RecordBatch written by `batch`. */
function recordsFrame(batch: (w: BinaryWriter) => void): Uint8Array {
  const inner = new BinaryWriter();
  batch(inner);
  return new BinaryWriter().uint32(0x12).bytes(inner.finish()).finish();
}

/** Writes one Record field (RecordBatch field 1) whose body `record` writes. */
function record(w: BinaryWriter, body: (r: BinaryWriter) => void): void {
  const r = new BinaryWriter();
  body(r);
  w.uint32(0x0a).bytes(r.finish());
}

function dlsnField(r: BinaryWriter, segment: bigint, entry: bigint, slot: bigint): void {
  r.uint32(0x0a).bytes(new BinaryWriter().uint32(0x08).int64(segment).uint32(0x10).int64(entry).uint32(0x18).int64(slot).finish());
}

function wire(dlsn: [bigint, bigint, bigint] | undefined, fields: Partial<WireRecord> = {}): WireRecord {
  return {
    dlsn: dlsn && { segment: dlsn[0], entry: dlsn[1], slot: dlsn[2] },
    txid: 0n,
    appendTimeMs: 0n,
    payload: Buffer.alloc(0),
    sequenceId: 0n,
    attempt: 0,
    ...fields,
  };
}

function encode(records: WireRecord[], lag = 0n): Uint8Array {
  return SessionResponse.encode({ kind: { $case: "records", value: { records, lag } } }).finish();
}

test("a frame as the server writes it (256 records of 100 B in consecutive slots) takes the fast path and reads as the generated decoder reads it", () => {
  const time = 1_764_000_000_123n;
  const records = Array.from({ length: 256 }, (_, i) =>
    wire([3n, 70_000n + BigInt(i >> 6), BigInt(i & 63)], {
      txid: time + BigInt(i >> 7),
      appendTimeMs: time,
      payload: Buffer.from(`record ${i} `.padEnd(100, "x")),
      sequenceId: 1_000_000n + BigInt(i),
      attempt: 1,
    }),
  );
  const frame = sameAsGenerated(encode(records, 12_345n), true)!;
  // Payloads are views of the frame, and a record's payload is the same Buffer each time it is read.
  const first = new ReaderRecord(frame, 0, new ReaderSession(2), undefined);
  assert.equal(first.payload, first.payload);
});

test("empty payloads, left out or written with a length of 0, and zero fields read as the generated decoder reads them", () => {
  sameAsGenerated(encode([wire([1n, 0n, 0n]), wire([1n, 0n, 1n], { payload: Buffer.from("x") })]), true);
  const bytes = recordsFrame((w) =>
    record(w, (r) => {
      dlsnField(r, 1n, 2n, 3n);
      r.uint32(0x22).bytes(new Uint8Array(0));
    }),
  );
  sameAsGenerated(bytes, true);
  // A DLSN message with no fields: (0, 0, 0).
  sameAsGenerated(
    recordsFrame((w) => record(w, (r) => r.uint32(0x0a).bytes(new Uint8Array(0)))),
    true,
  );
  // A batch with no records.
  sameAsGenerated(
    recordsFrame(() => undefined),
    true,
  );
});

test("64-bit and negative DLSN fields, txids, times and sequence ids read as the generated decoder reads them, in DLSN order", () => {
  const big = 2n ** 63n - 1n;
  const records = [
    wire([1n, 5n, 0n], { txid: 2n ** 53n - 1n, appendTimeMs: 2n ** 53n - 1n, sequenceId: 2n ** 53n - 1n, payload: Buffer.from("exact") }),
    wire([1n, 5n, 2n ** 31n], { txid: 2n ** 53n }),
    wire([1n, 2n ** 40n, 0n], { txid: big, sequenceId: big }),
    wire([1n, 2n ** 53n, 0n], { txid: -1n, appendTimeMs: -5n }),
    wire([2n ** 62n, 0n, 0n], { sequenceId: -(2n ** 63n), payload: Buffer.from("wide") }),
    wire([big, big, big], { attempt: 3 }),
    wire([-1n, 0n, 0n]),
    wire([1n, 5n, 1n], { txid: 7n, appendTimeMs: 2n ** 60n }),
  ];
  const frame = sameAsGenerated(encode(records), true)!;
  // The records with a value outside 0..2^53-1 are held as the generated decoder's Records.
  assert.equal(frame.segmentNumber(0), 1);
  for (let i = 1; i < records.length; i++) assert.equal(frame.segmentNumber(i), -1, `record ${i}`);
});

test("attempts past 1 mark a record redelivered, and an attempt's varint past 32 bits is cut to 32 as the generated decoder cuts it", () => {
  sameAsGenerated(encode([wire([1n, 1n, 0n], { attempt: 2 }), wire([1n, 1n, 1n], { attempt: 7 }), wire([1n, 1n, 2n], { attempt: 2 ** 32 - 1 })]), true);
  const bytes = recordsFrame((w) =>
    record(w, (r) => {
      dlsnField(r, 1n, 1n, 0n);
      r.uint32(0x30).uint64(2n ** 32n + 5n);
    }),
  );
  const generated = SessionResponse.decode(bytes).kind;
  assert.equal(generated?.$case === "records" && generated.value.records[0]!.attempt, 5);
  sameAsGenerated(bytes, true);
});

test("unknown fields of every skippable wire type, in the frame, the batch, a record and its DLSN, are skipped as the generated decoder skips them", () => {
  const bytes = recordsFrame((w) => {
    w.uint32(0x18).uint64(99n); // batch field 3, varint
    w.uint32(0x22).bytes(Buffer.from("future")); // batch field 4, length-delimited
    record(w, (r) => {
      r.uint32(0x38).uint64(2n ** 60n); // field 7, varint
      r.uint32(0x41).fixed64(5n); // field 8, fixed64
      dlsnField(r, 4n, 9n, 1n);
      r.uint32(0x4a).bytes(Buffer.from("nine")); // field 9, length-delimited
      r.uint32(0x55).fixed32(3); // field 10, fixed32
      r.uint32(0xa0).uint64(1n); // field 20: a two-byte tag
      r.uint32(0x11).fixed64(8n); // field 2 (txid) in another wire type: skipped
      r.uint32(0x22).bytes(Buffer.from("payload"));
      r.uint32(0x10).int64(1_764_000_000_000n);
    });
    record(w, (r) => {
      const dlsn = new BinaryWriter()
        .uint32(0x08)
        .int64(4n)
        .uint32(0x20)
        .uint64(77n)
        .uint32(0x2a)
        .bytes(Buffer.from("d"))
        .uint32(0x10)
        .int64(9n)
        .uint32(0x18)
        .int64(2n);
      r.uint32(0x0a).bytes(dlsn.finish());
      r.uint32(0x30).uint32(1);
    });
    w.uint32(0x10).int64(3n); // lag
    w.uint32(0x2d).fixed32(1); // batch field 5, fixed32
  });
  sameAsGenerated(bytes, true);
  // An unknown field in the frame itself, next to the records: left to the generated decoder.
  sameAsGenerated(new BinaryWriter().raw(bytes).uint32(0x28).uint64(1n).finish(), false);
});

test("a field written twice counts once, the last: a second DLSN replaces the first, fields it lacks back to 0", () => {
  const bytes = recordsFrame((w) =>
    record(w, (r) => {
      dlsnField(r, 1n, 2n, 3n);
      r.uint32(0x10).int64(10n).uint32(0x10).int64(11n);
      r.uint32(0x22).bytes(Buffer.from("first")).uint32(0x22).bytes(Buffer.from("second"));
      r.uint32(0x0a).bytes(new BinaryWriter().uint32(0x08).int64(5n).uint32(0x10).int64(6n).finish());
      r.uint32(0x30).uint32(4).uint32(0x30).uint32(1);
    }),
  );
  sameAsGenerated(bytes, true);
});

test("a record without a DLSN reads as the generated decoder reads it, ordered at (0, -1, -1) and not marked redelivered by order", () => {
  const bytes = recordsFrame((w) => {
    record(w, (r) => r.uint32(0x22).bytes(Buffer.from("no dlsn")).uint32(0x30).uint32(1));
    record(w, (r) => dlsnField(r, 1n, 0n, 0n));
  });
  sameAsGenerated(bytes, true);
});

test("varints written in more bytes than needed read as the generated decoder reads them", () => {
  // txid 1 as 1 then nine bytes of padding; slot 3 as two bytes; a 10-byte varint with a bit past the 64th (dropped).
  const bytes = recordsFrame((w) =>
    record(w, (r) => {
      r.uint32(0x0a).bytes(new Uint8Array([0x08, 0x81, 0x00, 0x18, 0x83, 0x80, 0x00]));
      r.raw(new Uint8Array([0x10, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]));
      r.raw(new Uint8Array([0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    }),
  );
  sameAsGenerated(bytes, true);
  // A known tag in two bytes (txid as 0x90 0x00): left to the generated decoder, which reads it as the txid.
  const twoByteTag = recordsFrame((w) =>
    record(w, (r) => {
      dlsnField(r, 1n, 1n, 1n);
      r.raw(new Uint8Array([0x90, 0x00, 0x05]));
    }),
  );
  sameAsGenerated(twoByteTag, false);
});

test("the other frames, and a records frame with anything beside its records, are the generated decoder's", () => {
  const frames: SessionResponse[] = [
    { kind: { $case: "opened", value: Opened.fromPartial({ epoch: 3n, resumeAfter: { segment: 1n, entry: 0n, slot: -1n }, durableHoles: 5n }) } },
    { kind: { $case: "drained", value: Drained.fromPartial({ durableFloor: { segment: 1n, entry: 2n, slot: 3n }, acksDurable: 4n }) } },
    { kind: undefined },
  ];
  for (const frame of frames) sameAsGenerated(SessionResponse.encode(frame).finish(), false);
  // Records then a drained field: the last oneof field wins.
  const records = encode([wire([1n, 1n, 0n], { attempt: 1 })]);
  const drained = SessionResponse.encode({ kind: { $case: "drained", value: Drained.fromPartial({ acksDurable: 1n }) } }).finish();
  sameAsGenerated(Buffer.concat([records, drained]), false);
  // Two records fields: the second replaces the first.
  sameAsGenerated(Buffer.concat([records, encode([wire([1n, 2n, 0n], { attempt: 2 })])]), false);
  // A group inside a record (wire types 3 and 4): the generated decoder's.
  sameAsGenerated(
    recordsFrame((w) =>
      record(w, (r) =>
        r
          .raw(new Uint8Array([0x3b, 0x08, 0x01, 0x3c]))
          .uint32(0x30)
          .uint32(1),
      ),
    ),
    false,
  );
});

/** The generated decoder's result or error, and ours: both read the bytes alike, or both refuse them, ours saying so. */
function sameOrBothRefuse(bytes: Uint8Array, label: string): "read" | "refused" {
  let generated: SessionResponse;
  try {
    generated = SessionResponse.decode(bytes);
  } catch {
    assert.throws(() => decodeSessionResponse(bytes), new RegExp(`^Error: a SessionResponse of ${bytes.length} bytes that does not decode: .+`), label);
    return "refused";
  }
  const ours = decodeSessionResponse(bytes);
  if (ours.kind?.$case === "records" && generated.kind?.$case === "records") {
    assert.deepEqual(ours.kind.value.records, generated.kind.value.records, label);
    assert.equal(ours.kind.value.lag, generated.kind.value.lag, label);
  } else {
    assert.deepEqual(ours, generated, label);
  }
  return "read";
}

const TEST_FRAME_RECORDS = [
  wire([1n, 7n, 0n], { txid: 1_764_000_000_000n, appendTimeMs: 1_764_000_000_001n, payload: Buffer.from("alpha"), sequenceId: 40n, attempt: 1 }),
  wire([1n, 7n, 1n], { txid: -3n, payload: Buffer.alloc(0), sequenceId: 41n, attempt: 2 }),
  wire([1n, 300n, 200n], { txid: 2n ** 62n, payload: Buffer.alloc(130, 0x62), sequenceId: 2n ** 53n, attempt: 1 }),
];

test("truncated records frames (the frame's length kept consistent) are refused with a clear error, or read as the generated decoder reads them", () => {
  const inner = (SessionResponse.encode({ kind: { $case: "records", value: { records: TEST_FRAME_RECORDS, lag: 9n } } }).finish() as Uint8Array).subarray(
    2 + 1,
  );
  const outcomes = new Set<string>();
  for (let length = 0; length < inner.length; length++) {
    const bytes = new BinaryWriter().uint32(0x12).bytes(inner.subarray(0, length)).finish();
    outcomes.add(sameOrBothRefuse(bytes, `records cut to ${length} bytes`));
  }
  // A frame cut short of its own length, as a broken stream would deliver it.
  const whole = encode(TEST_FRAME_RECORDS, 9n);
  for (let length = 1; length < whole.length; length += 7) outcomes.add(sameOrBothRefuse(whole.subarray(0, length), `frame cut to ${length} bytes`));
  assert.deepEqual([...outcomes].sort(), ["read", "refused"]);
});

test("records frames with bytes changed at random are refused with a clear error, or read as the generated decoder reads them", () => {
  const base = encode(TEST_FRAME_RECORDS, 9n);
  let seed = 0x2545f491;
  const random = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const outcomes = { read: 0, refused: 0, byHand: 0 };
  for (let i = 0; i < 3000; i++) {
    const bytes = Buffer.from(base);
    // Bytes after the frame's own tag and length, so that most changes reach the records.
    for (let k = 0, changes = 1 + random(3); k < changes; k++) bytes[3 + random(bytes.length - 3)] = random(256);
    outcomes[sameOrBothRefuse(bytes, `variant ${i}: ${bytes.toString("hex")}`)]++;
    if (decodeRecordsFrame(bytes) !== undefined) outcomes.byHand++;
  }
  // Both kinds of outcome occur, and many changed frames still take the fast path.
  assert.ok(outcomes.read > 100 && outcomes.refused > 100 && outcomes.byHand > 100, JSON.stringify(outcomes));
});

test("a varint running off the end of the frame, a payload or record longer than what holds it, are refused with a clear error", () => {
  const cases = [
    new Uint8Array([0x12, 0x04, 0x0a, 0x02, 0x10, 0xff]), // a txid whose varint runs off the frame
    new Uint8Array([0x12, 0x04, 0x0a, 0x05, 0x10, 0x01]), // a record longer than the batch
    new Uint8Array([0x12, 0x06, 0x0a, 0x04, 0x22, 0x09, 0x61, 0x62]), // a payload longer than the record
    new Uint8Array([0x12, 0x05, 0x0a, 0x03, 0x0a, 0x04, 0x08]), // a DLSN longer than the record
    new Uint8Array([0x12, 0x0d, 0x0a, 0x0b, 0x10, ...Array(10).fill(0xff)]), // a varint of 11 bytes
    new Uint8Array([0x12, 0x04, 0x0a, 0x02, 0x0f, 0x00]), // an invalid wire type
  ];
  for (const bytes of cases) {
    assert.throws(() => SessionResponse.decode(bytes));
    assert.equal(sameOrBothRefuse(bytes, Buffer.from(bytes).toString("hex")), "refused");
  }
});

test("consecutive frames each keep their own numbers, across the buffer that holds them filling up", () => {
  const frames = Array.from({ length: 40 }, (_, f) =>
    encode(
      Array.from({ length: 200 + f }, (_, i) =>
        wire([1n, BigInt(f), BigInt(i)], { txid: BigInt(f * 1000 + i), payload: Buffer.from(`${f}/${i}`), attempt: 1 }),
      ),
      BigInt(f),
    ),
  );
  const decoded = frames.map((bytes) => decodeRecordsFrame(bytes));
  decoded.forEach((frame, f) => {
    const generated = SessionResponse.decode(frames[f]!);
    assert.ok(generated.kind?.$case === "records");
    assert.deepEqual(frame?.records, generated.kind.value.records, `frame ${f}`);
  });
});
