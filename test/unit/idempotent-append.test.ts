import assert from "node:assert/strict";
import { test } from "node:test";
import { type ErrorReason, isDlogError } from "../../src/errors.js";
import type { AppendResult, LogStore, RecordInput } from "../../src/log/log-store.js";
import { appendHash, decodeProducerSlot } from "../../src/log/producer-codec.js";
import { bytes } from "../helpers/dlogd.js";
import { openStore, readAll, text, using } from "../helpers/log-store.js";

const records = (...payloads: string[]): RecordInput[] => payloads.map((p) => ({ payload: bytes(p) }));
const shown = (result: AppendResult) => ({ dlsns: result.dlsns.map(String), txids: result.txids, duplicate: result.duplicate === true });

async function refused(append: Promise<unknown>, reason: ErrorReason, metadata: Record<string, string>, message: RegExp): Promise<void> {
  await assert.rejects(append, (error: unknown) => {
    assert.ok(isDlogError(error, "FAILED_PRECONDITION"), String(error));
    assert.equal(error.reason, reason);
    for (const [key, value] of Object.entries(metadata)) assert.equal(error.metadata[key], value, `metadata ${key}`);
    assert.match(error.message, message);
    return true;
  });
}

async function texts(store: LogStore, log = "log"): Promise<string[]> {
  return (await readAll(store, log)).map(text);
}

test("a retry of a written (producer, seq) with the same records gets the original DLSNs and txids, marked duplicate, and writes nothing — after a reopen too", async () => {
  const t = await openStore();
  await using(t, async () => {
    const given = [
      { payload: bytes("a"), txid: 10n },
      { payload: bytes("b"), txid: 12n },
    ];
    const first = await t.store.append("log", given, { id: "p", seq: 1n });
    await t.store.append("log", records("c"), { id: "p", seq: 2n });

    const retry = await t.store.append("log", given, { id: "p", seq: 1n });

    assert.deepEqual(shown(first), { dlsns: ["1/0/0", "1/0/1"], txids: [10n, 12n], duplicate: false });
    assert.deepEqual(shown(retry), { ...shown(first), duplicate: true });
    assert.deepEqual(await texts(t.store), ["a", "b", "c"]);

    const store = await t.reopen();
    const afterRestart = await store.append("log", given, { id: "p", seq: 1n });
    assert.deepEqual(shown(afterRestart), { ...shown(first), duplicate: true });
    const next = await store.append("log", records("d"), { id: "p", seq: 3n });
    assert.equal(next.duplicate, false);
    assert.deepEqual(await texts(store), ["a", "b", "c", "d"]);
  });
});

test("a seq beyond the next one is PRODUCER_SEQUENCE_GAP with expected_seq, and a refused append does not use up its seq", async () => {
  const t = await openStore();
  await using(t, async () => {
    await refused(
      t.store.append("log", records("x"), { id: "p", seq: 2n }),
      "PRODUCER_SEQUENCE_GAP",
      { expected_seq: "1", producer_seq: "2" },
      /producer "p" sent seq 2 to log "log", expected 1: the producer is not known on this log/,
    );
    await t.store.append("log", [{ payload: bytes("a"), txid: 100n }], { id: "p", seq: 1n });
    // Refused for its txid: seq 2 stays free.
    await assert.rejects(t.store.append("log", [{ payload: bytes("late"), txid: 5n }], { id: "p", seq: 2n }), /transaction id out of order/);
    await refused(
      t.store.append("log", records("b"), { id: "p", seq: 3n }),
      "PRODUCER_SEQUENCE_GAP",
      { expected_seq: "2" },
      /last append on this log was seq 1/,
    );

    await t.store.append("log", records("b"), { id: "p", seq: 2n });
    assert.deepEqual(await texts(t.store), ["a", "b"]);
  });
});

