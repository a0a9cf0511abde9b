import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { DLSN as WireDLSN } from "../../src/gen/dlog/v1/common.js";
import type { AppendRequest } from "../../src/gen/dlog/v1/log.js";
import { type Clients, bytes, connect, startDlogd, tempDir } from "../helpers/dlogd.js";

const LOG = "crash";
const KILL_CYCLES = 3;
const UNARY_APPENDERS = 7;
/** Pipelined appends in flight on the one AppendStream appender. */
const STREAM_WINDOW = 64;

const key = (dlsn: WireDLSN | undefined): string => (dlsn ? `${dlsn.segment}/${dlsn.entry}/${dlsn.slot}` : "unset");

function compare(a: WireDLSN, b: WireDLSN): number {
  for (const field of ["segment", "entry", "slot"] as const) {
    if (a[field] !== b[field]) return a[field] < b[field] ? -1 : 1;
  }
  return 0;
}

/** DLSN → payload of every append the server answered. */
type Acknowledged = Map<string, string>;

/** Records what the server answered; a DLSN answered twice is a bug of its own. */
function acknowledge(acknowledged: Acknowledged, dlsn: WireDLSN | undefined, payload: string): void {
  const at = key(dlsn);
  assert.ok(!acknowledged.has(at), `DLSN ${at} was answered twice`);
  acknowledged.set(at, payload);
}

/**
 * Appends until the server dies: unary appenders (some with 3 records per entry) each wait for
 * their answer before the next call; one AppendStream keeps a window of appends in flight.
 */
async function appendUntilKilled(clients: Clients, cycle: number, acknowledged: Acknowledged, kill: { done: boolean }): Promise<void> {
  const unary = Array.from({ length: UNARY_APPENDERS }, async (_, appender) => {
    const perEntry = appender % 3 === 0 ? 3 : 1;
    for (let n = 0; ; n++) {
      const payloads = Array.from({ length: perEntry }, (_, slot) => `c${cycle}-u${appender}-${n}-${slot}`);
      let answer;
      try {
        answer = await clients.logs.append({ log: LOG, records: payloads.map((p) => ({ payload: bytes(p) })) });
      } catch (error) {
        if (kill.done) return; // the server is gone
        throw error;
      }
      for (const [i, dlsn] of answer.dlsns.entries()) acknowledge(acknowledged, dlsn, payloads[i]!);
    }
  });

  const streamed = (async () => {
    let sent = 0;
    let answered = 0;
    let wakeSender: (() => void) | undefined;
    const payloadOf = (n: number): string => `c${cycle}-s-${n}`;
    async function* requests(): AsyncGenerator<AppendRequest> {
      for (;;) {
        while (sent - answered >= STREAM_WINDOW) await new Promise<void>((resolve) => (wakeSender = resolve));
        yield { log: LOG, records: [{ payload: bytes(payloadOf(sent)) }], requestId: BigInt(sent), producerId: "", producerSeq: 0n };
        sent++;
      }
    }
    const answers = clients.logs.appendStream(requests())[Symbol.asyncIterator]();
    for (;;) {
      let next;
      try {
        next = await answers.next();
      } catch (error) {
        if (kill.done) return; // the server is gone
        throw error;
      }
      if (next.done === true) return;
      assert.equal(next.value.error, undefined);
      assert.equal(next.value.requestId, BigInt(answered), "answers come in request order");
      acknowledge(acknowledged, next.value.dlsns[0], payloadOf(answered));
      answered++;
      wakeSender?.();
    }
  })();

  await Promise.all([...unary, streamed]);
}

/** Reads the whole log and checks every acknowledged append is there, once, in DLSN order. */
async function assertAllAcknowledgedPresent(clients: Clients, acknowledged: Acknowledged): Promise<void> {
  const stored: Array<{ dlsn: WireDLSN; payload: string }> = [];
  for await (const response of clients.logs.read({ log: LOG })) {
    for (const record of response.records) stored.push({ dlsn: record.dlsn!, payload: record.payload.toString("utf8") });
  }
  for (let i = 1; i < stored.length; i++) {
    assert.ok(compare(stored[i - 1]!.dlsn, stored[i]!.dlsn) < 0, `DLSN order at ${key(stored[i]!.dlsn)}`);
  }
  assert.equal(new Set(stored.map((r) => r.payload)).size, stored.length, "no payload is stored twice");
  const byDlsn = new Map(stored.map((r) => [key(r.dlsn), r.payload]));
  let missing = 0;
  for (const [dlsn, payload] of acknowledged) {
    const found = byDlsn.get(dlsn);
    if (found === undefined) missing++;
    else assert.equal(found, payload, `payload at ${dlsn}`);
  }
  assert.equal(missing, 0, `${missing} of ${acknowledged.size} acknowledged records are missing`);
}

async function killCycles(t: TestContext, args: string[]): Promise<void> {
  const dir = tempDir("dlog-crash-");
  const acknowledged: Acknowledged = new Map();
  try {
    for (let cycle = 0; cycle <= KILL_CYCLES; cycle++) {
      const server = await startDlogd({ process: true, dataDir: dir.path, args });
      const clients = connect(server.address);
      try {
        if (cycle === 0) await clients.logs.createLog({ log: LOG });
        else await assertAllAcknowledgedPresent(clients, acknowledged);
        if (cycle === KILL_CYCLES) break;

        const before = acknowledged.size;
        const kill = { done: false };
        const appending = appendUntilKilled(clients, cycle, acknowledged, kill);
        // The kill lands mid-stream however slow the machine: first some answers (bounded wait), then a random delay.
        for (let i = 0; i < 1_000 && acknowledged.size === before; i++) await sleep(10);
        const killAfterMs = Math.floor(Math.random() * 600);
        await sleep(killAfterMs);
        kill.done = true; // from here on, a failed append is the kill's doing
        await server.kill9();
        await appending;

        const answered = acknowledged.size - before;
        t.diagnostic(`cycle ${cycle}: killed ${killAfterMs} ms after the first answer, with ${answered} records acknowledged`);
        assert.ok(answered > 0, "appends were answered before the kill");
        const newest = [...acknowledged.keys()].slice(before);
        assert.ok(
          newest.every((dlsn) => Number(dlsn.split("/")[0]) === cycle + 1),
          "each run after a restart writes a new segment",
        );
      } finally {
        clients.close();
        await server.kill9();
      }
    }
  } finally {
    dir.cleanup();
  }
}

test("kill -9 during appends loses no acknowledged append, three times over", { timeout: 60_000 }, async (t) => {
  await killCycles(t, []);
});

test("with --no-fsync, kill -9 during appends still loses no acknowledged append", { timeout: 60_000 }, async (t) => {
  await killCycles(t, ["--no-fsync"]);
});
