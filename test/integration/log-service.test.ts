import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ClientError, Status } from "nice-grpc";
import { DLSN } from "../../src/dlsn.js";
import { Boundary, type DLSN as WireDLSN, type Position, type Record as WireRecord } from "../../src/gen/dlog/v1/common.js";
import type { AppendRequest, AppendResponse, ReadRequest, ReadResponse } from "../../src/gen/dlog/v1/log.js";
import { type Clients, DLOGD, type Dlogd, bytes, connect, startDlogd, tempDir, withServer } from "../helpers/dlogd.js";
import { runProcess } from "../helpers/process.js";
import { launcherNodeFlags } from "../../bench/dlogd-process.js";

const SERVER_TEST = { timeout: 30_000 };

const str = (dlsn: WireDLSN | undefined): string => (dlsn ? `${dlsn.segment}/${dlsn.entry}/${dlsn.slot}` : "unset");
const text = (record: WireRecord): string => record.payload.toString("utf8");

async function readAll(clients: Clients, request: Partial<ReadRequest> & { log: string }): Promise<WireRecord[]> {
  const out: WireRecord[] = [];
  for await (const response of clients.logs.read(request)) out.push(...response.records);
  return out;
}

/** The next response of a streaming Read; fails if the stream ended instead. */
async function nextBatch(stream: AsyncIterator<ReadResponse>): Promise<WireRecord[]> {
  const result = await stream.next();
  assert.ok(result.done !== true, "the Read stream ended");
  return result.value.records;
}

/** Resolves to the gRPC failure of `call`; fails the test if it succeeds or fails otherwise. */
async function failureOf(call: Promise<unknown> | AsyncIterable<unknown>): Promise<{ code: Status; details: string }> {
  try {
    if (Symbol.asyncIterator in call) {
      for await (const _ of call);
    } else {
      await call;
    }
  } catch (error) {
    assert.ok(error instanceof ClientError, `expected a gRPC error, got ${String(error)}`);
    return { code: error.code, details: error.details };
  }
  return assert.fail("expected the call to fail");
}

async function assertStatus(call: Promise<unknown> | AsyncIterable<unknown>, code: Status, details: RegExp): Promise<void> {
  const failure = await failureOf(call);
  assert.equal(Status[failure.code], Status[code], failure.details);
  assert.match(failure.details, details);
}

/** Runs bin/dlogd.js to its exit (bounded), for flag and startup failures. */
const runDlogd = (args: string[]) => runProcess(process.execPath, [DLOGD, ...args], { timeoutMs: 10_000 });

