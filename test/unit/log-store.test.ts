import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { DLSN } from "../../src/dlsn.js";
import { isDlogError } from "../../src/errors.js";
import { LogStore } from "../../src/log/log-store.js";
import { LevelStorage } from "../../src/storage/level-storage.js";
import { bytes } from "../helpers/dlogd.js";
import { DEFAULTS, countingCommits, dlsns, openStore, readAll, text, using } from "../helpers/log-store.js";

test("an appended record reads back with its DLSN, txid, time and payload", async () => {
  const t = await openStore({ now: () => 1_700_000_000_000 });
  await using(t, async () => {
    const result = await t.store.append("orders", [{ payload: bytes("hello") }]);

    assert.deepEqual(result.dlsns.map(String), ["1/0/0"]);
    assert.deepEqual(result.txids, [1_700_000_000_000n]);
    const [record, ...rest] = await readAll(t.store, "orders");
    assert.equal(rest.length, 0);
    assert.equal(text(record!), "hello");
    assert.equal(record!.dlsn.toString(), "1/0/0");
    assert.equal(record!.txid, 1_700_000_000_000n);
    assert.equal(record!.appendTimeMs, 1_700_000_000_000);
    assert.equal(record!.sequenceId, 0n);
  });
});

test("DLSNs of successive appends strictly increase", async () => {
  const t = await openStore();
  await using(t, async () => {
    const seen: DLSN[] = [];
    for (let i = 0; i < 20; i++) seen.push(...(await t.store.append("log", [{ payload: bytes(`r${i}`) }])).dlsns);

    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.isAfter(seen[i - 1]!), `${seen[i]} after ${seen[i - 1]}`);
    assert.deepEqual(dlsns(await readAll(t.store, "log")), seen.map(String));
  });
});

test("a bulk append is one entry whose records have slots 0..N-1", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("before") }]);
    const result = await t.store.append(
      "log",
      ["a", "b", "c", "d"].map((p) => ({ payload: bytes(p) })),
    );

    assert.deepEqual(result.dlsns.map(String), ["1/1/0", "1/1/1", "1/1/2", "1/1/3"]);
    assert.equal(result.firstSequenceId, 1n);
    const records = await readAll(t.store, "log");
    assert.deepEqual(records.slice(1).map(text), ["a", "b", "c", "d"]);
    assert.deepEqual(
      records.map((r) => r.sequenceId),
      [0n, 1n, 2n, 3n, 4n],
    );
  });
});

test("a txid lower than the log's last is FAILED_PRECONDITION and writes nothing", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("a"), txid: 100n }]);

    await assert.rejects(t.store.append("log", [{ payload: bytes("b"), txid: 99n }]), {
      code: "FAILED_PRECONDITION",
      message: /transaction id out of order/,
    });
    await assert.rejects(
      t.store.append("log", [
        { payload: bytes("c"), txid: 101n },
        { payload: bytes("d"), txid: 100n },
      ]),
      {
        code: "FAILED_PRECONDITION",
        message: /transaction id out of order/,
      },
    );
    assert.equal(t.store.describe("log").recordCount, 1n);
    assert.equal(t.store.describe("log").lastTxid, 100n);
    assert.deepEqual((await readAll(t.store, "log")).map(text), ["a"]);
    // An equal txid is fine: txids are non-decreasing, not strictly increasing.
    assert.deepEqual((await t.store.append("log", [{ payload: bytes("e"), txid: 100n }])).txids, [100n]);
  });
});

test("without a txid the server assigns max(last txid, now)", async () => {
  let now = 5_000;
  const t = await openStore({ now: () => now });
  await using(t, async () => {
    assert.deepEqual((await t.store.append("log", [{ payload: bytes("a") }])).txids, [5_000n]);
    await t.store.append("log", [{ payload: bytes("b"), txid: 9_000n }]);
    now = 6_000;
    assert.deepEqual((await t.store.append("log", [{ payload: bytes("c") }])).txids, [9_000n]);
    now = 10_000;
    assert.deepEqual((await t.store.append("log", [{ payload: bytes("d") }])).txids, [10_000n]);
  });
});

