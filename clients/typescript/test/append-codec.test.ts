import assert from "node:assert/strict";
import { test } from "node:test";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { DLSN } from "../../../src/dlsn.js";
import { AppendAnswer, type EncodedRecords, RequestEncoder, decodeAppendAnswer, encodeAppendRequest } from "../src/append-codec.js";
import { AppendRequest, AppendResponse } from "../src/gen/dlog/v1/log.js";

/** The decoded answer as plain values, to compare with what the generated decoder makes of the same bytes. */
function plain(response: AppendResponse): unknown {
  const { txids, requestId, error, duplicate } = response;
  return { dlsns: response.dlsns.map((d) => [d.segment, d.entry, d.slot]), txids, requestId, error, duplicate };
}

function sameAsGenerated(bytes: Uint8Array): AppendResponse {
  const decoded = decodeAppendAnswer(bytes);
  assert.deepEqual(plain(decoded), plain(AppendResponse.decode(bytes)));
  return decoded;
}

test("an answer of 1000 consecutive slots decodes as the generated decoder does, into DLSN objects sharing their fields", () => {
  const dlsns = Array.from({ length: 1000 }, (_, i) => ({ segment: 3n, entry: 77_777n, slot: BigInt(i) }));
  const bytes = AppendResponse.encode({ dlsns, txids: dlsns.map(() => 1_764_000_000_123n), requestId: 9n, error: undefined, duplicate: false }).finish();
  const decoded = sameAsGenerated(bytes);
  assert.ok(decoded.dlsns.every((d) => d instanceof DLSN));
  assert.ok(decoded.dlsns.every((d) => d.entry === decoded.dlsns[0]!.entry));
});

test("large, negative and zero fields, duplicate, unpacked txids and an error decode as the generated decoder does", () => {
  const dlsns = [
    { segment: 2n ** 62n, entry: -1n, slot: 5n },
    { segment: 0n, entry: 0n, slot: 0n },
    { segment: 9n, entry: 2n ** 33n, slot: 2n ** 40n },
  ];
  sameAsGenerated(AppendResponse.encode({ dlsns, txids: [-5n, 0n, 2n ** 63n - 1n], requestId: 2n ** 64n - 1n, error: undefined, duplicate: true }).finish());
  const error = { code: 9, message: "transaction id out of order", reason: "TXID_OUT_OF_ORDER", metadata: { log: "a" } };
  sameAsGenerated(AppendResponse.encode({ dlsns: [], txids: [], requestId: 4n, error, duplicate: false }).finish());
  // txids as single varint fields (unpacked), and an unknown field of each handled wire type.
  const writer = new BinaryWriter();
  writer.uint32(16).int64(7n).uint32(16).int64(-7n);
  writer.uint32(80).uint64(5n); // field 10, varint
  writer.uint32(90).bytes(new Uint8Array([1, 2, 3])); // field 11, length-delimited
  writer.uint32(101).fixed32(1); // field 12, fixed32: left to the generated decoder
  sameAsGenerated(writer.finish());
});

test("bytes that are not an AppendResponse are refused as the generated decoder refuses them", () => {
  const bytes = AppendResponse.encode({
    dlsns: [{ segment: 1n, entry: 2n, slot: 3n }],
    txids: [1n],
    requestId: 1n,
    error: undefined,
    duplicate: false,
  }).finish();
  const truncated = bytes.subarray(0, bytes.length - 3);
  assert.throws(() => AppendResponse.decode(truncated));
  assert.throws(() => decodeAppendAnswer(truncated));
});

test("requests encode byte for byte as the generated encoder writes them", () => {
  const payload = Buffer.alloc(100, 0x61);
  const cases: AppendRequest[] = [
    { log: "orders", records: Array.from({ length: 1000 }, () => ({ payload, txid: undefined })), requestId: 12n, producerId: "ts-1", producerSeq: 3n },
    {
      log: "é-log",
      records: [
        { payload: Buffer.alloc(0), txid: 0n },
        { payload: Buffer.alloc(300, 1), txid: -1n },
      ],
      requestId: 0n,
      producerId: "",
      producerSeq: 0n,
    },
    { log: "", records: [{ payload, txid: 2n ** 63n - 1n }], requestId: 2n ** 64n - 1n, producerId: "p", producerSeq: 2n ** 40n },
    { log: "big", records: [{ payload: Buffer.alloc(70_000, 2), txid: 1_764_000_000_000n }], requestId: 1n, producerId: "", producerSeq: 0n },
  ];
  for (const request of cases) {
    assert.deepEqual(Buffer.from(encodeAppendRequest(request).finish()), Buffer.from(AppendRequest.encode(request).finish()));
  }
  assert.throws(() => encodeAppendRequest({ ...cases[0]!, records: [{ payload, txid: 2n ** 63n }] }), /too large/);
  assert.throws(() => encodeAppendRequest({ ...cases[0]!, requestId: -1n }), /too large/);
});

