/**
 * Synced position writes that come while a synced commit is being written go in the next
 * commit's batch, under its fsync, instead of a write and fsync of their own between two
 * commits (which the next commit's appends would wait for). They still resolve only once on disk.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { LevelStorage } from "../../src/storage/level-storage.js";
import { tempDir } from "../helpers/dlogd.js";
import { spyOnBatchWrites } from "../helpers/level-spy.js";

async function openStore(t: TestContext): Promise<{ storage: LevelStorage; dir: string; logId: number }> {
  const dir = tempDir("dlog-riding-positions-");
  let storage = await LevelStorage.open(dir.path);
  const logId = await storage.nextLogId();
  t.after(async () => {
    await storage.close().catch(() => undefined);
    dir.cleanup();
  });
  return {
    get storage() {
      return storage;
    },
    set storage(s: LevelStorage) {
      storage = s;
    },
    dir: dir.path,
    logId,
  };
}

const meta = (logId: number) => ({
  id: logId,
  name: "p",
  createdTimeMs: 0,
  lastTxid: 0n,
  nextSequenceId: 1n,
  recordCount: 1n,
  byteCount: 1n,
  truncatedRecordCount: 0n,
  firstLiveSegment: 1n,
  lastSegment: 1n,
});
/** A commit of one entry and the log's metadata: 2 operations. */
const commitOf = (logId: number, entry: bigint) => ({ entries: [{ logId, segment: 1n, entry, value: Buffer.from("x") }], logs: [meta(logId)], segments: [] });
/** One reader's position: 2 operations (floor and extra). */
const positionOf = (logId: number, readerId: string, byte: number) => ({
  logId,
  readerId,
  position: { floor: Buffer.alloc(25, byte), extra: Buffer.alloc(0) },
});

test("positions written during a synced commit go in the next commit's batch and resolve once it is on disk", async (t) => {
  const store = await openStore(t);
  const { storage, logId } = store;
  const seen = spyOnBatchWrites(t);
  const first = storage.commit(commitOf(logId, 0n), true);
  let positionsDone = false;
  const positions = storage.writePositions([positionOf(logId, "r", 1), positionOf(logId, "s", 2)], true).then(() => (positionsDone = true));
  await first;
  assert.equal(positionsDone, false, "the positions are not on disk yet: no write has carried them");
  // The next commit, as the group commit starts it: right after the one before, in the same turn.
  const second = storage.commit(commitOf(logId, 1n), true);
  await second;
  await positions;
  assert.deepEqual(seen, [
    { sync: true, ops: 2 },
    { sync: true, ops: 2 + 4 },
  ]);
  assert.deepEqual((await storage.getPosition(logId, "r"))?.floor, Buffer.alloc(25, 1));
  assert.deepEqual((await storage.getPosition(logId, "s"))?.floor, Buffer.alloc(25, 2));
});

test("positions written during a commit that no commit follows are written alone, synced", async (t) => {
  const { storage, logId } = await openStore(t);
  const seen = spyOnBatchWrites(t);
  const first = storage.commit(commitOf(logId, 0n), true);
  const positions = storage.writePositions([positionOf(logId, "r", 3)], true);
  await first;
  await positions;
  assert.deepEqual(seen, [
    { sync: true, ops: 2 },
    { sync: true, ops: 2 },
  ]);
  assert.deepEqual((await storage.getPosition(logId, "r"))?.floor, Buffer.alloc(25, 3));
});

test("positions wait for no commit when none is being written, nor for an unsynced one", async (t) => {
  const { storage, logId } = await openStore(t);
  const seen = spyOnBatchWrites(t);
  await storage.writePositions([positionOf(logId, "r", 4)], true);
  const unsynced = storage.commit(commitOf(logId, 0n), false);
  await storage.writePositions([positionOf(logId, "r", 5)], true);
  await unsynced;
  assert.deepEqual(seen, [
    { sync: true, ops: 2 },
    { sync: false, ops: 2 },
    { sync: true, ops: 2 },
  ]);
  assert.deepEqual((await storage.getPosition(logId, "r"))?.floor, Buffer.alloc(25, 5));
});

test("positions riding on a commit that fails fail with it, and are not stored", async (t) => {
  const { storage, logId } = await openStore(t);
  const seen = spyOnBatchWrites(t, (index) => index === 1);
  const first = storage.commit(commitOf(logId, 0n), true);
  const positions = storage.writePositions([positionOf(logId, "r", 6)], true);
  await first;
  await assert.rejects(storage.commit(commitOf(logId, 1n), true), /injected write failure/);
  await assert.rejects(positions, /injected write failure/);
  assert.equal(seen.length, 2);
  assert.equal(await storage.getPosition(logId, "r"), undefined);
});

test("close writes the positions still waiting for a commit", async (t) => {
  const store = await openStore(t);
  const { logId } = store;
  const first = store.storage.commit(commitOf(logId, 0n), true);
  const positions = store.storage.writePositions([positionOf(logId, "r", 7)], true);
  await first;
  await store.storage.close();
  await positions;
  store.storage = await LevelStorage.open(store.dir);
  assert.deepEqual((await store.storage.getPosition(logId, "r"))?.floor, Buffer.alloc(25, 7));
});