test("txids within one entry never decrease, whether given or assigned", async () => {
  let now = 5_000;
  const t = await openStore({ now: () => now });
  await using(t, async () => {
    // A given txid above the clock: an unset one after it takes the given one, not the clock.
    const result = await t.store.append("log", [{ payload: bytes("a"), txid: 8_000n }, { payload: bytes("b") }]);
    assert.deepEqual(result.txids, [8_000n, 8_000n]);
    now = 20_000;
    // A given txid below the clock after an unset one would go backwards inside the entry.
    await assert.rejects(t.store.append("log", [{ payload: bytes("c") }, { payload: bytes("d"), txid: 9_000n }]), {
      code: "FAILED_PRECONDITION",
      message: /transaction id out of order/,
    });
    const stored = (await readAll(t.store, "log")).map((r) => r.txid);
    assert.deepEqual(stored, [8_000n, 8_000n]);
    assert.equal(t.store.describe("log").lastTxid, 8_000n);
  });
});

test("with --no-pack-appends, 200 concurrent appends land in a few storage batches, one entry each, in call order", async () => {
  const t = await openStore({ packAppends: false });
  await using(t, async () => {
    await t.store.createLog("log");
    const before = t.storage.commits;

    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => t.store.append("log", [{ payload: bytes(`r${i}`), txid: BigInt(i) }])));

    const batches = t.storage.commits - before;
    assert.ok(batches >= 1 && batches <= 3, `expected 1-3 batches, got ${batches}`);
    assert.deepEqual(
      results.map((r) => r.dlsns[0]!.toString()),
      Array.from({ length: 200 }, (_, i) => `1/${i}/0`),
    );
    const records = await readAll(t.store, "log");
    assert.deepEqual(
      records.map(text),
      Array.from({ length: 200 }, (_, i) => `r${i}`),
    );
  });
});

test("200 concurrent appends to one log share one entry per storage batch, their DLSNs increasing in call order", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.createLog("log");
    const before = t.storage.commits;

    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => t.store.append("log", [{ payload: bytes(`r${i}`), txid: BigInt(i) }])));

    const batches = t.storage.commits - before;
    const seen = results.map((r) => r.dlsns[0]!);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.isAfter(seen[i - 1]!), `${seen[i]} after ${seen[i - 1]}`);
    assert.equal(new Set(seen.map((d) => d.entry)).size, batches, "one entry per batch");
    assert.ok(batches <= 3, `expected 1-3 batches, got ${batches}`);
    const records = await readAll(t.store, "log");
    assert.deepEqual(
      records.map(text),
      Array.from({ length: 200 }, (_, i) => `r${i}`),
    );
    assert.deepEqual(dlsns(records), seen.map(String));
    assert.deepEqual(dlsns(await readAll(await t.reopen(), "log")), seen.map(String));
  });
});

test("appends group-committed together take consecutive slots of one entry; a written entry is never extended", async () => {
  const t = await openStore({ now: () => 1_700_000_000_000 });
  await using(t, async () => {
    await t.store.createLog("log");
    const [a, b, c] = await Promise.all([
      t.store.append("log", [{ payload: bytes("a") }]),
      t.store.append("log", [{ payload: bytes("b0") }, { payload: bytes("b1") }]),
      t.store.append("log", [{ payload: bytes("c") }]),
    ]);
    const later = await t.store.append("log", [{ payload: bytes("d") }]);

    assert.deepEqual(
      [a, b, c, later].map((r) => r!.dlsns.map(String)),
      [["1/0/0"], ["1/0/1", "1/0/2"], ["1/0/3"], ["1/1/0"]],
    );
    assert.deepEqual(
      [a, b, c, later].map((r) => r!.firstSequenceId),
      [0n, 1n, 3n, 4n],
    );
    const records = await readAll(t.store, "log");
    assert.deepEqual(records.map(text), ["a", "b0", "b1", "c", "d"]);
    assert.deepEqual(
      records.map((r) => r.sequenceId),
      [0n, 1n, 2n, 3n, 4n],
    );
    assert.ok(records.every((r) => r.appendTimeMs === 1_700_000_000_000));
    assert.equal(t.store.head("log").last?.toString(), "1/1/0");
  });
});

