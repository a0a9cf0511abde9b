import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { EntryCache, keptEntryBytes } from "../../src/log/entry-cache.js";
import { encodeEntry } from "../../src/log/entry-codec.js";
import type { LogStoreOptions } from "../../src/log/log-store.js";
import { bytes } from "../helpers/dlogd.js";
import { openStore, readAll, text, using } from "../helpers/log-store.js";

/** A store whose storage counts the cursors readers open. */
async function countingCursors(options: Partial<LogStoreOptions> = {}) {
  const t = await openStore(options);
  const cursors = mock.method(t.storage, "openCursor");
  return { t, cursors: () => cursors.mock.callCount() };
}

test("a reader at the head gets a just-committed entry from the cache, with no storage cursor; without the cache it opens one", async () => {
  for (const [entryCacheBytes, cursorsForTail] of [
    [undefined, 0],
    [0, 1],
  ] as const) {
    const { t, cursors } = await countingCursors(entryCacheBytes === undefined ? {} : { entryCacheBytes });
    await using(t, async () => {
      await t.store.append("log", [{ payload: bytes("a") }]);
      const reader = t.store.openReader("log", DLSN.INITIAL);
      try {
        assert.deepEqual((await reader.read(10)).map(text), ["a"]);
        assert.deepEqual(await reader.read(10), [], "at the head");
        const before = cursors();
        const waiting = reader.waitForMore();
        await t.store.append("log", [{ payload: bytes("b") }, { payload: bytes("c") }]);
        await waiting;
        const next = await reader.read(10);
        assert.deepEqual(next.map(text), ["b", "c"]);
        assert.deepEqual(
          next.map((r) => r.dlsn.toString()),
          ["1/1/0", "1/1/1"],
        );
        assert.deepEqual(
          next.map((r) => r.sequenceId),
          [1n, 2n],
        );
        assert.equal(cursors() - before, cursorsForTail, `cache ${entryCacheBytes ?? "default"}`);
      } finally {
        await reader.close();
      }
    });
  }
});

test("readers of the same entries share one decoded copy of each record", async () => {
  for (const [entryCacheBytes, shared] of [
    [undefined, true],
    [0, false],
  ] as const) {
    const { t } = await countingCursors(entryCacheBytes === undefined ? {} : { entryCacheBytes });
    await using(t, async () => {
      await t.store.append(
        "log",
        Array.from({ length: 50 }, (_, i) => ({ payload: bytes(`r${i}`) })),
      );
      const readers = Array.from({ length: 8 }, () => t.store.openReader("log", DLSN.INITIAL));
      try {
        const batches = await Promise.all(readers.map((r) => r.read(100)));
        for (const batch of batches) assert.deepEqual(batch.map(text), batches[0]!.map(text));
        assert.equal(
          batches.every((b) => b.every((record, i) => record === batches[0]![i])),
          shared,
          `cache ${entryCacheBytes ?? "default"}`,
        );
      } finally {
        await Promise.all(readers.map((r) => r.close()));
      }
    });
  }
});

test("a reader resuming inside an entry, and one bounded by bytes, take the right slots from a cached entry", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append(
      "log",
      ["aaaa", "bbbb", "cccc", "dddd"].map((p) => ({ payload: bytes(p) })),
    );
    assert.deepEqual((await readAll(t.store, "log", new DLSN(1n, 0n, 2n))).map(text), ["cccc", "dddd"]);
    const reader = t.store.openReader("log", new DLSN(1n, 0n, 1n));
    try {
      assert.deepEqual((await reader.read(10, 5)).map(text), ["bbbb", "cccc"], "the record that reaches the byte bound is the last");
      assert.deepEqual((await reader.read(1)).map(text), ["dddd"]);
    } finally {
      await reader.close();
    }
    const exact = t.store.openReader("log", new DLSN(1n, 0n, 1n));
    try {
      assert.deepEqual((await exact.read(10, 8)).map(text), ["bbbb", "cccc"], "payloads exactly at the byte bound: nothing more");
    } finally {
      await exact.close();
    }
  });
});

test("a read names the entries and slots it took its records from, in order", async () => {
  const t = await openStore();
  await using(t, async () => {
    for (const n of [3, 2, 4])
      await t.store.append(
        "log",
        Array.from({ length: n }, (_, i) => ({ payload: bytes(`${n}.${i}`) })),
      );
    const reader = t.store.openReader("log", new DLSN(1n, 0n, 1n));
    try {
      for (const [max, expected] of [
        [
          3,
          [
            [0n, 1, 3],
            [1n, 0, 1],
          ],
        ],
        [
          10,
          [
            [1n, 1, 2],
            [2n, 0, 4],
          ],
        ],
      ] as const) {
        const batch = await reader.readBatch(max);
        assert.deepEqual(
          batch.runs.map((run) => [run.entry.entry, run.from, run.to]),
          expected,
        );
        assert.equal(
          batch.length,
          expected.reduce((sum, [, from, to]) => sum + to - from, 0),
        );
      }
    } finally {
      await reader.close();
    }
  });
});

