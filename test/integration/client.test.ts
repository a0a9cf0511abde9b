/** The TypeScript client against a real dlogd: appends, admin, reads and the at-least-once reader. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DlogError, DLSN, Reader, type ReaderRecord, type ReaderStatus, Status } from "../../clients/typescript/src/index.js";
import type { ReaderServiceClient, SessionRequest } from "../../src/gen/dlog/v1/reader.js";
import { fixtureForFile } from "../helpers/fixture.js";

const fixture = fixtureForFile({ client: { callTimeoutMs: 10_000 } });

async function appendNumbered(log: string, count: number, first = 1): Promise<DLSN[]> {
  const appender = fixture.client.appender(log);
  const answers = Array.from({ length: count }, (_, i) => appender.append(String(first + i)));
  const dlsns = (await Promise.all(answers)).flat();
  await appender.close();
  return dlsns;
}

/** Reads `count` records and acks them; then closes the reader. */
async function consume(reader: Reader, count: number, onRecord?: (record: ReaderRecord) => void): Promise<string[]> {
  const seen: string[] = [];
  for await (const record of reader) {
    seen.push(record.text());
    onRecord?.(record);
    record.ack();
    if (seen.length === count) break;
  }
  return seen;
}

/** A ReaderServiceClient that counts what the reader sends on its session streams. */
function countingSessions(counts: { ackMessages: number; requests: SessionRequest[] }): ReaderServiceClient {
  const real = fixture.client.readers;
  return {
    ...real,
    session(requests, options) {
      async function* tap() {
        for await (const request of requests) {
          if (request.kind?.$case === "ack") counts.ackMessages++;
          counts.requests.push(request as SessionRequest);
          yield request;
        }
      }
      return real.session(tap(), options);
    },
  };
}

const numbers = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

describe("appends", () => {
  test("append returns one DLSN per record, record i of an entry in slot i", { timeout: 10_000 }, async () => {
    const dlsns = await fixture.client.append("append-basic", ["a", new Uint8Array([0x62]), { payload: "c" }]);
    assert.equal(dlsns.length, 3);
    assert.deepEqual(
      dlsns.map((dlsn) => dlsn.slot),
      [0n, 1n, 2n],
    );
    assert.ok(dlsns.every((dlsn) => dlsn.entry === dlsns[0]!.entry));
    const texts: string[] = [];
    for await (const record of fixture.client.read("append-basic")) texts.push(record.text());
    assert.deepEqual(texts, ["a", "b", "c"]);
  });

  test("the pipelined appender answers 10 000 appends in order", { timeout: 60_000 }, async () => {
    const appender = fixture.client.appender("append-pipelined", { maxInFlightBytes: 64 * 1024 });
    let peakBytes = 0;
    const answers: Array<Promise<DLSN[]>> = [];
    for (let i = 0; i < 10_000; i++) {
      answers.push(appender.append(`record ${i}`));
      peakBytes = Math.max(peakBytes, appender.inFlightBytes);
    }
    const dlsns = (await Promise.all(answers)).map((answer) => answer[0]!);
    await appender.close();
    for (let i = 1; i < dlsns.length; i++) assert.ok(dlsns[i]!.isAfter(dlsns[i - 1]!), `append ${i} out of order`);
    assert.ok(peakBytes <= 64 * 1024, `in-flight bytes bounded (peak ${peakBytes})`);
    let index = 0;
    for await (const record of fixture.client.read("append-pipelined")) {
      assert.equal(record.text(), `record ${index}`);
      assert.ok(record.dlsn.equals(dlsns[index]!));
      index++;
    }
    assert.equal(index, 10_000);
  });

  test("a failed append rejects only its own promise; the stream goes on", { timeout: 10_000 }, async () => {
    const appender = fixture.client.appender("append-errors", { lingerMs: 0 }); // batched appends share a refusal
    const first = appender.append("first");
    const stale = appender.append({ payload: "stale", txid: 1 }); // below the server-assigned txid
    const third = appender.append("third");
    await first;
    await assert.rejects(stale, (error: unknown) => error instanceof DlogError && error.code === Status.FAILED_PRECONDITION);
    await third;
    await appender.close();
  });
});

