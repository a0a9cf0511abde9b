/** How readers, appenders and clients end: `closed`, one loop per reader, `await using`, `client.close()`. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { DlogError, Status } from "../src/index.js";
import { type TestServer, startTestServer } from "../src/testing.js";

const dlogd = process.env.DLOG_DLOGD || fileURLToPath(new URL("../../../../bin/dlogd.js", import.meta.url));
let server: TestServer;

before(async () => {
  server = await startTestServer({ dlogd });
  await using client = server.client();
  await client.append("orders", ["a", "b", "c"]);
});

after(() => server?.close());

test("a second for await on the same reader is refused with a DlogError that says why", async () => {
  await using client = server.client();
  const reader = client.reader({ log: "orders", readerId: "twice" });
  for await (const record of reader) {
    assert.throws(
      () => reader[Symbol.asyncIterator](),
      (error) =>
        error instanceof DlogError && error.code === Status.FAILED_PRECONDITION && error.local && /iterated already: one loop per reader/.test(error.details),
    );
    record.ack();
    break;
  }
  assert.equal((await reader.closed).reason, "closed");
});

test("reader.closed says why it ended: drained, cancelled, failed (with the error)", async () => {
  await using client = server.client();
  const drained = client.reader({ log: "orders", readerId: "closed" });
  await drained.ready();
  await drained.close();
  const end = await drained.closed;
  assert.equal(end.reason, "closed");
  assert.equal(end.error, undefined);

  const cancelled = client.reader({ log: "orders", readerId: "cancelled" });
  await cancelled.ready();
  await cancelled.cancel();
  assert.equal((await cancelled.closed).reason, "cancelled");

  const missing = client.reader({ log: "no-such-log", readerId: "r" });
  const failed = await missing.closed;
  assert.equal(failed.reason, "failed");
  assert.ok(failed.error instanceof DlogError && failed.error.reason === "LOG_NOT_FOUND", String(failed.error));
});

test("await using a reader drains it; client.close() waits for its readers and appenders", async () => {
  const client = server.client();
  {
    await using reader = client.reader({ log: "orders", readerId: "disposed" });
    for await (const record of reader) {
      record.ack();
      if (record.text() === "c") break;
    }
  }
  assert.equal((await client.getPosition("orders", "disposed")).floor?.toString(), "1/0/2");

  const open = client.reader({ log: "orders", readerId: "open-at-close" });
  const first = await open.next();
  assert.ok(!first.done);
  first.value.ack();
  const appender = client.appender("orders");
  const appended = appender.append("d");
  await client.close();
  assert.equal((await open.closed).reason, "closed", "client.close() drained the reader");
  assert.equal((await appended)[0]?.toString(), "1/1/0", "client.close() waited for the append's answer");
  await using check = server.client();
  assert.equal((await check.getPosition("orders", "open-at-close")).floor?.toString(), "1/0/0", "the reader's ack was made durable by the drain");
});
