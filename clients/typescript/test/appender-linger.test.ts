/** The appender's linger: one-record appends made close together travel as one entry, each caller getting its own DLSN. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type DLSN, type DlogClient, DlogError } from "../src/index.js";
import { type TestServer, startTestServer } from "../src/testing.js";

const dlogd = process.env.DLOG_DLOGD || fileURLToPath(new URL("../../../../bin/dlogd.js", import.meta.url));
let server: TestServer;
let client: DlogClient;

before(async () => {
  // One entry per request, so entries show how the appender batched (the server packs otherwise).
  server = await startTestServer({ dlogd, args: ["--no-pack-appends"] });
  client = server.client();
});

after(async () => {
  await client?.close();
  await server?.close();
});

/** Entries (segment/entry pairs) the DLSNs fall into. */
const entriesOf = (dlsns: DLSN[]): number => new Set(dlsns.map((dlsn) => `${dlsn.segment}/${dlsn.entry}`)).size;

async function appendPipelined(log: string, count: number, options: Parameters<DlogClient["appender"]>[1] = {}) {
  const appender = client.appender(log, options);
  const answers = await Promise.all(Array.from({ length: count }, (_, i) => appender.append(String(i))));
  await appender.close();
  return {
    dlsns: answers.map((answer) => {
      assert.equal(answer.length, 1);
      return answer[0]!;
    }),
    counters: appender.counters,
  };
}

test("1000 one-record appends made at once share entries; each caller gets its own DLSN, in call order", async () => {
  const { dlsns, counters } = await appendPipelined("linger", 1000);
  for (let i = 1; i < dlsns.length; i++) assert.ok(dlsns[i]!.isAfter(dlsns[i - 1]!), `DLSN ${i} must follow DLSN ${i - 1}`);
  assert.equal(counters.batchedCalls, 1000);
  assert.ok(counters.requests <= 20, `${counters.requests} requests for 1000 appends`);
  assert.equal(entriesOf(dlsns), counters.requests, "one entry per request");
  // Every record is where its DLSN says, with its own payload.
  const read = [];
  for await (const record of client.read("linger", { max: 1000 })) read.push(record);
  assert.deepEqual(
    read.map((record) => record.text()),
    Array.from({ length: 1000 }, (_, i) => String(i)),
  );
  assert.deepEqual(
    read.map((record) => record.dlsn.toString()),
    dlsns.map(String),
  );
});

test("lingerMs 0: every append is a request (and an entry) of its own", async () => {
  const { dlsns, counters } = await appendPipelined("no-linger", 200, { lingerMs: 0 });
  assert.equal(counters.requests, 200);
  assert.equal(entriesOf(dlsns), 200);
});

test("maxBatchRecords and maxBatchBytes bound a request", async () => {
  const byRecords = await appendPipelined("batch-records", 100, { maxBatchRecords: 10 });
  const perEntry = new Map<string, number>();
  for (const dlsn of byRecords.dlsns) perEntry.set(`${dlsn.entry}`, (perEntry.get(`${dlsn.entry}`) ?? 0) + 1);
  assert.ok(Math.max(...perEntry.values()) <= 10, `an entry of ${Math.max(...perEntry.values())} records`);
  assert.ok(byRecords.counters.requests >= 10);
  // Payloads "0".."99" are 1-2 bytes: 8 bytes make at most 8 records a request.
  const byBytes = await appendPipelined("batch-bytes", 100, { maxBatchBytes: 8 });
  assert.ok(byBytes.counters.requests >= 100 / 8, `${byBytes.counters.requests} requests`);
});

test("appends made in one run while nothing is in flight go out together, as one request and one entry", async () => {
  const appender = client.appender("one-run", { lingerMs: 500 });
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => appender.append(String(i))));
  const elapsed = performance.now() - started;
  await appender.close();
  assert.equal(appender.counters.requests, 1, "not the first alone and the rest after its answer");
  assert.equal(entriesOf(answers.flat()), 1);
  // Nothing lingered: the request went out when the run ended, not after lingerMs.
  assert.ok(elapsed < 400, `5 appends made at once took ${elapsed.toFixed(0)} ms`);
});