test("a seq reused for other records is PRODUCER_SEQUENCE_REUSED — other payloads or other given txids — and writes nothing", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("a"), txid: 7n }], { id: "p", seq: 1n });

    await refused(
      t.store.append("log", [{ payload: bytes("A"), txid: 7n }], { id: "p", seq: 1n }),
      "PRODUCER_SEQUENCE_REUSED",
      { producer_seq: "1" },
      /already used seq 1 on log "log" for other records/,
    );
    await refused(t.store.append("log", [{ payload: bytes("a"), txid: 8n }], { id: "p", seq: 1n }), "PRODUCER_SEQUENCE_REUSED", {}, /other records/);
    await refused(t.store.append("log", records("a"), { id: "p", seq: 1n }), "PRODUCER_SEQUENCE_REUSED", {}, /other records/);
    assert.deepEqual(await texts(t.store), ["a"]);
  });
});

test("a seq older than the window is PRODUCER_SEQUENCE_TOO_OLD, and storage keeps at most two windows of slots", async () => {
  const t = await openStore({ producers: { window: 3, maxProducers: 10 } });
  await using(t, async () => {
    for (let seq = 1n; seq <= 8n; seq++) await t.store.append("log", records(`r${seq}`), { id: "p", seq });

    await refused(
      t.store.append("log", records("r5"), { id: "p", seq: 5n }),
      "PRODUCER_SEQUENCE_TOO_OLD",
      { producer_seq: "5" },
      /older than the 3 appends remembered after its last seq 8/,
    );
    assert.equal((await t.store.append("log", records("r6"), { id: "p", seq: 6n })).duplicate, true);

    // One stored value per batch (here one append each); those wholly below 8 - 2 * 3 + 2 are deleted.
    const key = { logId: t.store.logId("log"), producerId: "p", incarnation: 0n }; // the first sequence id of its first append
    const kept = [];
    for (let seq = 1n; seq <= 8n; seq++) kept.push((await t.storage.getProducerSlots(key, seq))?.firstSeq === seq);
    assert.deepEqual(kept, [false, false, false, true, true, true, true, true]);
    assert.deepEqual(await texts(t.store), ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]);
  });
});

test("one producer's pipelined appends in one group commit get consecutive seqs, and a retry of one still in flight gets its answer", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.createLog("log");
    const commitsBefore = t.storage.commits;
    // All in one turn of the event loop: one batch.
    const appends = [1n, 2n, 3n, 4n].map((seq) => t.store.append("log", records(`r${seq}`), { id: "p", seq }));
    const retry = t.store.append("log", records("r3"), { id: "p", seq: 3n });
    const other = t.store.append("log", records("q1"), { id: "q", seq: 1n });
    const gap = refused(t.store.append("log", records("r9"), { id: "p", seq: 9n }), "PRODUCER_SEQUENCE_GAP", { expected_seq: "5" }, /expected 5/);
    const reuse = refused(t.store.append("log", records("R2"), { id: "p", seq: 2n }), "PRODUCER_SEQUENCE_REUSED", {}, /other records/);

    const results = await Promise.all(appends);
    assert.equal(t.storage.commits - commitsBefore, 1, "one batch");
    // One batch, one entry: consecutive slots.
    assert.deepEqual(
      results.map((r) => r.dlsns.map(String)),
      [["1/0/0"], ["1/0/1"], ["1/0/2"], ["1/0/3"]],
    );
    assert.deepEqual(shown(await retry), { ...shown(results[2]!), duplicate: true });
    assert.deepEqual((await other).dlsns.map(String), ["1/0/4"]);
    await Promise.all([gap, reuse]);
    assert.deepEqual(await texts(t.store), ["r1", "r2", "r3", "r4", "q1"]);

    // The batch stored p's four slots as one value; a later retry reads its own slot (entry and first slot) from it.
    const key = { logId: t.store.logId("log"), producerId: "p", incarnation: 0n };
    assert.equal((await t.storage.getProducerSlots(key, 4n))?.firstSeq, 1n);
    assert.deepEqual(shown(await t.store.append("log", records("r2"), { id: "p", seq: 2n })), { ...shown(results[1]!), duplicate: true });
  });
});