test("an append that would take a shared entry past --max-records-per-append starts the next entry", async () => {
  const t = await openStore({ maxRecordsPerAppend: 3 });
  await using(t, async () => {
    await t.store.createLog("log");
    const results = await Promise.all([
      t.store.append("log", [{ payload: bytes("a0") }, { payload: bytes("a1") }]),
      t.store.append("log", [{ payload: bytes("b0") }, { payload: bytes("b1") }]),
      t.store.append("log", [{ payload: bytes("c") }]),
    ]);

    assert.deepEqual(
      results.map((r) => r.dlsns.map(String)),
      [["1/0/0", "1/0/1"], ["1/1/0", "1/1/1"], ["1/1/2"]],
    );
    assert.deepEqual((await readAll(t.store, "log")).map(text), ["a0", "a1", "b0", "b1", "c"]);
  });
});

test("logs created concurrently get distinct storage ids and keep their records apart", async () => {
  const t = await openStore();
  await using(t, async () => {
    await Promise.all([t.store.createLog("a"), t.store.createLog("b"), t.store.append("c", [{ payload: bytes("c0") }])]);
    await Promise.all([t.store.append("a", [{ payload: bytes("a0") }]), t.store.append("b", [{ payload: bytes("b0") }])]);

    assert.equal(new Set(["a", "b", "c"].map((name) => t.store.logId(name))).size, 3);
    assert.deepEqual((await readAll(t.store, "a")).map(text), ["a0"]);
    assert.deepEqual((await readAll(t.store, "b")).map(text), ["b0"]);
    assert.deepEqual((await readAll(t.store, "c")).map(text), ["c0"]);
    const reopened = await t.reopen();
    assert.deepEqual((await readAll(reopened, "a")).map(text), ["a0"]);
    assert.deepEqual((await readAll(reopened, "b")).map(text), ["b0"]);
  });
});

test("reading from a DLSN is inclusive and may start mid-entry", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("a") }]);
    await t.store.append(
      "log",
      ["b0", "b1", "b2"].map((p) => ({ payload: bytes(p) })),
    );
    await t.store.append("log", [{ payload: bytes("c") }]);

    assert.deepEqual((await readAll(t.store, "log", new DLSN(1n, 1n, 0n))).map(text), ["b0", "b1", "b2", "c"]);
    assert.deepEqual((await readAll(t.store, "log", new DLSN(1n, 1n, 2n))).map(text), ["b2", "c"]);
    assert.deepEqual((await readAll(t.store, "log", new DLSN(1n, 1n, 7n))).map(text), ["c"]);
    assert.deepEqual((await readAll(t.store, "log", DLSN.NON_INCLUSIVE_LOWER_BOUND)).map(text), ["a", "b0", "b1", "b2", "c"]);
    assert.deepEqual((await readAll(t.store, "log", DLSN.INVALID)).map(text), ["a", "b0", "b1", "b2", "c"]);
    assert.deepEqual(await readAll(t.store, "log", new DLSN(1n, 3n, 0n)), []);
    assert.deepEqual(await readAll(t.store, "log", new DLSN(9n, 0n, 0n)), []);
  });
});

test("a read stops at maxRecords and the next read continues where it stopped", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append(
      "log",
      ["a", "b", "c", "d", "e"].map((p) => ({ payload: bytes(p) })),
    );
    const reader = t.store.openReader("log", DLSN.INITIAL);
    try {
      assert.deepEqual((await reader.read(2)).map(text), ["a", "b"]);
      assert.equal(reader.nextPosition.toString(), "1/0/2");
      assert.deepEqual((await reader.read(10)).map(text), ["c", "d", "e"]);
      assert.deepEqual(await reader.read(10), []);
    } finally {
      await reader.close();
    }
  });
});