describe("LogService on a default server", () => {
  const dir = tempDir();
  let server: Dlogd;
  let clients: Clients;
  before(async () => {
    server = await startDlogd({ dataDir: dir.path });
    clients = connect(server.address);
  });
  after(async () => {
    clients?.close();
    await server?.stop();
    dir.cleanup();
  });

  test("CreateLog, GetLog, ListLogs and DeleteLog manage logs", SERVER_TEST, async () => {
    const created = await clients.logs.createLog({ log: "admin.b" });
    await clients.logs.createLog({ log: "admin.a" });
    await clients.logs.createLog({ log: "other" });
    await clients.logs.append({ log: "admin.a", records: [{ payload: bytes("x") }, { payload: bytes("yz") }] });

    assert.equal(created.log, "admin.b");
    assert.equal(created.recordCount, 0n);
    assert.equal(created.firstDlsn, undefined);
    await assertStatus(clients.logs.createLog({ log: "admin.a" }), Status.ALREADY_EXISTS, /log "admin\.a" already exists/);
    const listed = await clients.logs.listLogs({ prefix: "admin." });
    assert.deepEqual(
      listed.logs.map((l) => l.log),
      ["admin.a", "admin.b"],
    );
    const info = await clients.logs.getLog({ log: "admin.a" });
    assert.deepEqual([info.recordCount, info.byteCount, info.nextSequenceId, str(info.firstDlsn), str(info.lastDlsn)], [2n, 3n, 2n, "1/0/0", "1/0/1"]);
    assert.deepEqual(
      info.segments.map((s) => [s.segment, s.recordCount, s.open]),
      [[1n, 2n, true]],
    );
    assert.deepEqual(await clients.logs.deleteLog({ log: "admin.a" }), { recordsDeleted: 2n });
    await assertStatus(clients.logs.getLog({ log: "admin.a" }), Status.NOT_FOUND, /log "admin\.a" does not exist/);
    await assertStatus(clients.logs.deleteLog({ log: "admin.a" }), Status.NOT_FOUND, /admin\.a/);
    assert.deepEqual(
      (await clients.logs.listLogs({ prefix: "admin." })).logs.map((l) => l.log),
      ["admin.b"],
    );
  });

  test("Append answers with DLSNs and txids, and Read streams the records back", SERVER_TEST, async () => {
    const before = Date.now();
    const first = await clients.logs.append({ log: "roundtrip", records: [{ payload: bytes("one"), txid: 7n }] });
    const bulk = await clients.logs.append({
      log: "roundtrip",
      records: [{ payload: bytes("two") }, { payload: Buffer.from([0, 255, 1]) }],
      requestId: 42n,
    });

    assert.deepEqual(first.dlsns.map(str), ["1/0/0"]);
    assert.deepEqual(first.txids, [7n]);
    assert.deepEqual(bulk.dlsns.map(str), ["1/1/0", "1/1/1"]);
    assert.equal(bulk.requestId, 42n);
    assert.ok(
      bulk.txids.every((txid) => txid >= BigInt(before)),
      "unset txids are the time in ms",
    );
    const records = await readAll(clients, { log: "roundtrip" });
    assert.deepEqual(records.map(text).slice(0, 2), ["one", "two"]);
    assert.deepEqual(records[2]!.payload, Buffer.from([0, 255, 1]));
    assert.deepEqual(
      records.map((r) => str(r.dlsn)),
      ["1/0/0", "1/1/0", "1/1/1"],
    );
    assert.deepEqual(
      records.map((r) => r.sequenceId),
      [0n, 1n, 2n],
    );
    assert.deepEqual(
      records.map((r) => r.txid),
      [7n, ...bulk.txids],
    );
    assert.ok(records.every((r) => r.attempt === 0 && r.appendTimeMs >= BigInt(before) && r.appendTimeMs <= BigInt(Date.now())));
  });

  test("AppendStream answers 1000 pipelined appends in order; a bad one gets its error and the stream goes on", SERVER_TEST, async () => {
    const BAD = 500;
    async function* requests(): AsyncGenerator<AppendRequest> {
      for (let i = 0; i < 1000; i++) {
        // Request BAD goes back to txid 1: out of order.
        const txid = i === BAD ? 1n : BigInt(i + 1);
        yield { log: "pipelined", records: [{ payload: bytes(`r${i}`), txid }], requestId: BigInt(1_000_000 + i), producerId: "", producerSeq: 0n };
      }
    }

    const answers: AppendResponse[] = [];
    for await (const answer of clients.logs.appendStream(requests())) answers.push(answer);

    assert.equal(answers.length, 1000);
    assert.deepEqual(
      answers.map((a) => a.requestId),
      Array.from({ length: 1000 }, (_, i) => BigInt(1_000_000 + i)),
    );
    const bad = answers[BAD]!;
    assert.equal(bad.error?.code, Status.FAILED_PRECONDITION);
    assert.match(bad.error?.message ?? "", /transaction id out of order/);
    assert.deepEqual(bad.dlsns, []);
    const good = answers.filter((_, i) => i !== BAD);
    assert.ok(good.every((a) => a.error === undefined && a.dlsns.length === 1));
    // Answered in order means DLSNs assigned in request order too (appends committed together share an entry).
    const dlsns = good.map((a) => new DLSN(a.dlsns[0]!.segment, a.dlsns[0]!.entry, a.dlsns[0]!.slot));
    for (let i = 1; i < dlsns.length; i++) assert.ok(dlsns[i]!.isAfter(dlsns[i - 1]!), `${dlsns[i]} after ${dlsns[i - 1]}`);
    const stored = await readAll(clients, { log: "pipelined" });
    assert.deepEqual(
      stored.map(text),
      Array.from({ length: 1000 }, (_, i) => `r${i}`).filter((_, i) => i !== BAD),
    );
    assert.deepEqual(
      stored.map((r) => str(r.dlsn)),
      good.map((a) => str(a.dlsns[0])),
    );
  });

  test("Read with follow receives a record appended after it started", SERVER_TEST, async () => {
    await clients.logs.append({ log: "followed", records: [{ payload: bytes("old") }] });
    const controller = new AbortController();
    const stream = clients.logs.read({ log: "followed", follow: true }, { signal: controller.signal })[Symbol.asyncIterator]();

    assert.deepEqual((await nextBatch(stream)).map(text), ["old"]);
    const pending = nextBatch(stream);
    await sleep(50);
    await clients.logs.append({ log: "followed", records: [{ payload: bytes("new") }] });
    const secondBatch = await pending;

    assert.deepEqual(secondBatch.map(text), ["new"]);
    assert.deepEqual(
      secondBatch.map((r) => str(r.dlsn)),
      ["1/1/0"],
    );
    controller.abort();
    await assert.rejects(stream.next(), (error: Error) => error.name === "AbortError");
  });

  test("Read from LATEST with follow sees only records appended after it started", SERVER_TEST, async () => {
    await clients.logs.append({ log: "latest", records: [{ payload: bytes("before") }] });
    const controller = new AbortController();
    const stream = clients.logs
      .read({ log: "latest", follow: true, start: { at: { $case: "boundary", value: Boundary.BOUNDARY_LATEST } } }, { signal: controller.signal })
      [Symbol.asyncIterator]();
    const first = nextBatch(stream);
    let received = false;
    void first.finally(() => (received = true));

    // No signal says when the server has placed the read: keep appending until it delivers something.
    for (let i = 0; !received && i < 200; i++) {
      await clients.logs.append({ log: "latest", records: [{ payload: bytes(`after${i}`) }] });
      await sleep(10);
    }

    const records = (await first).map(text);
    assert.ok(records.length > 0);
    assert.ok(
      records.every((r) => r.startsWith("after")),
      `got ${records.join(",")}`,
    );
    controller.abort();
    await stream.return?.(undefined).catch(() => undefined);
  });

  test("Read from a DLSN beyond the end, without follow, ends cleanly with no records", SERVER_TEST, async () => {
    await clients.logs.append({ log: "short", records: [{ payload: bytes("only") }] });

    for (const dlsn of [
      { segment: 1n, entry: 1n, slot: 0n },
      { segment: 1n, entry: 0n, slot: 1n },
      { segment: 99n, entry: 0n, slot: 0n },
    ]) {
      assert.deepEqual(await readAll(clients, { log: "short", start: { at: { $case: "dlsn", value: dlsn } } }), [], str(dlsn));
    }
    assert.deepEqual(await readAll(clients, { log: "short", start: { at: { $case: "boundary", value: Boundary.BOUNDARY_LATEST } } }), []);
  });

  test("Read starts at a txid, a time, a DLSN or its serialized bytes, and honours max_records", SERVER_TEST, async () => {
    const log = "positions";
    const appended: AppendResponse[] = [];
    for (const txid of [10n, 20n, 30n]) {
      appended.push(await clients.logs.append({ log, records: [{ payload: bytes(`t${txid}`), txid }] }));
      await sleep(5); // distinct append times
    }
    const all = await readAll(clients, { log });
    const from = async (at: Position["at"], extra: Partial<ReadRequest> = {}): Promise<string[]> =>
      (await readAll(clients, { log, start: { at }, ...extra })).map(text);

    assert.deepEqual(await from({ $case: "txid", value: 15n }), ["t20", "t30"]);
    assert.deepEqual(await from({ $case: "txid", value: 20n }), ["t20", "t30"]);
    assert.deepEqual(await from({ $case: "txid", value: 31n }), []);
    assert.deepEqual(await from({ $case: "timeMs", value: all[1]!.appendTimeMs }), ["t20", "t30"]);
    assert.deepEqual(await from({ $case: "timeMs", value: 0n }), ["t10", "t20", "t30"]);
    const second = appended[1]!.dlsns[0]!;
    assert.deepEqual(await from({ $case: "dlsn", value: second }), ["t20", "t30"]);
    const serialized = new DLSN(second.segment, second.entry, second.slot).serializeBytes();
    assert.deepEqual(await from({ $case: "dlsnBytes", value: serialized }), ["t20", "t30"]);
    assert.deepEqual(await from({ $case: "boundary", value: Boundary.BOUNDARY_EARLIEST }, { maxRecords: 2n }), ["t10", "t20"]);
    const batches: number[] = [];
    for await (const response of clients.logs.read({ log, maxBatchRecords: 1 })) batches.push(response.records.length);
    assert.deepEqual(batches, [1, 1, 1]);
  });

  test("Read splits large records over responses that fit a default client's 4 MiB message limit", SERVER_TEST, async () => {
    // One 5 MB append needs a larger --max-message-bytes than the default 4 MiB.
    await withServer(
      async (_server, clients) => {
        const big = (tag: string): Buffer => Buffer.alloc(200 * 1024, tag);
        for (let i = 0; i < 25; i++) await clients.logs.append({ log: "big", records: [{ payload: big(`a${i % 10}`) }] });
        // One entry of 5 MB: even a single entry must be split.
        await clients.logs.append({ log: "big", records: Array.from({ length: 25 }, (_, i) => ({ payload: big(`b${i % 10}`) })) });

        const sizes: number[] = [];
        const records: WireRecord[] = [];
        for await (const response of clients.logs.read({ log: "big" })) {
          sizes.push(response.records.reduce((sum, r) => sum + r.payload.length, 0));
          records.push(...response.records);
        }

        assert.equal(records.length, 50);
        assert.deepEqual(
          records.map((r) => str(r.dlsn)),
          [...Array.from({ length: 25 }, (_, i) => `1/${i}/0`), ...Array.from({ length: 25 }, (_, i) => `1/25/${i}`)],
        );
        assert.ok(records.every((r) => r.payload.length === 200 * 1024));
        assert.ok(
          sizes.every((size) => size < 4 * 1024 * 1024),
          `response sizes ${sizes.join(", ")}`,
        );
      },
      ["--max-message-bytes", "8MiB"],
    );
  });

  test("Read on an existing log rejects malformed dlsn_bytes and oversized batches with INVALID_ARGUMENT", SERVER_TEST, async () => {
    await clients.logs.append({ log: "strict", records: [{ payload: bytes("a") }] });
    const read = (at: Position["at"], extra: Partial<ReadRequest> = {}) => clients.logs.read({ log: "strict", start: { at }, ...extra });

    await assertStatus(read({ $case: "dlsnBytes", value: Buffer.alloc(24, 1) }), Status.INVALID_ARGUMENT, /must be 25 bytes.*got 24/);
    const wrongVersion = Buffer.from(DLSN.INITIAL.serializeBytes());
    wrongVersion[0] = 2;
    await assertStatus(read({ $case: "dlsnBytes", value: wrongVersion }), Status.INVALID_ARGUMENT, /version 2/);
    await assertStatus(
      read({ $case: "boundary", value: Boundary.BOUNDARY_EARLIEST }, { maxBatchRecords: 10_001 }),
      Status.INVALID_ARGUMENT,
      /max_batch_records must be at most 10000/,
    );
    await assertStatus(read(undefined, { maxRecords: -1n }), Status.INVALID_ARGUMENT, /max_records must be >= 0/);
  });
});

