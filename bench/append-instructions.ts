/**
 * Instructions dlogd executes per append, counted by valgrind's callgrind: exact and
 * load-independent where wall-clock rates on a shared machine are not, so two builds compare in
 * one run. dlogd runs under callgrind (with its metrics on, as in the bench), the client here
 * natively. Each workload runs five times over to warm the JIT, then counting is zeroed, it runs
 * again and the counts are dumped, per thread: the main thread (JavaScript, the event loop) and all
 * threads (with LevelDB's writes on the thread pool, GC and the JIT's background compiles):
 *   - unary Append of one 100 B record, 1 in flight (per call), next to unary GetLog (per call);
 *   - AppendStream requests of 1000 records each (what the appender sends when it batches; per record).
 *
 *   node dist/bench/append-instructions.js [--calls 300] [--fsync] bin/dlogd.js [other/bin/dlogd.js ...]
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { createChannel, createClient } from "nice-grpc";
import { LogServiceDefinition, type LogServiceClient } from "../src/gen/dlog/v1/log.js";
import { appendStream, appendUnary, getLogCalls } from "./append.js";

const run = promisify(execFile);
const START_TIMEOUT_MS = 300_000;
const RUN_TIMEOUT_MS = 600_000;

interface Workload {
  name: string;
  /** Runs the workload; the operations it counts. */
  run(logs: LogServiceClient, round: string): Promise<number>;
}

function workloads(calls: number): Workload[] {
  return [
    {
      name: "unary Append, 1 record, 1 in flight (per call)",
      run: async (logs, round) =>
        (await appendUnary(logs, { log: `unary-${round}`, size: 100, recordsPerAppend: 1, inFlight: 1, appends: calls, timeoutMs: RUN_TIMEOUT_MS })).appends,
    },
    {
      name: "unary GetLog, 1 in flight (per call)",
      run: async (logs) => (await getLogCalls(logs, "unary-warm", 1, calls, RUN_TIMEOUT_MS)).calls,
    },
    {
      name: "AppendStream, 1000 records per request, 4 in flight (per record)",
      run: async (logs, round) =>
        (
          await appendStream(logs, {
            log: `bulk-${round}`,
            size: 100,
            recordsPerAppend: 1000,
            inFlight: 4,
            appends: Math.max(4, calls / 10),
            timeoutMs: RUN_TIMEOUT_MS,
          })
        ).records,
    },
  ];
}

async function startUnderCallgrind(dlogd: string, dir: string, fsync: boolean): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(
    "valgrind",
    [
      "--tool=callgrind",
      `--callgrind-out-file=${join(dir, "callgrind.%p")}`,
      "--dump-line=no",
      "--separate-threads=yes",
      process.execPath,
      dlogd,
      "--listen",
      "127.0.0.1:0",
      "--metrics-listen",
      "127.0.0.1:0",
      "--data-dir",
      join(dir, "data"),
      ...(fsync ? [] : ["--no-fsync"]),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let output = "";
  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => reject(new Error(`dlogd under callgrind did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      output = (output + chunk).slice(-20_000);
      const line = output.split("\n").find((l) => l.includes('"dlogd listening"'));
      const address = line === undefined ? undefined : (JSON.parse(line) as { address?: string }).address;
      if (address !== undefined) {
        clearTimeout(timer);
        resolveAddress(address);
      }
    });
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`dlogd exited before listening:\n${output}`));
    });
  });
  return { child, address };
}

/**
 * Instructions since the last zeroing, of the main thread and of all threads: callgrind_control
 * dumps one file per thread (`callgrind.PID.N-TT`, thread 01 the main one), each with a `summary:` line.
 */
async function dumpInstructions(pid: number, dir: string): Promise<{ main: number; all: number }> {
  const before = new Set(await readdir(dir));
  await run("callgrind_control", ["--dump", String(pid)]);
  for (let i = 0; i < 600; i++) {
    const fresh = (await readdir(dir)).filter((name) => name.startsWith(`callgrind.${pid}.`) && !before.has(name));
    if (fresh.length > 0) {
      // Every thread's file is written before the command returns; a short wait covers the file system.
      await new Promise((r) => setTimeout(r, 500));
      let main = 0;
      let all = 0;
      for (const name of (await readdir(dir)).filter((n) => n.startsWith(`callgrind.${pid}.`) && !before.has(n))) {
        const text = await readFile(join(dir, name), "utf8");
        const summary = /^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text);
        const count = summary ? Number(summary[1]) : 0;
        all += count;
        if (name.endsWith("-01")) main += count;
      }
      return { main, all };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("callgrind wrote no dump");
}

async function measure(dlogd: string, calls: number, fsync: boolean): Promise<Map<string, { main: number; all: number }>> {
  const dir = await mkdtemp(join(tmpdir(), "dlog-append-instructions-"));
  const { child, address } = await startUnderCallgrind(dlogd, dir, fsync);
  const channel = createChannel(address);
  const counts = new Map<string, { main: number; all: number }>();
  try {
    const logs = createClient(LogServiceDefinition, channel);
    await logs.createLog({ log: "unary-warm" });
    const pid = child.pid!;
    for (const workload of workloads(calls)) {
      for (let i = 0; i < 5; i++) await workload.run(logs, "warm");
      await run("callgrind_control", ["--zero", String(pid)]);
      const ops = await workload.run(logs, "counted");
      const { main, all } = await dumpInstructions(pid, dir);
      counts.set(workload.name, { main: main / ops, all: all / ops });
    }
    return counts;
  } finally {
    channel.close();
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
    if (process.env["DLOG_KEEP_CALLGRIND"] === undefined) await rm(dir, { recursive: true, force: true });
    else console.log(`callgrind dumps kept in ${dir}`);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let calls = 300;
  const at = args.indexOf("--calls");
  if (at >= 0) {
    calls = Number(args.splice(at, 2)[1]);
    if (!Number.isSafeInteger(calls) || calls < 10) throw new Error("--calls takes an integer >= 10");
  }
  const fsyncAt = args.indexOf("--fsync");
  const fsync = fsyncAt >= 0;
  if (fsync) args.splice(fsyncAt, 1);
  if (args.length === 0) throw new Error("name at least one bin/dlogd.js");
  const results: Array<{ dlogd: string; counts: Map<string, { main: number; all: number }> }> = [];
  for (const dlogd of args) results.push({ dlogd, counts: await measure(resolve(dlogd), calls, fsync) });
  console.log(`dlogd instructions per operation, main thread / all threads (${calls} calls per unary workload, fsync ${fsync ? "on" : "off"})`);
  const [first, ...rest] = results;
  for (const name of first!.counts.keys()) {
    const cells = results.map((r) => `${Math.round(r.counts.get(name)!.main)} / ${Math.round(r.counts.get(name)!.all)}`);
    const ratios = rest.map((r) => `${(r.counts.get(name)!.main / first!.counts.get(name)!.main).toFixed(3)}x main`);
    console.log(`${name}\t${cells.join("\t")}${ratios.length > 0 ? `\t(${ratios.join(", ")} of the first)` : ""}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
