import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { Boundary } from "../../src/gen/dlog/v1/common.js";
import { bytes, connect, dlogdExit, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession, dlsnKey, text } from "../helpers/session.js";

const SERVER_TEST = { timeout: 30_000 };

test("dlogd --in-memory serves append, read and a reader session, and leaves no file behind", SERVER_TEST, async (t) => {
  // The server runs in an empty dir: without --in-memory it would create ./data there.
  const cwd = tempDir("dlog-in-memory-");
  const started = Date.now();
  const server = await startDlogd({ process: true, args: ["--in-memory"], cwd: cwd.path });
  const startupMs = Date.now() - started;
  const clients = connect(server.address);
  try {
    const appended = await clients.logs.append({ log: "mem", records: [{ payload: bytes("a") }, { payload: bytes("b") }] });
    assert.deepEqual(appended.dlsns.map(dlsnKey), ["1/0/0", "1/0/1"]);

    const read = [];
    for await (const response of clients.logs.read({ log: "mem" })) read.push(...response.records.map(text));
    assert.deepEqual(read, ["a", "b"]);

    const { session, opened } = await TestSession.open(clients, {
      log: "mem",
      readerId: "r",
      fallback: { at: { $case: "boundary", value: Boundary.BOUNDARY_EARLIEST } },
    });
    assert.equal(dlsnKey(opened.logHead), "1/0/1");
    const records = await session.records(2);
    assert.deepEqual(records.map(text), ["a", "b"]);
    session.ackUpTo(records[1]!.dlsn!);
    session.drain();
    assert.equal(dlsnKey((await session.drained()).durableFloor), "1/0/1");

    const position = await clients.readers.getPosition({ log: "mem", readerId: "r" });
    assert.equal(dlsnKey(position.floor), "1/0/1");
  } finally {
    clients.close();
    assert.equal(await server.stop(), 0, server.output());
  }
  assert.deepEqual(readdirSync(cwd.path), [], "an --in-memory server wrote files into its working dir");
  assert.match(server.output(), /"storage":"memory"[^\n]*"inMemory":true/);
  cwd.cleanup();
  t.diagnostic(`--in-memory startup to listening: ${startupMs} ms`);
});

test("dlogd --in-memory with --data-dir is refused with a message naming both", SERVER_TEST, async () => {
  const dir = tempDir("dlog-in-memory-");
  try {
    const { code, stderr } = await dlogdExit(["--in-memory", "--data-dir", dir.path]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--in-memory keeps nothing on disk, so --data-dir has no meaning with it/);
    assert.deepEqual(readdirSync(dir.path), []);
  } finally {
    dir.cleanup();
  }
});