test("Truncate drops whole segments before a DLSN; reads start at the first record left", SERVER_TEST, async () => {
  await withServer(
    async (_server, clients) => {
      for (let i = 0; i < 6; i++) await clients.logs.append({ log: "trunc", records: [{ payload: bytes(`rec${i}`) }] });

      const result = await clients.logs.truncate({ log: "trunc", before: { segment: 3n, entry: 1n, slot: 0n } });

      assert.deepEqual([result.segmentsDeleted, result.recordsDeleted, str(result.firstDlsn)], [2n, 4n, "3/0/0"]);
      const info = await clients.logs.getLog({ log: "trunc" });
      assert.deepEqual([info.recordCount, info.byteCount, info.truncatedRecordCount, info.nextSequenceId, str(info.firstDlsn)], [2n, 8n, 4n, 6n, "3/0/0"]);
      const fromTruncated: Position = { at: { $case: "dlsn", value: { segment: 1n, entry: 0n, slot: 0n } } };
      const records = await readAll(clients, { log: "trunc", start: fromTruncated });
      assert.deepEqual(records.map(text), ["rec4", "rec5"]);
      assert.deepEqual(
        records.map((r) => r.sequenceId),
        [4n, 5n],
      );
      await assertStatus(clients.logs.truncate({ log: "trunc" }), Status.INVALID_ARGUMENT, /before is required/);
    },
    ["--segment-max-bytes", "8"],
  );
});

