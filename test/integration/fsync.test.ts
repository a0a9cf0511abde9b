/**
 * kill -9 cannot test fsync (the page cache outlives the process), so this watches the storage
 * boundary instead: the `sync` flag each write hands to storage, for a server started with and
 * without `--fsync`. The flag trades power-loss safety of appends only: reader positions and
 * metadata-only commits (a log created, a truncation) are fsynced either way (README "Durability").
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { LevelStorage } from "../../src/storage/level-storage.js";
import { connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession, appendNumbered } from "../helpers/session.js";

/** The `sync` argument of every append commit (one carrying entries) and position write on any LevelStorage, until the test ends. */
function spyOnSync(t: TestContext): { appends: boolean[]; positions: boolean[] } {
  const seen = { appends: [] as boolean[], positions: [] as boolean[] };
  const commit = LevelStorage.prototype.commit;
  const writePositions = LevelStorage.prototype.writePositions;
  LevelStorage.prototype.commit = function (batch, sync) {
    if (batch.entries.length > 0) seen.appends.push(sync);
    return commit.call(this, batch, sync);
  };
  LevelStorage.prototype.writePositions = function (writes, sync) {
    seen.positions.push(sync);
    return writePositions.call(this, writes, sync);
  };
  t.after(() => {
    LevelStorage.prototype.commit = commit;
    LevelStorage.prototype.writePositions = writePositions;
  });
  return seen;
}

/** Appends in several batches, then acks them in a session until the position is durable. */
async function appendAndAck(args: string[]): Promise<void> {
  const dir = tempDir("dlog-fsync-");
  const server = await startDlogd({ dataDir: dir.path, args });
  const clients = connect(server.address);
  try {
    const dlsns = await appendNumbered(clients, "f", 30, { batch: 10 });
    const { session } = await TestSession.open(clients, { log: "f", readerId: "r" });
    await session.records(30);
    session.ackUpTo(dlsns.at(-1)!);
    await session.status((status) => status.durableFloor?.entry === dlsns.at(-1)!.entry, "the acked position durable");
    session.cancel();
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
}

test("--fsync (the default): every append batch and every position batch reaches storage with sync: true", async (t) => {
  const seen = spyOnSync(t);
  await appendAndAck([]);
  assert.ok(seen.appends.length >= 3, `a commit per append call at least, saw ${seen.appends.length}`);
  assert.deepEqual(new Set(seen.appends), new Set([true]));
  assert.ok(seen.positions.length >= 1, "the acked position was written");
  assert.deepEqual(new Set(seen.positions), new Set([true]));
});

test("--no-fsync: append batches reach storage with sync: false; position batches are still fsynced", async (t) => {
  const seen = spyOnSync(t);
  await appendAndAck(["--no-fsync"]);
  assert.ok(seen.appends.length >= 3, `a commit per append call at least, saw ${seen.appends.length}`);
  assert.deepEqual(new Set(seen.appends), new Set([false]));
  assert.ok(seen.positions.length >= 1, "the acked position was written");
  assert.deepEqual(new Set(seen.positions), new Set([true]));
});
