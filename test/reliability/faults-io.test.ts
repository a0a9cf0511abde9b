/**
 * Injected LevelDB I/O errors against a real dlogd: an LD_PRELOAD shim (eio-shim.c, built here
 * with gcc) makes fsync/fdatasync on the data dir fail with EIO while a trigger file exists.
 * Appends meanwhile are refused clearly, health turns NOT_SERVING once it lasts, the fault is
 * logged once and exported; without the trigger the server recovers by itself, and after a
 * kill -9 and restart nothing answered or durably acked is missing.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { unlinkSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { Status } from "nice-grpc";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health.js";
import { type Clients, type DlogdProcess, scrapeMetrics, startDlogd, tempDir } from "../helpers/dlogd.js";
import { type Refusal, connectWithDetails as connect, Rng, SEED, readLog, refusalOf, reportFigures, sleep, until } from "./harness.js";
import { Ledger, LedgerReader, type Stop, stopAppenders, verifyLog } from "./workload.js";

/** The shim's source stays in test/reliability; tsc does not copy it to dist. */
const SHIM_SOURCE = fileURLToPath(new URL("../../../test/reliability/eio-shim.c", import.meta.url));
const LOG = "io";
const BROKEN_AFTER_MS = 1_000;

function buildShim(dir: string): string {
  const out = `${dir}/eio-shim.so`;
  execFileSync("gcc", ["-shared", "-fPIC", "-O2", "-o", out, SHIM_SOURCE, "-ldl"], { stdio: ["ignore", "ignore", "pipe"] });
  return out;
}

/** Unary appends of 1..10 records until stopped; answers go to the ledger, refusals are kept. */
async function appendThrough(clients: Clients, ledger: Ledger, refused: Refusal[], stop: Stop): Promise<void> {
  const rng = new Rng(SEED * 13);
  const run: string[] = [];
  ledger.runs.push(run);
  for (let call = 0; !stop.stopped; call++) {
    const payloads = Array.from({ length: rng.int(1, 10) }, (_, slot) => `e.${call}.${slot}`);
    try {
      const answer = await clients.logs.append({ log: LOG, records: payloads.map((payload) => ({ payload: Buffer.from(payload) })) });
      for (const [i, dlsn] of answer.dlsns.entries()) ledger.add(run, payloads[i]!, dlsn);
    } catch (error) {
      refused.push(refusalOf(error));
    }
    await sleep(rng.int(2, 20));
  }
}

