/**
 * The JetStream storage through a KV bucket's leader election, on 3 real nats-server nodes (R3). A
 * bucket without a leader has nobody serving its subjects: a write sent then is answered "no
 * responders" (nats.js: "jetstream is not enabled"). Nothing was stored, so it is retried until the
 * new leader takes it, as a timeout is, instead of failing at once.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { NatsStorage } from "../../src/storage/nats-storage.js";
import { type NatsCluster, startNatsCluster } from "../helpers/nats-cluster.js";

let cluster: NatsCluster;
before(async () => {
  cluster = await startNatsCluster();
});
after(async () => {
  await cluster?.close();
});

const PREFIX = "elections";
const position = (text: string) => ({ floor: Buffer.alloc(25, 1), extra: Buffer.from(text) });

test("kill -9 of the node leading both KV buckets: a position write and a log id allocation sent at once wait out the election and land", {
  timeout: 90_000,
}, async (t) => {
  const setup = await NatsStorage.open({ servers: cluster.servers, prefix: PREFIX, replicas: 3 });
  await setup.close();
  const leader = 0;
  for (const bucket of ["meta", "positions"]) await cluster.leadOn(`KV_${PREFIX}_${bucket}`, leader);
  // Connected to a node that stays up: the writes meet the election, not a lost connection.
  const storage = await NatsStorage.open({ servers: [cluster.nodes[1]!.address], prefix: PREFIX, replicas: 3 });
  try {
    await storage.writePositions([{ logId: 1, readerId: "r", position: position("before") }], true);
    const id = await storage.nextLogId();

    await cluster.kill9(leader);
    const sentAt = performance.now();
    const [, nextId] = await Promise.all([storage.writePositions([{ logId: 1, readerId: "r", position: position("after") }], true), storage.nextLogId()]);
    const answeredMs = performance.now() - sentAt;

    assert.equal((await storage.getPosition(1, "r"))?.extra.toString(), "after", "the position written through the election is stored");
    // An attempt whose answer was lost may skip an id; none is handed out twice.
    assert.ok(nextId > id, `the log id allocated through the election (${nextId}) is above the one before (${id})`);
    assert.ok((await storage.nextLogId()) > nextId, "the next allocation is above it");
    t.diagnostic(`writes sent right after the kill -9 of both buckets' leader answered after ${answeredMs.toFixed(0)} ms`);
  } finally {
    await storage.close();
  }
});
