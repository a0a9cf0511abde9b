import assert from "node:assert/strict";
import { test } from "node:test";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { DLSN } from "../../../src/dlsn.js";
import { decodeAppendAnswer, encodeAppendRequest } from "../src/append-codec.js";
import { AppendRequest, AppendResponse } from "../src/gen/dlog/v1/log.js";

/** The decoded answer as plain values, to compare with what the generated decoder makes of the same bytes. */
function plain(response: AppendResponse): unknown {
  return { ...response, dlsns: response.dlsns.map((d) => [d.segment, d.entry, d.slot]) };
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
