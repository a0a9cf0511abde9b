/**
 * The last hop of `sync` (see test/integration/fsync.test.ts for the first ones): LevelStorage
 * passes it to LevelDB's batch write, where it becomes an fsync. Nothing else can see it: a
 * kill -9 leaves the page cache, and so the unsynced write, intact.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { spyOnBatchWrites } from "../helpers/level-spy.js";
import { tempLevelStorage } from "../helpers/log-store.js";

test("LevelStorage hands `sync` to LevelDB's batch write, for entries and for positions", async (t) => {
  const storage = await tempLevelStorage(t, "dlog-fsync-unit-");
  const logId = await storage.nextLogId();
  const meta = {
    id: logId,
    name: "f",
    createdTimeMs: 0,
    lastTxid: 0n,
    nextSequenceId: 1n,
    recordCount: 1n,
    byteCount: 1n,
    truncatedRecordCount: 0n,
    firstLiveSegment: 1n,
    lastSegment: 1n,
  };
  const entry = (n: bigint) => ({ logId, segment: 1n, entry: n, value: Buffer.from("x") });
  const position = { logId, readerId: "r", position: { floor: Buffer.alloc(25), extra: Buffer.alloc(0) } };

  const writes = spyOnBatchWrites(t);
  await storage.commit({ entries: [entry(0n)], logs: [meta], segments: [] }, true);
  await storage.commit({ entries: [entry(1n)], logs: [meta], segments: [] }, false);
  await storage.writePositions([position], true);
  await storage.writePositions([position], false);
  assert.deepEqual(
    writes.map((write) => write.sync),
    [true, false, true, false],
  );
});
