/** A LogStore over a real LevelDB in a temp dir, for the log layer's unit tests. */
import type { TestContext } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import type { DecodedRecord } from "../../src/log/entry-codec.js";
import { LogStore, type LogStoreOptions } from "../../src/log/log-store.js";
import { LevelStorage } from "../../src/storage/level-storage.js";
import type { Storage } from "../../src/storage/storage.js";
import { tempDir } from "./dlogd.js";

export const DEFAULTS: LogStoreOptions = {
  sync: false,
  autoCreate: true,
  maxRecordBytes: 1024 * 1024,
  maxRecordsPerAppend: 10_000,
  segmentMaxBytes: 64 * 1024 * 1024,
  segmentMaxAgeMs: 3_600_000,
  producers: { window: 1024, maxProducers: 1000 },
};

/** A LevelStorage in a fresh temp dir (named after `prefix`), closed and removed after the test. */
export async function tempLevelStorage(t: TestContext, prefix: string): Promise<LevelStorage> {
  const dir = tempDir(prefix);
  const storage = await LevelStorage.open(dir.path);
  t.after(async () => {
    await storage.close();
    dir.cleanup();
  });
  return storage;
}

/** A Storage that counts commit() calls, so tests can see how appends were batched. */
export function countingCommits(inner: Storage): Storage & { commits: number } {
  const counting = {
    commits: 0,
    loadLogs: () => inner.loadLogs(),
    nextLogId: () => inner.nextLogId(),
    commit: (batch, sync) => {
      counting.commits++;
      return inner.commit(batch, sync);
    },
    openCursor: (logId, segment, entry) => inner.openCursor(logId, segment, entry),
    deleteSegmentRange: (logId, from, to) => inner.deleteSegmentRange(logId, from, to),
    deleteLog: (logId, name) => inner.deleteLog(logId, name),
    getProducerSlots: (key, seq) => inner.getProducerSlots(key, seq),
    deleteProducerSlots: (key, belowSeq) => inner.deleteProducerSlots(key, belowSeq),
    getPosition: (logId, readerId) => inner.getPosition(logId, readerId),
    listPositions: (logId) => inner.listPositions(logId),
    writePositions: (writes, sync) => inner.writePositions(writes, sync),
    close: () => inner.close(),
  } satisfies Storage & { commits: number };
  return counting;
}

/** A LogStore over a real LevelDB in a temp dir; `reopen()` closes everything and opens it again. */
export async function openStore(options: Partial<LogStoreOptions> = {}) {
  const dir = tempDir("dlog-log-store-");
  let storage = countingCommits(await LevelStorage.open(dir.path));
  let store = await LogStore.open(storage, { ...DEFAULTS, ...options });
  return {
    get store() {
      return store;
    },
    get storage() {
      return storage;
    },
    async reopen(): Promise<LogStore> {
      await store.close();
      await storage.close();
      storage = countingCommits(await LevelStorage.open(dir.path));
      store = await LogStore.open(storage, { ...DEFAULTS, ...options });
      return store;
    },
    async [Symbol.asyncDispose]() {
      await store.close();
      await storage.close();
      dir.cleanup();
    },
  };
}

/** Every record from `from` to the current end. */
export async function readAll(store: LogStore, log: string, from: DLSN = DLSN.INITIAL): Promise<DecodedRecord[]> {
  const reader = store.openReader(log, from);
  const out: DecodedRecord[] = [];
  try {
    for (;;) {
      const records = await reader.read(100);
      if (records.length === 0) return out;
      // Payloads are views into a buffer the next read may reuse: keep copies.
      for (const record of records) out.push({ ...record, payload: Buffer.from(record.payload) });
    }
  } finally {
    await reader.close();
  }
}

export const text = (record: DecodedRecord): string => record.payload.toString("utf8");
export const dlsns = (records: DecodedRecord[]): string[] => records.map((r) => r.dlsn.toString());

export async function using<T>(resource: { [Symbol.asyncDispose](): Promise<void> }, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    await resource[Symbol.asyncDispose]();
  }
}
