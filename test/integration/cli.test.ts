/** The `dlog` CLI end to end, as a person would run it, against a real dlogd. */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DLSN } from "../../clients/typescript/src/index.js";
import { type DlogOptions, type DlogRun, dlog as runDlog, startDlog, lines } from "../helpers/cli.js";
import { fixtureForFile } from "../helpers/fixture.js";

const FLUSH_INTERVAL_MS = 100; // dlogd's default --ack-flush-interval

const fixture = fixtureForFile();

const start = (args: string[], options: DlogOptions = {}): DlogRun => startDlog(args, { address: fixture.server.address, ...options });
const dlog = (args: string[], options: DlogOptions = {}) => runDlog(args, { address: fixture.server.address, ...options });

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const numbers = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const port = (probe.address() as { port: number }).port;
  probe.close();
  await once(probe, "close");
  return port;
}

describe("dlog append and tail", () => {
  test("append takes 1000 stdin lines as 1000 records and prints their DLSNs in order", { timeout: 30_000 }, async () => {
    const result = await dlog(["append", "--log", "cli-tail"], { input: `${numbers(1, 1000).join("\n")}\n` });
    assert.equal(result.code, 0, result.stderr);
    const dlsns = lines(result.stdout).map((line) => DLSN.parse(line));
    assert.equal(dlsns.length, 1000);
    for (let i = 1; i < dlsns.length; i++) assert.ok(dlsns[i]!.isAfter(dlsns[i - 1]!));
    assert.equal((await fixture.client.getLog("cli-tail")).recordCount, 1000n);
  });

  test("tail --max 300 prints lines 1-300; the next tail prints 301-600", { timeout: 30_000 }, async () => {
    const first = await dlog(["tail", "--log", "cli-tail", "--reader", "r", "--max", "300"]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(lines(first.stdout), numbers(1, 300));
    const second = await dlog(["tail", "--log", "cli-tail", "--reader", "r", "--max", "300"]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(lines(second.stdout), numbers(301, 600));
    const position = await dlog(["readers", "position", "--log", "cli-tail", "--reader", "r", "--format", "json"]);
    assert.equal(JSON.parse(position.stdout).lag, "400");
  });

  test("append takes arguments as records; tail --format json prints one object per record", { timeout: 30_000 }, async () => {
    const appended = await dlog(["append", "--log", "cli-json", "--format", "json", "a", "b"]);
    assert.equal(appended.code, 0, appended.stderr);
    const dlsns = lines(appended.stdout).map((line) => JSON.parse(line).dlsn as string);
    assert.equal(dlsns.length, 2);
    const tailed = await dlog(["tail", "--log", "cli-json", "--reader", "r", "--max", "2", "--format", "json"]);
    const objects = lines(tailed.stdout).map((line) => JSON.parse(line));
    assert.deepEqual(
      objects.map((object) => [object.dlsn, object.payload]),
      [
        [dlsns[0], "a"],
        [dlsns[1], "b"],
      ],
    );
    assert.ok(objects.every((object) => /^\d+$/.test(object.txid) && !Number.isNaN(Date.parse(object.time))));
  });

  test("tail stopped by SIGINT mid-stream, then run again: no gap, at most one flush interval of repeats", { timeout: 60_000 }, async () => {
    await fixture.client.createLog("cli-sigint");
    let appended = 0;
    let producing = true;
    const startedAt = performance.now();
    const producer = (async () => {
      while (producing) {
        await fixture.client.append("cli-sigint", [String(appended + 1), String(appended + 2)]);
        appended += 2;
        await sleep(1);
      }
    })();

    const first = start(["tail", "--log", "cli-sigint", "--reader", "r"]);
    await waitFor(() => lines(first.stdout()).length >= 300, "the first tail to print 300 lines");
    first.child.kill("SIGINT");
    assert.equal(await first.exited, 0, first.stderr());
    await sleep(200);
    producing = false;
    await producer;
    const ratePerMs = appended / (performance.now() - startedAt);

    const second = start(["tail", "--log", "cli-sigint", "--reader", "r"]);
    await waitFor(() => lines(second.stdout()).at(-1) === String(appended), `the second tail to reach record ${appended}`);
    second.child.kill("SIGTERM");
    assert.equal(await second.exited, 0, second.stderr());

    const before = lines(first.stdout()).map(Number);
    const afterwards = lines(second.stdout()).map(Number);
    assert.deepEqual(before, numbers(1, before.length).map(Number), "the first tail printed a prefix, whole lines only");
    const resumedAt = afterwards[0]!;
    assert.ok(resumedAt <= before.length + 1, `gap: the first tail ended at ${before.length}, the second started at ${resumedAt}`);
    assert.deepEqual(afterwards, numbers(resumedAt, appended).map(Number), "the second tail printed the rest in order");
    const repeats = before.length + 1 - resumedAt;
    const bound = Math.ceil(ratePerMs * FLUSH_INTERVAL_MS);
    assert.ok(repeats <= bound, `${repeats} records repeated; one flush interval is ~${bound}`);
    console.log(`SIGINT: first tail printed ${before.length}, second resumed at ${resumedAt} (${repeats} repeated, bound ${bound})`);
  });
});

describe("dlog in a pipeline", () => {
  test("tail whose reader goes away (`dlog tail | head`) drains and exits 0 quietly", { timeout: 30_000 }, async () => {
    const written = await fixture.client.append("cli-pipe", numbers(1, 5));
    const tail = start(["tail", "--log", "cli-pipe", "--reader", "r"]);
    await waitFor(() => lines(tail.stdout()).length >= 5, "five lines");
    tail.child.stdout!.destroy();
    await fixture.client.append("cli-pipe", "6"); // its line hits the closed pipe
    assert.equal(await tail.exited, 0);
    assert.doesNotMatch(tail.stderr(), /^dlog:/m, "no error");
    const position = await fixture.client.getPosition("cli-pipe", "r");
    assert.equal(position.live, false, "the session was drained");
    assert.equal(position.floor?.toString(), written[4]!.toString(), "the five printed lines were acked, the unprinted sixth was not");
    assert.match(tail.stderr(), new RegExp(`^drained: 5 records, durable at ${written[4]!.toString()}$`, "m"), "the drain summary counts printed lines only");
  });
});

describe("dlog admin", () => {
  test("logs create, ls, describe, truncate, delete", { timeout: 30_000 }, async () => {
    assert.equal((await dlog(["logs", "create", "cli-admin"])).code, 0);
    await fixture.client.append("cli-admin", ["x", "y"]);
    const listed = await dlog(["logs", "ls", "--prefix", "cli-admin", "--format", "json"]);
    assert.deepEqual(
      lines(listed.stdout).map((line) => [JSON.parse(line).log, JSON.parse(line).recordCount]),
      [["cli-admin", "2"]],
    );
    const described = await dlog(["logs", "describe", "cli-admin"]);
    assert.match(described.stdout, /records:\s+2 /);
    assert.match(described.stdout, /last:\s+\d+\/\d+\/1/);
    const truncated = await dlog(["logs", "truncate", "cli-admin", "--before", "1/0/0"]);
    assert.equal(truncated.code, 0, truncated.stderr);
    const deleted = await dlog(["logs", "delete", "cli-admin", "--yes"]);
    assert.match(deleted.stdout, /deleted cli-admin \(2 records\)/);
  });

  test("readers ls, position, seek (seg/entry/slot and base64), delete", { timeout: 30_000 }, async () => {
    const dlsns = await fixture.client.append("cli-readers", numbers(1, 10));
    await dlog(["tail", "--log", "cli-readers", "--reader", "r", "--max", "3"]);
    const listed = await dlog(["readers", "ls", "--log", "cli-readers"]);
    assert.match(listed.stdout, new RegExp(`^r\\s+${dlsns[2]!.toString()}\\s+0\\s+7\\s+no`, "m"));
    const sought = await dlog(["readers", "seek", "--log", "cli-readers", "--reader", "r", "--to", dlsns[6]!.serialize(), "--yes"]);
    assert.equal(sought.code, 0, sought.stderr);
    assert.deepEqual(lines((await dlog(["tail", "--log", "cli-readers", "--reader", "r", "--max", "1"])).stdout), ["7"]);
    await dlog(["readers", "seek", "--log", "cli-readers", "--reader", "r", "--to", "earliest", "-y"]);
    assert.deepEqual(lines((await dlog(["tail", "--log", "cli-readers", "--reader", "r", "--max", "1"])).stdout), ["1"]);
    assert.equal((await dlog(["readers", "delete", "--log", "cli-readers", "--reader", "r", "--yes"])).code, 0);
    assert.equal(lines((await dlog(["readers", "ls", "--log", "cli-readers"])).stdout).length, 1, "only the header is left");
  });

  test("read prints records from a position without moving any reader", { timeout: 30_000 }, async () => {
    const dlsns = await fixture.client.append("cli-read", numbers(1, 5));
    const read = await dlog(["read", "--log", "cli-read", "--from", dlsns[2]!.toString(), "--max", "2"]);
    assert.deepEqual(lines(read.stdout), ["3", "4"]);
    assert.deepEqual(lines((await dlog(["read", "--log", "cli-read"])).stdout), numbers(1, 5));
  });
});

describe("dlog errors: one line on stderr, a non-zero exit, no stack trace", () => {
  const oneLine = (stderr: string): void => {
    assert.equal(lines(stderr).length, 1, `one line expected, got: ${stderr}`);
    assert.doesNotMatch(stderr, /\n\s+at /);
  };

  test("unreachable server", { timeout: 30_000 }, async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    for (const args of [
      ["logs", "ls"],
      ["tail", "--log", "x", "--reader", "r"],
      ["append", "--log", "x", "a"],
    ]) {
      const result = await dlog(args, { address });
      assert.equal(result.code, 3, `${args.join(" ")}: ${result.stderr}`);
      oneLine(result.stderr);
      assert.match(result.stderr, new RegExp(`^dlog: cannot reach dlogd at ${address}: .*ECONNREFUSED.*\\(UNAVAILABLE\\)\\n$`));
    }
  });

  test("unknown log", { timeout: 30_000 }, async () => {
    for (const args of [
      ["logs", "describe", "no-such-log"],
      ["tail", "--log", "no-such-log", "--reader", "r"],
      ["read", "--log", "no-such-log"],
    ]) {
      const result = await dlog(args);
      assert.equal(result.code, 1, `${args.join(" ")}: ${result.stderr}`);
      oneLine(result.stderr);
      assert.match(result.stderr, /no-such-log.*\(NOT_FOUND\)/);
    }
  });

  test("bad usage", { timeout: 30_000 }, async () => {
    for (const args of [
      ["frobnicate"],
      ["tail", "--log", "x"],
      ["tail", "--log", "x", "--reader", "r", "--max", "0"],
      ["read", "--log", "x", "--from", "1/2"],
      ["logs", "ls", "--bogus"],
    ]) {
      const result = await dlog(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      oneLine(result.stderr);
    }
  });
});
