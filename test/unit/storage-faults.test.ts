/** Injected LevelDB failures under the log store: retried, recovered without a restart, never a server path in a message. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { DlogError } from "../../src/errors.js";
import { LogStore, type LogStoreOptions } from "../../src/log/log-store.js";
import { LevelStorage } from "../../src/storage/level-storage.js";
import { ResilientStorage, type StorageEvent } from "../../src/storage/resilient-storage.js";
import type { Storage } from "../../src/storage/storage.js";
import { bytes, tempDir } from "../helpers/dlogd.js";
import { DEFAULTS } from "../helpers/log-store.js";

const OPTIONS: LogStoreOptions = DEFAULTS;

/** LevelDB's own wording, with a path that must never reach a client. */
const SECRET = "/srv/secret-data-dir";
const ioError = (what: string): Error => Object.assign(new Error(`IO error: ${SECRET}/000012.log: ${what}`), { code: "LEVEL_IO_ERROR" });

/** What the next writes and opens do; shared by every database the opener hands out. */
interface Faults {
  /** Writes that fail before touching the database. */
  failWrites: number;
  /** Writes that reach the database and then report failure (an fsync that failed after the write). */
  landThenFail: number;
  /** Opens that fail. */
  failOpens: number;
  error: Error;
}

function faulty(inner: Storage, faults: Faults): Storage {
  const write = async <T>(op: () => Promise<T>): Promise<T> => {
    if (faults.failWrites > 0) {
      faults.failWrites--;
      throw faults.error;
    }
    const result = await op();
    if (faults.landThenFail > 0) {
      faults.landThenFail--;
      throw faults.error;
    }
    return result;
  };
  return {
    loadLogs: () => inner.loadLogs(),
    nextLogId: () => write(() => inner.nextLogId()),
    commit: (batch, sync) => write(() => inner.commit(batch, sync)),
    openCursor: (logId, segment, entry) => inner.openCursor(logId, segment, entry),
    deleteSegmentRange: (logId, from, to) => write(() => inner.deleteSegmentRange(logId, from, to)),
    deleteLog: (logId, name) => write(() => inner.deleteLog(logId, name)),
    getProducerSlots: (key, seq) => inner.getProducerSlots(key, seq),
    deleteProducerSlots: (key, belowSeq) => write(() => inner.deleteProducerSlots(key, belowSeq)),
    getPosition: (logId, readerId) => inner.getPosition(logId, readerId),
    listPositions: (logId) => inner.listPositions(logId),
    writePositions: (writes, sync) => write(() => inner.writePositions(writes, sync)),
    close: () => inner.close(),
  };
}

async function openFaulty(options: { brokenAfterMs?: number } = {}) {
  const dir = tempDir("dlog-faults-");
  const faults: Faults = { failWrites: 0, landThenFail: 0, failOpens: 0, error: ioError("Too many open files") };
  const events: StorageEvent[] = [];
  const storage = await ResilientStorage.open({
    open: async () => {
      if (faults.failOpens > 0) {
        faults.failOpens--;
        throw faults.error;
      }
      return faulty(await LevelStorage.open(dir.path), faults);
    },
    brokenAfterMs: options.brokenAfterMs ?? 30_000,
    onEvent: (event) => events.push(event),
  });
  const store = await LogStore.open(storage, OPTIONS);
  return {
    store,
    storage,
    faults,
    events,
    async [Symbol.asyncDispose]() {
      await store.close();
      await storage.close();
      dir.cleanup();
    },
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function payloads(store: LogStore, log: string): Promise<Array<{ text: string; sequenceId: bigint }>> {
  const reader = store.openReader(log, new DLSN(1n, 0n, 0n));
  try {
    return (await reader.read(10_000)).map((record) => ({ text: record.payload.toString("utf8"), sequenceId: record.sequenceId }));
  } finally {
    await reader.close();
  }
}

function refusal(error: unknown): DlogError {
  assert.ok(error instanceof DlogError, `a DlogError, got ${String(error)}`);
  assert.ok(!error.message.includes(SECRET), `the message names no server path: ${error.message}`);
  return error;
}

test("a transient write failure (EMFILE) is retried: appends are refused for a moment, then taken without a restart", async () => {
  await using env = await openFaulty();
  const first = await env.store.append("a", [{ payload: bytes("1") }]);

  env.faults.failWrites = 1;
  const refused = refusal(
    await env.store.append("a", [{ payload: bytes("2") }]).then(
      () => assert.fail("the append succeeded"),
      (e: unknown) => e,
    ),
  );
  assert.equal(refused.code, "UNAVAILABLE");
  assert.equal(refused.reason, "STORAGE_UNAVAILABLE");
  assert.match(refused.message, /too many open files/);

  await until(() => env.storage.health.writable, "the store to be reopened");
  const after = await env.store.append("a", [{ payload: bytes("3") }]);

  assert.ok(after.dlsns[0]!.segment > first.dlsns[0]!.segment, "the append after recovery starts a new segment");
  assert.deepEqual(await payloads(env.store, "a"), [
    { text: "1", sequenceId: 0n },
    { text: "3", sequenceId: 1n },
  ]);
  assert.equal(env.storage.counters.reopens, 1);
  assert.deepEqual(
    env.events.map((event) => event.kind),
    ["fault", "recovered"],
  );
});

test("appends assigned while a batch fails are refused too, and none is half-written", async () => {
  await using env = await openFaulty();
  await env.store.append("a", [{ payload: bytes("1") }]);
  env.faults.failWrites = 1;

  // Many appends in flight at once: the first batch fails, and every one assigned behind it fails with it.
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => env.store.append("a", [{ payload: bytes(`x${i}`) }])));
  await until(() => env.storage.health.writable, "the store to be reopened");
  await env.store.append("a", [{ payload: bytes("2") }]);

  const answered = results.filter((result) => result.status === "fulfilled").length;
  const texts = (await payloads(env.store, "a")).map((record) => record.text);
  assert.equal(texts.length, 2 + answered, "exactly the answered appends are stored");
  assert.equal(texts[0], "1");
  assert.equal(texts.at(-1), "2");
  for (const result of results) if (result.status === "rejected") refusal(result.reason);
});

