/**
 * The Reader on its hand-decoded records frames (src/record-frame.ts, plugged into the Session
 * method in client.ts): against a real dlogd, it hands out what `read()` (the generated decoder)
 * reads of the same records, 64-bit txids and empty payloads included; against a server that
 * sends a malformed records frame, it fails with a clear error instead of crashing.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { Opened, SessionResponse } from "../src/gen/dlog/v1/reader.js";
import { type DlogClient, DlogError, type LogRecord, type ReaderRecord, Status, createDlogClient } from "../src/index.js";
import { type TestServer, startTestServer } from "../src/testing.js";

const dlogd = process.env.DLOG_DLOGD || fileURLToPath(new URL("../../../../bin/dlogd.js", import.meta.url));
const WAIT_MS = 10_000;

let server: TestServer;
let client: DlogClient;

before(async () => {
  server = await startTestServer({ dlogd });
  client = server.client();
});

after(async () => {
  await client?.close();
  await server?.close();
});

function fields(record: LogRecord): unknown {
  return {
    dlsn: record.dlsn.toString(),
    txid: record.txid,
    appendTimeMs: record.appendTimeMs,
    payload: Buffer.from(record.payload),
    sequenceId: record.sequenceId,
  };
}

async function take(iterator: AsyncIterator<ReaderRecord>, count: number): Promise<ReaderRecord[]> {
  const records: ReaderRecord[] = [];
  const deadline = AbortSignal.timeout(WAIT_MS);
  while (records.length < count) {
    assert.ok(!deadline.aborted, `only ${records.length} of ${count} records within ${WAIT_MS} ms`);
    const next = await iterator.next();
    assert.ok(!next.done);
    records.push(next.value);
  }
  return records;
}

test("the reader hands out every field as read() does, 64-bit txids and empty payloads included, from views of its frames", async () => {
  const log = `frames-${randomBytes(4).toString("hex")}`;
  await client.createLog(log);
  await client.append(
    log,
    Array.from({ length: 50 }, (_, i) => (i % 10 === 0 ? "" : `bulk ${i}`)),
  );
  // Txids never decrease: records after these have one past 2^53 too.
  const txid = 2n ** 62n;
  await client.append(log, [
    { payload: "", txid },
    { payload: "second", txid },
    { payload: Buffer.alloc(300, 7), txid: txid + 1n },
  ]);
  const read: LogRecord[] = [];
  for await (const record of client.read(log)) read.push(record);
  assert.equal(read.length, 53);

  const reader = client.reader({ log, readerId: "r", fallback: "earliest" });
  const iterator = reader[Symbol.asyncIterator]();
  const first = await take(iterator, 53);
  assert.deepEqual(first.map(fields), read.map(fields));
  assert.ok(first.every((record) => record.attempt === 1 && !record.redelivered));
  assert.equal(first[50]!.txid, txid);
  assert.equal(first[50]!.payload.length, 0);
  // A payload is a view of the frame it came in (the generated decoder copied each; it still does
  // for the records with a txid past 2^53): right before it lie its field's tag and length.
  for (const record of first.slice(0, 50).filter((r) => r.payload.length > 0)) {
    const payload = record.payload;
    assert.deepEqual([...new Uint8Array(payload.buffer, payload.byteOffset - 2, 2)], [0x22, payload.length], record.text());
  }

  // A nack brings the record again, attempt 2, redelivered; acking the rest and it, the reader drains.
  first[10]!.nack();
  for (const record of first) if (record !== first[10]) record.ack();
  const [again] = await take(iterator, 1);
  assert.deepEqual(fields(again!), fields(read[10]!));
  assert.equal(again!.attempt, 2);
  assert.equal(again!.redelivered, true);
  again!.ack();
  const durable = await reader.close();
  assert.equal(durable?.toString(), read[52]!.dlsn.toString());
});

test("a malformed records frame fails the reader with INTERNAL, saying the frame does not decode", async () => {
  const opened = SessionResponse.encode({
    kind: { $case: "opened", value: Opened.fromPartial({ epoch: 1n, resumeAfter: { segment: 1n, entry: 0n, slot: -1n } }) },
  }).finish();
  // A records frame whose record's txid varint runs off the end of the frame.
  const malformed = Buffer.from([0x12, 0x04, 0x0a, 0x02, 0x10, 0xff]);
  const fake = new grpc.Server();
  const passThrough = (bytes: Buffer): Buffer => bytes;
  fake.addService(
    {
      session: {
        path: "/dlog.v1.ReaderService/Session",
        requestStream: true,
        responseStream: true,
        requestSerialize: passThrough,
        requestDeserialize: passThrough,
        responseSerialize: passThrough,
        responseDeserialize: passThrough,
      },
    },
    {
      session: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.once("data", () => {
          call.write(Buffer.from(opened));
          call.write(malformed);
        });
        call.on("error", () => undefined);
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    fake.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const fakeClient = createDlogClient({ address: `127.0.0.1:${port}` });
  try {
    const reader = fakeClient.reader({ log: "any", readerId: "r" });
    await assert.rejects(
      async () => {
        for await (const record of reader) record.ack();
      },
      (error: unknown) =>
        error instanceof DlogError && error.code === Status.INTERNAL && /a SessionResponse of 6 bytes that does not decode/.test(error.details),
    );
    const end = await reader.closed;
    assert.equal(end.reason, "failed");
  } finally {
    await fakeClient.close();
    fake.forceShutdown();
  }
});
