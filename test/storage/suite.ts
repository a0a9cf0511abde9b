/**
 * The storage compliance suite: what every `Storage` implementation must do for the log,
 * position and session layers to be correct on it (abstract-level's idea: one suite, run
 * against each engine). Each engine has a small `*.test.ts` here that calls `storageSuite`.
 *
 * It checks behaviour the layers above rely on, not an engine's internals: bigints and binary
 * values round-trip, cursors read one log in DLSN order and stop at its end, truncation and
 * deletion remove exactly what they name, position batches land whole, concurrent commits
 * lose nothing, and (for durable engines) a reopened store holds what a synced commit wrote.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { CommitBatch, EntryWrite, LogMeta, SegmentMeta, Storage, StoredEntry } from "../../src/storage/storage.js";

export interface StorageFactory {
  /** A new, empty store (each call: a fresh one, sharing nothing with the others). */
  create(): Promise<StorageHandle>;
}

export interface StorageHandle {
  storage: Storage;
  /** Closes `storage` and opens the same data again; undefined for an engine that keeps nothing across a close. */
  reopen?(): Promise<Storage>;
  /** Closes whatever is still open and removes the data. */
  dispose(): Promise<void>;
}

/** A handle on a store `open` opens again on reopen: the data outlives the connection or process (`cleanup` removes it). */
export async function reopenable(open: () => Promise<Storage>, cleanup: () => void = () => undefined): Promise<StorageHandle> {
  let storage = await open();
  let closed = false;
  return {
    get storage() {
      return storage;
    },
    async reopen() {
      await storage.close();
      storage = await open();
      return storage;
    },
    async dispose() {
      if (!closed) await storage.close().catch(() => undefined);
      closed = true;
      cleanup();
    },
  };
}

export function logMeta(id: number, name: string, over: Partial<LogMeta> = {}): LogMeta {
  return {
    id,
    name,
    createdTimeMs: 1_700_000_000_000,
    lastTxid: 0n,
    nextSequenceId: 0n,
    recordCount: 0n,
    byteCount: 0n,
    truncatedRecordCount: 0n,
    firstLiveSegment: 1n,
    lastSegment: 1n,
    ...over,
  };
}

export function segmentMeta(logId: number, segment: bigint, over: Partial<SegmentMeta> = {}): SegmentMeta {
  return {
    logId,
    segment,
    firstEntry: 0n,
    lastEntry: 0n,
    lastSlot: 0n,
    firstSequenceId: 0n,
    recordCount: 1n,
    byteCount: 1n,
    firstTxid: 0n,
    lastTxid: 0n,
    createdTimeMs: 1_700_000_000_000,
    firstAppendTimeMs: 1_700_000_000_001,
    lastAppendTimeMs: 1_700_000_000_002,
    ...over,
  };
}

/** A value that tells its (log, segment, entry) apart from every other. */
function value(logId: number, segment: bigint, entry: bigint): Buffer {
  return Buffer.from(`v:${logId}:${segment}:${entry}`);
}

function entries(logId: number, segment: bigint, from: bigint, count: number): EntryWrite[] {
  return Array.from({ length: count }, (_, i) => {
    const entry = from + BigInt(i);
    return { logId, segment, entry, value: value(logId, segment, entry) };
  });
}

function batch(over: Partial<CommitBatch>): CommitBatch {
  return { entries: [], logs: [], segments: [], ...over };
}

/** Everything a cursor from (segment, entry) returns, read `chunk` at a time. */
async function readAll(storage: Storage, logId: number, segment = 0n, entry = 0n, chunk = 1000): Promise<StoredEntry[]> {
  const cursor = storage.openCursor(logId, segment, entry);
  const out: StoredEntry[] = [];
  try {
    for (;;) {
      const got = await cursor.next(chunk);
      assert.ok(got.length <= chunk, `next(${chunk}) returned ${got.length} entries`);
      if (got.length === 0) return out;
      out.push(...got);
    }
  } finally {
    await cursor.close();
  }
}

const keys = (list: StoredEntry[]): string[] => list.map((e) => `${e.segment}/${e.entry}`);