test("Truncate past the log's head is OUT_OF_RANGE naming what would go and drops nothing; with force it empties the log", SERVER_TEST, async () => {
  await withServer(async (_server, clients) => {
    await clients.logs.append({ log: "wipe", records: [{ payload: bytes("a") }, { payload: bytes("b") }] });
    const typo = { segment: 10n, entry: 0n, slot: 0n }; // one digit too many for 1/0/0

    await assertStatus(
      clients.logs.truncate({ log: "wipe", before: typo }),
      Status.OUT_OF_RANGE,
      /truncating log "wipe" before 10\/0\/0 would drop every record: all 2 in 1 segment, up to the head 1\/0\/1, the open segment included; .*force/,
    );
    assert.equal((await clients.logs.getLog({ log: "wipe" })).recordCount, 2n);
    assert.deepEqual((await readAll(clients, { log: "wipe" })).map(text), ["a", "b"]);

    const forced = await clients.logs.truncate({ log: "wipe", before: typo, force: true });
    assert.deepEqual([forced.segmentsDeleted, forced.recordsDeleted, forced.firstDlsn], [1n, 2n, undefined]);
    assert.equal((await clients.logs.getLog({ log: "wipe" })).recordCount, 0n);
  });
});

describe("LogService rejects bad input with the right status and a message", () => {
  const dir = tempDir();
  let server: Dlogd;
  let clients: Clients;
  before(async () => {
    server = await startDlogd({ dataDir: dir.path, args: ["--no-auto-create", "--max-record-bytes", "1KiB"] });
    clients = connect(server.address);
    await clients.logs.createLog({ log: "exists" });
  });
  after(async () => {
    clients?.close();
    await server?.stop();
    dir.cleanup();
  });

  test("an unknown log is NOT_FOUND when the server does not auto-create", SERVER_TEST, async () => {
    await assertStatus(
      clients.logs.append({ log: "missing", records: [{ payload: bytes("a") }] }),
      Status.NOT_FOUND,
      /log "missing" does not exist.*--no-auto-create/,
    );
    await assertStatus(clients.logs.getLog({ log: "missing" }), Status.NOT_FOUND, /log "missing" does not exist/);
    await assertStatus(clients.logs.read({ log: "missing" }), Status.NOT_FOUND, /log "missing" does not exist/);
    await assertStatus(
      clients.logs.truncate({ log: "missing", before: { segment: 1n, entry: 0n, slot: 0n } }),
      Status.NOT_FOUND,
      /log "missing" does not exist/,
    );
  });

  test("a bad log name is INVALID_ARGUMENT stating the rule", SERVER_TEST, async () => {
    const rule = /must be 1-200 characters of A-Z a-z 0-9 \. _ -/;
    await assertStatus(clients.logs.append({ log: "no spaces", records: [{ payload: bytes("a") }] }), Status.INVALID_ARGUMENT, rule);
    await assertStatus(clients.logs.createLog({ log: "x".repeat(201) }), Status.INVALID_ARGUMENT, rule);
    await assertStatus(clients.logs.read({ log: "a/b" }), Status.INVALID_ARGUMENT, rule);
    await assertStatus(clients.logs.getLog({ log: "" }), Status.INVALID_ARGUMENT, /log is required/);
  });

  test("an append with no records is INVALID_ARGUMENT", SERVER_TEST, async () => {
    await assertStatus(clients.logs.append({ log: "exists", records: [] }), Status.INVALID_ARGUMENT, /at least one record/);
  });

  test("a record over --max-record-bytes is INVALID_ARGUMENT naming the limit", SERVER_TEST, async () => {
    await clients.logs.append({ log: "exists", records: [{ payload: Buffer.alloc(1024) }] });
    await assertStatus(
      clients.logs.append({ log: "exists", records: [{ payload: Buffer.alloc(10) }, { payload: Buffer.alloc(1025) }] }),
      Status.INVALID_ARGUMENT,
      /record 1 is 1025 bytes; the limit is 1024 bytes \(--max-record-bytes\)/,
    );
  });

  test("a txid lower than the log's last is FAILED_PRECONDITION", SERVER_TEST, async () => {
    await clients.logs.createLog({ log: "txids" });
    await clients.logs.append({ log: "txids", records: [{ payload: bytes("a"), txid: 100n }] });
    await assertStatus(
      clients.logs.append({ log: "txids", records: [{ payload: bytes("b"), txid: 99n }] }),
      Status.FAILED_PRECONDITION,
      /transaction id out of order: txid 99 is lower than the log's last txid 100/,
    );
    assert.equal((await clients.logs.getLog({ log: "txids" })).recordCount, 1n);
  });

  test("malformed dlsn_bytes is INVALID_ARGUMENT", SERVER_TEST, async () => {
    await assertStatus(
      clients.logs.read({ log: "exists", start: { at: { $case: "dlsnBytes", value: Buffer.from("not a dlsn") } } }),
      Status.INVALID_ARGUMENT,
      /serialized DLSN must be 25 bytes/,
    );
  });
});

