import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isDlogError } from "../../src/errors.js";
import { createFlusher, type PositionWrite } from "../../src/positions/flusher.js";

/** A fake LevelDB batch writer that records every batch and can be held or made to fail. */
function fakeStore() {
  const batches: PositionWrite<number>[][] = [];
  let failNext = 0;
  let gate: Promise<void> | undefined;
  let openGate: (() => void) | undefined;
  return {
    batches,
    write: async (batch: PositionWrite<number>[]): Promise<void> => {
      if (gate !== undefined) await gate;
      if (failNext > 0) {
        failNext--;
        throw new Error("disk full");
      }
      batches.push(batch);
    },
    failNextWrites(count: number) {
      failNext = count;
    },
    hold() {
      gate = new Promise((resolve) => (openGate = resolve));
    },
    release() {
      gate = undefined;
      openGate?.();
    },
    written(key: string): Array<number | null> {
      return batches.flatMap((b) => b.filter((w) => w.key === key).map((w) => w.position));
    },
  };
}

test("10 000 changes and acks on 5 readers cost a handful of writes, each with the latest state", async () => {
  const store = fakeStore();
  const flusher = createFlusher<number>({ write: store.write, intervalMs: 1000, maxAcks: 1000 });
  const state = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const key = `log/reader-${i % 5}`;
    state.set(key, i);
    flusher.markDirty(key, () => state.get(key)!);
    flusher.noteAcks(1);
    // Acks arrive over many event-loop turns in a real server.
    if (i % 250 === 249) await Promise.resolve();
  }
  await flusher.flush();

  assert.ok(store.batches.length <= 12, `expected few writes, got ${store.batches.length}`);
  for (const batch of store.batches) {
    assert.equal(new Set(batch.map((write) => write.key)).size, batch.length, "a key appears once per batch");
  }
  for (let r = 0; r < 5; r++) {
    const key = `log/reader-${r}`;
    assert.equal(store.written(key).at(-1), state.get(key));
  }
  assert.equal(flusher.counters.acksReceived, 10_000);
  assert.equal(flusher.counters.flushes, store.batches.length);
  await flusher.close();
});

test("reaching maxAcks flushes without waiting for the timer", async () => {
  const store = fakeStore();
  const flusher = createFlusher<number>({ write: store.write, intervalMs: 60_000, maxAcks: 10 });
  flusher.markDirty("a", () => 1);
  flusher.noteAcks(9);
  await sleep(1);
  assert.equal(store.batches.length, 0, "below maxAcks nothing is written yet");
  flusher.noteAcks(1);
  await sleep(1);
  assert.deepEqual(store.batches, [[{ key: "a", position: 1 }]]);
  await flusher.close();
});

test("the timer flushes a dirty position within the interval, and stays idle when nothing is dirty", async () => {
  const store = fakeStore();
  const flushed: number[] = [];
  const flusher = createFlusher<number>({
    write: store.write,
    intervalMs: 15,
    onFlushed: (written) => flushed.push(written.length),
  });
  await sleep(30);
  assert.equal(store.batches.length, 0, "no write when nothing is dirty");
  flusher.markDirty("a", () => 7);
  const marked = Date.now();
  while (store.batches.length === 0 && Date.now() - marked < 500) await sleep(2);
  assert.ok(Date.now() - marked < 100, `flushed ${Date.now() - marked} ms after the change`);
  assert.deepEqual(store.batches, [[{ key: "a", position: 7 }]]);
  assert.deepEqual(flushed, [1]);
  await sleep(40);
  assert.equal(store.batches.length, 1, "no further writes once clean");
  await flusher.close();
});

