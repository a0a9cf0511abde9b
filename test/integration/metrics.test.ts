import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Fixture, startFixture } from "../helpers/fixture.js";
import { TestSession, appendNumbered } from "../helpers/session.js";

const SERVER_TEST = { timeout: 30_000 };

/** A metric's value; fails naming the series when it is not exposed. */
function value(metrics: Map<string, number>, series: string): number {
  const found = metrics.get(series);
  assert.ok(found !== undefined, `${series} is exposed; got:\n${[...metrics.keys()].filter((k) => k.startsWith(series.split("{")[0]!)).join("\n")}`);
  return found;
}

/** Opens a session on `reader`, acks its first `ack` records, drains: the reader is then offline with a stored floor. */
async function readAndLeave(fixture: Fixture, log: string, reader: string, ack: number): Promise<void> {
  const { session } = await TestSession.open(fixture.clients, { log, readerId: reader, fallback: { at: { $case: "boundary", value: 1 } } });
  const records = await session.records(ack);
  session.ack(records.slice(0, ack).map((record) => record.dlsn!));
  session.drain();
  await session.drained();
}

describe("metrics (prom-client) on a real dlogd", () => {
  let fixture: Fixture;
  before(async () => {
    fixture = await startFixture({ metrics: true });
  });
  after(() => fixture.close());

  test("process and Node defaults are exposed: CPU, RSS, heap, event-loop lag, open fds", SERVER_TEST, async () => {
    const metrics = await fixture.metrics();
    assert.ok(value(metrics, "process_cpu_seconds_total") > 0);
    assert.ok(value(metrics, "process_resident_memory_bytes") > 10 * 1024 * 1024);
    assert.ok(value(metrics, "nodejs_heap_size_used_bytes") > 0);
    assert.ok(value(metrics, "nodejs_eventloop_lag_seconds") >= 0);
    assert.ok(value(metrics, "process_open_fds") > 0);
    assert.equal(value(metrics, "dlog_health_serving"), 1);
    assert.equal(value(metrics, "dlog_storage_errors_total"), 0);
  });

  test("append latency, records per batch and position flushes are histograms", SERVER_TEST, async () => {
    const before = await fixture.metrics();
    await appendNumbered(fixture.clients, "hist", 30, { batch: 10 });
    await readAndLeave(fixture, "hist", "h", 30);
    const now = await fixture.metrics();
    const delta = (series: string): number => value(now, series) - (before.get(series) ?? 0);
    assert.equal(delta("dlog_append_duration_seconds_count"), 3, "one observation per append request, not per record");
    assert.ok(delta("dlog_append_duration_seconds_sum") > 0);
    assert.equal(delta("dlog_append_batch_records_sum"), 30, "records per batch add up to the records appended");
    assert.equal(delta("dlog_append_batch_records_count"), delta("dlog_append_batches_total"));
    assert.ok(delta("dlog_position_flush_duration_seconds_count") >= 1);
    assert.equal(delta("dlog_position_flush_positions_sum"), delta("dlog_positions_written_total"));
  });

  test("gRPC calls are counted per method and status code, with their latency", SERVER_TEST, async () => {
    const before = await fixture.metrics();
    await fixture.clients.logs.append({ log: "grpc", records: [{ payload: Buffer.from("x") }] });
    await assert.rejects(fixture.clients.logs.getLog({ log: "no-such-log" }));
    const now = await fixture.metrics();
    const append = 'grpc_type="unary",grpc_service="dlog.v1.LogService",grpc_method="Append",grpc_path="/dlog.v1.LogService/Append"';
    const getLog = 'grpc_type="unary",grpc_service="dlog.v1.LogService",grpc_method="GetLog",grpc_path="/dlog.v1.LogService/GetLog"';
    const delta = (series: string): number => value(now, series) - (before.get(series) ?? 0);
    assert.equal(delta(`grpc_server_handled_total{${append},grpc_code="OK"}`), 1);
    assert.equal(delta(`grpc_server_handled_total{${getLog},grpc_code="NOT_FOUND"}`), 1);
    assert.equal(delta(`grpc_server_handling_seconds_count{${append},grpc_code="OK"}`), 1);
  });

  test("the shared entry cache's hits, misses, evictions and bytes are exposed: two tailing readers of one log share an entry", SERVER_TEST, async () => {
    await appendNumbered(fixture.clients, "cached", 1);
    const before = await fixture.metrics();
    const readers = await Promise.all(["a", "b"].map((readerId) => TestSession.open(fixture.clients, { log: "cached", readerId })));
    await Promise.all(readers.map(({ session }) => session.records(1)));
    // Both sessions are caught up and open: the next commit is kept for them, and each takes it from the cache.
    await appendNumbered(fixture.clients, "cached", 10, { batch: 10 });
    await Promise.all(readers.map(({ session }) => session.records(10)));
    const now = await fixture.metrics();
    const delta = (series: string): number => value(now, series) - value(before, series);
    assert.ok(delta("dlog_entry_cache_hits_total") >= 2, `each reader's read of the new entry is a hit: ${delta("dlog_entry_cache_hits_total")}`);
    assert.ok(value(now, "dlog_entry_cache_bytes") > 10, "the kept entry is charged");
    assert.ok(delta("dlog_entry_cache_misses_total") >= 1, "the entry written while no reader was open is read from storage");
    assert.equal(value(now, "dlog_entry_cache_evictions_total"), 0, "nothing near the default bound");
    for (const { session } of readers) session.cancel();
  });

  test("every reader's lag is exposed, offline readers included, and follows appends without a session", SERVER_TEST, async () => {
    await appendNumbered(fixture.clients, "lag", 10);
    await readAndLeave(fixture, "lag", "fast", 10);
    await readAndLeave(fixture, "lag", "slow", 4);
    await appendNumbered(fixture.clients, "lag", 5, { from: 11 });
    let metrics = await fixture.metrics();
    assert.equal(value(metrics, 'dlog_reader_lag_records{log="lag",reader="fast"}'), 5);
    assert.equal(value(metrics, 'dlog_reader_lag_records{log="lag",reader="slow"}'), 11);
    assert.equal(value(metrics, 'dlog_reader_lag_max_records{log="lag"}'), 11);
    assert.equal(value(metrics, 'dlog_readers{log="lag"}'), 2);

    // A live reader's lag comes from its session; SetPosition and DeleteReader show at the next scrape.
    await fixture.clients.readers.setPosition({ log: "lag", readerId: "slow", position: { at: { $case: "boundary", value: 2 } } });
    await fixture.clients.readers.deleteReader({ log: "lag", readerId: "fast" });
    metrics = await fixture.metrics();
    assert.equal(value(metrics, 'dlog_reader_lag_records{log="lag",reader="slow"}'), 0);
    assert.equal(metrics.get('dlog_reader_lag_records{log="lag",reader="fast"}'), undefined, "a deleted reader's series is gone");
    assert.equal(value(metrics, 'dlog_readers{log="lag"}'), 1);

    await fixture.clients.logs.deleteLog({ log: "lag" });
    metrics = await fixture.metrics();
    assert.equal(metrics.get('dlog_readers{log="lag"}'), undefined, "a deleted log's readers are gone");
  });
});

