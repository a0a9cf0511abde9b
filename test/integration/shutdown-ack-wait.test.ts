/** The time sessions get to ack on shutdown is a share of --shutdown-timeout, not a fixed 2 s. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession, appendNumbered, dlsnKey } from "../helpers/session.js";

test("with --shutdown-timeout 20s, an ack sent 3 s into the shutdown still lands: nothing comes again after the restart", { timeout: 60_000 }, async () => {
  const dir = tempDir("dlog-shutdown-ack-");
  let server = await startDlogd({ dataDir: dir.path, args: ["--shutdown-timeout", "20s"] });
  let clients = connect(server.address);
  try {
    await appendNumbered(clients, "a", 100);
    const { session } = await TestSession.open(clients, { log: "a", readerId: "r", flow: { maxOutstandingRecords: 100 } });
    const records = await session.records(100);
    const last = records.at(-1)!.dlsn!;
    const started = Date.now();
    const stopped = server.stop();
    // Longer than the old fixed wait (2 s), within a fifth of 20 s.
    await sleep(3_000);
    session.ackUpTo(last);
    assert.equal(await stopped, 0);
    const stopMs = Date.now() - started;
    assert.ok(stopMs < 10_000, `the shutdown ended once everything was acked (${stopMs} ms)`);
    clients.close();

    server = await startDlogd({ dataDir: dir.path });
    clients = connect(server.address);
    const position = await clients.readers.getPosition({ log: "a", readerId: "r" });
    assert.equal(dlsnKey(position.floor), dlsnKey(last), "the ack sent during the shutdown is durable");
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});
