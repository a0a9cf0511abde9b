import assert from "node:assert/strict";
import { test } from "node:test";
import { LogStore } from "../../src/log/log-store.js";
import { applyRetention } from "../../src/log/retention.js";
import { LevelStorage } from "../../src/storage/level-storage.js";
import { tempDir } from "../helpers/dlogd.js";

async function openStore(dir: string, clock: { now: number }) {
  const storage = await LevelStorage.open(dir);
  const logs = await LogStore.open(storage, {
    sync: false,
    autoCreate: true,
    maxRecordBytes: 1024,
    maxRecordsPerAppend: 100,
    segmentMaxBytes: 100, // 10 records of 10 bytes per segment
    segmentMaxAgeMs: 3_600_000,
    producers: { window: 16, maxProducers: 16 },
    now: () => clock.now,
  });
  return { storage, logs };
}

async function fill(logs: LogStore, name: string, records: number, clock: { now: number }): Promise<void> {
  for (let i = 0; i < records; i++) {
    await logs.append(name, [{ payload: Buffer.from(`record-${String(i).padStart(3, "0")}`.slice(0, 10)) }]);
    clock.now += 1_000;
  }
}

test("retention by size drops the oldest closed segments until the log fits, never the open one", async () => {
  const dir = tempDir();
  const clock = { now: 1_000_000 };
  const { storage, logs } = await openStore(dir.path, clock);
  try {
    await fill(logs, "sized", 45, clock); // segments of 10 records: 4 closed + 1 open with 5
    assert.equal(logs.describe("sized").segments.length, 5);
    const dropped = await applyRetention(logs, { maxAgeMs: 0, maxBytes: 250 }, clock.now);
    const after = logs.describe("sized");
    assert.equal(dropped, 20n);
    assert.equal(after.byteCount, 250n);
    assert.equal(after.truncatedRecordCount, 20n);
    assert.equal(after.segments[0]!.segment, 3n);
    assert.equal(await applyRetention(logs, { maxAgeMs: 0, maxBytes: 1 }, clock.now), 20n, "everything closed goes");
    assert.equal(logs.describe("sized").segments.length, 1, "the open segment stays");
  } finally {
    await logs.close();
    await storage.close();
    dir.cleanup();
  }
});

test("retention by age drops closed segments whose newest record is older than the limit", async () => {
  const dir = tempDir();
  const clock = { now: 1_000_000 };
  const { storage, logs } = await openStore(dir.path, clock);
  try {
    await fill(logs, "aged", 30, clock); // records 1 s apart; segments end at +9 s, +19 s, (open) +29 s
    const dropped = await applyRetention(logs, { maxAgeMs: 15_000, maxBytes: 0 }, clock.now);
    assert.equal(dropped, 10n, "only the first segment's last record is older than 15 s");
    assert.equal(logs.describe("aged").segments[0]!.segment, 2n);
    assert.equal(await applyRetention(logs, { maxAgeMs: 0, maxBytes: 0 }, clock.now), 0n, "no policy, nothing dropped");
  } finally {
    await logs.close();
    await storage.close();
    dir.cleanup();
  }
});
