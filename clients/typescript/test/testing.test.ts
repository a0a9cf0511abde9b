/** startTestServer: a real dlogd per test, found, started, stopped and cleaned up. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { startTestServer } from "../src/testing.js";

const dlogd = process.env.DLOG_DLOGD || fileURLToPath(new URL("../../../../bin/dlogd.js", import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("in memory by default: serves on a loopback port, and `await using` stops the process", async () => {
  let pid = 0;
  {
    await using server = await startTestServer({ dlogd });
    pid = server.pid;
    assert.match(server.address, /^127\.0\.0\.1:\d+$/);
    assert.equal(server.dataDir, "");
    assert.match(server.output(), /"msg":"dlogd listening"/);
    const client = server.client();
    const [dlsn] = await client.append("t", "hello");
    assert.equal(dlsn?.toString(), "1/0/0");
    await client.close();
  }
  assert.equal(alive(pid), false, "dlogd still runs after the server was disposed");
});

test("with a temp data dir: a restart keeps the port and the data; close() removes the dir", async () => {
  const server = await startTestServer({ dlogd, inMemory: false });
  const { address, dataDir } = server;
  assert.ok(existsSync(dataDir));
  const client = server.client();
  try {
    await client.append("t", "kept");
    const before = server.pid;
    await server.kill();
    await server.restart();
    assert.notEqual(server.pid, before);
    assert.equal(server.address, address);
    assert.equal((await client.getLog("t")).recordCount, 1n);
  } finally {
    await client.close();
    await server.close();
  }
  assert.equal(existsSync(dataDir), false, "the temp data dir is left behind");
});

test("a dlogd that is not there is named in the error", async () => {
  await assert.rejects(startTestServer({ dlogd: "/nonexistent/dlogd" }), /dlogd not found at \/nonexistent\/dlogd/);
});