test("a graceful restart keeps every record and the next append starts a new segment", SERVER_TEST, async () => {
  const dir = tempDir();
  try {
    let server = await startDlogd({ process: true, dataDir: dir.path });
    let clients = connect(server.address);
    for (let i = 0; i < 5; i++) await clients.logs.append({ log: "durable", records: [{ payload: bytes(`r${i}`) }] });
    await clients.logs.append({ log: "durable", records: [{ payload: bytes("bulk0") }, { payload: bytes("bulk1") }] });
    const before = await readAll(clients, { log: "durable" });
    clients.close();

    assert.equal(await server.stop("SIGTERM"), 0, "a SIGTERM exits 0");
    server = await startDlogd({ process: true, dataDir: dir.path });
    clients = connect(server.address);
    try {
      const after = await readAll(clients, { log: "durable" });
      const next = await clients.logs.append({ log: "durable", records: [{ payload: bytes("next") }] });
      const info = await clients.logs.getLog({ log: "durable" });

      assert.deepEqual(after, before);
      assert.equal(after.length, 7);
      assert.deepEqual(next.dlsns.map(str), ["2/0/0"]);
      assert.deepEqual(
        info.segments.map((s) => [s.segment, s.recordCount, s.open]),
        [
          [1n, 7n, false],
          [2n, 1n, true],
        ],
      );
      assert.equal(info.nextSequenceId, 8n);
    } finally {
      clients.close();
      await server.stop();
    }
  } finally {
    dir.cleanup();
  }
});

