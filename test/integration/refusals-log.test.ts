/** Refused calls leave a trace (issue 8, item 13): the server's real log output, read back. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Metadata, Status } from "nice-grpc";
import { type Clients, type Dlogd, connect, scrapeMetrics, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession } from "../helpers/session.js";
import { logLines, waitForLines } from "../helpers/log-lines.js";

const SERVER_TEST = { timeout: 30_000 };
const WRITER = "writer-token-abcdefghijklmnop";
const AUDITOR = "auditor-token-abcdefghijklmnop";
const UNKNOWN = "unknown-token-abcdefghijklmnop";

const as = (token: string) => ({ metadata: Metadata({ authorization: `Bearer ${token}` }) });
const record = { payload: Buffer.from("x") };

async function refusedWith(call: Promise<unknown>, code: Status): Promise<void> {
  await assert.rejects(call, (error: { code?: Status }) => error.code === code);
}

describe("refused calls are logged at warn with the token's name, peer, method and log", () => {
  const dir = tempDir("dlog-refusals-");
  let server: Dlogd;
  let clients: Clients;
  before(async () => {
    const tokens = join(dir.path, "tokens.json");
    writeFileSync(
      tokens,
      JSON.stringify({
        tokens: [
          { name: "writer", token: WRITER, allow: { append: ["*"], read: ["*"] } },
          { name: "auditor", token: AUDITOR, allow: { read: ["*"] } },
        ],
      }),
    );
    server = await startDlogd({ args: ["--in-memory", "--auth-tokens", tokens, "--max-records-per-append", "5"], metrics: true });
    clients = connect(server.address);
    await clients.logs.append({ log: "orders", records: [record] }, as(WRITER));
  });
  after(async () => {
    clients.close();
    await server.stop();
    dir.cleanup();
  });

  const refusals = (): ReturnType<typeof logLines> => logLines(server.output()).filter((line) => line.msg === "call refused");

  test("an unknown token: UNAUTHENTICATED with peer and method, and the token is never written", SERVER_TEST, async () => {
    await refusedWith(clients.logs.append({ log: "orders", records: [record] }, as(UNKNOWN)), Status.UNAUTHENTICATED);
    const [line] = await waitForLines(server.output, (l) => l.msg === "call refused" && l.code === "UNAUTHENTICATED");
    assert.equal(line!.level, "warn");
    assert.equal(line!.method, "/dlog.v1.LogService/Append");
    assert.match(String(line!.peer), /127\.0\.0\.1:\d+/);
    assert.equal(line!.token, undefined, "an unknown token has no name");
    for (const secret of [UNKNOWN, WRITER, AUDITOR]) assert.ok(!server.output().includes(secret), "no token is ever logged");
  });

  test("outside the token's rights: PERMISSION_DENIED naming the token and the log", SERVER_TEST, async () => {
    await refusedWith(clients.logs.append({ log: "orders", records: [record] }, as(AUDITOR)), Status.PERMISSION_DENIED);
    const [line] = await waitForLines(server.output, (l) => l.msg === "call refused" && l.code === "PERMISSION_DENIED");
    assert.deepEqual([line!.token, line!.log, line!.method], ["auditor", "orders", "/dlog.v1.LogService/Append"]);
    assert.match(String(line!.error), /token "auditor" may not append log "orders"/);
  });

  test("a limit and a validation refusal, on a unary call and on a session open", SERVER_TEST, async () => {
    const six = Array.from({ length: 6 }, () => record);
    await refusedWith(clients.logs.append({ log: "big", records: six }, as(WRITER)), Status.INVALID_ARGUMENT);
    const [limit] = await waitForLines(server.output, (l) => l.msg === "call refused" && l.log === "big");
    assert.deepEqual([limit!.code, limit!.token, limit!.method], ["INVALID_ARGUMENT", "writer", "/dlog.v1.LogService/Append"]);
    assert.match(String(limit!.error), /--max-records-per-append/);

    const session = new TestSession(
      { ...clients, readers: { ...clients.readers, session: (requests, options) => clients.readers.session(requests, { ...options, ...as(WRITER) }) } },
      { kind: { $case: "open", value: { log: "orders", readerId: "r", resumePolicy: 2 } } },
    );
    assert.equal((await session.failed()).code, Status.INVALID_ARGUMENT);
    const [open] = await waitForLines(server.output, (l) => l.msg === "call refused" && l.method === "/dlog.v1.ReaderService/Session");
    assert.deepEqual([open!.code, open!.token, open!.log], ["INVALID_ARGUMENT", "writer", "orders"]);
  });

  test("a burst of one kind of refusal is one line per interval; the metric counts every one", SERVER_TEST, async () => {
    const counted = 'dlog_calls_refused_total{grpc_method="GetLog",grpc_code="UNAUTHENTICATED"}';
    const before = await scrapeMetrics(server.metricsAddress!);
    for (let i = 0; i < 50; i++) await refusedWith(clients.logs.getLog({ log: "orders" }, as(UNKNOWN)), Status.UNAUTHENTICATED);
    await refusedWith(clients.logs.getLog({ log: "orders" }), Status.UNAUTHENTICATED); // no token at all: the same kind
    const getLog = refusals().filter((l) => l.method === "/dlog.v1.LogService/GetLog");
    assert.equal(getLog.length, 1, `51 refusals of one kind within the interval: one line, got ${getLog.length}`);
    const now = await scrapeMetrics(server.metricsAddress!);
    assert.equal((now.get(counted) ?? 0) - (before.get(counted) ?? 0), 51, "every refusal is counted");
  });
});

describe("--log-level debug logs every call's end", () => {
  test("an OK call is a debug line with method, code and duration; at info it is not logged", SERVER_TEST, async () => {
    const debug = await startDlogd({ args: ["--in-memory", "--log-level", "debug"] });
    const info = await startDlogd({ args: ["--in-memory"] });
    const [toDebug, toInfo] = [connect(debug.address), connect(info.address)];
    try {
      await toDebug.logs.append({ log: "l", records: [record] });
      await toInfo.logs.append({ log: "l", records: [record] });
      const [line] = await waitForLines(debug.output, (l) => l.msg === "call ended" && l.method === "/dlog.v1.LogService/Append");
      assert.deepEqual([line!.level, line!.code, line!.log], ["debug", "OK", "l"]);
      assert.ok(typeof line!.durationMs === "number");
      assert.equal(logLines(info.output()).filter((l) => l.msg === "call ended").length, 0);
    } finally {
      toDebug.close();
      toInfo.close();
      await Promise.all([debug.stop(), info.stop()]);
    }
  });
});
