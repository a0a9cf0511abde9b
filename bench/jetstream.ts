/**
 * The JetStream section of `make bench`: dlog on NATS JetStream (`dlogd --storage nats://`, R1 and
 * R3) next to dlog on LevelDB and next to raw JetStream carrying the same bytes, all in this run,
 * on a 3-node cluster from test/helpers/nats-cluster.ts (sync_interval always: every write
 * fsynced, like dlog's fsync-on default). Then what failures cost, on R3 with two gateways: the
 * write outage after kill -9 of the log stream's leader and after its graceful stop (SIGTERM),
 * measured by the same append probe the fault tests use, and a reader's takeover across gateways.
 */
import type { Attempt } from "./attempt.js";
import { createDlogClient } from "../clients/typescript/src/index.js";
import { startAppendProbe } from "../test/cluster/append-probe.js";
import { type NatsCluster, startNatsCluster } from "../test/helpers/nats-cluster.js";
import { appendStream } from "./append.js";
import { onCleanup } from "./cleanup.js";
import { deliverAndAck } from "./deliver.js";
import { type Dlogd, startDlogd } from "./dlogd-process.js";
import type { Plan } from "./plan.js";
import { rawJetStream, type RawJetStreamFigures, startRawOutageProbe } from "./peers/jetstream-raw.js";
import type { Measurement } from "./peers/measurement.js";
import { errorRow, ratio, referenceRow, row, type Row, type Section } from "./report.js";
import { num } from "./latest-json.js";
import { quantile, sleep, within } from "./stats.js";
import { resumeLatency } from "./resume.js";

/**
 * records: of the log written 1000 records per append, then caught up on by one reader; singles:
 * single-record appends, 256 in flight; timeoutMs: the bound of each throughput step.
 */
export type JetStreamPlan = Plan["jetstream"];

export const JETSTREAM_TITLE = "12. dlog on NATS JetStream";

const SIZE = 100;
const PER_APPEND = 1_000;
const PACKED_IN_FLIGHT = 8;
const SINGLES_IN_FLIGHT = 256;
const PACKED_LOG = "js-packed";
const SINGLES_LOG = "js-singles";
const OUTAGE_LOG = "js-outage";
/** Appends answered before a fault, so the probe runs at speed when it strikes. */
const PROBE_WARM_MS = 1_500;
/** The append probe's pace (test/cluster/append-probe.ts's default), and the raw publisher's. */
const PROBE_INTERVAL_MS = 5;
const OUTAGE_BOUND_MS = 30_000;

/** Figures of one backend (dlog on LevelDB, dlog on JetStream R1/R3), records/s. */
interface Backend {
  packed: Measurement | Error;
  singles: Measurement | Error;
  deliver: Measurement | Error;
}

/** latest.json's `jetstream` object. */
export interface JetStreamJson {
  cluster: string;
  /** records/s: dlog on LevelDB, dlog on JetStream R1/R3, raw JetStream R1/R3 with the same bytes. */
  append_1000_per_append_100B: Record<"leveldb" | "r1" | "r3" | "raw_r1" | "raw_r3", number | null>;
  append_1record_256inflight_100B: Record<"leveldb" | "r1" | "r3" | "raw_r1" | "raw_r3", number | null>;
  deliver_ack_1reader_100B: Record<"leveldb" | "r1" | "r3" | "raw_r1" | "raw_r3", number | null>;
  /** deliver + ack on R3 ÷ on LevelDB (issue 12's goal: ≥ 0.5). */
  deliver_r3_vs_leveldb: number | null;
  /** ms from the fault to the first answer of an append issued after it; lost/duplicates of the probe's answered appends. */
  leader_kill_write_outage_ms: Outage;
  graceful_leader_stop_write_outage_ms: Outage;
  /** ms from a Session call on the other gateway to its first record, the live session fenced. */
  takeover_across_gateways_ms: { samples: number; p50: number | null; p99: number | null; max: number | null };
  what: Record<string, string>;
}

interface Outage {
  runs: number[];
  median: number | null;
  max: number | null;
  answered: number;
  lost: number | null;
  duplicates: number | null;
  /** The same faults seen by a raw JetStream publisher (its stream led by the same node): ms per run, and publishes that failed (no PubAck in time, or no responders). */
  raw: { runs: number[]; median: number | null; max: number | null; failed: number };
}