test("SIGTERM ends an open AppendStream and a following Read with UNAVAILABLE and exits promptly", SERVER_TEST, async () => {
  const dir = tempDir();
  const server = await startDlogd({ process: true, dataDir: dir.path });
  const clients = connect(server.address);
  try {
    await clients.logs.append({ log: "busy", records: [{ payload: bytes("a") }] });
    // Read before the stream appends "b": a first batch read after it may hold both (seen on NATS JetStream).
    const follow = clients.logs.read({ log: "busy", follow: true })[Symbol.asyncIterator]();
    assert.deepEqual((await nextBatch(follow)).map(text), ["a"]);
    let sendMore!: () => void;
    const held = new Promise<void>((resolve) => (sendMore = resolve));
    async function* requests(): AsyncGenerator<AppendRequest> {
      yield { log: "busy", records: [{ payload: bytes("b") }], requestId: 1n, producerId: "", producerSeq: 0n };
      await held; // the producer goes quiet with the stream open
    }
    const streamAnswers: AppendResponse[] = [];
    const appendStreamEnd = failureOf(
      (async () => {
        for await (const answer of clients.logs.appendStream(requests())) streamAnswers.push(answer);
      })(),
    );
    while (streamAnswers.length === 0) await sleep(10);

    const stopping = Date.now();
    const code = await server.stop("SIGTERM");
    const tookMs = Date.now() - stopping;

    assert.equal(code, 0);
    assert.ok(tookMs < 3_000, `shutdown took ${tookMs} ms`);
    assert.equal(streamAnswers[0]?.dlsns.length, 1);
    const streamEnd = await appendStreamEnd;
    assert.equal(Status[streamEnd.code], Status[Status.UNAVAILABLE]);
    assert.match(streamEnd.details, /server is shutting down/);
    const followEnd = await failureOf(
      (async () => {
        for (;;) await nextBatch(follow);
      })(),
    );
    assert.equal(Status[followEnd.code], Status[Status.UNAVAILABLE]);
    sendMore();
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});

// On NATS (DLOG_TEST_STORAGE=nats) several gateways share one store by design: no lock to refuse.
const LEVELDB_ONLY = { ...SERVER_TEST, skip: process.env.DLOG_TEST_STORAGE === "nats" ? "LevelDB's lock; NATS gateways share a store" : false };

test("a second dlogd on the same data dir exits non-zero at once, saying the dir is in use", LEVELDB_ONLY, async () => {
  await withServer(async (server) => {
    const second = await runDlogd(["--listen", "127.0.0.1:0", "--data-dir", server.dataDir]);

    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /data dir .* is in use by another dlogd/);
    assert.ok(second.ms < 5_000, `exited after ${second.ms} ms`);
  });
});

