/**
 * Tail latency alone, for finding where its tail comes from: `node dist/bench/tail-probe.js [--dist DIR]…
 * [--variant 'LABEL:ARG…']… [--floor] [--producer unary|appender] [--prefill N] [--rounds R] [--rate R] [--ms MS]
 * [--no-fsync] [--node-arg A] [--dlogd-arg A] [--linger-ms MS (the appender producer's linger)]`.
 * Starts one dlogd per dist (this build, or the dist/ of another checkout: before/after in one run, the
 * appender producer from that build's TypeScript client too) and
 * variant (dlogd flags, NAME=VALUE environment entries such as UV_THREADPOOL_SIZE=16, and node:FLAG node
 * flags such as node:--single-threaded-gc), warms each up,
 * optionally fills a log first (the bench measures its tail after a million-record prefill), then tails
 * `rounds` times, the sides in turns (order reversed every other round), and prints the quantiles with
 * dlogd's loop delay, GC and storage-write notes. `--floor` adds the disk's own floor in the same turns
 * (`groupCommitFloor`: the same arrivals, group-committed by classic-level alone, each record's time from
 * its arrival to its fsync). At the end, every side's rounds pooled.
 */
import { parseArgs } from "node:util";
import type * as DlogdProcess from "./dlogd-process.js";
import { importDlogdProcess, importTsClient } from "./other-build.js";
import { loopNote, startLoopMonitor, storageNote } from "./loop-monitor.js";
import { quantile } from "./stats.js";
import { groupCommitFloor, tailLatency } from "./tail-latency.js";
import type * as TsClient from "./ts-client.js";
import { appendStream } from "./append.js";
import { warmUp } from "./warm-up.js";

const { values } = parseArgs({
  options: {
    dist: { type: "string", multiple: true },
    variant: { type: "string", multiple: true },
    floor: { type: "boolean", default: false },
    producer: { type: "string", default: "unary" },
    prefill: { type: "string", default: "0" },
    rounds: { type: "string", default: "1" },
    rate: { type: "string", default: "2000" },
    ms: { type: "string", default: "5000" },
    "no-fsync": { type: "boolean", default: false },
    "node-arg": { type: "string", multiple: true },
    "dlogd-arg": { type: "string", multiple: true },
    "linger-ms": { type: "string" },
  },
});

interface Variant {
  label: string;
  args: string[];
  env: Record<string, string>;
  nodeArgs: string[];
}

/** "pool16:UV_THREADPOOL_SIZE=16 --ack-flush-interval 1000 node:--single-threaded-gc" → label, dlogd flags, environment, node flags. */
function parseVariant(text: string): Variant {
  const colon = text.indexOf(":");
  const label = colon < 0 ? text : text.slice(0, colon);
  const words =
    colon < 0
      ? []
      : text
          .slice(colon + 1)
          .split(/\s+/)
          .filter((w) => w !== "");
  const env: Record<string, string> = {};
  const args: string[] = [];
  const nodeArgs: string[] = [];
  for (const word of words) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (assignment) env[assignment[1]!] = assignment[2]!;
    else if (word.startsWith("node:")) nodeArgs.push(word.slice("node:".length));
    else args.push(word);
  }
  return { label, args, env, nodeArgs };
}