test("a read stops once its payloads reach maxBytes, even inside an entry, but always returns a record", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append(
      "log",
      ["a", "b", "c", "d", "e"].map((p) => ({ payload: Buffer.alloc(10, p) })),
    );
    await t.store.append("log", [{ payload: Buffer.alloc(100, "f") }]);
    const reader = t.store.openReader("log", DLSN.INITIAL);
    try {
      const batches: string[][] = [];
      for (let records = await reader.read(100, 25); records.length > 0; records = await reader.read(100, 25)) {
        batches.push(records.map((r) => String.fromCharCode(r.payload[0]!)));
      }

      assert.deepEqual(batches, [
        ["a", "b", "c"],
        ["d", "e", "f"],
      ]);
    } finally {
      await reader.close();
    }
    const tiny = t.store.openReader("log", new DLSN(1n, 1n, 0n));
    try {
      assert.deepEqual(
        (await tiny.read(100, 1)).map((r) => r.payload.length),
        [100],
      );
    } finally {
      await tiny.close();
    }
  });
});

test("resolveStart finds the first record by DLSN, txid, time and boundary", async () => {
  let now = 1_000;
  const t = await openStore({ now: () => now });
  await using(t, async () => {
    const appended: DLSN[] = [];
    for (const [time, txid] of [
      [1_000, 10n],
      [2_000, 20n],
      [3_000, 30n],
    ] as const) {
      now = time;
      appended.push(...(await t.store.append("log", [{ payload: bytes(`t${time}`), txid }])).dlsns);
    }
    const startsAt = async (start: Parameters<LogStore["resolveStart"]>[1]) => {
      const floor = await t.store.resolveStart("log", start);
      return { first: floor.dlsn.next().toString(), sequenceId: floor.sequenceId };
    };

    assert.deepEqual(await startsAt({ kind: "time", timeMs: 1_500 }), { first: appended[1]!.toString(), sequenceId: 0n });
    assert.deepEqual(await startsAt({ kind: "time", timeMs: 2_000 }), { first: appended[1]!.toString(), sequenceId: 0n });
    assert.deepEqual(await startsAt({ kind: "txid", txid: 21n }), { first: appended[2]!.toString(), sequenceId: 1n });
    assert.deepEqual(await startsAt({ kind: "txid", txid: 0n }), { first: appended[0]!.toString(), sequenceId: -1n });
    assert.deepEqual(await startsAt({ kind: "dlsn", dlsn: appended[1]! }), { first: appended[1]!.toString(), sequenceId: 0n });
    assert.deepEqual(await startsAt({ kind: "earliest" }), { first: appended[0]!.toString(), sequenceId: -1n });
    // Past the end (latest, a later time or txid): the floor is the last record, nothing is skipped.
    for (const start of [{ kind: "latest" }, { kind: "time", timeMs: 9_000 }, { kind: "txid", txid: 31n }] as const) {
      const floor = await t.store.resolveStart("log", start);
      assert.equal(floor.dlsn.toString(), appended[2]!.toString(), start.kind);
      assert.equal(floor.sequenceId, 2n, start.kind);
    }
  });
});

test("after a reopen the data is there and the next append starts a new segment", async () => {
  const t = await openStore({ now: () => 1_000 });
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("a") }]);
    await t.store.append("log", [{ payload: bytes("b"), txid: 5_000n }]);

    const store = await t.reopen();
    const describedAfterReopen = store.describe("log");
    const next = await store.append("log", [{ payload: bytes("c") }]);

    assert.equal(describedAfterReopen.recordCount, 2n);
    assert.equal(describedAfterReopen.lastTxid, 5_000n);
    assert.equal(describedAfterReopen.lastDlsn?.toString(), "1/1/0");
    assert.ok(
      describedAfterReopen.segments.every((s) => !s.open),
      "no segment is open after a reopen",
    );
    assert.deepEqual(next.dlsns.map(String), ["2/0/0"]);
    const records = await readAll(store, "log");
    assert.deepEqual(records.map(text), ["a", "b", "c"]);
    assert.deepEqual(
      records.map((r) => r.sequenceId),
      [0n, 1n, 2n],
    );
    const segments = store.describe("log").segments;
    assert.deepEqual(
      segments.map((s) => [s.segment, s.recordCount, s.open]),
      [
        [1n, 2n, false],
        [2n, 1n, true],
      ],
    );
  });
});