test("an append never lingers while nothing is in flight: a caller awaiting each one pays no linger", async () => {
  const appender = client.appender("sequential", { lingerMs: 500 });
  const started = performance.now();
  for (let i = 0; i < 10; i++) await appender.append(String(i));
  const elapsed = performance.now() - started;
  await appender.close();
  // Lingering 500 ms each would take 5 s.
  assert.ok(elapsed < 2_500, `10 awaited appends took ${elapsed.toFixed(0)} ms`);
  assert.equal(appender.counters.requests, 10);
});

test("a refused batch rejects every append it carried; the appends after it go on", async () => {
  await client.append("txids", { payload: "first", txid: 1000n });
  const appender = client.appender("txids", { lingerMs: 50 });
  const alone = appender.append({ payload: "a", txid: 1001n });
  await null; // its run of appends ended with it: it went out alone (nothing was in flight)
  const batch = [
    appender.append({ payload: "b", txid: 1002n }),
    appender.append({ payload: "c", txid: 5n }), // below the log's last txid: the request is refused
    appender.append({ payload: "d", txid: 1003n }),
  ];
  assert.equal((await alone).length, 1);
  const outcomes = await Promise.allSettled(batch);
  for (const outcome of outcomes) {
    assert.equal(outcome.status, "rejected");
    const error = (outcome as PromiseRejectedResult).reason as unknown;
    assert.ok(error instanceof DlogError && error.reason === "TXID_OUT_OF_ORDER", String(error));
  }
  const [after] = await appender.append({ payload: "e", txid: 1004n });
  assert.ok(after);
  await appender.close();
  const texts = [];
  for await (const record of client.read("txids")) texts.push(record.text());
  assert.deepEqual(texts, ["first", "a", "e"]);
});

test("calls of several records and of one, batched together, each get their own records' DLSNs, in call order", async () => {
  const appender = client.appender("mixed", { lingerMs: 50 });
  const first = appender.append("alone");
  await null; // its run of appends ended with it: it went out alone (nothing was in flight)
  const calls = [
    appender.append("one"),
    appender.append(["two-a", "two-b"]),
    appender.append({ payload: "three", txid: undefined }),
    appender.append([]),
    appender.append(Buffer.from("four")),
    appender.append(["five-a", "five-b", "five-c"]),
  ];
  const answers = [await first, ...(await Promise.all(calls))];
  await appender.close();
  assert.deepEqual(
    answers.map((dlsns) => dlsns.length),
    [1, 1, 2, 1, 0, 1, 3],
  );
  assert.equal(appender.counters.requests, 2, "the calls after the first went as one request");
  const read = [];
  for await (const record of client.read("mixed")) read.push(record);
  assert.deepEqual(
    read.map((record) => record.text()),
    ["alone", "one", "two-a", "two-b", "three", "four", "five-a", "five-b", "five-c"],
  );
  assert.deepEqual(
    read.map((record) => record.dlsn.toString()),
    answers.flat().map(String),
  );
});

test("a txid that is not an int64 is refused for its call alone, before anything is sent", async () => {
  const appender = client.appender("bad-txid", { lingerMs: 50 });
  const before = appender.append("before");
  assert.throws(() => appender.append({ payload: "bad", txid: 2n ** 63n }), /too large/);
  assert.throws(() => appender.append([{ payload: "ok" }, { payload: "bad", txid: -(2n ** 63n) - 1n }]), /too large/);
  const after = appender.append("after");
  await Promise.all([before, after]);
  await appender.close();
  const texts = [];
  for await (const record of client.read("bad-txid")) texts.push(record.text());
  assert.deepEqual(texts, ["before", "after"]);
});

test("records in flight are bounded by 8 × maxBatchRecords, each caller still getting its own DLSN in order", async () => {
  const appender = client.appender("in-flight-records", { maxBatchRecords: 10 });
  // 1-byte payloads: in-flight bytes count the records.
  let peak = 0;
  const answers: Array<Promise<DLSN[]>> = [];
  for (let i = 0; i < 2000; i++) {
    await appender.ready();
    answers.push(appender.append("x"));
    peak = Math.max(peak, appender.inFlightBytes);
  }
  const dlsns = (await Promise.all(answers)).map((answer) => answer[0]!);
  await appender.close();
  assert.ok(peak <= 80, `at most 80 records in flight, saw ${peak}`);
  assert.ok(peak >= 40, `several batches in flight at once, saw ${peak} records`);
  for (let i = 1; i < dlsns.length; i++) assert.ok(dlsns[i]!.isAfter(dlsns[i - 1]!), `DLSN ${i} must follow DLSN ${i - 1}`);
});
