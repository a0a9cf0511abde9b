/** Stalled clients: shutdown finishes anyway, keepalive ends a stalled session, a takeover needs no wait. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Status } from "nice-grpc";
import { Takeover } from "../../src/gen/dlog/v1/reader.js";
import { connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession, appendNumbered } from "../helpers/session.js";
import { StallingProxy, idleConnection, reportFigures, stalledSession, until } from "./harness.js";

const SHUTDOWN_TIMEOUT_MS = 2_000;

test("SIGTERM with stalled connections finishes within --shutdown-timeout, flushes positions first, and frees the data dir at once", {
  timeout: 60_000,
}, async () => {
  const dir = tempDir("dlog-shutdown-");
  // Acks become durable only by the shutdown's own flush: no timer, no ack-count trigger.
  const flags = ["--shutdown-timeout", "2s", "--ack-flush-interval", "1h", "--ack-flush-max", "1000000", "--heartbeat", "200ms"];
  const server = await startDlogd({ process: true, dataDir: dir.path, args: flags });
  const clients = connect(server.address);
  try {
    const dlsns = await appendNumbered(clients, "a", 20_000, { padTo: 100 });
    const { session } = await TestSession.open(clients, { log: "a", readerId: "acker" });
    await session.records(500);
    session.ackUpTo(dlsns[499]!);
    await session.status((status) => status.ackedFloor?.entry === dlsns[499]!.entry && status.ackedFloor?.slot === dlsns[499]!.slot, "the ack applied");
    const stalled = await stalledSession(server.address, { kind: { $case: "open", value: { log: "a", readerId: "stalled" } } });
    const idle = await idleConnection(server.address);
    const preface = await idleConnection(server.address, true);

    const started = Date.now();
    const code = await server.stop("SIGTERM");
    const tookMs = Date.now() - started;

    assert.equal(code, 0, `dlogd exits 0:\n${server.output()}`);
    assert.ok(tookMs < SHUTDOWN_TIMEOUT_MS + 1_500, `stopped in ${tookMs} ms, within --shutdown-timeout 2s`);
    stalled.close();
    idle.destroy();
    preface.destroy();
    clients.close();

    const next = await startDlogd({ dataDir: dir.path, args: flags });
    const again = connect(next.address);
    try {
      const position = await again.readers.getPosition({ log: "a", readerId: "acker" });
      assert.deepEqual(position.floor, dlsns[499], "the acked position was flushed before connections were cut");
    } finally {
      again.close();
      await next.stop();
    }
    reportFigures("shutdown", { shutdown_with_stalled_ms: tookMs });
  } finally {
    clients.close();
    await server.kill9();
    dir.cleanup();
  }
});

test("a client behind a stalled network loses its session to keepalive, and a FENCE takeover needs no wait at all", { timeout: 60_000 }, async () => {
  const dir = tempDir("dlog-keepalive-");
  const server = await startDlogd({ dataDir: dir.path, args: ["--keepalive-time", "1s", "--keepalive-timeout", "1s"] });
  const direct = connect(server.address);
  const proxy = await StallingProxy.start(server.address);
  const behind = connect(proxy.address);
  try {
    await appendNumbered(direct, "a", 100);
    const first = await TestSession.open(behind, { log: "a", readerId: "kept", flow: { maxOutstandingRecords: 10 } });
    const second = await TestSession.open(behind, { log: "a", readerId: "taken", flow: { maxOutstandingRecords: 10 } });
    await first.session.records(10);
    await second.session.records(10);

    proxy.stall();
    const stalledAt = Date.now();
    const reject = { log: "a", readerId: "kept", takeover: Takeover.TAKEOVER_REJECT };
    const refused = await TestSession.open(direct, reject).then(
      () => assert.fail("a second session opened beside a live one"),
      (error: { code?: Status }) => error,
    );
    assert.equal(refused.code, Status.ALREADY_EXISTS, "while the stalled session is live, REJECT is refused");

    // FENCE ends the stalled session at once, whatever keepalive says.
    const fenceStarted = Date.now();
    const taken = await TestSession.open(direct, { log: "a", readerId: "taken" });
    const takeoverMs = Date.now() - fenceStarted;
    assert.ok(taken.opened.epoch > second.opened.epoch);
    assert.ok(takeoverMs < 1_000, `the takeover took ${takeoverMs} ms`);
    assert.ok((await taken.session.records(1)).length > 0, "the new session delivers");

    // Keepalive (1 s + 1 s) ends the other stalled session: REJECT then succeeds.
    let reopened: Awaited<ReturnType<typeof TestSession.open>> | undefined;
    await until(
      async () => {
        reopened = await TestSession.open(direct, reject).catch(() => undefined);
        return reopened !== undefined;
      },
      "keepalive to end the stalled session",
      8_000,
    );
    const keepaliveMs = Date.now() - stalledAt;
    assert.ok(keepaliveMs >= 1_000, `ended after ${keepaliveMs} ms: not before a ping could go unanswered`);
    assert.ok((await reopened!.session.records(1)).length > 0);
    reportFigures("keepalive", { keepalive_end_ms: keepaliveMs, takeover_ms: takeoverMs });
    reopened!.session.cancel();
    taken.session.cancel();
  } finally {
    behind.close();
    direct.close();
    await proxy.close();
    await server.stop();
    dir.cleanup();
  }
});