describe("admin", () => {
  test("create, describe, list, truncate and delete logs", { timeout: 10_000 }, async () => {
    const created = await fixture.client.createLog("admin-log");
    assert.equal(created.recordCount, 0n);
    assert.equal(created.lastDlsn, undefined);
    await assert.rejects(fixture.client.createLog("admin-log"), (error: unknown) => error instanceof DlogError && error.code === Status.ALREADY_EXISTS);
    const [dlsn] = await fixture.client.append("admin-log", "x");
    const info = await fixture.client.getLog("admin-log");
    assert.equal(info.recordCount, 1n);
    assert.ok(info.lastDlsn?.equals(dlsn!));
    assert.ok((await fixture.client.listLogs("admin-")).some((log) => log.log === "admin-log"));
    const truncated = await fixture.client.truncate("admin-log", DLSN.INITIAL);
    assert.equal(truncated.recordsDeleted, 0n);
    assert.equal(await fixture.client.deleteLog("admin-log"), 1n);
    await assert.rejects(fixture.client.getLog("admin-log"), (error: unknown) => error instanceof DlogError && error.code === Status.NOT_FOUND);
  });

  test("reader admin: position, seek, list, delete", { timeout: 10_000 }, async () => {
    const dlsns = await appendNumbered("admin-readers", 10);
    const reader = fixture.client.reader({ log: "admin-readers", readerId: "r" });
    await consume(reader, 4);
    const position = await fixture.client.getPosition("admin-readers", "r");
    assert.ok(position.floor?.equals(dlsns[3]!), `floor ${position.floor}`);
    assert.equal(position.lag, 6n);
    assert.equal(position.live, false);
    const sought = await fixture.client.setPosition("admin-readers", "r", dlsns[7]!);
    assert.ok(sought.floor && sought.floor.isBefore(dlsns[7]!) && !sought.floor.isBefore(dlsns[6]!), `seek is inclusive: floor ${sought.floor}`);
    assert.deepEqual(await consume(fixture.client.reader({ log: "admin-readers", readerId: "r" }), 1), ["8"]);
    assert.deepEqual(
      (await fixture.client.listReaders("admin-readers")).map((info) => info.readerId),
      ["r"],
    );
    await fixture.client.deleteReader("admin-readers", "r");
    assert.deepEqual(await fixture.client.listReaders("admin-readers"), []);
  });
});

describe("stateless read", () => {
  test("reads from a position, up to a maximum", { timeout: 10_000 }, async () => {
    const dlsns = await appendNumbered("read-log", 20);
    const texts: string[] = [];
    for await (const record of fixture.client.read("read-log", { from: dlsns[5]!, max: 3 })) texts.push(record.text());
    assert.deepEqual(texts, ["6", "7", "8"]);
  });

  test("follow waits for new records, and the signal ends it", { timeout: 10_000 }, async () => {
    await appendNumbered("read-follow", 2);
    const abort = new AbortController();
    const texts: string[] = [];
    const reading = (async () => {
      for await (const record of fixture.client.read("read-follow", { follow: true, signal: abort.signal })) {
        texts.push(record.text());
        if (texts.length === 2) void fixture.client.append("read-follow", "3");
        if (texts.length === 3) abort.abort();
      }
    })();
    await assert.rejects(reading, (error: unknown) => (error as Error).name === "AbortError");
    assert.deepEqual(texts, ["1", "2", "3"]);
  });
});