test("injected I/O errors (fsync fails with EIO): appends get STORAGE_UNAVAILABLE, health NOT_SERVING past --storage-broken-after, one error line, the metrics; recovery without a restart; nothing answered or acked is lost", {
  timeout: 120_000,
}, async (t) => {
  const work = tempDir("dlog-eio-");
  const dataDir = `${work.path}/data`;
  const trigger = `${work.path}/eio-on`;
  const env = { LD_PRELOAD: buildShim(work.path), DLOG_EIO_TRIGGER: trigger, DLOG_EIO_DIR: dataDir };
  let server: DlogdProcess | undefined = await startDlogd({
    process: true,
    dataDir,
    metrics: true,
    env,
    args: ["--storage-broken-after", `${BROKEN_AFTER_MS}ms`],
  });
  t.signal.addEventListener("abort", () => void server?.kill9(), { once: true });
  let clients = connect(server.address);
  const metrics = (): Promise<Map<string, number>> => scrapeMetrics(server!.metricsAddress!);
  const serving = async (): Promise<Serving> => (await clients.health.check({})).status;
  const stop: Stop = { killed: false };
  let appender: Promise<void> | undefined;
  try {
    await clients.logs.createLog({ log: LOG });
    const ledger = new Ledger();
    const refused: Refusal[] = [];
    const reader = new LedgerReader(LOG, "r", "cumulative", new Rng(SEED + 1));
    await reader.start(clients, stop);
    appender = appendThrough(clients, ledger, refused, stop);
    await until(() => ledger.answered.size > 100, "the first answered appends");

    // The fault: every sync on the data dir fails from now on.
    writeFileSync(trigger, "");
    const faultAt = Date.now();
    await until(() => refused.length > 0, "an append to be refused");
    const refusedMs = Date.now() - faultAt;
    await until(async () => (await serving()) === Serving.NOT_SERVING, "health to turn NOT_SERVING", 10_000);
    const brokenMs = Date.now() - faultAt;
    assert.ok(brokenMs >= BROKEN_AFTER_MS, `NOT_SERVING only once the fault lasted --storage-broken-after (${brokenMs} ms)`);
    const during = await metrics();
    assert.equal(during.get("dlog_storage_broken"), 1);
    assert.equal(during.get("dlog_storage_writable"), 0);
    assert.ok((during.get("dlog_storage_errors_total") ?? 0) > 0, "storage errors are counted");
    const answeredInFault = ledger.answered.size;
    // Reads go on: the database stays open while a write probe says a reopen cannot succeed yet.
    // (Stored readers come from LevelDB itself; recent records may come from the entry cache.)
    const readable = (await readLog(clients, LOG)).length;
    assert.ok(readable > 100, `the log is readable during the fault (${readable} records)`);
    const listed = await clients.readers.listReaders({ log: LOG });
    assert.deepEqual(
      listed.readers.map((info) => info.readerId),
      [reader.id],
      "stored readers are listed during the fault",
    );
    await sleep(1_000);
    const answeredDuringFault = ledger.answered.size - answeredInFault;

    // The disk answers again: no restart.
    unlinkSync(trigger);
    const clearedAt = Date.now();
    await until(async () => (await serving()) === Serving.SERVING, "health to turn SERVING again", 15_000);
    const recoveredMs = Date.now() - clearedAt;
    const afterRecovery = ledger.answered.size;
    await until(() => ledger.answered.size > afterRecovery + 100, "appends to be answered again", 15_000);
    await stopAppenders(stop, [appender]);
    const after = await metrics();
    assert.equal(after.get("dlog_storage_broken"), 0);
    assert.equal(after.get("dlog_storage_writable"), 1);
    assert.ok((after.get("dlog_storage_reopens_total") ?? 0) >= 1, "the database was reopened");

    assert.equal(answeredDuringFault, 0, "no append is answered while no sync succeeds");
    for (const refusal of refused) {
      assert.equal(Status[refusal.code], "UNAVAILABLE", refusal.message);
      assert.equal(refusal.reason, "STORAGE_UNAVAILABLE", refusal.message);
      assert.ok(!refusal.message.includes(work.path), `no server path in "${refusal.message}"`);
    }
    const lines = server.output().split("\n");
    const errors = lines.filter((line) => line.includes('"level":"error"'));
    assert.equal(lines.filter((line) => line.includes('"msg":"storage write failed')).length, 1, `the fault is logged once:\n${errors.join("\n")}`);
    assert.equal(lines.filter((line) => line.includes('"msg":"storage is broken')).length, 1, "broken is logged once");
    assert.ok(errors.length <= 4, `errors logged a few times, not on every retry:\n${errors.join("\n")}`);
    assert.ok(
      lines.some((line) => line.includes('"msg":"storage recovered')),
      "the recovery is logged",
    );

    // The reader acks everything and sees it durable; then kill -9: after the restart every
    // answered append is stored once and in order, and the reader's durable position is there.
    await reader.finish();
    clients.close();
    await server.kill9();
    server = await startDlogd({ process: true, dataDir, metrics: true });
    clients = connect(server.address);
    const { lost, stored } = await verifyLog(clients, LOG, ledger);
    reader.noteDurable("GetPosition after the restart", (await clients.readers.getPosition({ log: LOG, readerId: reader.id })).floor);
    reader.crashed();
    await reader.start(clients, stop);
    await until(() => reader.delivered.size >= stored.length, "the reader to get what it had not acked");
    await sleep(500);
    assert.equal(reader.replays, 0, "nothing durably acked is delivered again");
    await reader.finish();

    const figures = {
      io_fault_answered_appends: ledger.answered.size,
      io_fault_refused_appends: refused.length,
      io_fault_lost: lost,
      io_fault_first_refusal_ms: refusedMs,
      io_fault_not_serving_ms: brokenMs,
      io_fault_recovered_ms: recoveredMs,
      io_fault_error_lines: errors.length,
    };
    t.diagnostic(JSON.stringify(figures));
    reportFigures("io-faults", figures);
  } finally {
    // A failed assertion must not leave the appender running into a closed channel.
    stop.stopped = true;
    await appender?.catch(() => undefined);
    try {
      unlinkSync(trigger);
    } catch {
      // not there: the test removed it
    }
    clients.close();
    await server?.kill9();
    work.cleanup();
  }
});