/** Sets `env` in this process's environment (which startDlogd passes on) while `body` starts a child. */
async function withEnv<T>(env: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await body();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

if (values["linger-ms"] !== undefined && values.producer !== "appender")
  throw new Error("--linger-ms sets the appender's linger: it needs --producer appender");
const dists = values.dist ?? [new URL("..", import.meta.url).pathname];
const variants = (values.variant ?? ["default"]).map(parseVariant);
const rate = Number(values.rate);
const ms = Number(values.ms);
const f = (v: number): string => v.toFixed(1);
const q = (xs: number[]): string =>
  `p50 ${f(quantile(xs, 0.5))} p99 ${f(quantile(xs, 0.99))} p99.9 ${f(quantile(xs, 0.999))} max ${f(xs.length === 0 ? Number.NaN : Math.max(...xs))}`;

interface Side {
  label: string;
  /** One round: prints its notes, returns the delivery latencies (or the floor's put times). */
  round(round: number): Promise<number[]>;
  pooled: number[];
  stop(): Promise<void>;
}

const sides: Side[] = [];
try {
  for (const dist of dists) {
    const mod = await importDlogdProcess(dist);
    // That build's TypeScript client too: a before/after of the appender is one as well (the measuring stays this build's).
    const client = await importTsClient(dist);
    for (const variant of variants) {
      const args = [...(values["no-fsync"] ? ["--no-fsync"] : []), ...(values["dlogd-arg"] ?? []), ...variant.args];
      const d = await withEnv(variant.env, () => mod.startDlogd({ args, nodeArgs: [...(values["node-arg"] ?? []), ...variant.nodeArgs] }));
      const label = `${dists.length > 1 ? dist : ""}${variants.length > 1 || dists.length === 1 ? ` [${variant.label}]` : ""}`.trim();
      sides.push({ label, pooled: [], stop: () => d.stop(), round: (round) => tailRound(d, client.withAppender, label, round) });
      await warmUp(d, true);
      const prefill = Number(values.prefill);
      if (prefill > 0)
        await appendStream(d.logs, { log: "prefill", size: 100, recordsPerAppend: 1000, inFlight: 8, appends: prefill / 1000, timeoutMs: 180_000 });
    }
  }
  if (values.floor) {
    sides.push({
      label: "[disk floor: the same arrivals group-committed by classic-level alone]",
      pooled: [],
      stop: async () => undefined,
      async round(round) {
        const floor = await groupCommitFloor({ ratePerSec: rate, durationMs: ms, size: 100, warmup: 200 });
        console.log(`[disk floor] round ${round}: arrival → fsynced ${q(floor)}`);
        return floor;
      },
    });
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) side.pooled.push(...(await side.round(round)));
  }
  console.log(`\nall rounds pooled (${values.producer} producer, ${rate}/s, ${values["no-fsync"] ? "no fsync" : "fsync"}):`);
  for (const side of sides) console.log(`  ${side.label}: ${q(side.pooled)} (${side.pooled.length})`);
} finally {
  for (const side of sides) await side.stop();
}

async function tailRound(d: DlogdProcess.Dlogd, withAppender: typeof TsClient.withAppender, label: string, round: number): Promise<number[]> {
  await d.loopReport();
  const client = startLoopMonitor();
  const serverCpu0 = await d.cpuSeconds();
  const clientCpu0 = process.cpuUsage();
  const log = `tail-${round}-${Date.now().toString(36)}`;
  const run = (produce?: (payload: Buffer) => Promise<unknown>) =>
    tailLatency(d.logs, d.readers, { log, size: 100, ratePerSec: rate, durationMs: ms, warmup: 200, produce });
  const appenderOptions = values["linger-ms"] === undefined ? {} : { lingerMs: Number(values["linger-ms"]) };
  const r = values.producer === "unary" ? await run() : await withAppender(d.address, log, run, appenderOptions);
  const serverCpu = (await d.cpuSeconds()) - serverCpu0;
  const clientCpu = process.cpuUsage(clientCpu0);
  const server = await d.loopReport();
  const c = client.take();
  client.stop();
  console.log(
    `${label} round ${round}: delivery ${q(r.delivery)}; answer ${q(r.appendAck)}; to server ${q(r.toServer)}; ${r.sent} sent ${r.received} received`,
  );
  // The whole round's CPU (warm-up included) over the records sent: what one appended-and-delivered record costs each process.
  const perRecord = (seconds: number): string => `${((seconds * 1e6) / Math.max(1, r.sent)).toFixed(0)} µs`;
  const clientSeconds = (clientCpu.user + clientCpu.system) / 1e6;
  console.log(
    `  CPU per record: dlogd ${perRecord(serverCpu)} (${((serverCpu * 100_000) / r.ms).toFixed(0)} % of a core), client ${perRecord(clientSeconds)} (${((clientSeconds * 100_000) / r.ms).toFixed(0)} %)`,
  );
  console.log(`  ${loopNote("dlogd", server)}`);
  if (server.storage) console.log(`  ${storageNote(server.storage)}`);
  console.log(`  ${loopNote("client", c)}`);
  return r.delivery;
}
