/**
 * Tail latency alone, for finding where its tail comes from: `node dist/bench/tail-probe.js [--dist DIR]
 * [--producer unary|appender] [--prefill N] [--rounds R] [--rate R] [--ms MS] [--no-fsync] [--node-arg A]`.
 * Starts a dlogd (this build, or the dist/ of another checkout: before/after in one run), warms it up,
 * optionally fills a log first (the bench measures its tail after a million-record prefill), then
 * tails `rounds` times and prints the quantiles with dlogd's loop delay and GC notes.
 */
import { parseArgs } from "node:util";
import type * as DlogdProcess from "./dlogd-process.js";
import { loopNote, startLoopMonitor } from "./loop-monitor.js";
import { quantile } from "./stats.js";
import { tailLatency } from "./tail-latency.js";
import { withAppender } from "./ts-client.js";
import { appendStream } from "./append.js";
import { warmUp } from "./warm-up.js";

const { values } = parseArgs({
  options: {
    dist: { type: "string", multiple: true },
    producer: { type: "string", default: "unary" },
    prefill: { type: "string", default: "0" },
    rounds: { type: "string", default: "1" },
    rate: { type: "string", default: "2000" },
    ms: { type: "string", default: "5000" },
    "no-fsync": { type: "boolean", default: false },
    "node-arg": { type: "string", multiple: true },
    "dlogd-arg": { type: "string", multiple: true },
  },
});

const dists = values.dist ?? [new URL("..", import.meta.url).pathname];
const f = (v: number): string => v.toFixed(1);

const sides: Array<{ dist: string; d: DlogdProcess.Dlogd }> = [];
try {
  for (const dist of dists) {
    const mod = (await import(new URL("bench/dlogd-process.js", `file://${dist.replace(/\/?$/, "/")}`).href)) as typeof DlogdProcess;
    const args = [...(values["no-fsync"] ? ["--no-fsync"] : []), ...(values["dlogd-arg"] ?? [])];
    const d = await mod.startDlogd({ args, nodeArgs: values["node-arg"] ?? [] });
    await warmUp(d, true);
    const prefill = Number(values.prefill);
    if (prefill > 0)
      await appendStream(d.logs, { log: "prefill", size: 100, recordsPerAppend: 1000, inFlight: 8, appends: prefill / 1000, timeoutMs: 180_000 });
    sides.push({ dist, d });
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const { dist, d } of round % 2 === 0 ? sides : [...sides].reverse()) {
      await d.loopReport();
      const client = startLoopMonitor();
      const log = `tail-${round}-${Date.now().toString(36)}`;
      const run = (produce?: (payload: Buffer) => Promise<unknown>) =>
        tailLatency(d.logs, d.readers, { log, size: 100, ratePerSec: Number(values.rate), durationMs: Number(values.ms), warmup: 200, produce });
      const r = values.producer === "unary" ? await run() : await withAppender(d.address, log, run);
      const server = await d.loopReport();
      const c = client.take();
      client.stop();
      const q = (xs: number[]) => `p50 ${f(quantile(xs, 0.5))} p99 ${f(quantile(xs, 0.99))} p99.9 ${f(quantile(xs, 0.999))} max ${f(Math.max(...xs))}`;
      console.log(
        `${dist} round ${round}: delivery ${q(r.delivery)}; answer ${q(r.appendAck)}; to server ${q(r.toServer)}; ${r.sent} sent ${r.received} received`,
      );
      console.log(`  ${loopNote("dlogd", server)}`);
      console.log(`  ${loopNote("client", c)}`);
    }
  }
} finally {
  for (const { d } of sides) await d.stop();
}
