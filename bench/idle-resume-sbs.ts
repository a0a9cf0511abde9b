/**
 * Idle-session memory and resume latency of two dlogd builds, side by side in one run: `--before DIR`
 * is another checkout's built tree (its own bin/dlogd.js, e.g. main's), the other side is this build.
 * Sides are taken in turns (A B, then B A) so that whatever else the shared machine does falls on both.
 * Each round starts fresh dlogds: one for the idle sessions (nothing else in its RSS), one for resumes.
 *
 *   node dist/bench/idle-resume-sbs.js --before /path/to/main [--rounds 2] [--iterations 200] [--sessions 1000] [--window 100] [--cpu-prof DIR]
 *
 * `--sessions 0` leaves the idle sessions out; `--window N`: the resumed sessions' max_outstanding_records.
 */
import { resolve } from "node:path";
import type { startDlogd as StartDlogd } from "./dlogd-process.js";
import { startDlogd as startThisDlogd } from "./dlogd-process.js";
import { importDlogdProcess } from "./other-build.js";
import { appendStream } from "./append.js";
import { idleSessions } from "./idle-sessions.js";
import { loopNote } from "./loop-monitor.js";
import { RESUME_WINDOW, type ResumeMode, resumeLatency } from "./resume.js";
import { quantile } from "./stats.js";
import { warmUp } from "./warm-up.js";

interface Side {
  label: string;
  start: typeof StartDlogd;
}

interface Args {
  before: string;
  rounds: number;
  iterations: number;
  sessions: number;
  window: number;
  cpuProfDir: string | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { before: "", rounds: 2, iterations: 200, sessions: 1_000, window: RESUME_WINDOW, cpuProfDir: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--before") args.before = resolve(value);
    else if (flag === "--cpu-prof") args.cpuProfDir = resolve(value);
    else if (flag === "--rounds" || flag === "--iterations" || flag === "--sessions" || flag === "--window") {
      const n = Number(value);
      const min = flag === "--sessions" ? 0 : 1;
      if (!Number.isSafeInteger(n) || n < min || n > 100_000) throw new Error(`${flag} "${value}" is not a whole number from ${min} to 100000`);
      args[flag.slice(2) as "rounds" | "iterations" | "sessions" | "window"] = n;
    } else throw new Error(`unknown argument "${flag}"; expected --before DIR, --rounds N, --iterations N, --sessions N, --window N, --cpu-prof DIR`);
  }
  if (args.before === "") throw new Error("--before DIR (a built checkout to compare with) is required");
  return args;
}

const MODES: ResumeMode[] = ["drained, same channel", "drained, new channel", "takeover of a live session"];
/** Each resume acks one batch (100 records) more of its reader's log: enough for every iteration and a spare entry. */
const resumeRecords = (iterations: number): number => Math.ceil((iterations + 2) / 10) * 1_000;

interface RoundResult {
  kib: number;
  heapMiB: number;
  externalMiB: number;
  resume: Record<string, number[]>;
  loop: string;
}

async function round(side: Side, args: Args, tag: string): Promise<RoundResult> {
  let kib = Number.NaN;
  let heapMiB = Number.NaN;
  let externalMiB = Number.NaN;
  if (args.sessions > 0) {
    const idle = await side.start();
    try {
      await warmUp(idle, true);
      const r = await idleSessions(idle, "idle", args.sessions, 60_000);
      kib = r.kibPerSession;
      heapMiB = r.heapAfterMiB - r.heapBeforeMiB;
      externalMiB = r.externalAfterMiB - r.externalBeforeMiB;
    } finally {
      await idle.stop();
    }
  }
  const d = await side.start(args.cpuProfDir === undefined ? {} : { cpuProfDir: `${args.cpuProfDir}/${side.label}-${tag}` });
  try {
    await warmUp(d, true);
    await appendStream(d.logs, {
      log: "catchup-100",
      size: 100,
      recordsPerAppend: 1_000,
      inFlight: 8,
      appends: resumeRecords(args.iterations) / 1_000,
      timeoutMs: 60_000,
    });
    const resume: Record<string, number[]> = {};
    await d.loopReport();
    for (const [i, mode] of MODES.entries())
      resume[mode] = await resumeLatency(d, "catchup-100", `resume-${tag}-${i}`, mode, args.iterations, 60_000, [d], args.window);
    const loop = loopNote(side.label, await d.loopReport());
    return { kib, heapMiB, externalMiB, resume, loop };
  } finally {
    await d.stop();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const before = await importDlogdProcess(`${args.before}/dist`);
  const sides: [Side, Side] = [
    { label: "before", start: before.startDlogd },
    { label: "after", start: startThisDlogd },
  ];
  const results: [RoundResult[], RoundResult[]] = [[], []];
  for (let r = 0; r < args.rounds; r++) {
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
      process.stderr.write(`round ${r + 1}/${args.rounds}: ${sides[i]!.label}\n`);
      const result = await round(sides[i]!, args, `${r}`);
      results[i]!.push(result);
      const perMode = MODES.map((mode) => {
        const samples = result.resume[mode] ?? [];
        return `${mode}: p50 ${quantile(samples, 0.5).toFixed(2)} / p99 ${quantile(samples, 0.99).toFixed(2)} ms`;
      });
      process.stderr.write(`  ${result.kib.toFixed(1)} KiB/session; ${perMode.join("; ")}; ${result.loop}\n`);
    }
  }
  for (const [i, side] of sides.entries()) {
    const rs = results[i]!;
    const line = [`${side.label}: idle KiB/session ${rs.map((x) => x.kib.toFixed(1)).join(", ")}`];
    line.push(`heap +${rs.map((x) => x.heapMiB.toFixed(2)).join(", ")} MiB, external +${rs.map((x) => x.externalMiB.toFixed(2)).join(", ")} MiB`);
    for (const mode of MODES) {
      const samples = rs.flatMap((x) => x.resume[mode] ?? []);
      line.push(
        `resume (${mode}) p50 ${quantile(samples, 0.5).toFixed(2)} / p90 ${quantile(samples, 0.9).toFixed(2)} / p99 ${quantile(samples, 0.99).toFixed(2)} / max ${Math.max(...samples).toFixed(2)} ms (${samples.length})`,
      );
    }
    process.stdout.write(`${line.join("\n  ")}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`idle-resume-sbs: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