test("bin/dlogd.js started as a program runs node with the flags of its first line (the bench does the same)", SERVER_TEST, async () => {
  const flags = launcherNodeFlags(DLOGD);
  assert.ok(flags.length > 0, "the launcher's first line names node flags");
  const child = spawn(DLOGD, ["--in-memory", "--listen", "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    let output = "";
    child.stderr.setEncoding("utf8");
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "dlogd listening" line:\n${output}`)), 10_000);
      child.stderr.on("data", (chunk: string) => {
        output += chunk;
        const found = /^.*"msg":"dlogd listening".*(?=\n)/m.exec(output)?.[0];
        if (found === undefined) return;
        clearTimeout(timer);
        resolve(found);
      });
      child.once("exit", (code) => reject(new Error(`dlogd exited with ${code}:\n${output}`)));
    });
    assert.deepEqual((JSON.parse(line) as { nodeFlags: string[] }).nodeFlags, flags);
  } finally {
    child.kill("SIGKILL");
  }
});

test("dlogd --help exits 0 and a bad flag value exits non-zero naming the flag", SERVER_TEST, async () => {
  const help = await runDlogd(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: dlogd/);
  assert.match(help.stdout, /--ack-flush-interval/);

  const bad = await runDlogd(["--ack-flush-interval", "nope"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--ack-flush-interval: "nope" is not valid; expected a duration/);

  const unknown = await runDlogd(["--no-such-flag"]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /no-such-flag/);
});
