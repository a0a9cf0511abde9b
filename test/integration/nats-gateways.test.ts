/**
 * Two dlogd gateways on one NATS JetStream store (`--storage nats://`, the same prefix): what one
 * writes, the other serves; a reader taken over through one is fenced on the other at once; appends
 * to one log through both are each stored once.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Status } from "nice-grpc";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../src/gen/grpc/health/v1/health.js";
import { type Clients, connect, type Dlogd, startDlogd, tempDir } from "../helpers/dlogd.js";
import { type NatsServer, startNatsServer } from "../helpers/nats-server.js";
import { appendNumbered, dlsnKey, numberOf, TestSession } from "../helpers/session.js";

const TEST = { timeout: 30_000 };
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

let nats: NatsServer;
const gateways: Array<{ server: Dlogd; clients: Clients }> = [];

before(async () => {
  nats = await startNatsServer();
  for (let i = 0; i < 2; i++) {
    const server = await startDlogd({ args: ["--storage", `nats://${nats.hostPort}`, "--nats-prefix", "gateways"] });
    gateways.push({ server, clients: connect(server.address) });
  }
});

after(async () => {
  for (const { server, clients } of gateways) {
    clients.close();
    await server.stop();
  }
  await nats?.stop();
});

/** Polls `check` until it holds (bounded): another gateway's commit reaches this one through a KV watch. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("two gateways on one NATS JetStream store", () => {
  test("a gateway's start-up line names the NATS storage, its servers and prefix, and no data dir", TEST, async () => {
    const gateway = await startDlogd({ process: true, args: ["--storage", `nats://${nats.hostPort}`, "--nats-prefix", "gateways"] });
    try {
      const line = JSON.parse(/^.*"msg":"dlogd listening".*$/m.exec(gateway.output())![0]) as Record<string, unknown>;
      assert.equal(line.storage, "nats");
      assert.deepEqual(line.natsServers, [nats.hostPort]);
      assert.equal(line.natsPrefix, "gateways");
      assert.equal(line.dataDir, undefined, "a data dir named by a gateway that keeps nothing on disk misleads");
    } finally {
      await gateway.stop();
    }
  });

  test("a log written through one gateway is served by the other, whose reader at the tail wakes for the next append", TEST, async () => {
    const [a, b] = gateways;
    await appendNumbered(a!.clients, "shared", 10);
    await eventually(async () => (await b!.clients.logs.getLog({ log: "shared" })).recordCount === 10n, "the other gateway knows the log and its 10 records");
    const reader = await TestSession.open(b!.clients, { log: "shared", readerId: "r" });
    assert.deepEqual((await reader.session.records(10)).map(numberOf), range(1, 10));
    await appendNumbered(a!.clients, "shared", 5, { from: 11 });
    assert.deepEqual((await reader.session.records(5)).map(numberOf), range(11, 15), "woken by the other gateway's append");
    reader.session.cancel();
  });

  test("a reader taken over through the other gateway ends at once with ABORTED READER_FENCED, though it acks nothing", TEST, async () => {
    const [a, b] = gateways;
    await appendNumbered(a!.clients, "takeover", 20);
    const first = await TestSession.open(a!.clients, { log: "takeover", readerId: "r" });
    const got = await first.session.records(20);
    first.session.ackUpTo(got[9]!.dlsn!);
    await first.session.status(
      (s) => s.durableFloor?.entry === got[9]!.dlsn!.entry && s.durableFloor?.slot === got[9]!.dlsn!.slot,
      "the first ten acked are durable",
    );

    await eventually(async () => (await b!.clients.logs.getLog({ log: "takeover" })).recordCount === 20n, "the other gateway knows the log");
    const second = await TestSession.open(b!.clients, { log: "takeover", readerId: "r" });
    assert.equal(second.opened.epoch, first.opened.epoch + 1n);
    const fenced = await first.session.failed(3_000);
    assert.equal(Status[fenced.code], "ABORTED");
    assert.match(fenced.details, /taken over by another dlogd gateway/);
    // The newcomer redelivers what the first never acked, and nothing it did.
    assert.deepEqual((await second.session.records(10)).map(numberOf), range(11, 20));
    second.session.cancel();
  });

  test("a takeover through the other gateway while the first session acks fast: the newer session wins, every time", TEST, async () => {
    const [a, b] = gateways;
    // One entry of 10 000 records: the takeover resumes inside it, after what the first session acked.
    await appendNumbered(a!.clients, "race", 10_000, { batch: 10_000 });
    await eventually(async () => (await b!.clients.logs.getLog({ log: "race" })).recordCount === 10_000n, "the other gateway knows the log");
    for (let round = 1; round <= 3; round++) {
      const readerId = `r${round}`;
      const first = await TestSession.open(a!.clients, { log: "race", readerId, flow: { maxOutstandingRecords: 20 } });
      let acking = true;
      // The first session acks each batch as it comes: its position writes race the takeover's.
      const acker = (async () => {
        while (acking) {
          const got = await first.session.records(20, 2_000).catch(() => []);
          if (got.length === 0) return;
          first.session.ackUpTo(got.at(-1)!.dlsn!);
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = await TestSession.open(b!.clients, { log: "race", readerId, flow: { maxOutstandingRecords: 100 } });
      const left = 10_000 - Number(second.opened.resumeAfter?.slot ?? -1n) - 1;
      assert.ok(left > 0, `round ${round}: the first session acked everything before the takeover; ack slower`);
      const want = Math.min(100, left);
      const delivered = await second.session
        .records(want)
        .catch((error: Error) => assert.fail(`round ${round}: the newer session delivers nothing (${error.message}; ended: ${second.session.error?.details})`));
      assert.equal(delivered.length, want, `round ${round}: the newer session delivers`);
      assert.equal(second.session.error, undefined, `round ${round}: the newer session is not fenced`);
      const fenced = await first.session.failed(3_000);
      assert.equal(Status[fenced.code], "ABORTED", `round ${round}`);
      acking = false;
      await acker;
      second.session.cancel();
    }
  });

  // A gateway remembers a reader's sessions that another gateway fenced (their late writes are dropped). A deleted reader
  // starts over at epoch 1: a session opened on that gateway afterwards is a new one, and its acks must become durable.
  const deletions = [
    { how: "taken over through the other gateway, then deleted through the fenced one", takeover: true, via: 0 },
    { how: "taken over through the other gateway, then deleted through it", takeover: true, via: 1 },
    { how: "deleted through the other gateway while its session here is live", takeover: false, via: 1 },
  ] as const;
  for (const [i, { how, takeover, via }] of deletions.entries()) {
    test(`a reader ${how}: a new session on the first gateway makes its acks durable`, TEST, async () => {
      const [a, b] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
      const log = `fenced-delete-${i}`;
      await appendNumbered(a.clients, log, 20);
      await eventually(async () => (await b.clients.logs.getLog({ log })).recordCount === 20n, "the other gateway knows the log");
      const first = await TestSession.open(a.clients, { log, readerId: "r" });
      const firstGot = await first.session.records(20);
      if (takeover) {
        const second = await TestSession.open(b.clients, { log, readerId: "r" });
        assert.equal(Status[(await first.session.failed(3_000)).code], "ABORTED", "the first gateway fenced its session");
        second.session.drain();
        await second.session.drained();
        await gateways[via]!.clients.readers.deleteReader({ log, readerId: "r", force: true });
      } else {
        await b.clients.readers.deleteReader({ log, readerId: "r", force: true });
        // Its next position write finds the reader gone (a failed CAS): the session is fenced.
        first.session.ackUpTo(firstGot[4]!.dlsn!);
        assert.equal(Status[(await first.session.failed(3_000)).code], "ABORTED", "the session of the deleted reader is fenced");
      }
      await assert.rejects(b.clients.readers.getPosition({ log, readerId: "r" }), { code: Status.NOT_FOUND }, "the reader is deleted");

      const third = await TestSession.open(a.clients, { log, readerId: "r" });
      assert.equal(third.opened.epoch, 1n, "a deleted reader starts over at epoch 1");
      const got = await third.session.records(10);
      assert.equal(numberOf(got[0]!), 1, "a deleted reader starts over from its fallback");
      third.session.ackUpTo(got[9]!.dlsn!);
      const acked = dlsnKey(got[9]!.dlsn);
      await third.session.status((s) => s.acksDurable >= 1n && dlsnKey(s.durableFloor) === acked, `the ack of record 10 (${acked}) durable`);
      assert.equal(dlsnKey((await b.clients.readers.getPosition({ log, readerId: "r" })).floor), acked, "the other gateway reads the new position");
      third.session.cancel();
    });
  }

  // The new reader of the id restarts at epoch 1, below the old session's: by epochs alone the old one's next write would
  // win over the new one's position and fence it.
  test(
    "a reader deleted through the other gateway ends its live session here at once (ABORTED READER_DELETED); a new reader of the id there keeps its position",
    TEST,
    async () => {
      const [a, b] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
      const log = "deleted-under-session";
      await appendNumbered(a.clients, log, 20);
      await eventually(async () => (await b.clients.logs.getLog({ log })).recordCount === 20n, "the other gateway knows the log");
      const earlier = await TestSession.open(a.clients, { log, readerId: "r" });
      earlier.session.drain();
      await earlier.session.drained();
      const old = await TestSession.open(a.clients, { log, readerId: "r" });
      assert.equal(old.opened.epoch, 2n);
      const oldGot = await old.session.records(20);

      await b.clients.readers.deleteReader({ log, readerId: "r", force: true });
      const fresh = await TestSession.open(b.clients, { log, readerId: "r" });
      assert.equal(fresh.opened.epoch, 1n, "the new reader starts over");
      const got = await fresh.session.records(10);
      const durable = async (n: number): Promise<void> => {
        fresh.session.ackUpTo(got[n - 1]!.dlsn!);
        const acked = dlsnKey(got[n - 1]!.dlsn);
        await fresh.session.status((s) => dlsnKey(s.durableFloor) === acked, `the new reader's ack of record ${n} durable`);
      };
      await durable(5);
      // The old session acks too: its position must not land.
      old.session.ackUpTo(oldGot[14]!.dlsn!);
      const gone = await old.session.failed(3_000);
      assert.equal(Status[gone.code], "ABORTED");
      assert.match(gone.details, /reader "r" of log "deleted-under-session" was deleted through another dlogd gateway/);

      await durable(10);
      assert.equal(fresh.session.error, undefined, "the new reader's session is not fenced");
      const stored = await a.clients.readers.getPosition({ log, readerId: "r" });
      assert.deepEqual([stored.epoch, dlsnKey(stored.floor)], [1n, dlsnKey(got[9]!.dlsn)], "the stored position is the new reader's");
      fresh.session.cancel();
    },
  );

  test("appends to one log through both gateways: a refused one says retry, and every answered one is stored once, in order", TEST, async () => {
    const [a, b] = gateways;
    const answered: number[] = [];
    for (let n = 1; n <= 12; n++) {
      const via = n % 2 === 0 ? a! : b!;
      for (let attempt = 1; ; attempt++) {
        try {
          await via.clients.logs.append({ log: "both", records: [{ payload: Buffer.from(String(n)) }] });
          answered.push(n);
          break;
        } catch (error) {
          assert.equal(Status[(error as { code: Status }).code], "UNAVAILABLE", String(error));
          assert.ok(attempt < 10, `append ${n} still refused after ${attempt} attempts: ${String(error)}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
    await eventually(async () => (await a!.clients.logs.getLog({ log: "both" })).recordCount === 12n, "gateway a sees all 12");
    const read = await TestSession.open(a!.clients, { log: "both", readerId: "check" });
    assert.deepEqual((await read.session.records(12)).map(numberOf), answered);
    read.session.cancel();
  });
});

test("a gateway cut off from NATS reports NOT_SERVING after --storage-broken-after, and SERVING once NATS is back", TEST, async () => {
  const dir = tempDir("dlog-nats-health-");
  let nats: NatsServer | undefined = await startNatsServer({ dir: dir.path });
  const port = Number(nats.hostPort.split(":")[1]);
  const server = await startDlogd({ args: ["--storage", `nats://${nats.hostPort}`, "--storage-broken-after", "300ms"] });
  const clients = connect(server.address);
  try {
    assert.equal((await clients.health.check({})).status, ServingStatus.SERVING);
    await nats.kill9();
    nats = undefined;
    await eventually(async () => (await clients.health.check({})).status === ServingStatus.NOT_SERVING, "NOT_SERVING while NATS is down");
    nats = await startNatsServer({ dir: dir.path, port });
    await eventually(async () => (await clients.health.check({})).status === ServingStatus.SERVING, "SERVING again", 10_000);
    await clients.logs.append({ log: "after", records: [{ payload: Buffer.from("x") }] });
  } finally {
    clients.close();
    await server.stop();
    await nats?.kill9();
    dir.cleanup();
  }
});
