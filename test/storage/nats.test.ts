/**
 * The compliance suite on NATS JetStream (`--storage nats://`): a single nats-server started for
 * this file, each store on a fresh prefix (its own stream and buckets); reopen connects again.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DlogError } from "../../src/errors.js";
import { NatsStorage } from "../../src/storage/nats-storage.js";
import { type EntryWrite, type LogChange, type LogMeta, PositionsFencedError } from "../../src/storage/storage.js";
import { tempDir } from "../helpers/dlogd.js";
import { type NatsServer, startNatsServer } from "../helpers/nats-server.js";
import { logMeta, reopenable, segmentMeta, storageSuite } from "./suite.js";

let server: NatsServer;
before(async () => {
  server = await startNatsServer();
});
after(() => server?.stop());

let stores = 0;
storageSuite("NATS JetStream (R1)", {
  create() {
    const prefix = `suite${++stores}`;
    return reopenable(() => NatsStorage.open({ servers: [server.hostPort], prefix, replicas: 1 }));
  },
});

describe("NATS JetStream: two gateways on one log", () => {
  const meta = (id: number, over: Partial<LogMeta> = {}): LogMeta => logMeta(id, "shared", over);
  const entry = (logId: number, segment: bigint, e: bigint): EntryWrite => ({ logId, segment, entry: e, value: Buffer.from(`${segment}/${e}`) });
  const read = async (storage: NatsStorage, logId: number): Promise<string[]> => {
    const cursor = storage.openCursor(logId, 0n, 0n);
    const got = await cursor.next(100);
    await cursor.close();
    return got.map((e) => `${e.segment}/${e.entry}`);
  };

  /** Stores on one fresh prefix, as gateways sharing it: `open()` makes one more. */
  const gatewaysOn = async (name: string): Promise<{ open: () => Promise<NatsStorage>; a: NatsStorage; b: NatsStorage }> => {
    const prefix = `${name}${++stores}`;
    const open = (): Promise<NatsStorage> => NatsStorage.open({ servers: [server.hostPort], prefix, replicas: 1 });
    return { open, a: await open(), b: await open() };
  };
  /** Polls (bounded) until a watch has told what `check` looks for. */
  const until = async (check: () => boolean, what: string): Promise<void> => {
    for (const deadline = Date.now() + 5_000; !check(); await new Promise((resolve) => setTimeout(resolve, 10))) assert.ok(Date.now() < deadline, what);
  };

  test("a commit over a log another gateway changed is refused; its entries are never read and the next load removes them", async () => {
    const { open, a, b } = await gatewaysOn("gateways");
    let c: NatsStorage | undefined;
    try {
      const id = await a.nextLogId();
      await a.commit(
        { logs: [meta(id, { lastSegment: 1n })], segments: [segmentMeta(id, 1n, { lastEntry: 1n })], entries: [entry(id, 1n, 0n), entry(id, 1n, 1n)] },
        true,
      );
      await b.loadLogs();
      await b.commit({ entries: [], logs: [meta(id, { lastSegment: 1n, recordCount: 9n })], segments: [] }, true);

      // a's view is stale: its entries reach the stream (b wrote none), its commit point does not.
      await assert.rejects(
        a.commit({ logs: [meta(id, { lastSegment: 2n })], segments: [segmentMeta(id, 2n)], entries: [entry(id, 1n, 2n), entry(id, 2n, 0n)] }, true),
        (error: DlogError) => error.code === "UNAVAILABLE" && /another dlogd gateway/.test(error.message),
      );
      assert.deepEqual(await read(a, id), ["1/0", "1/1"], "the refused commit's entries are not read on the gateway that wrote them");
      assert.deepEqual(await read(b, id), ["1/0", "1/1"], "nor on the other");

      c = await open();
      const [log] = await c.loadLogs();
      assert.equal(log!.meta.recordCount, 9n, "b's commit stands");
      assert.equal(log!.meta.lastSegment, 2n, "the orphans' segment counts as used: no later append reuses their DLSNs");
      assert.deepEqual(await read(c, id), ["1/0", "1/1"]);
      // The next segment's first entry is stored, not taken for a duplicate of an orphan.
      await c.commit({ logs: [meta(id, { lastSegment: 3n })], segments: [segmentMeta(id, 3n)], entries: [entry(id, 3n, 0n)] }, true);
      assert.deepEqual(await read(c, id), ["1/0", "1/1", "3/0"]);
      // a, still stale, is refused again rather than writing over c.
      await assert.rejects(a.commit({ logs: [meta(id, { lastSegment: 4n })], segments: [], entries: [entry(id, 4n, 0n)] }, true), { code: "UNAVAILABLE" });
      await a.loadLogs();
      assert.deepEqual(await read(a, id), ["1/0", "1/1", "3/0"]);
    } finally {
      for (const s of [a, b, c]) await s?.close();
    }
  });

  test("entries a gateway published but never committed are not taken into the next commit of another", async () => {
    const { open, a, b } = await gatewaysOn("unfinished");
    try {
      const id = await a.nextLogId();
      await a.commit({ logs: [meta(id, { nextSequenceId: 1n })], segments: [segmentMeta(id, 1n)], entries: [entry(id, 1n, 0n)] }, true);
      await b.loadLogs();
      const adopted: string[] = [];
      b.watchLogs((change) => {
        change.adopt();
        if (change.kind === "changed") adopted.push(`${change.log.meta.nextSequenceId}/${change.log.meta.recordCount}`);
      });
      await a.commit({ logs: [meta(id, { nextSequenceId: 2n })], segments: [segmentMeta(id, 1n, { lastEntry: 1n })], entries: [entry(id, 1n, 1n)] }, true);
      await until(() => adopted.some((a) => a.startsWith("2/")), "b adopted a's commit");
      // a publishes 1/2 and never commits it (its CAS base is stale: as good as dying before the commit point).
      const c = await open();
      await c.loadLogs();
      await c.commit({ entries: [], logs: [meta(id, { nextSequenceId: 2n, recordCount: 2n })], segments: [] }, true);
      await c.close();
      await assert.rejects(
        a.commit({ logs: [meta(id, { nextSequenceId: 3n })], segments: [segmentMeta(id, 1n, { lastEntry: 2n })], entries: [entry(id, 1n, 2n)] }, true),
      );
      await until(() => adopted.includes("2/2"), "b adopted c's commit");
      const next = { logs: [meta(id, { nextSequenceId: 3n, lastSegment: 2n })], segments: [segmentMeta(id, 2n)], entries: [entry(id, 2n, 0n)] };
      // Published after a's 1/2, b's entry would put it inside b's committed range: refused instead.
      await assert.rejects(b.commit(next, true), /unfinished append/);
      await b.loadLogs();
      await b.commit(next, true);
      assert.deepEqual(await read(b, id), ["1/0", "1/1", "2/0"], "the unfinished 1/2 is not inside b's commit");
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("another gateway's commit seen by the watch is not a base for this one's writes until adopted", async () => {
    const { open, a, b } = await gatewaysOn("adopt");
    try {
      const id = await a.nextLogId();
      await a.commit({ logs: [meta(id, { nextSequenceId: 1n })], segments: [segmentMeta(id, 1n)], entries: [entry(id, 1n, 0n)] }, true);
      await b.loadLogs();
      const seen: LogChange[] = [];
      b.watchLogs((change) => seen.push(change));
      await a.commit({ logs: [meta(id, { nextSequenceId: 2n })], segments: [segmentMeta(id, 1n, { lastEntry: 1n })], entries: [entry(id, 1n, 1n)] }, true);
      await until(() => seen.some((c) => c.kind === "changed" && c.log.meta.nextSequenceId === 2n), "b's watch saw a's commit");
      // b's log store has not taken a's state in yet: a batch it derived from the old one is refused.
      await assert.rejects(
        b.commit({ logs: [meta(id, { nextSequenceId: 2n, lastSegment: 2n })], segments: [segmentMeta(id, 2n)], entries: [entry(id, 2n, 0n)] }, true),
        {
          code: "UNAVAILABLE",
        },
      );
      // Adopted, b's next commit goes on from a's.
      await b.loadLogs();
      await b.commit({ logs: [meta(id, { nextSequenceId: 3n, lastSegment: 3n })], segments: [segmentMeta(id, 3n)], entries: [entry(id, 3n, 0n)] }, true);
      const c = await open();
      const [log] = await c.loadLogs();
      await c.close();
      assert.equal(log!.meta.nextSequenceId, 3n);
      assert.deepEqual(await read(b, id), ["1/0", "1/1", "3/0"]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("a reader position written by another gateway fences this one's writes of it (ABORTED, READER_FENCED) until it reads it again; the batch's other writes land", async () => {
    const { a, b } = await gatewaysOn("fence");
    try {
      const position = (n: number) => ({ floor: Buffer.alloc(25, n), extra: Buffer.from([n]) });
      await a.writePositions([{ logId: 1, readerId: "r", position: position(1) }], true);
      await a.writePositions([{ logId: 1, readerId: "r", position: position(2) }], true);
      assert.deepEqual(await b.getPosition(1, "r"), position(2));
      await b.writePositions([{ logId: 1, readerId: "r", position: position(3) }], true);
      // One batch: the fenced reader is refused, the other lands.
      const batch = [
        { logId: 1, readerId: "r", position: position(4) },
        { logId: 1, readerId: "other", position: position(5) },
      ];
      await assert.rejects(a.writePositions(batch, true), (error: unknown) => {
        assert.ok(error instanceof PositionsFencedError);
        assert.equal(error.code, "ABORTED");
        assert.equal(error.reason, "READER_FENCED");
        assert.deepEqual(error.fenced, [{ logId: 1, readerId: "r" }]);
        return true;
      });
      assert.deepEqual(await b.getPosition(1, "r"), position(3), "the fenced write changed nothing");
      assert.deepEqual(await b.getPosition(1, "other"), position(5), "the rest of the batch landed");
      // The refusal sticks: a fenced session's later write (its final state) never lands either.
      await assert.rejects(a.writePositions([batch[0]!], true), PositionsFencedError);
      assert.deepEqual(await b.getPosition(1, "r"), position(3));
      // Read again (a new session opens here), the reader can be written again.
      assert.deepEqual(await a.getPosition(1, "r"), position(3));
      await a.writePositions([{ logId: 1, readerId: "r", position: position(6) }], true);
      assert.deepEqual(await b.getPosition(1, "r"), position(6));
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("another gateway's DeleteReader reaches the reader watch (null); its DeleteLog's purge of the log's readers does not (the log watch tells that)", async () => {
    const { a, b } = await gatewaysOn("deletes");
    try {
      const told: string[] = [];
      a.watchReaders((logId, readerId, position) => told.push(`${logId}/${readerId}:${position === null ? "deleted" : position.extra.toString()}`));
      const position = (text: string) => ({ floor: Buffer.alloc(25, 1), extra: Buffer.from(text) });
      await a.writePositions(
        [
          { logId: 1, readerId: "r", position: position("a") },
          { logId: 2, readerId: "s", position: position("a") },
          { logId: 1, readerId: "after", position: position("a") },
        ],
        true,
      );
      await b.writePositions([{ logId: 1, readerId: "r", position: null }], true);
      await b.deleteLog(2, "two");
      // A gateway writes a reader it has read (one it never read is written only if still absent).
      await b.getPosition(1, "after");
      await b.writePositions([{ logId: 1, readerId: "after", position: position("b") }], true);
      await until(() => told.includes("1/after:b"), "a's watch to tell b's last write");
      assert.deepEqual(told, ["1/r:deleted", "1/after:b"]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("NATS JetStream: a server restart in the middle of a commit", () => {
  test("the commit goes on from what the stream holds: every entry stored once, in order", { timeout: 60_000 }, async () => {
    const dir = tempDir("dlog-nats-restart-");
    let restarted: NatsServer | undefined;
    let first: NatsServer | undefined = await startNatsServer({ dir: dir.path });
    const port = Number(first.hostPort.split(":")[1]);
    const storage = await NatsStorage.open({ servers: [first.hostPort], prefix: "restart", replicas: 1 });
    try {
      const id = await storage.nextLogId();
      const value = Buffer.alloc(64 * 1024, 7);
      const batch = Array.from({ length: 200 }, (_, i): EntryWrite => ({ logId: id, segment: 1n, entry: BigInt(i), value }));
      const committing = storage.commit({ logs: [logMeta(id, "restart")], segments: [segmentMeta(id, 1n, { lastEntry: 199n })], entries: batch }, true);
      // Killed while the publishes are on their way, back on the same port and store after a pause.
      await new Promise((resolve) => setTimeout(resolve, 15));
      await first.kill9();
      first = undefined;
      await new Promise((resolve) => setTimeout(resolve, 500));
      restarted = await startNatsServer({ dir: dir.path, port });
      await committing;
      const cursor = storage.openCursor(id, 0n, 0n);
      const got: string[] = [];
      for (let chunk = await cursor.next(100); chunk.length > 0; chunk = await cursor.next(100)) got.push(...chunk.map((e) => `${e.segment}/${e.entry}`));
      assert.deepEqual(
        got,
        batch.map((e) => `1/${e.entry}`),
      );
    } finally {
      await storage.close().catch(() => undefined);
      await first?.kill9();
      await restarted?.kill9();
      dir.cleanup();
    }
  });
});
