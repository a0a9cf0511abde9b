/**
 * Crash cycles (issue 9): appenders and three readers run against a real dlogd, which is killed
 * with SIGKILL at a seeded random moment, restarted on the same data dir, and reconnected to.
 * After every cycle: every answered append is stored once, at its DLSN, in answer order; every
 * stored record reached every reader; no durable position went back; what a reader got again is
 * within the README's crash bound (only records no durable ack message covered); and at no time
 * did two sessions deliver for one reader (REJECT is refused beside a live one, FENCE ends it).
 * 20 cycles in `make test`; DLOG_RELIABILITY_CYCLES=200 (make reliability-report) for more.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Clients, type DlogdProcess, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { CYCLES, Rng, SEED, reportFigures, sleep, until } from "./harness.js";
import { type AckStyle, Ledger, LedgerReader, type Stop, bulkAppender, pipelinedAppender, verifyLog } from "./workload.js";

const LOG = "cycles";
const STYLES: AckStyle[] = ["cumulative", "individual", "nack"];

test(`${CYCLES} crash cycles (seed ${SEED}): kill -9 at random moments under appends and three readers; nothing lost, positions never back, replays within the crash bound, one live session per reader`, {
  timeout: 60_000 + CYCLES * 8_000,
}, async (t) => {
  const rng = new Rng(SEED);
  const dir = tempDir("dlog-cycles-");
  const ledger = new Ledger();
  const readers = STYLES.map((style, i) => new LedgerReader(LOG, `r-${style}`, style, new Rng(SEED + i + 1)));
  let server: DlogdProcess | undefined;
  let clients: Clients | undefined;
  const onAbort = (): void => void server?.kill9();
  t.signal.addEventListener("abort", onAbort, { once: true });
  let maxRedelivered = 0;
  let boundAtMax = 0;
  let kills = 0;
  let stored = 0;
  let lost = 0;
  const started = Date.now();
  try {
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      server = await startDlogd({ process: true, dataDir: dir.path });
      clients = connect(server.address);
      const stop: Stop = { killed: false };
      if (cycle === 0) await clients.logs.createLog({ log: LOG });
      const check = await verifyLog(clients, LOG, ledger);
      lost = check.lost;
      stored = check.stored.length;

      for (const reader of readers) {
        if (cycle > 0) reader.noteDurable(`GetPosition after restart ${cycle}`, (await clients.readers.getPosition({ log: LOG, readerId: reader.id })).floor);
        await reader.start(clients, stop);
      }
      // Every stored record reaches every reader (those the last cycle appended included).
      await until(
        () => readers.every((reader) => (reader.throwIfFailed(), reader.delivered.size >= stored)),
        () => `every reader to catch up to ${stored} records (${readers.map((r) => `${r.id} ${r.delivered.size}`).join(", ")})`,
        30_000,
      );
      for (const reader of readers) reader.assertDelivered(check.stored);
      if (cycle > 0) {
        for (const reader of readers) {
          if (reader.crashReplays > maxRedelivered) {
            maxRedelivered = reader.crashReplays;
            boundAtMax = reader.crashPending.size + reader.crashReplays;
          }
        }
      }
      if (cycle === CYCLES) {
        for (const reader of readers) await reader.finish();
        break;
      }

      const before = ledger.answered.size;
      const appenders = [
        bulkAppender(clients, LOG, ledger, `b${cycle}`, new Rng(SEED * 31 + cycle), stop),
        pipelinedAppender(clients, LOG, ledger, `p${cycle}`, stop),
      ];
      await until(() => ledger.answered.size > before, "the first answered append", 10_000);
      await sleep(rng.int(0, 300));
      if (rng.chance(0.3)) await readers[rng.int(0, readers.length - 1)]!.takeOver(clients, stop);
      await sleep(rng.int(0, 300));
      stop.killed = true;
      await server.kill9();
      kills++;
      await Promise.all(appenders);
      for (const reader of readers) {
        await reader.ended();
        reader.crashed();
      }
      clients.close();
      t.diagnostic(
        `cycle ${cycle}: killed with ${ledger.answered.size} answered appends; pending per reader ${readers.map((r) => r.crashPending.size).join("/")}`,
      );
    }
  } finally {
    t.signal.removeEventListener("abort", onAbort);
    clients?.close();
    await server?.kill9();
    dir.cleanup();
  }
  const figures = {
    cycles: kills,
    records: stored,
    lost,
    max_redelivered: maxRedelivered,
    bound: boundAtMax,
    answered_appends: ledger.answered.size,
    replays: readers.reduce((sum, reader) => sum + reader.replays, 0),
    takeovers: readers.reduce((sum, reader) => sum + reader.takeovers, 0),
    fenced_in_flight_max: Math.max(...readers.map((reader) => reader.fencedInFlight)),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  t.diagnostic(JSON.stringify(figures));
  reportFigures("crash-cycles", figures);
  assert.equal(kills, CYCLES);
  assert.ok(maxRedelivered > 0 || CYCLES < 5, "some kill replayed something: the crash-bound check was exercised");
});