test("flush() resolves only after a write that contains every earlier change", async () => {
  const store = fakeStore();
  const flusher = createFlusher<number>({ write: store.write, intervalMs: 60_000 });
  let value = 1;
  flusher.markDirty("a", () => value);
  store.hold();
  const first = flusher.flush();
  // Marked while the first write is in flight: the first write's snapshot cannot contain it.
  value = 2;
  flusher.markDirty("a", () => value);
  flusher.markDirty("b", () => 20);
  let secondDone = false;
  const second = flusher.flush().then(() => (secondDone = true));
  const third = flusher.flush();
  await sleep(5);
  assert.equal(secondDone, false);
  store.release();
  await Promise.all([first, second, third]);
  assert.equal(store.batches.length, 2, "concurrent callers share the follow-up flush");
  assert.deepEqual(store.batches[0], [{ key: "a", position: 1 }]);
  assert.deepEqual(store.batches[1], [
    { key: "a", position: 2 },
    { key: "b", position: 20 },
  ]);
  await flusher.close();
});

test("only one write is in flight at a time", async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  const flusher = createFlusher<number>({
    write: async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(3);
      inFlight--;
    },
    intervalMs: 1,
    maxAcks: 1,
  });
  const flushes: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    flusher.markDirty(`k${i % 3}`, () => i);
    flusher.noteAcks(1);
    flushes.push(flusher.flush());
    await sleep(1);
  }
  await Promise.all(flushes);
  assert.equal(maxInFlight, 1);
  await flusher.close();
});

test("a failed write keeps its keys dirty, rejects that flush, reports the error, and a later flush writes them", async () => {
  const store = fakeStore();
  const errors: unknown[] = [];
  const flusher = createFlusher<number>({ write: store.write, intervalMs: 60_000, onError: (e) => errors.push(e) });
  flusher.markDirty("a", () => 1);
  flusher.markDirty("b", () => 2);
  store.failNextWrites(1);
  await assert.rejects(flusher.flush(), /disk full/);
  assert.equal(errors.length, 1);
  assert.equal(flusher.dirtyCount, 2);
  assert.equal(flusher.counters.flushes, 0);

  await flusher.flush();
  assert.deepEqual(store.batches, [
    [
      { key: "a", position: 1 },
      { key: "b", position: 2 },
    ],
  ]);
  assert.equal(flusher.dirtyCount, 0);
  assert.equal(flusher.counters.positionsWritten, 2);
  await flusher.close();
});

test("a failed write is retried by the timer", async () => {
  const store = fakeStore();
  const flusher = createFlusher<number>({ write: store.write, intervalMs: 10, onError: () => {} });
  store.failNextWrites(1);
  flusher.markDirty("a", () => 5);
  const started = Date.now();
  while (store.batches.length === 0 && Date.now() - started < 500) await sleep(2);
  assert.deepEqual(store.batches, [[{ key: "a", position: 5 }]]);
  await flusher.close();
});

test("a key marked again while its write fails keeps the newer snapshot", async () => {
  const store = fakeStore();
  const flusher = createFlusher<number>({ write: store.write, intervalMs: 60_000, onError: () => {} });
  flusher.markDirty("a", () => 1);
  store.hold();
  store.failNextWrites(1);
  const failing = flusher.flush();
  flusher.markDirty("a", () => 2);
  store.release();
  await assert.rejects(failing);
  await flusher.flush();
  assert.deepEqual(store.written("a"), [2]);
  await flusher.close();
});

test("a null position is written as a delete", async () => {
  const store = fakeStore();
  const flusher = createFlusher<number>({ write: store.write });
  flusher.markDirty("gone", () => null);
  await flusher.flush();
  assert.deepEqual(store.batches, [[{ key: "gone", position: null }]]);
  await flusher.close();
});

test("close() flushes what is dirty, and markDirty afterwards throws", async () => {
  const store = fakeStore();
  const flusher = createFlusher<number>({ write: store.write, intervalMs: 60_000 });
  flusher.markDirty("a", () => 3);
  await flusher.close();
  assert.deepEqual(store.batches, [[{ key: "a", position: 3 }]]);
  assert.throws(
    () => flusher.markDirty("a", () => 4),
    (e: unknown) => isDlogError(e, "UNAVAILABLE") && e.reason === "SHUTTING_DOWN",
  );
});

test("options are validated", () => {
  const write = async (): Promise<void> => {};
  assert.throws(() => createFlusher({ write, intervalMs: 0 }), /interval/);
  assert.throws(() => createFlusher({ write, maxAcks: 0.5 }), /max/);
});
