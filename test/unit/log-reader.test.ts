/**
 * How a LogReader reads storage (real LevelDB in a temp dir): a reader that comes back for more has
 * its cursor read the next chunk while it sends the last, and takes it without waiting for another
 * storage call; a one-shot reader, a reader at the head and readers sharing the entry cache ask
 * storage for nothing more; a read ahead that fails or is dropped never surfaces except to the
 * read that takes it.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import type { EntryCursor } from "../../src/storage/storage.js";
import { bytes } from "../helpers/dlogd.js";
import { openStore, tempLevelStorage, text } from "../helpers/log-store.js";

interface CursorCalls {
  /** `max` of every next() call, in the order they were made (when made, not when answered). */
  asked: number[];
  /** Makes the next() call with this index (0-based, over all cursors) fail. */
  failAt?: number;
}

/** A store whose log "l" holds `entries` entries of `perEntry` records ("e-i"), with every cursor's next() calls recorded. */
async function storeWithEntries(t: TestContext, entries: number, perEntry: number, entryCacheBytes = 0) {
  const opened = await openStore({ entryCacheBytes });
  t.after(() => opened[Symbol.asyncDispose]());
  for (let e = 0; e < entries; e++) {
    await opened.store.append(
      "l",
      Array.from({ length: perEntry }, (_, i) => ({ payload: bytes(`${e}-${i}`) })),
    );
  }
  const calls: CursorCalls = { asked: [] };
  const storage = opened.storage;
  const openCursor = storage.openCursor;
  storage.openCursor = (logId, segment, entry): EntryCursor => {
    const cursor = openCursor(logId, segment, entry);
    return {
      next: (max) => {
        const index = calls.asked.length;
        calls.asked.push(max);
        if (index === calls.failAt) return Promise.reject(new Error("injected read failure"));
        return cursor.next(max);
      },
      close: () => cursor.close(),
    };
  };
  return { store: opened.store, calls };
}

test("a reader that comes back for more has the next chunk read while it sends the last, and takes it without another storage call", async (t) => {
  const { store, calls } = await storeWithEntries(t, 10, 100);
  const reader = store.openReader("l", DLSN.INITIAL);
  t.after(() => reader.close());
  // The first chunk is one entry (it learns the records per entry); a one-shot reader stops there.
  assert.equal((await reader.read(100)).length, 100);
  assert.deepEqual(calls.asked, [1]);
  // Back for more: its chunk (2 entries for 200 records), then the next one asked for at once.
  const second = await reader.read(200);
  assert.deepEqual([text(second[0]!), text(second.at(-1)!)], ["1-0", "2-99"]);
  assert.deepEqual(calls.asked, [1, 2, 2]);
  // The next read takes that chunk: the only call it makes is the chunk after it.
  const third = await reader.read(200);
  assert.deepEqual([third.length, text(third[0]!), text(third.at(-1)!)], [200, "3-0", "4-99"]);
  assert.deepEqual(calls.asked, [1, 2, 2, 2]);
});

test("a reader at the head reads nothing ahead: no chunk past what its cursor's snapshot holds", async (t) => {
  const { store, calls } = await storeWithEntries(t, 4, 100);
  const reader = store.openReader("l", DLSN.INITIAL);
  t.after(() => reader.close());
  await reader.read(100);
  // Entries 1 and 2; the chunk ahead (entry 3, the last) ends at the snapshot.
  await reader.read(200);
  assert.deepEqual(calls.asked, [1, 2, 2]);
  const last = await reader.read(100);
  assert.deepEqual([last.length, text(last[0]!)], [100, "3-0"]);
  assert.deepEqual(calls.asked, [1, 2, 2], "the last chunk asked for nothing after it");
  assert.deepEqual(await reader.read(100), []);
});

test("a read ahead that fails fails the read that takes it, and one nobody takes (the reader closed) goes unnoticed", async (t) => {
  const { store, calls } = await storeWithEntries(t, 10, 100);
  calls.failAt = 2; // the read ahead after the second read
  const reader = store.openReader("l", DLSN.INITIAL);
  await reader.read(100);
  await reader.read(200);
  assert.deepEqual(calls.asked, [1, 2, 2]);
  await assert.rejects(reader.read(200), /injected read failure/);
  await reader.close();

  // Closed with its failed read ahead untaken: no unhandled rejection (the test runner fails the file on one).
  calls.asked = [];
  calls.failAt = 2;
  const closing = store.openReader("l", DLSN.INITIAL);
  await closing.read(100);
  await closing.read(200);
  assert.deepEqual(calls.asked, [1, 2, 2]);
  await closing.close();
  await new Promise((resolve) => setImmediate(resolve));
});

test("readers of one log read nothing ahead: what one reads from storage the others take from the cache", async (t) => {
  const { store, calls } = await storeWithEntries(t, 10, 100, 32 * 1024 * 1024);
  const a = store.openReader("l", DLSN.INITIAL);
  const b = store.openReader("l", DLSN.INITIAL);
  t.after(() => Promise.all([a.close(), b.close()]));
  await a.read(100);
  await a.read(200);
  assert.deepEqual(calls.asked, [1, 2], "no chunk read ahead");
  const fromCache = await b.read(300);
  assert.deepEqual([fromCache.length, text(fromCache[0]!), text(fromCache.at(-1)!)], [300, "0-0", "2-99"]);
  assert.deepEqual(calls.asked, [1, 2], "the second reader's read came from the cache");
});

test("a reader whose next entries another reader just read takes them from the cache and drops its read ahead", async (t) => {
  const { store, calls } = await storeWithEntries(t, 10, 100, 32 * 1024 * 1024);
  const follower = store.openReader("l", DLSN.INITIAL);
  t.after(() => follower.close());
  await follower.read(100);
  await follower.read(200);
  assert.equal(calls.asked.length, 3, "alone, the follower read one chunk ahead (entries 3 and 4)");
  // A second reader: what it takes from storage stays in the cache (entries 0 to 6).
  const lead = store.openReader("l", DLSN.INITIAL);
  t.after(() => lead.close());
  for (const n of [200, 200, 200, 100]) await lead.read(n);
  const asked = calls.asked.length;
  const cached = await follower.read(400);
  assert.deepEqual([cached.length, text(cached[0]!), text(cached.at(-1)!)], [400, "3-0", "6-99"]);
  assert.equal(calls.asked.length, asked, "the follower's read came from the cache, not storage");
  // Past the cache a new cursor reads on from entry 7: the dropped chunk (entries 3 and 4) never comes back.
  const after = await follower.read(200);
  assert.deepEqual([after.length, text(after[0]!), text(after.at(-1)!)], [200, "7-0", "8-99"]);
});

test("a cursor read of LevelDB brings as many small entries as asked for, not classic-level's 16 KiB", async (t) => {
  const storage = await tempLevelStorage(t, "dlog-cursor-bytes-");
  const logId = await storage.nextLogId();
  // 40 entries of ~5 KiB: the size of an entry of ~50 single-record appends of 100 B.
  const entries = Array.from({ length: 40 }, (_, i) => ({ logId, segment: 1n, entry: BigInt(i), value: Buffer.alloc(5_000, i) }));
  await storage.commit({ entries, logs: [], segments: [] }, false);
  const cursor = storage.openCursor(logId, 1n, 0n);
  try {
    const read = await cursor.next(40);
    assert.equal(read.length, 40);
    assert.deepEqual(
      read.map((e) => e.entry),
      entries.map((e) => e.entry),
    );
  } finally {
    await cursor.close();
  }
});
