/**
 * Load and a disconnect storm (issue 9): SESSIONS reader sessions (300 in `make test`, 1000 in
 * the report) on 50 logs while appends run, then every connection cut at once. Afterwards the
 * invariants hold (every answered append stored once and in order, every record delivered to
 * every reader, durable positions never back, replays within the crash bound) and what the
 * server keeps per session is gone (no live session; lag series stay one per reader). RSS per
 * session and after the storm are reported, not asserted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Takeover } from "../../src/gen/dlog/v1/reader.js";
import { type Clients, connect, scrapeMetrics, startDlogd, tempDir } from "../helpers/dlogd.js";
import { Rng, SEED, SESSIONS, StallingProxy, reportFigures, rssOf, sleep, until } from "./harness.js";
import { Ledger, LedgerReader, type Stop, bulkAppender, stopAppenders, verifyLog } from "./workload.js";

const LOGS = 50;
/** Sessions per client connection: many connections, so the storm cuts many at once. */
const PER_CONNECTION = 50;
const MB = 1024 * 1024;

/** Runs `body` over `items`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, body: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(body));
}

test(`${SESSIONS} sessions on ${LOGS} logs under appends, then a disconnect storm of all of them: invariants hold, per-session state is gone, every reader reopens at once`, {
  timeout: 240_000,
}, async (t) => {
  const dir = tempDir("dlog-load-");
  const server = await startDlogd({ process: true, dataDir: dir.path, metrics: true });
  t.signal.addEventListener("abort", () => void server.kill9(), { once: true });
  const direct = connect(server.address);
  const proxy = await StallingProxy.start(server.address);
  const channels: Clients[] = Array.from({ length: Math.ceil(SESSIONS / PER_CONNECTION) }, () => connect(proxy.address, { ownConnection: true }));
  const metrics = (): Promise<Map<string, number>> => scrapeMetrics(server.metricsAddress!);
  const live = async (): Promise<number> => (await metrics()).get("dlog_sessions_live") ?? -1;
  const pid = server.child.pid!;
  const stop: Stop = { killed: false };
  let appenders: Array<Promise<void>> = [];
  try {
    const logs = Array.from({ length: LOGS }, (_, i) => `load-${i}`);
    for (const log of logs) await direct.logs.createLog({ log });
    const ledgers = new Map(logs.map((log) => [log, new Ledger()]));
    const readers = Array.from(
      { length: SESSIONS },
      (_, i) =>
        new LedgerReader(
          logs[i % LOGS]!,
          `r${i}`,
          i % 2 === 0 ? "cumulative" : "individual",
          new Rng(SEED + i),
          { maxOutstandingRecords: 200, maxBatchRecords: 50 },
          1_000,
        ),
    );
    await sleep(500);
    const rssBaseline = rssOf(pid);

    appenders = logs.map((log, i) => bulkAppender(direct, log, ledgers.get(log)!, `a${i}`, new Rng(SEED * 7 + i), stop, { maxBatch: 10, maxPauseMs: 200 }));
    const openStarted = Date.now();
    const beforeOpen = await metrics();
    await inBatches(
      readers.map((reader, i) => ({ reader, i })),
      50,
      ({ reader, i }) => reader.start(channels[Math.floor(i / PER_CONNECTION)]!, stop),
    );
    const openMs = Date.now() - openStarted;
    const afterOpen = await metrics();
    const grew = (name: string): number => (afterOpen.get(name) ?? 0) - (beforeOpen.get(name) ?? 0);
    assert.equal(await live(), SESSIONS, "every session is live");
    await sleep(3_000); // appends and deliveries keep going with every session open
    await stopAppenders(stop, appenders);
    const stored = new Map<string, Awaited<ReturnType<typeof verifyLog>>["stored"]>();
    for (const log of logs) stored.set(log, (await verifyLog(direct, log, ledgers.get(log)!)).stored);
    await until(
      () => readers.every((reader) => (reader.throwIfFailed(), reader.delivered.size >= stored.get(reader.log)!.length)),
      () => `every reader to get every record of its log (${readers.filter((r) => r.delivered.size < stored.get(r.log)!.length).length} behind)`,
      60_000,
    );
    for (const reader of readers) reader.assertDelivered(stored.get(reader.log)!);
    const rssPeak = rssOf(pid);
    const records = [...stored.values()].reduce((sum, list) => sum + list.length, 0);

    // The storm: every connection cut at once, no drain, no cancel.
    stop.killed = true;
    const stormAt = Date.now();
    await proxy.close();
    for (const reader of readers) await reader.ended();
    await until(async () => (await live()) === 0, "every session to end on the server", 30_000);
    const stormEndMs = Date.now() - stormAt;
    const lagSeries = [...(await metrics()).keys()].filter((name) => name.startsWith("dlog_reader_lag_records{"));
    assert.equal(lagSeries.length, SESSIONS, "one lag series per reader, none per session that is gone");
    assert.equal((await direct.health.check({})).status, 1, "the server still serves");

    // Every reader reopens at once with REJECT (no session of the storm is still live), resumes
    // no earlier than any durable position it saw, and gets again only what no durable ack covered.
    const again: Stop = { killed: false };
    for (const reader of readers) reader.crashed();
    await inBatches(readers, 50, (reader) => reader.start(direct, again, { takeover: Takeover.TAKEOVER_REJECT }));
    await until(
      () => readers.every((reader) => (reader.throwIfFailed(), reader.delivered.size >= stored.get(reader.log)!.length)),
      "every reopened reader to catch up",
      60_000,
    );
    await inBatches(readers, 100, (reader) => reader.finish());
    for (const log of logs) {
      const { readers: infos } = await direct.readers.listReaders({ log });
      assert.equal(infos.length, Math.ceil((SESSIONS - logs.indexOf(log)) / LOGS), `${log}: one stored position per reader`);
      assert.ok(
        infos.every((info) => !info.live),
        `${log}: no reader is live after every session drained`,
      );
    }
    assert.equal(await live(), 0);
    await sleep(2_000);
    const rssAfter = rssOf(pid);
    const redelivered = Math.max(...readers.map((reader) => reader.crashReplays));
    const bound = Math.max(...readers.map((reader) => reader.crashReplays + reader.crashPending.size));
    const figures = {
      sessions: SESSIONS,
      logs: LOGS,
      load_records: records,
      load_open_ms: openMs,
      // Each open makes its epoch durable before Opened: a flush round, which writes every dirty position.
      load_open_flushes: grew("dlog_position_flushes_total"),
      load_open_positions_written: grew("dlog_positions_written_total"),
      // Against load_open_ms: how much of the open phase the server spent on a CPU (the machine is shared).
      load_open_server_cpu_ms: Math.round(grew("process_cpu_seconds_total") * 1000),
      rss_baseline_mb: Math.round(rssBaseline / MB),
      rss_peak_mb: Math.round(rssPeak / MB),
      rss_per_session_kb: Math.round((rssPeak - rssBaseline) / SESSIONS / 1024),
      rss_after_mb: Math.round(rssAfter / MB),
      storm_sessions: SESSIONS,
      storm_end_ms: stormEndMs,
      storm_max_redelivered: redelivered,
      storm_bound: bound,
    };
    t.diagnostic(JSON.stringify(figures));
    reportFigures("load", figures);
  } finally {
    // Appenders first: one failing on a closed channel while this cleans up would hide why the test failed.
    stop.killed = true;
    await Promise.allSettled(appenders);
    for (const clients of channels) clients.close();
    direct.close();
    await proxy.close().catch(() => undefined);
    await server.stop();
    dir.cleanup();
  }
});