test("past --max-producers-per-log the least recently used producer is forgotten, durably; a deleted log forgets its producers", async () => {
  const t = await openStore({ producers: { window: 8, maxProducers: 2 } });
  await using(t, async () => {
    await t.store.append("log", records("a1"), { id: "a", seq: 1n });
    await t.store.append("log", records("b1"), { id: "b", seq: 1n });
    await t.store.append("log", records("a2"), { id: "a", seq: 2n }); // a is now more recent than b
    await t.store.append("log", records("c1"), { id: "c", seq: 1n }); // evicts b

    await refused(
      t.store.append("log", records("b2"), { id: "b", seq: 2n }),
      "PRODUCER_SEQUENCE_GAP",
      { expected_seq: "1" },
      /forgotten as least recently used/,
    );
    const store = await t.reopen();
    await refused(store.append("log", records("b2"), { id: "b", seq: 2n }), "PRODUCER_SEQUENCE_GAP", { expected_seq: "1" }, /not known/);
    assert.equal((await store.append("log", records("a2"), { id: "a", seq: 2n })).duplicate, true);
    assert.equal((await store.append("log", records("c1"), { id: "c", seq: 1n })).duplicate, true);
    // No slot of the evicted producer is left behind.
    const incarnationOfB = 1n;
    assert.equal(await t.storage.getProducerSlots({ logId: store.logId("log"), producerId: "b", incarnation: incarnationOfB }, 1n), undefined);

    await store.deleteLog("log");
    await store.append("log", records("fresh"));
    await refused(store.append("log", records("a3"), { id: "a", seq: 3n }), "PRODUCER_SEQUENCE_GAP", { expected_seq: "1" }, /not known/);
  });
});

test("a producer id breaking the name rules or a seq below 1 is INVALID_ARGUMENT", async () => {
  const t = await openStore();
  await using(t, async () => {
    await assert.rejects(t.store.append("log", records("a"), { id: "bad id", seq: 1n }), /invalid producer_id "bad id"/);
    await assert.rejects(t.store.append("log", records("a"), { id: "p", seq: 0n }), /producer_seq must be >= 1/);
    assert.equal(t.store.has("log"), false, "nothing was created");
  });
});

test("producer slots stored before appends shared entries (format 2) still answer a retry, from slot 0", () => {
  // Format 2: u8 2 | u32 count | hash 16 | i64 segment | i64 entry | i64 first sequence id | u32 records | u32 txids | txids.
  const value = Buffer.alloc(1 + 4 + 16 + 24 + 8 + 8);
  value[0] = 2;
  value.writeUInt32BE(1, 1);
  value.fill(7, 5, 21);
  value.writeBigInt64BE(3n, 21);
  value.writeBigInt64BE(9n, 29);
  value.writeBigInt64BE(40n, 37);
  value.writeUInt32BE(2, 45);
  value.writeUInt32BE(1, 49);
  value.writeBigInt64BE(123n, 53);

  const slot = decodeProducerSlot(value, 0);
  assert.deepEqual(
    { ...slot, hash: slot?.hash.toString("hex") },
    { hash: "07".repeat(16), segment: 3n, entry: 9n, slot: 0, firstSequenceId: 40n, count: 2, txids: [123n, 123n] },
  );
  assert.equal(decodeProducerSlot(value, 1), undefined);
});

test("an append's content hash stays what stored producer slots hold: the same bytes hashed, whatever the code that builds them", () => {
  // Stored slots are compared with the hash of a retry, after a restart and an upgrade too: these values must never change.
  const given = [
    { payload: Buffer.from("a") },
    { payload: Buffer.alloc(0), txid: 0n },
    { payload: Buffer.alloc(300, 7), txid: -5n },
    { payload: Buffer.from("zz"), txid: 2n ** 63n - 1n },
  ];
  assert.equal(appendHash(given).toString("hex"), "bd00074acbdf0b13ba8f4dd7c79929dc");
  assert.equal(appendHash([]).toString("hex"), "df3f619804a92fdb4057192dc43dd748");
  assert.equal(appendHash([{ payload: Buffer.alloc(100, 0x61) }]).toString("hex"), "d41a4f95b6cedcb22b982b5598d6c779");
  // A txid of 0 given is not the same content as none given.
  assert.notEqual(appendHash([{ payload: Buffer.from("a"), txid: 0n }]).toString("hex"), appendHash([{ payload: Buffer.from("a") }]).toString("hex"));
});