test("a segment rolls once it holds segmentMaxBytes of payload", async () => {
  const t = await openStore({ segmentMaxBytes: 8 });
  await using(t, async () => {
    const positions: string[] = [];
    for (let i = 0; i < 6; i++) positions.push(...(await t.store.append("log", [{ payload: bytes(`rec${i}`) }])).dlsns.map(String));

    assert.deepEqual(positions, ["1/0/0", "1/1/0", "2/0/0", "2/1/0", "3/0/0", "3/1/0"]);
    const info = t.store.describe("log");
    assert.deepEqual(
      info.segments.map((s) => [s.segment, s.recordCount, s.byteCount, s.firstDlsn.toString(), s.lastDlsn.toString()]),
      [
        [1n, 2n, 8n, "1/0/0", "1/1/0"],
        [2n, 2n, 8n, "2/0/0", "2/1/0"],
        [3n, 2n, 8n, "3/0/0", "3/1/0"],
      ],
    );
    assert.deepEqual(dlsns(await readAll(t.store, "log")), positions);
  });
});

test("a segment rolls once it is segmentMaxAgeMs old", async () => {
  let now = 1_000;
  const t = await openStore({ now: () => now, segmentMaxAgeMs: 100 });
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("a") }]);
    now = 1_050;
    await t.store.append("log", [{ payload: bytes("b") }]);
    now = 1_100;
    const rolled = await t.store.append("log", [{ payload: bytes("c") }]);

    assert.deepEqual(rolled.dlsns.map(String), ["2/0/0"]);
    assert.equal(t.store.describe("log").segments.length, 2);
  });
});

test("truncate drops only whole segments before the DLSN and keeps counts right", async () => {
  const t = await openStore({ segmentMaxBytes: 8 });
  await using(t, async () => {
    for (let i = 0; i < 6; i++) await t.store.append("log", [{ payload: bytes(`rec${i}`) }]);

    // 3/0/0 lies inside segment 3: segments 1 and 2 go, segment 3 stays whole.
    const result = await t.store.truncate("log", new DLSN(3n, 1n, 0n));

    assert.deepEqual(result, { segmentsDeleted: 2, recordsDeleted: 4n, firstDlsn: new DLSN(3n, 0n, 0n) });
    const info = t.store.describe("log");
    assert.equal(info.recordCount, 2n);
    assert.equal(info.byteCount, 8n);
    assert.equal(info.truncatedRecordCount, 4n);
    assert.equal(info.nextSequenceId, 6n);
    assert.equal(info.firstDlsn?.toString(), "3/0/0");
    assert.deepEqual(
      info.segments.map((s) => s.segment),
      [3n],
    );
    // A read from a truncated DLSN starts at the first record that still exists.
    const fromTruncated = await readAll(t.store, "log", new DLSN(1n, 1n, 0n));
    assert.deepEqual(fromTruncated.map(text), ["rec4", "rec5"]);
    assert.deepEqual(
      fromTruncated.map((r) => r.sequenceId),
      [4n, 5n],
    );
    const earliest = await t.store.resolveStart("log", { kind: "earliest" });
    assert.equal(earliest.dlsn.next().toString(), "3/0/0");
    assert.equal(earliest.sequenceId, 3n);
  });
});

test("a truncate racing appends in flight never drops a segment they write to, and counts stay true", async () => {
  const t = await openStore({ segmentMaxBytes: 8 });
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("rec0") }]);

    // Same tick: rec1 fills segment 1, rec2 rolls to segment 2, and the truncate is queued before their batch.
    const appends = Promise.all([t.store.append("log", [{ payload: bytes("rec1") }]), t.store.append("log", [{ payload: bytes("rec2") }])]);
    const truncated = t.store.truncate("log", new DLSN(5n, 0n, 0n), { force: true });
    const [[rec1, rec2], result] = await Promise.all([appends, truncated]);

    assert.deepEqual([rec1.dlsns.map(String), rec2.dlsns.map(String)], [["1/1/0"], ["2/0/0"]]);
    assert.equal(result.segmentsDeleted, 0);
    const readable = await readAll(t.store, "log");
    assert.deepEqual(readable.map(text), ["rec0", "rec1", "rec2"]);
    const info = t.store.describe("log");
    assert.equal(info.recordCount, BigInt(readable.length));
    assert.equal(info.truncatedRecordCount, 0n);
  });
});