describe("--metrics-reader-labels", () => {
  test("none: reader lag is one server-wide series that names no log or reader", SERVER_TEST, async () => {
    const fixture = await startFixture({ metrics: true, args: ["--metrics-reader-labels", "none"] });
    try {
      await appendNumbered(fixture.clients, "secret-log", 6);
      await readAndLeave(fixture, "secret-log", "secret-reader", 2);
      const metrics = await fixture.metrics();
      assert.equal(value(metrics, "dlog_reader_lag_max_records"), 4);
      assert.equal(value(metrics, "dlog_readers"), 1);
      const named = [...metrics.keys()].filter((series) => series.includes("secret"));
      assert.deepEqual(named, [], "no series names the log or the reader");
    } finally {
      await fixture.close();
    }
  });

  test("log: the worst reader per log, no reader names", SERVER_TEST, async () => {
    const fixture = await startFixture({ metrics: true, args: ["--metrics-reader-labels", "log"] });
    try {
      await appendNumbered(fixture.clients, "l", 6);
      await readAndLeave(fixture, "l", "secret-a", 2);
      await readAndLeave(fixture, "l", "secret-b", 5);
      const metrics = await fixture.metrics();
      assert.equal(value(metrics, 'dlog_reader_lag_max_records{log="l"}'), 4);
      assert.equal(value(metrics, 'dlog_readers{log="l"}'), 2);
      assert.deepEqual(
        [...metrics.keys()].filter((series) => series.includes("secret")),
        [],
      );
    } finally {
      await fixture.close();
    }
  });
});
