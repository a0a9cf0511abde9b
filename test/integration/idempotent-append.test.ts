import assert from "node:assert/strict";
import { type Server, type Socket, createServer, connect as connectTcp } from "node:net";
import { type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type DLSN, type DlogClient, DlogError, createDlogClient } from "../../clients/typescript/src/index.js";
import { type Clients, type DlogdProcess, bytes, connect, startDlogd, tempDir, withServer } from "../helpers/dlogd.js";
import { dlsnKey } from "../helpers/session.js";

const SERVER_TEST = { timeout: 60_000 };

const portOf = (address: string): string => address.slice(address.lastIndexOf(":") + 1);

/** Every record of the log: payload text → DLSNs it is stored at. */
async function storedPayloads(clients: Clients, log: string): Promise<Map<string, string[]>> {
  const stored = new Map<string, string[]>();
  for await (const response of clients.logs.read({ log })) {
    for (const record of response.records) {
      const text = record.payload.toString("utf8");
      stored.set(text, [...(stored.get(text) ?? []), dlsnKey(record.dlsn)]);
    }
  }
  return stored;
}

/** Checks the log holds exactly the appender's answered appends: each payload once, at the DLSN it was answered with. */
async function assertExactlyOnce(clients: Clients, log: string, answered: ReadonlyMap<string, DLSN>): Promise<void> {
  const stored = await storedPayloads(clients, log);
  const duplicated = [...stored].filter(([, at]) => at.length > 1);
  assert.deepEqual(duplicated.slice(0, 5), [], `${duplicated.length} payloads are stored more than once`);
  const lost = [...answered.keys()].filter((text) => !stored.has(text));
  assert.deepEqual(lost.slice(0, 5), [], `${lost.length} answered appends are missing`);
  for (const [text, dlsn] of answered) assert.equal(stored.get(text)![0], dlsn.toString(), `DLSN of ${text}`);
  assert.equal(stored.size, answered.size, "nothing else is stored");
}

test(
  "Append with a producer id: a retry of a written seq is answered with the original DLSNs and duplicate, on Append and AppendStream",
  SERVER_TEST,
  async () => {
    await withServer(async (_server, clients) => {
      const request = { log: "idem", records: [{ payload: bytes("a") }, { payload: bytes("b") }], producerId: "p", producerSeq: 1n };
      const first = await clients.logs.append(request);
      const retry = await clients.logs.append(request);
      assert.deepEqual([first.dlsns.map(dlsnKey), first.duplicate], [["1/0/0", "1/0/1"], false]);
      assert.deepEqual([retry.dlsns.map(dlsnKey), retry.txids, retry.duplicate], [first.dlsns.map(dlsnKey), first.txids, true]);

      const streamed = [];
      const again = { ...request, requestId: 7n };
      const next = { ...request, records: [{ payload: bytes("c") }], producerSeq: 2n, requestId: 8n };
      async function* requests() {
        yield again;
        yield next;
      }
      for await (const answer of clients.logs.appendStream(requests())) streamed.push(answer);
      assert.deepEqual(
        streamed.map((a) => [a.requestId, a.dlsns.map(dlsnKey), a.duplicate]),
        [
          [7n, ["1/0/0", "1/0/1"], true],
          [8n, ["1/1/0"], false],
        ],
      );
      assert.equal((await clients.logs.getLog({ log: "idem" })).recordCount, 3n);
    });
  },
);