test("a failed write that did land (fsync failed after the write) is read back: sequence ids stay unique", async () => {
  await using env = await openFaulty();
  env.faults.error = ioError("Input/output error");
  await env.store.append("a", [{ payload: bytes("1") }]);

  env.faults.landThenFail = 1;
  refusal(
    await env.store.append("a", [{ payload: bytes("2") }]).then(
      () => assert.fail("the append succeeded"),
      (e: unknown) => e,
    ),
  );
  await until(() => env.storage.health.writable, "the store to be reopened");
  await env.store.append("a", [{ payload: bytes("3") }]);

  // "2" was refused but is on disk: at-least-once, the client may send it again; nothing is lost or doubled.
  assert.deepEqual(await payloads(env.store, "a"), [
    { text: "1", sequenceId: 0n },
    { text: "2", sequenceId: 1n },
    { text: "3", sequenceId: 2n },
  ]);
  assert.equal(env.store.describe("a").recordCount, 3n);
});

test("a reader keeps reading across a reopen, from where it was", async () => {
  await using env = await openFaulty();
  await env.store.append("a", [{ payload: bytes("1") }]);
  await env.store.append("a", [{ payload: bytes("2") }]);
  const reader = env.store.openReader("a", new DLSN(1n, 0n, 0n));
  assert.deepEqual(
    (await reader.read(1)).map((record) => record.payload.toString()),
    ["1"],
  );

  env.faults.failWrites = 1;
  await env.store.append("a", [{ payload: bytes("lost") }]).catch(() => undefined);
  await until(() => env.storage.health.writable, "the store to be reopened");
  await env.store.append("a", [{ payload: bytes("3") }]);

  assert.deepEqual(
    (await reader.read(10)).map((record) => record.payload.toString()),
    ["2", "3"],
  );
  await reader.close();
});

test("a failed truncation is redone by the next one after the reload, and frees the entries", async () => {
  await using env = await openFaulty();
  await env.store.append("a", [{ payload: bytes("1") }]);
  const storeWithRoll = env.store;
  // A second segment: appends after a reload start one.
  env.faults.failWrites = 1;
  await storeWithRoll.append("a", [{ payload: bytes("lost") }]).catch(() => undefined);
  await until(() => env.storage.health.writable, "the store to be reopened");
  const second = await storeWithRoll.append("a", [{ payload: bytes("2") }]);

  env.faults.failWrites = 1;
  refusal(
    await storeWithRoll.truncate("a", second.dlsns[0]!).then(
      () => assert.fail("the truncation succeeded"),
      (e: unknown) => e,
    ),
  );
  await until(() => env.storage.health.writable, "the store to be reopened");
  const result = await storeWithRoll.truncate("a", second.dlsns[0]!);

  assert.equal(result.recordsDeleted, 1n);
  assert.deepEqual(
    (await payloads(storeWithRoll, "a")).map((record) => record.text),
    ["2"],
  );
});

test("a store whose reopening keeps failing turns broken once, and healthy again when it opens", async () => {
  await using env = await openFaulty({ brokenAfterMs: 200 });
  env.faults.failWrites = 1;
  env.faults.failOpens = 1_000;
  await env.store.append("a", [{ payload: bytes("1") }]).catch(() => undefined);

  await until(() => env.storage.health.broken, "the store to count as broken");
  const refused = refusal(
    await env.store.append("a", [{ payload: bytes("2") }]).then(
      () => assert.fail("the append succeeded"),
      (e: unknown) => e,
    ),
  );
  assert.equal(refused.reason, "STORAGE_UNAVAILABLE");
  env.faults.failOpens = 0;
  await until(() => env.storage.health.writable, "the store to be reopened", 10_000);

  assert.equal(env.storage.health.broken, false);
  assert.equal(env.events.filter((event) => event.kind === "broken").length, 1, "broken is reported once");
  await env.store.append("a", [{ payload: bytes("3") }]);
  assert.deepEqual(
    (await payloads(env.store, "a")).map((record) => record.text),
    ["3"],
  );
});

test("a disk-full failure is RESOURCE_EXHAUSTED, reason DISK_FULL, and names no path", async () => {
  await using env = await openFaulty();
  env.faults.error = ioError("No space left on device");
  env.faults.failWrites = 1;

  const refused = refusal(
    await env.store.append("a", [{ payload: bytes("1") }]).then(
      () => assert.fail("the append succeeded"),
      (e: unknown) => e,
    ),
  );

  assert.equal(refused.code, "RESOURCE_EXHAUSTED");
  assert.equal(refused.reason, "DISK_FULL");
  assert.equal(env.storage.health.diskFull, true);
});