test("a truncated segment is never served from the cache, nor a deleted log's entries to a new log of that name", async () => {
  const t = await openStore({ segmentMaxBytes: 8 });
  await using(t, async () => {
    for (let i = 0; i < 6; i++) await t.store.append("log", [{ payload: bytes(`rec${i}`) }]);
    await t.store.truncate("log", new DLSN(3n, 1n, 0n));
    // Every entry is in the cache (just written); the truncated ones must stay invisible.
    assert.deepEqual((await readAll(t.store, "log", new DLSN(1n, 0n, 0n))).map(text), ["rec4", "rec5"]);

    await t.store.deleteLog("log");
    await t.store.append("log", [{ payload: bytes("new") }]);
    assert.deepEqual((await readAll(t.store, "log")).map(text), ["new"]);
  });
});

test("the cache keeps its bound: the oldest entries leave first", () => {
  const entry = (text: string): Buffer => encodeEntry([{ payload: bytes(text), txid: 1n }], 0, 0n);
  const one = keptEntryBytes(entry("x".repeat(100)));
  const cache = new EntryCache(3 * one);
  cache.openReader(1);
  for (let e = 0n; e < 5n; e++) cache.put(1, 1n, e, entry("x".repeat(100)));
  assert.equal(cache.get(1, 1n, 0n), undefined);
  assert.equal(cache.get(1, 1n, 1n), undefined);
  assert.deepEqual(
    [2n, 3n, 4n].map((e) => cache.get(1, 1n, e)?.records[0]?.dlsn.toString()),
    ["1/2/0", "1/3/0", "1/4/0"],
  );
  assert.equal(cache.counters.evictions, 2);
});

test("only logs with readers are cached, entries read from storage only while the log has more than one, and a commit to a lone reader only until it takes it", () => {
  const value = encodeEntry([{ payload: bytes("r"), txid: 1n }], 0, 0n);
  const cache = new EntryCache(1 << 20);
  cache.put(7, 1n, 0n, value);
  assert.equal(cache.get(7, 1n, 0n), undefined, "no reader: a commit is not kept");

  const closeFirst = cache.openReader(7);
  cache.put(7, 1n, 0n, value);
  assert.equal(cache.get(7, 1n, 0n)?.records.length, 1, "a reader at the head finds the commit");
  assert.equal(cache.get(7, 1n, 0n), undefined, "the lone reader took it: not kept after");
  assert.equal(cache.stats.bytes, 0);
  cache.indexed(7, 1n, 1n, value);
  assert.equal(cache.get(7, 1n, 1n), undefined, "a lone reader's read is not kept");

  const closeSecond = cache.openReader(7);
  const shared = cache.indexed(7, 1n, 2n, value);
  assert.equal(cache.get(7, 1n, 2n), shared, "with two readers it is");
  cache.put(7, 1n, 5n, value);
  const committed = cache.get(7, 1n, 5n);
  assert.equal(cache.get(7, 1n, 5n), committed, "a commit with two readers is kept for both");
  closeSecond();
  closeSecond(); // once only
  cache.indexed(7, 1n, 3n, value);
  assert.equal(cache.get(7, 1n, 3n), undefined, "back to one reader");
  closeFirst();
  cache.put(7, 1n, 4n, value);
  assert.equal(cache.get(7, 1n, 4n), undefined, "no reader again");
});

test("a commit put for a lone reader is kept for both when a second reader comes before it is read", () => {
  const value = encodeEntry([{ payload: bytes("r"), txid: 1n }], 0, 0n);
  const cache = new EntryCache(1 << 20);
  cache.openReader(3);
  cache.put(3, 1n, 0n, value);
  cache.openReader(3);
  const first = cache.get(3, 1n, 0n);
  assert.equal(first?.records.length, 1);
  assert.equal(cache.get(3, 1n, 0n), first, "the second reader finds the same decoded entry");
});

test("an entry kept for a reader's next session stays after that session reads it, even if a lone reader's commit put it", () => {
  const value = encodeEntry([{ payload: bytes("r"), txid: 1n }], 0, 0n);
  const cache = new EntryCache(1 << 20);
  const close = cache.openReader(4);
  cache.put(4, 1n, 0n, value); // handed over to the lone reader
  close();
  cache.keepResumeEntry(4, 1n, 0n, value); // its session ended in that entry
  cache.openReader(4);
  assert.equal(cache.get(4, 1n, 0n)?.records.length, 1);
  assert.equal(cache.get(4, 1n, 0n)?.records.length, 1, "still kept: a resume entry is not handed over");
});

test("looking up a kept entry's first sequence id takes nothing: a lone reader's commit is still there for its get, and no hit is counted", () => {
  const value = encodeEntry([{ payload: bytes("s"), txid: 1n }], 0, 41n);
  const cache = new EntryCache(1 << 20);
  cache.openReader(5);
  cache.put(5, 1n, 0n, value); // handed over to the lone reader
  assert.equal(cache.firstSequenceIdOf(5, 1n, 0n), 41n);
  assert.equal(cache.firstSequenceIdOf(5, 1n, 1n), undefined, "not kept");
  assert.equal(cache.stats.hits, 0);
  assert.equal(cache.get(5, 1n, 0n)?.firstSequenceId, 41n, "the look left it for the reader");
  assert.equal(cache.stats.hits, 1);
});
