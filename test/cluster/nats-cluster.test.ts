/**
 * The cluster harness itself (test/helpers/nats-cluster.ts), on 3 real nats-server processes: what
 * the fault tests rely on — a stream leader found by name, kill -9 and restart of one node, a
 * paused node no longer counted — holds.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsCluster, startNatsCluster } from "../helpers/nats-cluster.js";
import { sleep, until } from "../reliability/harness.js";

let cluster: NatsCluster;
let nc: NatsConnection;

before(async () => {
  cluster = await startNatsCluster();
  nc = await connect({ servers: cluster.servers, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
});

after(async () => {
  await nc?.close();
  await cluster?.close();
});

test("an R3 stream survives kill -9 of its leader: a new leader takes writes and the restarted node catches up", async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "HARNESS", subjects: ["harness.>"], num_replicas: 3 });
  const js = jetstream(nc);
  for (let i = 0; i < 10; i++) await js.publish("harness.a", `before ${i}`);

  const leader = await cluster.streamLeader("HARNESS");
  await cluster.kill9(leader);
  assert.equal(cluster.nodes[leader]!.state, "down");
  const next = await cluster.streamLeader("HARNESS");
  assert.notEqual(next, leader, "the killed node cannot still lead");
  // Publishes retry until the new leader answers (an election takes seconds after a kill -9).
  await publishWithRetry(js, "harness.a", "after", 20_000);
  assert.equal((await jsm.streams.info("HARNESS")).state.messages, 11);

  await cluster.restart(leader);
  await cluster.waitForMetaLeader();
  assert.equal(cluster.nodes[leader]!.state, "running");
  await cluster.waitForCurrentStreams();
  // The stream's own view agrees: the restarted node's replica is current again.
  await until(
    async () => {
      const replicas = (await jsm.streams.info("HARNESS")).cluster?.replicas ?? [];
      const restarted = replicas.find((r) => r.name === cluster.nodes[leader]!.name);
      return restarted?.current === true;
    },
    "the restarted replica to be current",
    20_000,
  );
});

test("a paused (SIGSTOP) node is not taken for the meta leader: the others elect one, and it rejoins after SIGCONT", async () => {
  const meta = await cluster.waitForMetaLeader();
  cluster.pause(meta);
  assert.equal(cluster.nodes[meta]!.state, "paused");
  const other = await cluster.waitForMetaLeader();
  assert.notEqual(other, meta, "a paused node answers nothing, so it cannot be the leader the others agree on");
  cluster.resume(meta);
  assert.equal(cluster.nodes[meta]!.state, "running");
  await cluster.waitForMetaLeader();
});

async function publishWithRetry(js: ReturnType<typeof jetstream>, subject: string, data: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // One Nats-Msg-Id for every try: a retry after a lost PubAck must not store it twice.
      await js.publish(subject, data, { msgID: `retry-${data}`, timeout: 1_000 });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}
