/**
 * Unary Append next to unary GetLog, 1 in flight, for two or more builds in one run:
 * `node dist/bench/unary-side-by-side.js [--dist DIR]… [--rounds R] [--calls N] [--no-fsync]`.
 * One dlogd per dist (this build by default, or the dist/ of another checkout), each warmed up; then
 * in turns (order reversed every other round) each side runs N awaited single-record (100 B) Appends
 * and N awaited GetLogs. The figure is Append ÷ GetLog of one side in one round: GetLog is the
 * same unary call without storage, so the ratio says what the append path costs on top of the call.
 */
import { parseArgs } from "node:util";
import { appendUnary, getLogCalls } from "./append.js";
import type * as DlogdProcess from "./dlogd-process.js";
import { importDlogdProcess } from "./other-build.js";
import { quantile } from "./stats.js";
import { warmUp } from "./warm-up.js";

const { values } = parseArgs({
  options: {
    dist: { type: "string", multiple: true },
    rounds: { type: "string", default: "6" },
    calls: { type: "string", default: "3000" },
    "no-fsync": { type: "boolean", default: false },
  },
});

const RUN_TIMEOUT_MS = 120_000;
const dists = values.dist ?? [new URL("..", import.meta.url).pathname];
const calls = Number(values.calls);

interface Side {
  label: string;
  d: DlogdProcess.Dlogd;
  ratios: number[];
  appendRates: number[];
  getLogRates: number[];
}

const sides: Side[] = [];
try {
  for (const dist of dists) {
    const mod = await importDlogdProcess(dist);
    const d = await mod.startDlogd({ args: values["no-fsync"] ? ["--no-fsync"] : [] });
    sides.push({ label: dist, d, ratios: [], appendRates: [], getLogRates: [] });
    await warmUp(d, true);
    await d.logs.createLog({ log: "unary-getlog" });
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const log = `unary-${round}`;
      const append = await appendUnary(side.d.logs, { log, size: 100, recordsPerAppend: 1, inFlight: 1, appends: calls, timeoutMs: RUN_TIMEOUT_MS });
      const getLog = await getLogCalls(side.d.logs, "unary-getlog", 1, calls, RUN_TIMEOUT_MS);
      const appendRate = (append.appends * 1000) / append.ms;
      const getLogRate = (getLog.calls * 1000) / getLog.ms;
      side.appendRates.push(appendRate);
      side.getLogRates.push(getLogRate);
      side.ratios.push(appendRate / getLogRate);
      console.log(
        `${side.label} round ${round}: Append ${appendRate.toFixed(0)}/s, GetLog ${getLogRate.toFixed(0)}/s, ratio ${(appendRate / getLogRate).toFixed(3)}`,
      );
    }
  }
  console.log(`\nmedians over ${values.rounds} rounds (${calls} calls each, fsync ${values["no-fsync"] ? "off" : "on"}):`);
  for (const side of sides) {
    const m = (xs: number[]): number => quantile(xs, 0.5);
    console.log(
      `  ${side.label}: Append ${m(side.appendRates).toFixed(0)}/s, GetLog ${m(side.getLogRates).toFixed(0)}/s, Append ÷ GetLog ${m(side.ratios).toFixed(3)} (rounds ${side.ratios.map((r) => r.toFixed(3)).join(" ")})`,
    );
  }
} finally {
  for (const side of sides) await side.d.stop();
}
