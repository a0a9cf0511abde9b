/**
 * Server-wide limits (issue 8, items 2 and 5): live sessions per connection, per token and in
 * total, each refusal RESOURCE_EXHAUSTED naming its limit; idle connections closed; the memory
 * an idle session costs, measured.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { ClientError, Metadata, Status } from "nice-grpc";
import { type Clients, bytes, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { memoryOf } from "../helpers/raw-grpc.js";
import { TestSession } from "../helpers/session.js";
import { MessageQueue } from "../../clients/typescript/src/message-queue.js";
import type { DeepPartial, SessionRequest } from "../../src/gen/dlog/v1/reader.js";

const MIB = 1024 * 1024;

async function refusal(session: TestSession): Promise<{ code: Status; details: string }> {
  return session.failed();
}

test("sessions per connection and in total are bounded; a refusal names the limit; an ended session frees its slot", { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const server = await startDlogd({ dataDir: dir.path, args: ["--max-sessions-per-connection", "3", "--max-sessions", "5"] });
  const a = connect(server.address);
  const b = connect(server.address, { ownConnection: true });
  try {
    await a.logs.append({ log: "lim", records: [{ payload: bytes("1") }] });
    const onA = [];
    for (let i = 0; i < 3; i++) onA.push((await TestSession.open(a, { log: "lim", readerId: `a${i}` })).session);
    const fourth = new TestSession(a, { kind: { $case: "open", value: { log: "lim", readerId: "a3" } } });
    const perConnection = await refusal(fourth);
    assert.equal(perConnection.code, Status.RESOURCE_EXHAUSTED);
    assert.match(perConnection.details, /^3 live sessions on this connection already, the limit \(--max-sessions-per-connection\)/);

    const onB = [];
    for (let i = 0; i < 2; i++) onB.push((await TestSession.open(b, { log: "lim", readerId: `b${i}` })).session);
    const total = await refusal(new TestSession(b, { kind: { $case: "open", value: { log: "lim", readerId: "b2" } } }));
    assert.equal(total.code, Status.RESOURCE_EXHAUSTED);
    assert.match(total.details, /^5 live sessions on this server already, the limit \(--max-sessions\)/);

    onA[0]!.drain();
    await onA[0]!.drained();
    const again = await TestSession.open(b, { log: "lim", readerId: "b2" });
    assert.equal(again.opened.epoch > 0n, true, "the drained session's slot is free again");
    for (const session of [...onA.slice(1), ...onB, again.session]) session.cancel();
  } finally {
    a.close();
    b.close();
    await server.stop();
    dir.cleanup();
  }
});

test("sessions per token are bounded; another token is not affected", { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const file = join(dir.path, "tokens.json");
  const tokens = { one: "token-one-000000001", two: "token-two-000000002" };
  writeFileSync(file, JSON.stringify({ tokens: Object.entries(tokens).map(([name, token]) => ({ name, token, allow: { read: ["*"], append: ["*"] } })) }));
  const server = await startDlogd({ dataDir: join(dir.path, "data"), args: ["--auth-tokens", file, "--max-sessions-per-token", "2"] });
  const clients = connect(server.address);
  const as = (token: string) => ({ metadata: Metadata({ authorization: `Bearer ${token}` }) });
  const open = (token: string, readerId: string) => {
    const requests = new MessageQueue<DeepPartial<SessionRequest>>();
    requests.push({ kind: { $case: "open", value: { log: "tok", readerId } } });
    const abort = new AbortController();
    const first = clients.readers
      .session(requests, { ...as(token), signal: abort.signal })
      [Symbol.asyncIterator]()
      .next();
    return { first, end: () => abort.abort() };
  };
  try {
    await clients.logs.append({ log: "tok", records: [{ payload: bytes("1") }] }, as(tokens.one));
    const held = [open(tokens.one, "r1"), open(tokens.one, "r2")];
    for (const session of held) assert.equal((await session.first).value?.kind?.$case, "opened");
    const third = open(tokens.one, "r3");
    await assert.rejects(
      third.first,
      (error: unknown) =>
        error instanceof ClientError &&
        error.code === Status.RESOURCE_EXHAUSTED &&
        /live sessions of token "one" already.*--max-sessions-per-token/.test(error.details),
    );
    const other = open(tokens.two, "r4");
    assert.equal((await other.first).value?.kind?.$case, "opened", "another token still opens sessions");
    for (const session of [...held, other]) session.end();
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});

test("--max-connections: the connection past the limit is closed at once; a freed slot serves again; both limits are logged", { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const server = await startDlogd({ dataDir: dir.path, args: ["--max-connections", "3"] });
  const held: Clients[] = [];
  try {
    assert.match(server.output(), /"maxConnections":3,"openFileLimit":\d+,"msg":"connection limit"/);
    for (let i = 0; i < 3; i++) {
      const clients = connect(server.address, { ownConnection: true });
      await clients.logs.listLogs({});
      held.push(clients);
    }
    const extra = connect(server.address, { ownConnection: true });
    await assert.rejects(
      extra.logs.listLogs({}, { signal: AbortSignal.timeout(5_000) }),
      (error: unknown) => error instanceof ClientError && error.code === Status.UNAVAILABLE,
    );
    extra.close();
    for (let waited = 0; !server.output().includes("connections refused: --max-connections reached"); waited += 20) {
      assert.ok(waited < 5_000, `no refusal logged:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    held.shift()!.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = connect(server.address, { ownConnection: true });
    assert.deepEqual((await again.logs.listLogs({})).logs, [], "a freed slot takes a new connection");
    held.push(again);
  } finally {
    for (const clients of held) clients.close();
    await server.stop();
    dir.cleanup();
  }
});

test("--max-readers-per-log and --max-logs: creating one more is refused naming the limit; existing ones still work", { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const server = await startDlogd({ dataDir: dir.path, args: ["--max-readers-per-log", "2", "--max-logs", "2"] });
  const clients = connect(server.address);
  const earliest = { at: { $case: "boundary" as const, value: 1 } };
  try {
    await clients.logs.append({ log: "q1", records: [{ payload: bytes("1") }] });
    await clients.readers.setPosition({ log: "q1", readerId: "r1", position: earliest });
    const { session } = await TestSession.open(clients, { log: "q1", readerId: "r2" });
    session.cancel();
    const third = await refusal(new TestSession(clients, { kind: { $case: "open", value: { log: "q1", readerId: "r3" } } }));
    assert.equal(third.code, Status.RESOURCE_EXHAUSTED);
    assert.match(third.details, /log "q1" has 2 readers, its limit \(--max-readers-per-log\)/);
    await assert.rejects(
      clients.readers.setPosition({ log: "q1", readerId: "r3", position: earliest }),
      (error: unknown) => error instanceof ClientError && error.code === Status.RESOURCE_EXHAUSTED,
    );
    await clients.readers.setPosition({ log: "q1", readerId: "r1", position: earliest }); // an existing reader is fine
    await clients.readers.deleteReader({ log: "q1", readerId: "r1" });
    await clients.readers.setPosition({ log: "q1", readerId: "r3", position: earliest }); // room again

    await clients.logs.createLog({ log: "q2" });
    await assert.rejects(
      clients.logs.append({ log: "q3", records: [{ payload: bytes("1") }] }),
      (error: unknown) => error instanceof ClientError && error.code === Status.RESOURCE_EXHAUSTED && /--max-logs/.test(error.details),
    );
    await assert.rejects(clients.logs.createLog({ log: "q3" }), (error: unknown) => error instanceof ClientError && error.code === Status.RESOURCE_EXHAUSTED);
    await clients.logs.append({ log: "q2", records: [{ payload: bytes("1") }] }); // an existing log is fine
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});

test("a connection with no call in flight is closed after --connection-idle-timeout; one with a live session is not", { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const server = await startDlogd({ dataDir: dir.path, args: ["--connection-idle-timeout", "1s"] });
  const clients = connect(server.address);
  try {
    await clients.logs.append({ log: "idle", records: [{ payload: bytes("1") }] });
    const { session } = await TestSession.open(clients, { log: "idle", readerId: "r" });
    await session.records(1);
    const [host, port] = [server.address.slice(0, server.address.lastIndexOf(":")), Number(server.address.slice(server.address.lastIndexOf(":") + 1))];
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = tcpConnect({ host, port });
      socket.on("error", () => undefined);
      socket.resume();
      const timer = setTimeout(() => reject(new Error("an idle connection was still open after 10 s")), 10_000);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve(Date.now() - started);
      });
    });
    assert.ok(closedAfter >= 900, `closed after ${closedAfter} ms, not before the timeout`);
    // The session's connection had a call in flight all along: it still works.
    await clients.logs.append({ log: "idle", records: [{ payload: bytes("2") }] });
    const records = await session.records(1);
    assert.equal(records[0]!.payload.toString(), "2");
    session.cancel();
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});

test("1000 idle sessions: memory per session, measured", { timeout: 120_000 }, async () => {
  const dir = tempDir();
  const server = await startDlogd({ process: true, dataDir: dir.path, args: ["--max-sessions-per-connection", "2000"] });
  const clients = connect(server.address);
  try {
    await clients.logs.append({ log: "idle-rss", records: [{ payload: bytes("1") }] });
    // Warm up the code paths once, so the measurement is of sessions, not of first-use compilation.
    const warm = await TestSession.open(clients, { log: "idle-rss", readerId: "warm" });
    warm.session.cancel();
    const pid = server.child.pid!;
    const before = memoryOf(pid).rss;
    const sessions: TestSession[] = [];
    for (let i = 0; i < 1000; i++) sessions.push(new TestSession(clients, { kind: { $case: "open", value: { log: "idle-rss", readerId: `idle-${i}` } } }));
    for (const session of sessions) await session.opened();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = memoryOf(pid).rss;
    const perSession = (after - before) / 1000;
    process.stdout.write(
      `# 1000 idle sessions: RSS ${(before / MIB).toFixed(1)} → ${(after / MIB).toFixed(1)} MiB, ${(perSession / 1024).toFixed(1)} KiB per session\n`,
    );
    assert.ok(perSession < 1024 * 1024, `${(perSession / 1024).toFixed(0)} KiB per idle session`);
    for (const session of sessions) session.cancel();
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});
