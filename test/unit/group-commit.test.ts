/**
 * The group commit's write order: appends that arrive while a batch is being written go out in
 * the next batch as soon as that one is durable, before its answers and deliveries run, so the
 * disk does not wait for that work between two fsyncs.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LogStore } from "../../src/log/log-store.js";
import { LevelStorage } from "../../src/storage/level-storage.js";
import type { CommitBatch, Storage } from "../../src/storage/storage.js";
import { bytes } from "../helpers/dlogd.js";
import { DEFAULTS } from "../helpers/log-store.js";

/** LevelStorage in memory whose commits, once `hold()` is called, wait until released one by one. */
async function gatedStorage(events: string[]) {
  const inner = await LevelStorage.inMemory();
  const held: Array<() => void> = [];
  let holding = false;
  let commits = 0;
  const storage = Object.create(inner) as Storage;
  storage.commit = async (batch: CommitBatch, sync: boolean) => {
    const n = ++commits;
    events.push(`commit ${n} started (${batch.entries.length} entries)`);
    if (holding) await new Promise<void>((resolve) => held.push(resolve));
    await inner.commit(batch, sync);
    events.push(`commit ${n} written`);
  };
  return {
    storage,
    /** From now on commits wait to be released, and are numbered from 1 again. */
    hold: () => {
      holding = true;
      commits = 0;
    },
    /** Releases the oldest held commit; resolves once one was held to release. */
    async releaseNext(): Promise<void> {
      for (let i = 0; i < 1000 && held.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.ok(held.length > 0, "a commit is waiting to be released");
      held.shift()!();
    },
    close: () => inner.close(),
  };
}

test("appends that arrive while a batch is written start the next batch before the first batch's answers run", async () => {
  const events: string[] = [];
  const gated = await gatedStorage(events);
  const store = await LogStore.open(gated.storage, DEFAULTS);
  try {
    await store.createLog("log");
    events.length = 0;
    gated.hold();
    const first = store.append("log", [{ payload: bytes("a") }]).then((r) => events.push(`first answered ${r.dlsns}`));
    // The first batch is being written when the second append comes.
    for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    const second = store.append("log", [{ payload: bytes("b") }]).then((r) => events.push(`second answered ${r.dlsns}`));
    await gated.releaseNext();
    await gated.releaseNext();
    await Promise.all([first, second]);
    assert.deepEqual(events, [
      "commit 1 started (1 entries)",
      "commit 1 written",
      "commit 2 started (1 entries)",
      "first answered 1/0/0",
      "commit 2 written",
      "second answered 1/1/0",
    ]);
  } finally {
    await store.close();
    await gated.close();
  }
});

test("a failed batch starts none after it: the appends assigned meanwhile are refused with it", async () => {
  const events: string[] = [];
  const gated = await gatedStorage(events);
  const failing = gated.storage.commit;
  let calls = 0;
  let failFirst = false;
  gated.storage.commit = async (batch, sync) => {
    calls++;
    if (failFirst && calls === 1) {
      await failing(batch, sync).catch(() => undefined);
      throw new Error("injected write failure");
    }
    return failing(batch, sync);
  };
  const store = await LogStore.open(gated.storage, DEFAULTS);
  try {
    await store.createLog("log");
    calls = 0;
    failFirst = true;
    events.length = 0;
    gated.hold();
    const first = store.append("log", [{ payload: bytes("a") }]);
    for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    const second = store.append("log", [{ payload: bytes("b") }]);
    await gated.releaseNext();
    await assert.rejects(first, /append failed/);
    await assert.rejects(second, /append failed/);
    assert.equal(calls, 1, "no batch was written after the failed one");
  } finally {
    await store.close();
    await gated.close();
  }
});