export function storageSuite(name: string, factory: StorageFactory): void {
  describe(`storage compliance: ${name}`, () => {
    /** Runs `body` on a fresh store and always disposes of it. */
    const withStore = async (body: (handle: StorageHandle) => Promise<void>): Promise<void> => {
      const handle = await factory.create();
      try {
        await body(handle);
      } finally {
        await handle.dispose();
      }
    };

    test("a new store is empty: no logs, no positions, no slots, an empty cursor", () =>
      withStore(async ({ storage }) => {
        assert.deepEqual(await storage.loadLogs(), []);
        assert.equal(await storage.getPosition(1, "r"), undefined);
        assert.deepEqual(await storage.listPositions(1), []);
        assert.equal(await storage.getProducerSlots({ logId: 1, producerId: "p", incarnation: 0n }, 5n), undefined);
        assert.deepEqual(await readAll(storage, 1), []);
      }));

    test("nextLogId hands out distinct, increasing ids, also to concurrent callers", () =>
      withStore(async ({ storage }) => {
        const first = await storage.nextLogId();
        assert.ok(first >= 1, `ids start at 1 or above (0 is never an id), got ${first}`);
        const ids = await Promise.all(Array.from({ length: 20 }, () => storage.nextLogId()));
        assert.equal(new Set([first, ...ids]).size, 21, `duplicate ids: ${[first, ...ids].join(",")}`);
        assert.ok(ids.every((id) => id > first));
        assert.ok((await storage.nextLogId()) > Math.max(...ids));
      }));

    test("loadLogs returns every log's metadata, segments and producers, in name order, bigints intact", () =>
      withStore(async ({ storage }) => {
        const big = 2n ** 63n - 1n;
        const b = logMeta(2, "b-log", { lastTxid: big, nextSequenceId: 10n, recordCount: 7n, byteCount: 700n, lastSegment: 3n, firstLiveSegment: 2n });
        const a = logMeta(7, "a-log/ünï", { truncatedRecordCount: 3n });
        await storage.commit(
          batch({
            logs: [b, a],
            segments: [segmentMeta(2, 2n, { lastEntry: 4n, lastTxid: big }), segmentMeta(2, 3n), segmentMeta(7, 1n)],
            producers: [
              { logId: 2, producerId: "p1", value: Buffer.from([0, 1, 2, 255]) },
              { logId: 7, producerId: "p2", value: Buffer.from("x") },
            ],
          }),
          true,
        );
        const logs = await storage.loadLogs();
        assert.deepEqual(
          logs.map((l) => l.meta.name),
          ["a-log/ünï", "b-log"],
        );
        assert.deepEqual(logs[1]!.meta, b);
        assert.deepEqual(logs[0]!.meta, a);
        assert.deepEqual(
          logs[1]!.segments.map((s) => s.segment),
          [2n, 3n],
        );
        assert.deepEqual(logs[1]!.segments[0], segmentMeta(2, 2n, { lastEntry: 4n, lastTxid: big }));
        assert.deepEqual(logs[1]!.producers, [{ producerId: "p1", value: Buffer.from([0, 1, 2, 255]) }]);
        assert.deepEqual(logs[0]!.producers, [{ producerId: "p2", value: Buffer.from("x") }]);
      }));

    test("a later commit replaces a log's metadata; deletedSegments and null producers remove them", () =>
      withStore(async ({ storage }) => {
        await storage.commit(
          batch({
            logs: [logMeta(1, "l")],
            segments: [segmentMeta(1, 1n), segmentMeta(1, 2n)],
            producers: [{ logId: 1, producerId: "p", value: Buffer.from("1") }],
          }),
          true,
        );
        await storage.commit(
          batch({
            logs: [logMeta(1, "l", { recordCount: 5n })],
            deletedSegments: [{ logId: 1, segment: 1n }],
            producers: [
              { logId: 1, producerId: "p", value: null },
              { logId: 1, producerId: "q", value: Buffer.from("2") },
            ],
          }),
          true,
        );
        const [log] = await storage.loadLogs();
        assert.equal(log!.meta.recordCount, 5n);
        assert.deepEqual(
          log!.segments.map((s) => s.segment),
          [2n],
        );
        assert.deepEqual(log!.producers, [{ producerId: "q", value: Buffer.from("2") }]);
      }));

    test("a cursor reads one log's entries in (segment, entry) order from its start, inclusive, in chunks, then []", () =>
      withStore(async ({ storage }) => {
        // Interleaved with other logs, each log's entries in DLSN order (the log layer writes them so;
        // an engine may keep a log in write order, as JetStream does), a segment beginning mid-batch.
        await storage.commit(batch({ entries: [...entries(2, 1n, 0n, 5), ...entries(1, 1n, 0n, 4)] }), false);
        await storage.commit(batch({ entries: [...entries(3, 1n, 0n, 2), ...entries(1, 2n, 0n, 3)] }), false);
        await storage.commit(batch({ entries: entries(1, 2n, 3n, 2) }), false);
        const all = await readAll(storage, 1, 0n, 0n, 3);
        assert.deepEqual(keys(all), ["1/0", "1/1", "1/2", "1/3", "2/0", "2/1", "2/2", "2/3", "2/4"]);
        for (const e of all) assert.deepEqual(e.value, value(1, e.segment, e.entry));
        assert.deepEqual(keys(await readAll(storage, 1, 1n, 2n)), ["1/2", "1/3", "2/0", "2/1", "2/2", "2/3", "2/4"]);
        assert.deepEqual(keys(await readAll(storage, 1, 2n, 4n)), ["2/4"]);
        assert.deepEqual(keys(await readAll(storage, 1, 2n, 5n)), []);
        assert.deepEqual(keys(await readAll(storage, 1, 3n, 0n)), []);
        // A start inside a gap begins at the next entry that exists.
        assert.deepEqual(keys(await readAll(storage, 1, 1n, 9n)), ["2/0", "2/1", "2/2", "2/3", "2/4"]);
        assert.deepEqual(keys(await readAll(storage, 2)), ["1/0", "1/1", "1/2", "1/3", "1/4"]);
        assert.deepEqual(keys(await readAll(storage, 4)), []);
      }));

    test("a cursor opened before a commit sees at least what was committed before it, each entry once, in order", () =>
      withStore(async ({ storage }) => {
        await storage.commit(batch({ entries: entries(1, 1n, 0n, 3) }), false);
        const cursor = storage.openCursor(1, 1n, 0n);
        try {
          const first = await cursor.next(1);
          assert.deepEqual(keys(first), ["1/0"]);
          // Whether a cursor also sees later entries is the engine's choice (LevelDB reads a snapshot):
          // the log reader bounds what it hands out by the log's state, never by the cursor's end.
          await storage.commit(batch({ entries: entries(1, 1n, 3n, 2) }), false);
          const rest: StoredEntry[] = [];
          for (let got = await cursor.next(10); got.length > 0; got = await cursor.next(10)) rest.push(...got);
          const seen = keys(rest);
          assert.deepEqual(seen.slice(0, 2), ["1/1", "1/2"]);
          assert.ok(
            seen.length === 2 || (seen.length === 4 && seen[2] === "1/3" && seen[3] === "1/4"),
            `after the first entries, later ones all or none, in order: ${seen.join(",")}`,
          );
        } finally {
          await cursor.close();
        }
        assert.deepEqual(keys(await readAll(storage, 1, 1n, 3n)), ["1/3", "1/4"], "a cursor opened after the commit sees it");
      }));

    test("values round-trip byte for byte: every byte value, 1 MiB", () =>
      withStore(async ({ storage }) => {
        const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const large = Buffer.alloc(1024 * 1024, 0xa5);
        large.write("head", 0);
        large.write("tail", large.length - 4);
        await storage.commit(
          batch({
            entries: [
              { logId: 1, segment: 1n, entry: 0n, value: every },
              { logId: 1, segment: 1n, entry: 1n, value: large },
            ],
          }),
          true,
        );
        const got = await readAll(storage, 1);
        assert.equal(got.length, 2);
        assert.ok(got[0]!.value.equals(every));
        assert.ok(got[1]!.value.equals(large));
      }));

    test("deleteSegmentRange removes exactly the entries of segments in [from, to), of that log only", () =>
      withStore(async ({ storage }) => {
        await storage.commit(
          batch({ entries: [...entries(1, 1n, 0n, 3), ...entries(1, 2n, 0n, 3), ...entries(1, 3n, 0n, 2), ...entries(2, 1n, 0n, 2)] }),
          false,
        );
        await storage.deleteSegmentRange(1, 0n, 3n);
        assert.deepEqual(keys(await readAll(storage, 1)), ["3/0", "3/1"]);
        assert.deepEqual(keys(await readAll(storage, 2)), ["1/0", "1/1"]);
        await storage.deleteSegmentRange(1, 0n, 3n);
        assert.deepEqual(keys(await readAll(storage, 1)), ["3/0", "3/1"], "deleting again changes nothing");
        // Appends after a truncation land as usual.
        await storage.commit(batch({ entries: entries(1, 4n, 0n, 1) }), false);
        assert.deepEqual(keys(await readAll(storage, 1)), ["3/0", "3/1", "4/0"]);
      }));

    test("writePositions lands a batch whole: puts, replaces and deletes; get and list see the same", () =>
      withStore(async ({ storage }) => {
        const floor = (n: number): Buffer => Buffer.alloc(25, n);
        await storage.writePositions(
          [
            { logId: 1, readerId: "r1", position: { floor: floor(1), extra: Buffer.from([9, 9]) } },
            { logId: 1, readerId: "r2/ü", position: { floor: floor(2), extra: Buffer.alloc(0) } },
            { logId: 2, readerId: "r1", position: { floor: floor(3), extra: Buffer.from([3]) } },
          ],
          true,
        );
        assert.deepEqual(await storage.getPosition(1, "r1"), { floor: floor(1), extra: Buffer.from([9, 9]) });
        assert.deepEqual(await storage.getPosition(1, "r2/ü"), { floor: floor(2), extra: Buffer.alloc(0) });
        assert.equal(await storage.getPosition(1, "r3"), undefined);
        const list = (await storage.listPositions(1)).sort((x, y) => x.readerId.localeCompare(y.readerId));
        assert.deepEqual(list, [
          { readerId: "r1", position: { floor: floor(1), extra: Buffer.from([9, 9]) } },
          { readerId: "r2/ü", position: { floor: floor(2), extra: Buffer.alloc(0) } },
        ]);
        await storage.writePositions(
          [
            { logId: 1, readerId: "r1", position: null },
            { logId: 1, readerId: "r2/ü", position: { floor: floor(4), extra: Buffer.from([4]) } },
          ],
          false,
        );
        assert.equal(await storage.getPosition(1, "r1"), undefined);
        assert.deepEqual(await storage.getPosition(1, "r2/ü"), { floor: floor(4), extra: Buffer.from([4]) });
        assert.deepEqual(
          (await storage.listPositions(1)).map((p) => p.readerId),
          ["r2/ü"],
        );
        assert.deepEqual(await storage.getPosition(2, "r1"), { floor: floor(3), extra: Buffer.from([3]) }, "another log's reader is untouched");
        await storage.writePositions([], true);
      }));

    test("producer slots: the value with the highest firstSeq at or below seq; per incarnation; deleted below a seq or all", () =>
      withStore(async ({ storage }) => {
        const key = { logId: 1, producerId: "prod", incarnation: 1n };
        await storage.commit(
          batch({
            producerSlots: [
              { ...key, firstSeq: 0n, value: Buffer.from("a") },
              { ...key, firstSeq: 10n, value: Buffer.from("b") },
              { ...key, firstSeq: 20n, value: Buffer.from("c") },
              { ...key, incarnation: 2n, firstSeq: 5n, value: Buffer.from("other") },
              { logId: 1, producerId: "prod2", incarnation: 1n, firstSeq: 0n, value: Buffer.from("p2") },
            ],
          }),
          false,
        );
        assert.deepEqual(await storage.getProducerSlots(key, 0n), { firstSeq: 0n, value: Buffer.from("a") });
        assert.deepEqual(await storage.getProducerSlots(key, 9n), { firstSeq: 0n, value: Buffer.from("a") });
        assert.deepEqual(await storage.getProducerSlots(key, 10n), { firstSeq: 10n, value: Buffer.from("b") });
        assert.deepEqual(await storage.getProducerSlots(key, 1000n), { firstSeq: 20n, value: Buffer.from("c") });
        assert.equal(await storage.getProducerSlots({ ...key, incarnation: 2n }, 4n), undefined);
        assert.deepEqual(await storage.getProducerSlots({ ...key, incarnation: 2n }, 5n), { firstSeq: 5n, value: Buffer.from("other") });
        assert.equal(await storage.getProducerSlots({ ...key, incarnation: 0n }, 1000n), undefined, "an older incarnation holds nothing");
        await storage.deleteProducerSlots(key, 20n);
        assert.equal(await storage.getProducerSlots(key, 19n), undefined);
        assert.deepEqual(await storage.getProducerSlots(key, 25n), { firstSeq: 20n, value: Buffer.from("c") });
        await storage.deleteProducerSlots(key);
        assert.equal(await storage.getProducerSlots(key, 25n), undefined);
        assert.deepEqual(await storage.getProducerSlots({ ...key, incarnation: 2n }, 5n), { firstSeq: 5n, value: Buffer.from("other") });
        assert.deepEqual(await storage.getProducerSlots({ ...key, producerId: "prod2" }, 3n), { firstSeq: 0n, value: Buffer.from("p2") });
      }));

    test("deleteLog removes the log's metadata, segments, producers, positions, entries and slots, and nothing of another log", () =>
      withStore(async ({ storage }) => {
        for (const [id, name] of [
          [1, "doomed"],
          [2, "kept"],
        ] as const) {
          await storage.commit(
            batch({
              logs: [logMeta(id, name)],
              segments: [segmentMeta(id, 1n)],
              entries: entries(id, 1n, 0n, 3),
              producers: [{ logId: id, producerId: "p", value: Buffer.from("s") }],
              producerSlots: [{ logId: id, producerId: "p", incarnation: 1n, firstSeq: 0n, value: Buffer.from("w") }],
            }),
            true,
          );
          await storage.writePositions([{ logId: id, readerId: "r", position: { floor: Buffer.alloc(25, id), extra: Buffer.alloc(0) } }], true);
        }
        await storage.deleteLog(1, "doomed");
        const logs = await storage.loadLogs();
        assert.deepEqual(
          logs.map((l) => l.meta.name),
          ["kept"],
        );
        assert.equal(logs[0]!.segments.length, 1);
        assert.equal(logs[0]!.producers.length, 1);
        assert.deepEqual(await readAll(storage, 1), []);
        assert.equal(await storage.getPosition(1, "r"), undefined);
        assert.deepEqual(await storage.listPositions(1), []);
        assert.equal(await storage.getProducerSlots({ logId: 1, producerId: "p", incarnation: 1n }, 0n), undefined);
        assert.equal((await readAll(storage, 2)).length, 3);
        assert.ok(await storage.getPosition(2, "r"));
        assert.ok(await storage.getProducerSlots({ logId: 2, producerId: "p", incarnation: 1n }, 0n));
        // A new log never gets the deleted one's id.
        assert.ok((await storage.nextLogId()) > 0);
      }));

    test("concurrent commits and position writes all land: nothing lost, nothing mixed up", () =>
      withStore(async ({ storage }) => {
        const logsN = 4;
        const commitsPerLog = 25;
        const work: Array<Promise<void>> = [];
        for (let c = 0; c < commitsPerLog; c++) {
          for (let id = 1; id <= logsN; id++) {
            work.push(storage.commit(batch({ entries: entries(id, 1n, BigInt(c * 4), 4) }), c % 5 === 0));
            work.push(storage.writePositions([{ logId: id, readerId: `r${c}`, position: { floor: Buffer.alloc(25, c), extra: Buffer.from([id]) } }], false));
          }
        }
        await Promise.all(work);
        for (let id = 1; id <= logsN; id++) {
          const got = await readAll(storage, id, 0n, 0n, 7);
          assert.equal(got.length, commitsPerLog * 4);
          got.forEach((e, i) => {
            assert.equal(e.entry, BigInt(i));
            assert.deepEqual(e.value, value(id, 1n, BigInt(i)));
          });
          assert.equal((await storage.listPositions(id)).length, commitsPerLog);
        }
      }));

    test("reopen: a closed store opened again holds what synced commits wrote", async (t) => {
      const handle = await factory.create();
      try {
        if (!handle.reopen) {
          t.skip("this engine keeps nothing across a close (not durable by design)");
          return;
        }
        const id = await handle.storage.nextLogId();
        await handle.storage.commit(
          batch({
            logs: [logMeta(id, "durable", { nextSequenceId: 3n })],
            segments: [segmentMeta(id, 1n, { lastEntry: 2n })],
            entries: entries(id, 1n, 0n, 3),
            producers: [{ logId: id, producerId: "p", value: Buffer.from("s") }],
            producerSlots: [{ logId: id, producerId: "p", incarnation: 1n, firstSeq: 0n, value: Buffer.from("w") }],
          }),
          true,
        );
        await handle.storage.writePositions([{ logId: id, readerId: "r", position: { floor: Buffer.alloc(25, 7), extra: Buffer.from([1]) } }], true);
        const reopened = await handle.reopen();
        const [log] = await reopened.loadLogs();
        assert.deepEqual(log!.meta, logMeta(id, "durable", { nextSequenceId: 3n }));
        assert.deepEqual(log!.segments, [segmentMeta(id, 1n, { lastEntry: 2n })]);
        assert.deepEqual(log!.producers, [{ producerId: "p", value: Buffer.from("s") }]);
        assert.deepEqual(keys(await readAll(reopened, id)), ["1/0", "1/1", "1/2"]);
        assert.deepEqual(await reopened.getPosition(id, "r"), { floor: Buffer.alloc(25, 7), extra: Buffer.from([1]) });
        assert.deepEqual(await reopened.getProducerSlots({ logId: id, producerId: "p", incarnation: 1n }, 4n), { firstSeq: 0n, value: Buffer.from("w") });
        assert.ok((await reopened.nextLogId()) > id, "log ids keep growing across a reopen");
      } finally {
        await handle.dispose();
      }
    });
  });
}
