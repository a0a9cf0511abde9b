import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { AppendRequest } from "../../src/gen/dlog/v1/log.js";
import { decodeAppendRequest } from "../../src/server/append-request.js";

const samples: AppendRequest[] = [
  { log: "", records: [], requestId: 0n, producerId: "", producerSeq: 0n },
  {
    log: "orders",
    records: [
      { payload: Buffer.from("a"), txid: undefined },
      { payload: Buffer.alloc(0), txid: 0n },
      { payload: Buffer.from("ccc"), txid: -5n },
      { payload: Buffer.alloc(300, 7), txid: 9_007_199_254_740_993n },
    ],
    requestId: 18_446_744_073_709_551_615n,
    producerId: "p-1",
    producerSeq: 42n,
  },
];

test("the append decoder reads every AppendRequest as the generated decoder does", () => {
  for (const sample of samples) {
    const bytes = Buffer.from(AppendRequest.encode(sample).finish());
    assert.deepEqual(decodeAppendRequest(bytes), AppendRequest.decode(bytes));
  }
});

test("the append decoder skips fields it does not know, in the request and in a record, as the generated decoder does", () => {
  const record = new BinaryWriter().uint32(10).bytes(Buffer.from("x")).uint32(29).fixed32(7).uint32(16).int64(3n).finish();
  const bytes = Buffer.from(
    new BinaryWriter()
      .uint32(10)
      .string("log")
      .uint32(9)
      .fixed64(1n)
      .uint32(18)
      .bytes(record)
      .uint32(99 * 8 + 2)
      .bytes(Buffer.from("unknown"))
      .uint32(40)
      .uint64(2n)
      .finish(),
  );
  assert.deepEqual(decodeAppendRequest(bytes), AppendRequest.decode(bytes));
  assert.deepEqual(decodeAppendRequest(bytes).records, [{ payload: Buffer.from("x"), txid: 3n }]);
});

test("the append decoder's payloads are views into the request bytes, not copies", () => {
  const bytes = Buffer.from(AppendRequest.encode(samples[1]!).finish());
  const payload = decodeAppendRequest(bytes).records[3]!.payload;
  assert.ok(Buffer.isBuffer(payload));
  assert.deepEqual(payload, Buffer.alloc(300, 7));
  bytes.fill(0);
  assert.deepEqual(payload, Buffer.alloc(300, 0), "the payload changed with the request bytes");
});

test("the append decoder refuses bytes that are not a message, as the generated one does", () => {
  const truncated = Buffer.from(AppendRequest.encode(samples[1]!).finish()).subarray(0, 12);
  assert.throws(() => AppendRequest.decode(truncated));
  assert.throws(() => decodeAppendRequest(truncated));
});

test("records of every payload length encoding, txids of every size, and malformed records decode (or fail) as the generated decoder does", () => {
  const payloadSizes = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152];
  const txids = [undefined, 0n, 1n, -1n, 127n, 128n, 2n ** 31n, 1_764_000_000_123n, 1_764_000_000_123n, 2n ** 63n - 1n, -(2n ** 63n)];
  const records = [
    ...payloadSizes.map((size, i) => ({ payload: Buffer.alloc(size, i), txid: undefined })),
    ...txids.map((txid, i) => ({ payload: Buffer.alloc(3, i), txid })),
  ];
  const bytes = Buffer.from(AppendRequest.encode({ log: "l", records, requestId: 1n, producerId: "", producerSeq: 0n }).finish());
  // Payloads as their length and digest: a failing comparison of megabytes would not be readable.
  const shown = (request: AppendRequest) => ({
    ...request,
    records: request.records.map(({ payload, txid }) => ({ payload: `${payload.length} ${createHash("sha1").update(payload).digest("hex")}`, txid })),
  });
  const decoded = decodeAppendRequest(bytes);
  assert.deepEqual(shown(decoded), shown(AppendRequest.decode(bytes)));
  assert.deepEqual(shown(decoded), shown({ log: "l", records, requestId: 1n, producerId: "", producerSeq: 0n }));

  // A record whose payload runs past the record's end, or past the message's end; a txid cut short; a record longer than the message.
  const record = (inner: Uint8Array): Buffer => Buffer.from(new BinaryWriter().uint32(18).bytes(inner).finish());
  const malformed = [
    Buffer.concat([record(Buffer.from([10, 5, 1, 2])), record(new BinaryWriter().uint32(10).bytes(Buffer.from("next")).finish())]),
    Buffer.concat([Buffer.from([18, 3, 10, 9, 1])]),
    Buffer.concat([Buffer.from([18, 3, 16, 0x80, 0x80])]),
    Buffer.concat([Buffer.from([18, 50, 10, 1, 7])]),
    Buffer.from([18, 2, 10, 0x80]),
  ];
  for (const sample of malformed) {
    let expected: unknown;
    try {
      expected = AppendRequest.decode(sample);
    } catch (error) {
      assert.throws(() => decodeAppendRequest(sample), `the generated decoder refuses ${sample.toString("hex")} (${String(error)})`);
      continue;
    }
    assert.deepEqual(decodeAppendRequest(sample), expected, sample.toString("hex"));
  }
});