test("truncate before the first segment's end drops nothing", async () => {
  const t = await openStore({ segmentMaxBytes: 8 });
  await using(t, async () => {
    for (let i = 0; i < 4; i++) await t.store.append("log", [{ payload: bytes(`rec${i}`) }]);

    const result = await t.store.truncate("log", new DLSN(1n, 1n, 0n));

    assert.deepEqual(result, { segmentsDeleted: 0, recordsDeleted: 0n, firstDlsn: new DLSN(1n, 0n, 0n) });
    assert.equal(t.store.describe("log").recordCount, 4n);
    assert.equal(t.store.describe("log").truncatedRecordCount, 0n);
  });
});

test("a truncation survives a reopen and truncating everything leaves an empty log that accepts appends", async () => {
  const t = await openStore({ segmentMaxBytes: 8 });
  await using(t, async () => {
    for (let i = 0; i < 6; i++) await t.store.append("log", [{ payload: bytes(`rec${i}`) }]);
    await t.store.truncate("log", new DLSN(3n, 0n, 0n));

    let store = await t.reopen();
    assert.deepEqual((await readAll(store, "log")).map(text), ["rec4", "rec5"]);
    assert.equal(store.describe("log").truncatedRecordCount, 4n);

    const all = await store.truncate("log", new DLSN(100n, 0n, 0n), { force: true });
    assert.deepEqual(all, { segmentsDeleted: 1, recordsDeleted: 2n, firstDlsn: undefined });
    const empty = store.describe("log");
    assert.deepEqual([empty.recordCount, empty.byteCount, empty.truncatedRecordCount, empty.firstDlsn], [0n, 0n, 6n, undefined]);
    assert.deepEqual(await readAll(store, "log", DLSN.INVALID), []);

    const next = await store.append("log", [{ payload: bytes("after") }]);
    assert.deepEqual(next.dlsns.map(String), ["4/0/0"]);
    store = await t.reopen();
    assert.deepEqual(
      (await readAll(store, "log", DLSN.INVALID)).map((r) => [text(r), r.sequenceId]),
      [["after", 6n]],
    );
  });
});

test("truncate past the head is refused with OUT_OF_RANGE saying what would go, and changes nothing; force empties the log", async () => {
  const t = await openStore({ segmentMaxBytes: 8 });
  await using(t, async () => {
    for (let i = 0; i < 3; i++) await t.store.append("log", [{ payload: bytes(`rec${i}`) }]);
    const head = t.store.describe("log").lastDlsn!;
    assert.equal(head.toString(), "2/0/0");

    const justPast = new DLSN(2n, 0n, 1n);
    await assert.rejects(t.store.truncate("log", justPast), (error: unknown) => {
      assert.ok(isDlogError(error, "OUT_OF_RANGE"), String(error));
      assert.equal(error.reason, "POSITION_OUT_OF_RANGE");
      assert.deepEqual(error.metadata, { log: "log", before: "2/0/1", head: "2/0/0" });
      assert.match(
        error.message,
        /truncating log "log" before 2\/0\/1 would drop every record: all 3 in 2 segments, up to the head 2\/0\/0, the open segment included/,
      );
      return true;
    });
    await assert.rejects(t.store.truncate("log", new DLSN((1n << 63n) - 1n, 0n, 0n)), /would drop every record/);
    assert.equal(t.store.describe("log").recordCount, 3n);
    assert.deepEqual((await readAll(t.store, "log")).map(text), ["rec0", "rec1", "rec2"]);

    // At the head itself nothing past it is named: the head's segment stays.
    assert.equal((await t.store.truncate("log", head)).recordsDeleted, 2n);
    const forced = await t.store.truncate("log", justPast, { force: true });
    assert.deepEqual(forced, { segmentsDeleted: 1, recordsDeleted: 1n, firstDlsn: undefined });
    // An empty log has nothing to lose: any DLSN is accepted.
    assert.equal((await t.store.truncate("log", new DLSN(100n, 0n, 0n))).recordsDeleted, 0n);
  });
});

