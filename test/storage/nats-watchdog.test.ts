/**
 * The KV watch watchdog of the JetStream storage, on a real nats-server: a watch that falls silent
 * while its keys change (here its consumer is deleted under it, so nothing reaches the client while
 * the connection is fine) is found by comparing what it delivered with the bucket leader's last
 * message, recreated after the last revision it delivered, and the change it missed is told.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { NatsStorage, type WatchRestart } from "../../src/storage/nats-storage.js";
import { type NatsServer, startNatsServer } from "../helpers/nats-server.js";

let server: NatsServer;
before(async () => {
  server = await startNatsServer();
});
after(() => server?.stop());

/** Far quicker than the default, so the watchdog, not nats.js's own missed-heartbeat reset (10 s and more), is what recovers. */
const WATCHDOG = { checkMs: 100, silentMs: 500 };

/** Polls (bounded) until `check` holds. */
async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); await new Promise((resolve) => setTimeout(resolve, 20))) assert.ok(Date.now() < deadline, what);
}

test("a reader watch whose consumer vanished is recreated by the watchdog, and another gateway's write of the reader is still told", async () => {
  const prefix = "watchdog";
  const open = (): Promise<NatsStorage> => NatsStorage.open({ servers: [server.hostPort], prefix, replicas: 1, watchdog: WATCHDOG });
  const [a, b] = [await open(), await open()];
  const nc = await connect({ servers: [server.hostPort] });
  try {
    const told: string[] = [];
    const restarts: WatchRestart[] = [];
    a.onWatchRestarted((restart) => restarts.push(restart));
    a.watchReaders((_logId, readerId, position) => told.push(`${readerId}:${position?.floor.toString() ?? "deleted"}`));
    const position = (floor: string) => ({ floor: Buffer.from(floor), extra: Buffer.alloc(0) });
    // Gateway a writes reader r (so it knows its revision), then b writes it: a's watch tells it.
    await a.writePositions([{ logId: 1, readerId: "r", position: position("a1") }], true);
    await b.getPosition(1, "r"); // a gateway writes a reader it has read
    await b.writePositions([{ logId: 1, readerId: "r", position: position("b1") }], true);
    await until(() => told.includes("r:b1"), "a's watch to tell b's first write");
    assert.equal(a.watchRestarts, 0, "a healthy watch was recreated");

    // The watch's consumer goes away under it: the client hears nothing more, though connected.
    const jsm = await jetstreamManager(nc);
    const stream = `KV_${prefix}_positions`;
    const consumers = await jsm.consumers.list(stream).next();
    assert.ok(consumers.length > 0, `no consumer of ${stream}: where is a's watch?`);
    for (const consumer of consumers) await jsm.consumers.delete(stream, consumer.name);

    // b writes r again: only a recreated watch can tell a.
    await b.writePositions([{ logId: 1, readerId: "r", position: position("b2") }], true);
    await until(() => told.includes("r:b2"), "a's watch to tell b's write made while it was silent");
    assert.ok(restarts.length >= 1, "the change was told but the watchdog did not fire");
    assert.equal(restarts[0]!.watch, "readers");
    assert.ok(restarts[0]!.last > restarts[0]!.seen, `a restart with nothing missed: ${JSON.stringify(restarts[0])}`);
    assert.equal(a.watchRestarts, restarts.length);
  } finally {
    await nc.close();
    await Promise.all([a.close(), b.close()]);
  }
});