const value = (m: Measurement | Error | undefined): number | null => (m === undefined || m instanceof Error ? null : num(m.value));
const perSecond = (count: number, ms: number): number => (ms > 0 ? (count * 1000) / ms : 0);

/** The three dlog workloads on one dlogd: packed appends, pipelined single appends, one reader catching up on the packed log. */
async function dlogBackend(d: Dlogd, label: string, plan: JetStreamPlan, step: Attempt): Promise<Backend> {
  const packed = await step(`jetstream: ${label} AppendStream ${PER_APPEND} records per append`, async () => {
    const r = await appendStream(d.logs, {
      log: PACKED_LOG,
      size: SIZE,
      recordsPerAppend: PER_APPEND,
      inFlight: PACKED_IN_FLIGHT,
      appends: Math.ceil(plan.records / PER_APPEND),
      timeoutMs: plan.timeoutMs,
    });
    return {
      name: label,
      value: perSecond(r.records, r.ms),
      unit: "rec/s",
      detail: `AppendStream, ${r.records} records in ${r.appends} appends, ${PACKED_IN_FLIGHT} in flight`,
    };
  });
  const singles = await step(`jetstream: ${label} AppendStream 1 record per append`, async () => {
    const r = await appendStream(d.logs, {
      log: SINGLES_LOG,
      size: SIZE,
      recordsPerAppend: 1,
      inFlight: SINGLES_IN_FLIGHT,
      appends: plan.singles,
      timeoutMs: plan.timeoutMs,
    });
    return { name: label, value: perSecond(r.records, r.ms), unit: "rec/s", detail: `AppendStream, ${r.records} appends, ${SINGLES_IN_FLIGHT} in flight` };
  });
  const deliver = await step(`jetstream: ${label} deliver + ack`, async () => {
    const target = Number((await d.logs.getLog({ log: PACKED_LOG })).recordCount);
    const r = await deliverAndAck(d.readers, PACKED_LOG, `bench-${Date.now().toString(36)}`, target, plan.timeoutMs);
    return {
      name: label,
      value: perSecond(r.records, r.ms),
      unit: "rec/s",
      detail: `ReaderService.Session, ${r.records} of ${target} records in ${r.batches} batches, one cumulative ack per batch, Session call → Drained`,
    };
  });
  return { packed, singles, deliver };
}

function measuredRow(m: Measurement | Error, name: string, reference: string): Row {
  return m instanceof Error ? errorRow(name, m) : row(name, m.value, m.unit, reference, m.detail ?? "");
}