/** A TCP relay that can swallow the server's answers and then cut every connection: answers lost after the write. */
function lossyRelay(target: string): Promise<{ address: string; swallow(on: boolean): void; cut(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let swallowing = false;
  const relay: Server = createServer((client) => {
    const upstream = connectTcp(Number(portOf(target)), "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    }
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      if (!swallowing) client.write(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  return new Promise((resolve) => {
    relay.listen(0, "127.0.0.1", () => {
      const port = (relay.address() as { port: number }).port;
      resolve({
        address: `127.0.0.1:${port}`,
        swallow: (on) => void (swallowing = on),
        cut: () => {
          for (const socket of sockets) socket.destroy();
        },
        close: () => {
          for (const socket of sockets) socket.destroy();
          relay.close();
        },
      });
    });
  });
}

test("appends whose answers were lost after they were written are resent by the appender and written once", SERVER_TEST, async () => {
  await withServer(async (_server, clients) => {
    const relay = await lossyRelay(_server.address);
    const client = createDlogClient({ address: relay.address });
    try {
      const appender = client.appender("lost-answers", { retry: { initialDelayMs: 10 }, lingerMs: 0 }); // one request per append: the proxy counts them
      const answered = new Map<string, DLSN>();
      answered.set("warm-up", (await appender.append("warm-up"))[0]!);

      relay.swallow(true);
      const texts = Array.from({ length: 50 }, (_, i) => `lost-${i}`);
      const pending = texts.map((text) => appender.append(text).then(([dlsn]) => answered.set(text, dlsn!)));
      // Written, as another client sees, while the appender has no answer.
      for (let i = 0; i < 200 && (await clients.logs.getLog({ log: "lost-answers" })).recordCount < 51n; i++) await sleep(10);
      assert.equal((await clients.logs.getLog({ log: "lost-answers" })).recordCount, 51n);
      assert.equal(appender.inFlight, 50);
      relay.swallow(false);
      relay.cut();

      await Promise.all(pending);
      assert.deepEqual([appender.counters.reconnects, appender.counters.duplicates], [1, 50]);
      await appender.close();
      await assertExactlyOnce(clients, "lost-answers", answered);
    } finally {
      client.close();
      relay.close();
    }
  });
});

test("an append refused inside a pipelined appender rejects alone; the appends after it are renumbered and written once", SERVER_TEST, async () => {
  await withServer(async (server, clients) => {
    const client = createDlogClient({ address: server.address });
    try {
      const appender = client.appender("renumber", { lingerMs: 0 }); // per-request refusals: no batching
      const outcomes = await Promise.allSettled([
        appender.append({ payload: "a", txid: 100n }),
        appender.append({ payload: "b", txid: 5n }), // below the log's last txid: refused, not written
        appender.append({ payload: "c", txid: 100n }),
        appender.append({ payload: "d", txid: 101n }),
      ]);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ["fulfilled", "rejected", "fulfilled", "fulfilled"],
      );
      const refused = (outcomes[1] as PromiseRejectedResult).reason;
      assert.ok(refused instanceof DlogError && refused.reason === "TXID_OUT_OF_ORDER", String(refused));
      assert.equal(appender.counters.resent, 2, "c and d were renumbered once each");
      const stored = await storedPayloads(clients, "renumber");
      assert.deepEqual([...stored.keys()], ["a", "c", "d"]);
      // Numbering goes on from there.
      await appender.append("e");
      assert.deepEqual([...(await storedPayloads(clients, "renumber")).keys()], ["a", "c", "d", "e"]);
      await appender.close();
    } finally {
      client.close();
    }
  });
});

async function appendThroughKills(t: TestContext, client: DlogClient, restart: () => Promise<void>, kills: number, total: number) {
  const appender = client.appender("crash-idem", { lingerMs: 0 }); // many requests in flight at each kill
  const answered = new Map<string, DLSN>();
  const results: Array<Promise<unknown>> = [];
  const producing = (async () => {
    for (let i = 0; i < total; i++) {
      await appender.ready();
      const text = `r${i}`;
      results.push(appender.append(text).then(([dlsn]) => answered.set(text, dlsn!)));
    }
  })();
  for (let kill = 1; kill <= kills; kill++) {
    // Bounded wait for progress, then a kill with appends in flight.
    for (let i = 0; i < 500 && answered.size < (total * kill) / (kills + 1); i++) await sleep(10);
    t.diagnostic(`kill ${kill}: ${answered.size} answered, ${appender.inFlight} in flight`);
    assert.ok(appender.inFlight > 0, "the kill happens with appends in flight");
    await restart();
  }
  await producing;
  const outcomes = await Promise.allSettled(results);
  const rejected = outcomes.filter((o) => o.status === "rejected");
  assert.deepEqual(rejected.slice(0, 3), [], `${rejected.length} appends failed`);
  await appender.close();
  t.diagnostic(`counters: ${JSON.stringify(appender.counters)}`);
  assert.ok(appender.counters.reconnects >= kills, "the appender reconnected after each kill");
  return answered;
}

test("kill -9 of dlogd under a retrying appender: every append answered, 0 lost, 0 duplicates in the log", SERVER_TEST, async (t) => {
  const dir = tempDir("dlog-idem-crash-");
  let server: DlogdProcess = await startDlogd({ process: true, dataDir: dir.path });
  const port = portOf(server.address);
  const client = createDlogClient({ address: server.address });
  try {
    const answered = await appendThroughKills(
      t,
      client,
      async () => {
        await server.kill9();
        server = await startDlogd({ process: true, dataDir: dir.path, listen: `127.0.0.1:${port}` });
      },
      2,
      4_000,
    );
    const clients = connect(server.address);
    try {
      await assertExactlyOnce(clients, "crash-idem", answered);
    } finally {
      clients.close();
    }
  } finally {
    client.close();
    await server.stop();
    dir.cleanup();
  }
});