test("a deleted log is gone, and recreating the name starts an empty log", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append(
      "log",
      ["a", "b"].map((p) => ({ payload: bytes(p), txid: 500n })),
    );

    const deleted = await t.store.deleteLog("log");

    assert.equal(deleted, 2n);
    assert.throws(() => t.store.describe("log"), { code: "NOT_FOUND" });
    assert.deepEqual(
      t.store.listLogs().map((l) => l.name),
      [],
    );
    const created = await t.store.createLog("log");
    assert.deepEqual([created.recordCount, created.lastTxid, created.nextSequenceId, created.lastDlsn], [0n, 0n, 0n, undefined]);
    assert.deepEqual(await readAll(t.store, "log"), []);
    const appended = await t.store.append("log", [{ payload: bytes("new"), txid: 1n }]);
    assert.deepEqual(appended.dlsns.map(String), ["1/0/0"]);
    const store = await t.reopen();
    assert.deepEqual((await readAll(store, "log")).map(text), ["new"]);
  });
});

test("createLog of an existing log is ALREADY_EXISTS; listLogs filters by prefix in name order", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.createLog("b.two");
    await t.store.createLog("a.one");
    await t.store.createLog("b.one");

    await assert.rejects(t.store.createLog("a.one"), { code: "ALREADY_EXISTS", message: /"a\.one" already exists/ });
    assert.deepEqual(
      t.store.listLogs().map((l) => l.name),
      ["a.one", "b.one", "b.two"],
    );
    assert.deepEqual(
      t.store.listLogs("b.").map((l) => l.name),
      ["b.one", "b.two"],
    );
  });
});

test("bad appends are INVALID_ARGUMENT with a message naming the limit", async () => {
  const t = await openStore({ maxRecordBytes: 16, maxRecordsPerAppend: 3 });
  await using(t, async () => {
    await assert.rejects(t.store.append("log", []), { code: "INVALID_ARGUMENT", message: /at least one record/ });
    await assert.rejects(t.store.append("log", [{ payload: Buffer.alloc(17) }]), {
      code: "INVALID_ARGUMENT",
      message: /17 bytes; the limit is 16 bytes \(--max-record-bytes\)/,
    });
    await assert.rejects(
      t.store.append(
        "log",
        Array.from({ length: 4 }, () => ({ payload: bytes("x") })),
      ),
      {
        code: "INVALID_ARGUMENT",
        message: /at most 3 records \(--max-records-per-append\), got 4/,
      },
    );
    // Exactly at the limits is fine.
    await t.store.append(
      "log",
      Array.from({ length: 3 }, () => ({ payload: Buffer.alloc(16) })),
    );
    assert.equal(t.store.describe("log").recordCount, 3n);
  });
});

test("bad log names are INVALID_ARGUMENT naming the rule", async () => {
  const t = await openStore();
  await using(t, async () => {
    for (const name of ["", "has space", "slash/name", "ü", "x".repeat(201)]) {
      await assert.rejects(t.store.append(name, [{ payload: bytes("a") }]), { code: "INVALID_ARGUMENT", message: /log/ }, name);
      await assert.rejects(t.store.createLog(name), { code: "INVALID_ARGUMENT", message: /A-Z a-z 0-9 \. _ -/ }, name);
    }
    await t.store.createLog("x".repeat(200));
    await t.store.createLog("Ok.name_-9");
  });
});

test("with autoCreate off, an unknown log is NOT_FOUND everywhere", async () => {
  const t = await openStore({ autoCreate: false });
  await using(t, async () => {
    await assert.rejects(t.store.append("nope", [{ payload: bytes("a") }]), {
      code: "NOT_FOUND",
      message: /log "nope" does not exist.*--no-auto-create/,
    });
    assert.throws(() => t.store.describe("nope"), { code: "NOT_FOUND" });
    assert.throws(() => t.store.openReader("nope", DLSN.INITIAL), { code: "NOT_FOUND" });
    await assert.rejects(t.store.truncate("nope", DLSN.INITIAL), { code: "NOT_FOUND" });
    await assert.rejects(t.store.deleteLog("nope"), { code: "NOT_FOUND" });
    await assert.rejects(t.store.resolveStart("nope", { kind: "earliest" }), { code: "NOT_FOUND" });
    assert.deepEqual(t.store.listLogs(), []);
  });
});