test("the appender's encoder writes requests the generated decoder reads as the records added, the first send in place and a resend as a copy", () => {
  const encoder = new RequestEncoder("é-orders", "ts-producer");
  const records = encoder.open();
  const added: Array<{ payload: Buffer; txid: bigint | undefined }> = [
    { payload: Buffer.alloc(100, 0x61), txid: undefined },
    { payload: Buffer.alloc(0), txid: 0n },
    { payload: Buffer.from("ünïcode", "utf8"), txid: -1n },
    { payload: Buffer.alloc(300, 1), txid: 2n ** 63n - 1n },
  ];
  for (const record of added) encoder.add(records, record.payload, record.txid);
  encoder.add(records, "a string", 7n);
  const expected = { log: "é-orders", records: [...added, { payload: Buffer.from("a string"), txid: 7n }], producerId: "ts-producer" };
  const first = encoder.request(records, 5n, 2n ** 40n).finish();
  assert.equal(first.buffer, records.buffer.buffer, "the first send is a view of the encoder's buffer");
  assert.deepEqual(AppendRequest.decode(first), { ...expected, requestId: 5n, producerSeq: 2n ** 40n });
  const resend = encoder.request(records, 2n ** 64n - 1n, 1n).finish();
  assert.notEqual(resend.buffer, records.buffer.buffer, "a resend is a copy");
  assert.deepEqual(AppendRequest.decode(resend), { ...expected, requestId: 2n ** 64n - 1n, producerSeq: 1n });
  assert.deepEqual(AppendRequest.decode(first), { ...expected, requestId: 5n, producerSeq: 2n ** 40n }, "the first send is unchanged by the resend");
  // Without a log name, producer id, request id or seq, those fields are left out as the generated encoder leaves them.
  const bare = new RequestEncoder("", undefined);
  const one = bare.open();
  bare.add(one, Buffer.from("x"), undefined);
  assert.deepEqual(
    Buffer.from(bare.request(one, 0n, 0n).finish()),
    Buffer.from(AppendRequest.encode({ log: "", records: [{ payload: Buffer.from("x") }], requestId: 0n, producerId: "", producerSeq: 0n }).finish()),
  );
});

test("the appender's encoder keeps every request whole across buffers: records that outgrow one move to the next", () => {
  const encoder = new RequestEncoder("log", undefined);
  const requests = Array.from({ length: 40 }, () => encoder.open());
  // Only the request opened last takes records.
  assert.throws(() => encoder.add(requests[0]!, Buffer.from("x"), undefined), /opened last/);
  const sent: Array<{ records: EncodedRecords; payloads: Buffer[] }> = [];
  for (let r = 0; r < 40; r++) {
    const records = encoder.open();
    // Requests of growing size, one of a payload larger than any buffer so far.
    const payloads = Array.from({ length: r * 20 }, (_, i) => Buffer.alloc(r === 30 && i === 0 ? 3 << 20 : 100, (r + i) & 0xff));
    for (const payload of payloads) encoder.add(records, payload, undefined);
    sent.push({ records, payloads });
  }
  for (const [i, { records, payloads }] of sent.entries()) {
    const decoded = AppendRequest.decode(encoder.request(records, BigInt(i + 1), 0n).finish());
    assert.equal(decoded.requestId, BigInt(i + 1));
    assert.deepEqual(
      decoded.records.map((record) => record.payload),
      payloads,
    );
  }
  assert.ok(new Set(sent.map(({ records }) => records.buffer)).size > 1, "the records spanned more than one buffer");
});

test("a txid that is not an int64 is refused by the appender's encoder, which then writes nothing", () => {
  const encoder = new RequestEncoder("log", undefined);
  const records = encoder.open();
  encoder.add(records, Buffer.from("a"), 1n);
  assert.throws(() => encoder.add(records, Buffer.from("b"), 2n ** 63n), /too large/);
  assert.throws(() => encoder.add(records, Buffer.from("b"), -(2n ** 63n) - 1n), /too large/);
  encoder.add(records, Buffer.from("c"), -(2n ** 63n));
  assert.deepEqual(AppendRequest.decode(encoder.request(records, 1n, 0n).finish()).records, [
    { payload: Buffer.from("a"), txid: 1n },
    { payload: Buffer.from("c"), txid: -(2n ** 63n) },
  ]);
});

test("an answer's DLSNs read one by one are those the generated decoder reads, across runs of slots and entries", () => {
  const dlsns = [
    ...Array.from({ length: 5000 }, (_, i) => ({ segment: 1n, entry: 9n, slot: BigInt(i) })),
    { segment: 1n, entry: 10n, slot: 0n },
    { segment: 1n, entry: 10n, slot: 2n }, // a gap: a run of its own
    { segment: 2n, entry: 10n, slot: 3n }, // another segment, same entry and next slot: a run of its own
    { segment: 2n, entry: 10n, slot: 2n ** 40n },
    { segment: 2n, entry: 10n, slot: 2n ** 40n + 1n },
    { segment: 2n, entry: 10n, slot: -1n },
  ];
  const bytes = AppendResponse.encode({ dlsns, txids: [], requestId: 1n, error: undefined, duplicate: false }).finish();
  const wire = (d: { segment: bigint; entry: bigint; slot: bigint }): string => `${d.segment}/${d.entry}/${d.slot}`;
  for (const answer of [decodeAppendAnswer(bytes), AppendAnswer.of(AppendResponse.decode(bytes))]) {
    assert.equal(answer.count, dlsns.length);
    const inOrder = Array.from({ length: answer.count }, (_, i) => answer.at(i));
    assert.ok(inOrder.every((d) => d instanceof DLSN));
    assert.deepEqual(inOrder.map(wire), dlsns.map(wire));
    // Out of order too (the cursor goes back to the start).
    assert.equal(wire(answer.at(5001)), "1/10/2");
    assert.equal(wire(answer.at(3)), "1/9/3");
    assert.throws(() => answer.at(dlsns.length), RangeError);
    assert.deepEqual(answer.dlsns.map(wire), dlsns.map(wire));
  }
});
