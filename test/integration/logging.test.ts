import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Fixture, startFixture } from "../helpers/fixture.js";
import { TestSession, appendNumbered } from "../helpers/session.js";
import { startDlogd } from "../helpers/dlogd.js";
import { type LogLine, logLines, waitForLines } from "../helpers/log-lines.js";
import { MessageQueue } from "../../clients/typescript/src/message-queue.js";
import type { DeepPartial, SessionRequest } from "../../src/gen/dlog/v1/reader.js";

const SERVER_TEST = { timeout: 30_000 };

const ofReader = (reader: string) => (line: LogLine) => line.reader === reader;

describe("session lifecycle logs (pino, info)", () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await startFixture();
  });
  after(() => fixture.close());

  test("open, drain and close: one line each with log, reader, session and peer; none per record", SERVER_TEST, async () => {
    await appendNumbered(fixture.clients, "orders", 500, { batch: 50 });
    const { session } = await TestSession.open(fixture.clients, { log: "orders", readerId: "billing" });
    const records = await session.records(500);
    session.ack(records.map((record) => record.dlsn!));
    session.drain();
    await session.drained();
    const lines = await waitForLines(fixture.server.output, (line) => ofReader("billing")(line) && line.msg === "session closed");
    const mine = logLines(fixture.server.output()).filter(ofReader("billing"));
    assert.deepEqual(
      mine.map((line) => line.msg),
      ["session opened", "session draining (Drain)", "session closed"],
      "three lines for a session that delivered 500 records",
    );
    for (const line of mine) {
      assert.equal(line.level, "info");
      assert.equal(line.log, "orders");
      assert.equal(line.session, "1");
      assert.match(String(line.peer), /^(ipv4:)?127\.0\.0\.1:\d+$/);
    }
    assert.equal(mine[0]!.source, "fallback");
    assert.equal(lines[0]!.end, "drained");
    assert.equal(lines[0]!.delivered, 500);
    assert.ok(typeof lines[0]!.durationMs === "number");
  });

  test("a takeover: the new session says it fenced the live one, the old one ends with 'session fenced'", SERVER_TEST, async () => {
    await appendNumbered(fixture.clients, "takeover", 3);
    const first = await TestSession.open(fixture.clients, { log: "takeover", readerId: "etl" });
    const second = await TestSession.open(fixture.clients, { log: "takeover", readerId: "etl" });
    await first.session.failed();
    const fenced = await waitForLines(fixture.server.output, (line) => ofReader("etl")(line) && line.msg === "session fenced");
    assert.equal(fenced[0]!.session, String(first.opened.epoch));
    assert.equal(fenced[0]!.reason, "READER_FENCED");
    const took = logLines(fixture.server.output()).filter((line) => ofReader("etl")(line) && line.msg.startsWith("session took the reader over"));
    assert.equal(took.length, 1);
    assert.equal(took[0]!.session, String(second.opened.epoch));
    assert.equal(took[0]!.fencedSession, String(first.opened.epoch));
    assert.equal(
      logLines(fixture.server.output()).filter((line) => ofReader("etl")(line) && line.msg === "session closed").length,
      0,
      "the fenced session has one end line",
    );

    second.session.drain();
    await second.session.drained();
    const closed = await waitForLines(fixture.server.output, (line) => ofReader("etl")(line) && line.msg === "session closed");
    assert.equal(closed[0]!.end, "drained");
    assert.equal(closed[0]!.session, String(second.opened.epoch));
  });

  test("a client that cancels (no half-close): 'session closed' with end cancelled", SERVER_TEST, async () => {
    await appendNumbered(fixture.clients, "cancel", 2);
    const abort = new AbortController();
    const requests = new MessageQueue<DeepPartial<SessionRequest>>();
    requests.push({ kind: { $case: "open", value: { log: "cancel", readerId: "gone" } } });
    const frames = fixture.clients.readers.session(requests, { signal: abort.signal })[Symbol.asyncIterator]();
    assert.equal((await frames.next()).value?.kind?.$case, "opened");
    abort.abort();
    await frames.next().catch(() => undefined);
    const closed = await waitForLines(fixture.server.output, (line) => ofReader("gone")(line) && line.msg === "session closed");
    assert.equal(closed[0]!.end, "cancelled");
  });

  test("an admin SetPosition with force fences the live session with its reason", SERVER_TEST, async () => {
    await appendNumbered(fixture.clients, "admin", 2);
    const { session } = await TestSession.open(fixture.clients, { log: "admin", readerId: "moved" });
    await fixture.clients.readers.setPosition({ log: "admin", readerId: "moved", position: { at: { $case: "boundary", value: 2 } }, force: true });
    await session.failed();
    const fenced = await waitForLines(fixture.server.output, (line) => ofReader("moved")(line) && line.msg === "session fenced");
    assert.equal(fenced[0]!.reason, "READER_REPOSITIONED");
  });
});

describe("--log-level", () => {
  test("debug prints more than info: the resolved configuration", SERVER_TEST, async () => {
    const debug = await startDlogd({ process: true, args: ["--in-memory", "--log-level", "debug"] });
    const info = await startDlogd({ process: true, args: ["--in-memory"] });
    try {
      const configuration = await waitForLines(debug.output, (line) => line.msg === "configuration");
      assert.equal(configuration[0]!.level, "debug");
      assert.equal((configuration[0]!.config as Record<string, unknown>).logLevel, "debug");
      assert.equal(logLines(info.output()).filter((line) => line.level === "debug").length, 0, "info prints no debug line");
    } finally {
      await Promise.all([debug.stop(), info.stop()]);
    }
  });
});