/** Kills (or stops) the leader of `stream` under a running probe, `runs` times; the node is restarted and caught up after each. */
async function writeOutages(
  cluster: NatsCluster,
  gateway: Dlogd,
  stream: string,
  how: "kill9" | "stop",
  runs: number,
  step: Attempt,
): Promise<Outage & { notes: string[] }> {
  const client = createDlogClient({ address: gateway.address });
  const probe = startAppendProbe(client, OUTAGE_LOG, { prefix: how });
  const raw = await startRawOutageProbe(cluster.servers, `RAW_OUTAGE_${how.toUpperCase()}`, {
    replicas: 3,
    size: SIZE,
    intervalMs: PROBE_INTERVAL_MS,
    timeoutMs: 2_000,
  });
  const samples: number[] = [];
  const rawSamples: number[] = [];
  const notes: string[] = [];
  let failed = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const result = await step(`jetstream: ${how === "kill9" ? "kill -9" : "SIGTERM"} of the stream leader (${i + 1}/${runs})`, async () => {
        const leader = await cluster.streamLeader(stream);
        // Both probes' streams led by the node the fault strikes.
        await cluster.leadOn(raw.stream, leader);
        await sleep(PROBE_WARM_MS);
        if ((await cluster.streamLeader(stream)) !== leader) throw new Error("the entries stream's leader moved while the raw probe's was placed");
        const at = performance.now();
        if (how === "kill9") await cluster.kill9(leader);
        else await cluster.stop(leader);
        const [outageMs, rawMs] = await within(
          OUTAGE_BOUND_MS,
          "the first append (dlog) and publish (raw) answered after the fault",
          Promise.all([waitFor(() => probe.outageAfter(at).outageMs), waitFor(() => raw.outageAfter(at))]),
        );
        await cluster.restart(leader);
        await cluster.waitForCurrentStreams();
        return { outageMs, rawMs, leader };
      });
      if (result instanceof Error) notes.push(`run ${i + 1}: ${result.message.split("\n")[0]}`);
      else {
        samples.push(result.outageMs);
        rawSamples.push(result.rawMs);
        notes.push(`n${result.leader} ${result.outageMs.toFixed(0)} ms (raw ${result.rawMs.toFixed(0)} ms)`);
      }
    }
  } finally {
    await probe.stop();
    failed = (await raw.stop()).failed;
  }
  // Every answered append must be in the log exactly once: the fault tests' invariant, checked here too.
  const answered = probe.appends.filter((a) => a.answeredAt !== undefined);
  const counts = new Map<string, number>();
  let lost: number | null = null;
  let duplicates: number | null = null;
  try {
    for await (const r of client.read(OUTAGE_LOG, { from: "earliest" })) {
      const text = r.text();
      if (text.startsWith(`${how}-`)) counts.set(text, (counts.get(text) ?? 0) + 1);
    }
    lost = answered.filter((a) => !counts.has(a.payload)).length;
    duplicates = [...counts.values()].filter((c) => c > 1).length;
  } catch (error) {
    notes.push(`read back failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    client.close();
  }
  return {
    runs: samples,
    median: num(quantile(samples, 0.5)),
    max: num(Math.max(...samples)),
    answered: answered.length,
    lost,
    duplicates,
    raw: { runs: rawSamples, median: num(quantile(rawSamples, 0.5)), max: num(Math.max(...rawSamples)), failed },
    notes,
  };
}

async function waitFor<T>(get: () => T | undefined): Promise<T> {
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    await sleep(10);
  }
}

function outageRows(label: string, o: Outage & { notes: string[] }, expect: string): Row[] {
  const integrity = `${o.answered} probe appends answered: ${o.lost ?? "?"} lost, ${o.duplicates ?? "?"} stored twice`;
  const rawLabel = label.replace("JetStream R3:", "raw JetStream R3 publish:");
  const rawWhat = `the same faults; one publish every ${PROBE_INTERVAL_MS} ms, each on its own, its stream led by the same node; ${o.raw.failed} publishes failed (no PubAck within 2 s, or no responders)`;
  return [
    row(
      `${label}, median`,
      o.median ?? Number.NaN,
      "ms",
      `${expect}; ${ratio(o.median ?? Number.NaN, o.raw.median ?? Number.NaN, "raw JetStream")}`,
      `${o.runs.length} runs: ${o.notes.join("; ")}`,
    ),
    row(`${label}, max`, o.max ?? Number.NaN, "ms", "", integrity),
    row(`${rawLabel}, median`, o.raw.median ?? Number.NaN, "ms", "reference", rawWhat),
    row(`${rawLabel}, max`, o.raw.max ?? Number.NaN, "ms", "reference", ""),
  ];
}

/**
 * Runs the whole section; `leveldb` is a dlogd of this build on LevelDB (fsync on) for the same
 * workloads. Every dlogd and node it starts is stopped before it returns.
 */
export async function jetstreamSection(
  plan: JetStreamPlan,
  leveldb: Dlogd,
  step: Attempt,
  warmUp: (d: Dlogd) => Promise<unknown>,
): Promise<{ section: Section; json: JetStreamJson }> {
  const rows: Row[] = [];
  const cluster = await startNatsCluster();
  // An interrupted run (Ctrl-C) stops the nodes too, not only the dlogd processes.
  const stopCluster = onCleanup(() => cluster.close());
  const started: Dlogd[] = [];
  try {
    const gateway = async (replicas: number): Promise<Dlogd> => {
      const d = await startDlogd({ args: ["--storage", cluster.url, "--nats-prefix", `benchr${replicas}`, "--nats-replicas", String(replicas)] });
      started.push(d);
      await warmUp(d);
      return d;
    };
    const raw: Record<number, RawJetStreamFigures | Error> = {};
    for (const replicas of [1, 3]) {
      raw[replicas] = await step(`jetstream: raw JetStream R${replicas}`, () =>
        rawJetStream(`RAW_R${replicas}`, {
          servers: cluster.servers,
          replicas,
          size: SIZE,
          packedMessages: Math.ceil(plan.records / PER_APPEND),
          recordsPerMessage: PER_APPEND,
          packedWindow: PACKED_IN_FLIGHT,
          singles: plan.singles,
          singlesWindow: SINGLES_IN_FLIGHT,
          timeoutMs: plan.timeoutMs,
        }),
      );
    }
    const level = await dlogBackend(leveldb, "LevelDB", plan, step);
    const r1Gateway = await step("jetstream: gateway R1", () => gateway(1));
    const r1 = r1Gateway instanceof Error ? failedBackend(r1Gateway) : await dlogBackend(r1Gateway, "JetStream R1", plan, step);
    const r3Gateway = await step("jetstream: gateway R3", () => gateway(3));
    const r3 = r3Gateway instanceof Error ? failedBackend(r3Gateway) : await dlogBackend(r3Gateway, "JetStream R3", plan, step);

    const rawOf = (replicas: number, key: keyof RawJetStreamFigures): Measurement | Error => {
      const f = raw[replicas]!;
      return f instanceof Error ? f : f[key];
    };
    for (const [key, rawKey, what] of [
      ["packed", "publishPacked", `append, ${PER_APPEND} records per append`],
      ["singles", "publishSingles", "append, 1 record per append"],
      ["deliver", "consumeAck", "deliver + ack, 1 reader"],
    ] as const) {
      const levelValue = value(level[key]) ?? Number.NaN;
      rows.push(measuredRow(level[key], `LevelDB: ${what}`, "reference"));
      for (const [replicas, backend] of [
        [1, r1],
        [3, r3],
      ] as const) {
        const rawM = rawOf(replicas, rawKey);
        rows.push(rawM instanceof Error ? errorRow(`raw JetStream R${replicas}: ${what}`, rawM) : referenceRow(rawM));
        const m = backend[key];
        const v = value(m) ?? Number.NaN;
        rows.push(
          measuredRow(
            m,
            `JetStream R${replicas}: ${what}`,
            `${ratio(v, levelValue, "LevelDB")}; ${ratio(v, value(rawM) ?? Number.NaN, `raw JetStream R${replicas}`)}`,
          ),
        );
      }
    }

    const outage: { kill: (Outage & { notes: string[] }) | Error; stop: (Outage & { notes: string[] }) | Error; takeover: number[] | Error } = {
      kill: new Error("not run"),
      stop: new Error("not run"),
      takeover: new Error("not run"),
    };
    if (!(r3Gateway instanceof Error)) {
      const second = await step("jetstream: second R3 gateway", () => gateway(3));
      outage.kill = await writeOutages(cluster, r3Gateway, "benchr3_entries", "kill9", plan.leaderKills, step);
      outage.stop = await writeOutages(cluster, r3Gateway, "benchr3_entries", "stop", plan.gracefulStops, step);
      outage.takeover =
        second instanceof Error
          ? second
          : await step("jetstream: reader takeover across gateways", () =>
              resumeLatency(r3Gateway, PACKED_LOG, "takeover", "takeover of a live session", plan.takeovers, 120_000, [r3Gateway, second]),
            );
    }
    const killLabel = "JetStream R3: write outage after kill -9 of the log stream's leader";
    const stopLabel = "JetStream R3: write outage after SIGTERM of the log stream's leader";
    rows.push(
      ...(outage.kill instanceof Error ? [errorRow(killLabel, outage.kill)] : outageRows(killLabel, outage.kill, "issue 12 expects 4–7 s (Raft election)")),
    );
    rows.push(
      ...(outage.stop instanceof Error
        ? [errorRow(stopLabel, outage.stop)]
        : outageRows(stopLabel, outage.stop, "issue 12 expects < 100 ms (leadership handed over)")),
    );
    const takeoverLabel = "JetStream R3: reader takeover across gateways → first record";
    const takeover = outage.takeover;
    if (takeover instanceof Error) rows.push(errorRow(takeoverLabel, takeover));
    else {
      rows.push(
        row(
          `${takeoverLabel}, p50`,
          quantile(takeover, 0.5),
          "ms",
          "goal < 1000 ms",
          `${takeover.length} takeovers, alternating gateways; each fences the live session on the other gateway (checked: it ends ABORTED)`,
        ),
        row(`${takeoverLabel}, p99`, quantile(takeover, 0.99), "ms", "goal < 1000 ms", `max ${Math.max(...takeover).toFixed(0)} ms`),
      );
    }

    const deliverR3 = value(r3.deliver);
    const deliverLevel = value(level.deliver);
    const figures = (key: keyof Backend, rawKey: keyof RawJetStreamFigures) => ({
      leveldb: value(level[key]),
      r1: value(r1[key]),
      r3: value(r3[key]),
      raw_r1: value(rawOf(1, rawKey)),
      raw_r3: value(rawOf(3, rawKey)),
    });
    const outageJson = (o: (Outage & { notes: string[] }) | Error): Outage =>
      o instanceof Error
        ? { runs: [], median: null, max: null, answered: 0, lost: null, duplicates: null, raw: { runs: [], median: null, max: null, failed: 0 } }
        : { runs: o.runs, median: o.median, max: o.max, answered: o.answered, lost: o.lost, duplicates: o.duplicates, raw: o.raw };
    const json: JetStreamJson = {
      cluster: `3 nats-server nodes on loopback (one machine), sync_interval always, ${SIZE} B records`,
      append_1000_per_append_100B: figures("packed", "publishPacked"),
      append_1record_256inflight_100B: figures("singles", "publishSingles"),
      deliver_ack_1reader_100B: figures("deliver", "consumeAck"),
      deliver_r3_vs_leveldb: deliverR3 !== null && deliverLevel !== null && deliverLevel > 0 ? deliverR3 / deliverLevel : null,
      leader_kill_write_outage_ms: outageJson(outage.kill),
      graceful_leader_stop_write_outage_ms: outageJson(outage.stop),
      takeover_across_gateways_ms:
        takeover instanceof Error
          ? { samples: 0, p50: null, p99: null, max: null }
          : { samples: takeover.length, p50: num(quantile(takeover, 0.5)), p99: num(quantile(takeover, 0.99)), max: num(Math.max(...takeover)) },
      what: {
        leveldb: "dlogd on LevelDB (fsync on), same workloads",
        r1: "dlogd --storage nats:// --nats-replicas 1",
        r3: "dlogd --storage nats:// --nats-replicas 3",
        raw: `@nats-io/jetstream 3.x: a message of ${PER_APPEND} × ${SIZE} B per packed append, ${SIZE} B per single; durable pull consumer acking each message`,
        outage: "TypeScript client appender, one append every 5 ms; ms from the fault to the answer of the first append issued after it",
        outage_raw:
          "@nats-io/jetstream 3.x, one 100 B publish every 5 ms, none waiting for another, PubAck timeout 2 s, on an R3 stream led by the same node; ms from the fault to the PubAck of the first publish issued after it",
      },
    };
    const section: Section = {
      title: JETSTREAM_TITLE,
      intro:
        `A 3-node nats-server cluster on loopback (test/helpers/nats-cluster.ts; sync_interval always: every write fsynced before it is acknowledged; all on this one machine, so the replicas' fsyncs share its disk and cores). ` +
        `The same workloads on a LevelDB dlogd, on a gateway with --nats-replicas 1 and on one with 3: AppendStream with ${PER_APPEND} records of ${SIZE} B per append (${PACKED_IN_FLIGHT} in flight; ${plan.records} records), ` +
        `single-record appends (${SINGLES_IN_FLIGHT} in flight; ${plan.singles}), and one reader catching up on the first log (one cumulative ack per batch, Session call → Drained). ` +
        `Raw JetStream is the same bytes without dlog: one ${PER_APPEND * SIZE} B message per packed append and one ${SIZE} B message per single (the same number in flight), and a durable pull consumer acking each message. ` +
        `Failures (R3, a second gateway on the same cluster): a TypeScript client appender (retrying, idempotent) appends one record every 5 ms through a gateway while the node leading the entries stream is killed with -9 (${plan.leaderKills}×) or stopped with SIGTERM (${plan.gracefulStops}×), then restarted and caught up; ` +
        `the outage is the time from the fault to the answer of the first append issued after it; the log is then read back to count lost and duplicated appends. ` +
        `In the same faults a raw JetStream publisher (one ${SIZE} B message every ${PROBE_INTERVAL_MS} ms, none waiting for another, on an R3 stream whose leader is first moved to the node struck) is timed the same way. ` +
        `Takeover: ${plan.takeovers} sessions of one reader alternate between the two gateways, each fencing the live one (bench/resume.ts).`,
      rows,
    };
    return { section, json };
  } finally {
    await Promise.all(started.map((d) => d.stop()));
    await stopCluster();
  }
}

function failedBackend(error: Error): Backend {
  return { packed: error, singles: error, deliver: error };
}
