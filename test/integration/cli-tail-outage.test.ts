/** `dlog tail` through a server outage: it says so on stderr, goes on when dlogd is back, and sums up on exit. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createDlogClient } from "../../clients/typescript/src/index.js";
import { startDlog, waitFor, lines } from "../helpers/cli.js";
import { startDlogd, tempDir } from "../helpers/dlogd.js";

test("tail during an outage says 'reconnecting to ADDR (attempt n)' on stderr, resumes, and ends with a drain summary", { timeout: 90_000 }, async (t) => {
  const dir = tempDir();
  let server = await startDlogd({ dataDir: dir.path });
  const address = server.address;
  let client = createDlogClient({ address });
  try {
    const first = await client.append("outage", ["1", "2", "3"]);
    const tail = startDlog(["tail", "--log", "outage", "--reader", "r"], { address });
    t.after(() => tail.child.kill("SIGKILL")); // a failed assertion must not leave it reconnecting
    await waitFor(() => lines(tail.stdout()).length === 3, "three lines");
    // Acks go out after each line is written: wait until they are durable, so nothing comes twice.
    const deadline = Date.now() + 15_000;
    while ((await client.getPosition("outage", "r").catch(() => undefined))?.floor?.toString() !== first[2]!.toString()) {
      if (Date.now() > deadline) throw new Error("the acks of 1-3 did not become durable");
      await sleep(20);
    }
    await server.stop();
    // The first attempts may still meet the server on its way down; then the port is closed.
    const refused = new RegExp(`^reconnecting to ${address} \\(attempt \\d+\\): connect ECONNREFUSED`, "m");
    await waitFor(() => refused.test(tail.stderr()), "a reconnect attempt refused", 30_000);
    assert.match(tail.stderr(), new RegExp(`^reconnecting to ${address} \\(attempt 1\\): `, "m"));
    assert.equal(tail.stdout(), "1\n2\n3\n", "stdout carries records only");

    server = await startDlogd({ dataDir: dir.path, listen: address });
    client.close();
    client = createDlogClient({ address });
    const [, last] = await client.append("outage", ["4", "5"]);
    await waitFor(() => lines(tail.stdout()).length === 5, "the records appended after the outage", 30_000).catch((error: Error) => {
      throw new Error(`${error.message}; stdout: ${JSON.stringify(tail.stdout())}, stderr: ${tail.stderr()}`);
    });
    assert.match(tail.stderr(), new RegExp(`^reconnected to ${address}: resuming after \\d+/\\d+/2$`, "m"));
    tail.child.kill("SIGTERM");
    assert.equal(await tail.exited, 0, tail.stderr());
    assert.deepEqual(lines(tail.stdout()), ["1", "2", "3", "4", "5"]);
    assert.equal(lines(tail.stderr()).at(-1), `drained: 5 records, durable at ${last}`);
    assert.doesNotMatch(tail.stderr(), /^dlog:/m, "no error");
    assert.equal((await client.getPosition("outage", "r")).floor?.toString(), last!.toString());
  } finally {
    client.close();
    await server.stop();
    dir.cleanup();
  }
});
