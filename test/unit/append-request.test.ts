import assert from "node:assert/strict";
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
