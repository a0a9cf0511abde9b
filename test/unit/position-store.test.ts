import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import type { ReaderPosition } from "../../src/positions/position-codec.js";
import { PositionStore } from "../../src/positions/position-store.js";
import { LevelStorage } from "../../src/storage/level-storage.js";

const position = (entry: bigint, epoch: bigint): ReaderPosition => ({
  floor: new DLSN(1n, entry, 0n),
  floorSequenceId: entry,
  holes: [{ dlsn: new DLSN(1n, entry + 2n, 0n), sequenceId: entry + 2n }],
  epoch,
  updatedTimeMs: 1_700_000_000_000,
  deliveredHigh: new DLSN(1n, entry + 3n, 0n),
  deliveredThrough: entry + 3n,
});

async function storeWithWrites() {
  const storage = await LevelStorage.inMemory();
  let writes = 0;
  const writePositions = storage.writePositions.bind(storage);
  storage.writePositions = (batch, sync) => {
    writes++;
    return writePositions(batch, sync);
  };
  const positions = new PositionStore({ storage, flushIntervalMs: 60_000, flushMax: 1_000_000 });
  return { storage, positions, writes: () => writes };
}

test("a position waiting for the next write is read from memory, as it will be stored, without a write", async () => {
  const { storage, positions, writes } = await storeWithWrites();
  try {
    positions.changed(1, "r", () => position(5n, 1n));
    await positions.flush();
    assert.equal(writes(), 1);
    positions.changed(1, "r", () => position(9n, 2n)); // e.g. a session that just ended: its final state

    assert.deepEqual(await positions.get(1, "r"), position(9n, 2n));
    assert.equal(writes(), 1, "no write to answer the read");
    assert.deepEqual(await positions.get(1, "other"), undefined);

    await positions.flush();
    assert.equal(writes(), 2);
    assert.deepEqual(await positions.get(1, "r"), position(9n, 2n), "stored as it was read");
  } finally {
    await positions.close();
    await storage.close();
  }
});

test("a reader deleted by the next write reads as gone; one whose snapshot is skipped reads what is stored", async () => {
  const { storage, positions } = await storeWithWrites();
  try {
    positions.changed(1, "deleted", () => position(5n, 1n));
    positions.changed(1, "skipped", () => position(7n, 1n));
    await positions.flush();
    positions.delete(1, "deleted");
    positions.changed(1, "skipped", () => undefined); // its log went away meanwhile

    assert.equal(await positions.get(1, "deleted"), undefined);
    assert.deepEqual(await positions.get(1, "skipped"), position(7n, 1n));
  } finally {
    await positions.close();
    await storage.close();
  }
});