describe("reader", () => {
  test("iterate + ack + close: the next reader starts right after the last ack", { timeout: 20_000 }, async () => {
    const dlsns = await appendNumbered("reader-resume", 1000);
    const first = fixture.client.reader({ log: "reader-resume", readerId: "r" });
    const seen: string[] = [];
    for await (const record of first) {
      seen.push(record.text());
      record.ack();
      if (seen.length === 300) break; // leaving the loop closes (drains) the reader
    }
    assert.deepEqual(seen, numbers(1, 300));
    assert.ok((await first.close())?.equals(dlsns[299]!), "close() returns the durable position: the last ack");

    const second = fixture.client.reader({ log: "reader-resume", readerId: "r" });
    const opened = await second.ready();
    assert.equal(opened.source, "stored");
    assert.ok(opened.resumeAfter?.equals(dlsns[299]!));
    assert.deepEqual(await consume(second, 300), numbers(301, 600));
    const final = await second.close();
    assert.ok(final?.equals(dlsns[599]!));
  });

  test("acks are coalesced: far fewer ack messages than records", { timeout: 20_000 }, async () => {
    await appendNumbered("reader-coalesce", 5000);
    const counts = { ackMessages: 0, requests: [] as SessionRequest[] };
    const reader = new Reader(countingSessions(counts), { log: "reader-coalesce", readerId: "r" });
    await consume(reader, 5000);
    assert.ok(counts.ackMessages > 0 && counts.ackMessages <= 100, `${counts.ackMessages} ack messages for 5000 records`);
    const acks = counts.requests.filter((request) => request.kind?.$case === "ack");
    assert.ok(
      acks.every((request) => request.kind?.$case === "ack" && request.kind.value.dlsns.length === 0 && request.kind.value.upTo),
      "in-order acks are cumulative only",
    );
    assert.equal(counts.requests.at(-1)?.kind?.$case, "drain");
  });

  test("a loop that awaits per record still sends few ack messages", { timeout: 20_000 }, async () => {
    // More records than the default flow limit (1000): the loop only finishes if acks go out as it runs.
    await appendNumbered("reader-coalesce-async", 2500);
    const counts = { ackMessages: 0, requests: [] as SessionRequest[] };
    const reader = new Reader(countingSessions(counts), { log: "reader-coalesce-async", readerId: "r" });
    let count = 0;
    for await (const record of reader) {
      await new Promise((resolve) => setImmediate(resolve)); // "work" that yields to the event loop
      record.ack();
      if (++count === 2500) break;
    }
    assert.ok(counts.ackMessages <= 625, `${counts.ackMessages} ack messages for 2500 records`);
    assert.equal((await fixture.client.getPosition("reader-coalesce-async", "r")).lag, 0n);
  });

  test("out-of-order acks: individual DLSNs, and the position covers exactly what was acked", { timeout: 20_000 }, async () => {
    const dlsns = await appendNumbered("reader-holes", 10);
    const reader = fixture.client.reader({ log: "reader-holes", readerId: "r" });
    const held: ReaderRecord[] = [];
    for await (const record of reader) {
      held.push(record);
      if (held.length === 10) break;
    }
    // break closed the reader: nothing acked, nothing moved
    assert.equal((await fixture.client.getPosition("reader-holes", "r")).floor?.isBefore(dlsns[0]!), true);

    const again = fixture.client.reader({ log: "reader-holes", readerId: "r" });
    const records: ReaderRecord[] = [];
    for await (const record of again) {
      records.push(record);
      if (records.length === 10) {
        for (const index of [0, 1, 2, 5, 7]) records[index]!.ack();
        break;
      }
    }
    const position = await fixture.client.getPosition("reader-holes", "r");
    assert.ok(position.floor?.equals(dlsns[2]!), `floor ${position.floor}`);
    assert.deepEqual(position.holes.map(String), [dlsns[5]!, dlsns[7]!].map(String));
    const rest = await consume(fixture.client.reader({ log: "reader-holes", readerId: "r" }), 5);
    assert.deepEqual(rest, ["4", "5", "7", "9", "10"]);
  });

  test("auto-ack acks each record when the loop moves on", { timeout: 20_000 }, async () => {
    const dlsns = await appendNumbered("reader-autoack", 50);
    const reader = fixture.client.reader({ log: "reader-autoack", readerId: "r", autoAck: true });
    let count = 0;
    for await (const record of reader) {
      if (++count === 20) {
        record.ack(); // the record being processed at `break` is not auto-acked
        break;
      }
    }
    assert.ok((await reader.close())?.equals(dlsns[19]!));
  });

  test("nack delivers the record again with attempt 2, flagged redelivered", { timeout: 20_000 }, async () => {
    await appendNumbered("reader-nack", 3);
    const reader = fixture.client.reader({ log: "reader-nack", readerId: "r" });
    const deliveries: Array<[string, number, boolean]> = [];
    for await (const record of reader) {
      deliveries.push([record.text(), record.attempt, record.redelivered]);
      if (record.text() === "2" && record.attempt === 1) record.nack();
      else record.ack();
      if (deliveries.length === 4) break;
    }
    assert.deepEqual(deliveries, [
      ["1", 1, false],
      ["2", 1, false],
      ["3", 1, false],
      ["2", 2, true],
    ]);
    const position = await fixture.client.getPosition("reader-nack", "r");
    assert.equal(position.lag, 0n);
    assert.deepEqual(position.holes, []);
  });

  test("status frames report the durable position, which close() returns", { timeout: 20_000 }, async () => {
    const dlsns = await appendNumbered("reader-status", 500);
    const reader = fixture.client.reader({ log: "reader-status", readerId: "r" });
    const statuses: ReaderStatus[] = [];
    reader.on("status", (status) => statuses.push(status));
    const flushed = new Promise<ReaderStatus>((resolve) => {
      reader.on("status", (status) => {
        if (status.durableFloor?.equals(dlsns[499]!)) resolve(status);
      });
    });
    const iterator = reader[Symbol.asyncIterator]();
    for (let i = 0; i < 500; i++) ((await iterator.next()).value as ReaderRecord).ack();
    // The flush after the last ack is announced by a status frame (flush interval 100 ms).
    const status = await flushed;
    assert.ok(status.ackedFloor?.equals(dlsns[499]!));
    assert.equal(status.outstandingRecords, 0n);
    assert.ok(reader.durablePosition?.equals(dlsns[499]!));
    assert.ok((await reader.close())?.equals(dlsns[499]!));
  });

  test("flow limits bound what is delivered and unacked", { timeout: 20_000 }, async () => {
    await appendNumbered("reader-flow", 200);
    const reader = fixture.client.reader({ log: "reader-flow", readerId: "r", flow: { maxOutstandingRecords: 10, maxBatchRecords: 5 } });
    const opened = await reader.ready();
    assert.equal(opened.flow.maxOutstandingRecords, 10);
    const held: ReaderRecord[] = [];
    const iterator = reader[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) held.push((await iterator.next()).value as ReaderRecord);
    // Without acks nothing more arrives.
    const more = await Promise.race([iterator.next().then(() => "delivered"), new Promise((resolve) => setTimeout(() => resolve("waiting"), 300))]);
    assert.equal(more, "waiting");
    for (const record of held) record.ack();
    await reader.close();
    assert.equal((await fixture.client.getPosition("reader-flow", "r")).lag, 190n);
  });

  test("a newer session fences the older one: its loop ends with ABORTED, no reconnect", { timeout: 20_000 }, async () => {
    await appendNumbered("reader-fence", 100);
    const older = fixture.client.reader({ log: "reader-fence", readerId: "r" });
    let reconnects = 0;
    older.on("reconnecting", () => reconnects++);
    await older.ready();
    const newer = fixture.client.reader({ log: "reader-fence", readerId: "r" });
    await newer.ready();
    await assert.rejects(
      (async () => {
        for await (const record of older) record.ack();
      })(),
      (error: unknown) => error instanceof DlogError && error.code === Status.ABORTED && /fenced/.test(error.details),
    );
    assert.equal(reconnects, 0);
    await newer.close();
    await older.close();
  });

  test("takeover reject: the newcomer fails with ALREADY_EXISTS", { timeout: 20_000 }, async () => {
    await appendNumbered("reader-reject", 1);
    const holder = fixture.client.reader({ log: "reader-reject", readerId: "r" });
    await holder.ready();
    const newcomer = fixture.client.reader({ log: "reader-reject", readerId: "r", takeover: "reject" });
    await assert.rejects(newcomer.ready(), (error: unknown) => error instanceof DlogError && error.code === Status.ALREADY_EXISTS);
    await holder.close();
  });

  test("an unknown log fails the reader at once with NOT_FOUND", { timeout: 20_000 }, async () => {
    const reader = fixture.client.reader({ log: "no-such-log", readerId: "r" });
    await assert.rejects(
      (async () => {
        for await (const record of reader) record.ack();
      })(),
      (error: unknown) => error instanceof DlogError && error.code === Status.NOT_FOUND,
    );
  });

  test("aborting the signal drains the reader and ends the loop with the abort reason", { timeout: 20_000 }, async () => {
    const dlsns = await appendNumbered("reader-abort", 100);
    const abort = new AbortController();
    const reader = fixture.client.reader({ log: "reader-abort", readerId: "r", signal: abort.signal });
    let count = 0;
    await assert.rejects(
      (async () => {
        for await (const record of reader) {
          record.ack();
          if (++count === 40) abort.abort();
        }
      })(),
      (error: unknown) => (error as Error).name === "AbortError",
    );
    assert.ok((await reader.close())?.equals(dlsns[39]!));
  });

  test("a reader at the end of the log is woken by appends", { timeout: 20_000 }, async () => {
    await fixture.client.createLog("reader-tail");
    const reader = fixture.client.reader({ log: "reader-tail", readerId: "r" });
    await reader.ready();
    const started = performance.now();
    void fixture.client.append("reader-tail", "late");
    const [text] = await consume(reader, 1);
    assert.equal(text, "late");
    assert.ok(performance.now() - started < 2000);
  });

  test("from re-positions the reader on its first session only", { timeout: 20_000 }, async () => {
    const dlsns = await appendNumbered("reader-from", 10);
    assert.deepEqual(await consume(fixture.client.reader({ log: "reader-from", readerId: "r" }), 5), numbers(1, 5));
    const reader = fixture.client.reader({ log: "reader-from", readerId: "r", from: dlsns[1]! });
    assert.equal((await reader.ready()).source, "override");
    assert.deepEqual(await consume(reader, 2), ["2", "3"]);
    const latest = fixture.client.reader({ log: "reader-from", readerId: "other", fallback: "latest" });
    assert.equal((await latest.ready()).source, "fallback");
    void fixture.client.append("reader-from", "11");
    assert.deepEqual(await consume(latest, 1), ["11"]);
  });
});