test("waitForRecord and LogReader.waitForMore wake on append, with timers frozen", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("a") }]);
    const reader = t.store.openReader("log", DLSN.INITIAL);
    try {
      assert.deepEqual((await reader.read(10)).map(text), ["a"]);
      assert.deepEqual(await reader.read(10), []);
      // setTimeout/setInterval frozen: a poll loop could never see the append.
      mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
      let woke = false;
      const more = reader.waitForMore().then(() => (woke = true));
      const record1 = t.store.waitForRecord("log", 1n);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(woke, false, "nothing to wake for yet");

      await t.store.append("log", [{ payload: bytes("b") }]);
      await Promise.all([more, record1]);

      assert.equal(woke, true);
      assert.deepEqual((await reader.read(10)).map(text), ["b"]);
    } finally {
      mock.timers.reset();
      await reader.close();
    }
  });
});

test("waitForRecord resolves at once for a committed record and rejects on abort and delete", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.append("log", [{ payload: bytes("a") }]);
    await t.store.waitForRecord("log", 0n);

    const controller = new AbortController();
    const aborted = t.store.waitForRecord("log", 1n, controller.signal);
    controller.abort(new Error("client went away"));
    await assert.rejects(aborted, /client went away/);

    const deleted = assert.rejects(t.store.waitForRecord("log", 1n), { code: "NOT_FOUND", message: /was deleted/ });
    await t.store.deleteLog("log");
    await deleted;
  });
});

test("close rejects waiters with UNAVAILABLE and later appends are refused", async () => {
  const t = await openStore();
  await using(t, async () => {
    await t.store.createLog("log");
    const waiting = t.store.waitForRecord("log", 5n);
    const inFlight = t.store.append("log", [{ payload: bytes("last") }]);

    await t.store.close();

    assert.deepEqual((await inFlight).dlsns.map(String), ["1/0/0"], "an append in flight is written before close returns");
    await assert.rejects(waiting, { code: "UNAVAILABLE", message: /shutting down/ });
    await assert.rejects(t.store.append("log", [{ payload: bytes("late") }]), { code: "UNAVAILABLE", message: /shutting down/ });
  });
});

test("a read of 100 records from a log of 1000-record entries takes one entry from storage, not 100 (memory-level: no byte bound of its own)", async () => {
  const storage = countingCommits(await LevelStorage.inMemory());
  const store = await LogStore.open(storage, { ...DEFAULTS, entryCacheBytes: 0 });
  try {
    for (let e = 0; e < 20; e++)
      await store.append(
        "big",
        Array.from({ length: 1000 }, (_, i) => ({ payload: bytes(`${e}-${i}`) })),
      );
    // Entries asked of storage, as each call is made.
    const asked: number[] = [];
    const openCursor = storage.openCursor;
    storage.openCursor = (logId, segment, entry) => {
      const cursor = openCursor(logId, segment, entry);
      return {
        next: (max) => {
          asked.push(max);
          return cursor.next(max);
        },
        close: () => cursor.close(),
      };
    };
    const reader = store.openReader("big", DLSN.INITIAL);
    try {
      const first = await reader.read(100);
      assert.deepEqual([first.length, text(first[0]!), text(first[99]!)], [100, "0-0", "0-99"]);
      assert.deepEqual(asked, [1]);
      // Later chunks are sized by what the entries held: 2500 more records are 2 more entries
      // (then 3 read ahead for the next read of 2500, see log-reader.test.ts).
      const next = await reader.read(2500);
      assert.deepEqual([next.length, text(next[0]!), text(next.at(-1)!)], [2500, "0-100", "2-599"]);
      assert.deepEqual(asked, [1, 2, 3]);
    } finally {
      await reader.close();
    }
  } finally {
    await store.close();
    await storage.close();
  }
});
