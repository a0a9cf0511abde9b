/**
 * The bench's appender row (bench/ts-client.ts appenderSingles: one 100 B record per
 * `appender.append()` call, fsync on) against two builds in one run, taken in turns (A B, B A, …)
 * so that whatever else the shared machine does falls on both alike. A build is a directory with
 * `dist/` and `bin/` (a copy of a built worktree); a side may take its dlogd from one build and
 * its client from another, to see which half a change speeds up. Each round runs the client in a
 * fresh process (warmed up first, like the bench's own process) against the side's dlogd, and
 * reports records/s and the CPU each process spent per record: on a busy machine the CPU per
 * record moves far less than the rate.
 *
 *   node dist/bench/appender-side-by-side.js [--rounds 6] [--records 200000] [--size 100] [--cpu-prof DIR] \
 *     before=/tmp/base after=. [mixed=/tmp/base,.]
 *
 * `--size` changes the payload size from the bench's 100 B (e.g. 1000: a batch of 1000 records is then
 * a full maxBatchBytes, which is where the in-flight bound decides how many batches overlap).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Dlogd, DlogdOptions } from "./dlogd-process.js";
import { importDlogdProcess, importTsClient } from "./other-build.js";

const SELF = fileURLToPath(import.meta.url);
const WARM_UP_RECORDS = 100_000;
const TIMEOUT_MS = 120_000;

interface Side {
  label: string;
  serverRoot: string;
  clientRoot: string;
}

interface RoundResult {
  rate: number;
  clientCpuUs: number;
  serverCpuUs: number;
}

/** In the client process: warm up, say so, wait for "go", run the measured row, print its figures, wait for stdin to end. */
async function child(clientRoot: string, address: string, records: number, size: number): Promise<void> {
  const { appenderSingles } = await importTsClient(`${clientRoot}/dist`);
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await appenderSingles(address, `warm-${process.pid}`, WARM_UP_RECORDS, size, TIMEOUT_MS);
  console.log("warm");
  while (!(await lines.next()).done) {
    const cpu0 = process.cpuUsage();
    const run = await appenderSingles(address, `row-${process.pid}-${Date.now()}`, records, size, TIMEOUT_MS);
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({ records: run.records, ms: run.ms, cpuS: (cpu.user + cpu.system) / 1e6 }));
  }
}

export interface ClientRun {
  records: number;
  ms: number;
  /** The client process's CPU seconds (user + system) over the run. */
  cpuS: number;
}

/** A client process of `clientRoot`'s build (started through `wrapper`, e.g. valgrind, when given), warmed up against `address`. */
export interface AppenderClient {
  /** The process id (valgrind, when it wraps the client, runs it in this same process). */
  pid: number;
  /** Resolves once the client has warmed up. */
  warm: Promise<void>;
  /** Runs the appender row once more and resolves with its figures. */
  run(): Promise<ClientRun>;
  /** Ends the client process and waits for it. */
  finish(): Promise<void>;
}

export function spawnAppenderClient(
  clientRoot: string,
  address: string,
  records: number,
  wrapper: string[] = [],
  nodeArgs: string[] = [],
  size = 100,
): AppenderClient {
  const command = [...wrapper, process.execPath, ...nodeArgs, SELF, "--child", clientRoot, address, String(records), String(size)];
  const proc: ChildProcess = spawn(command[0]!, command.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<number | null>((done) => proc.once("exit", (code) => done(code)));
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error(`the appender client of ${clientRoot} exited (${await exited}) early`);
    return line.value;
  };
  const warm = (async () => {
    for (let line = await nextLine(); line !== "warm"; line = await nextLine());
  })();
  return {
    pid: proc.pid!,
    warm,
    async run() {
      await warm;
      proc.stdin!.write("go\n");
      for (let line = await nextLine(); ; line = await nextLine()) if (line.startsWith("{")) return JSON.parse(line) as ClientRun;
    },
    async finish() {
      proc.stdin!.end();
      await exited;
    },
  };
}

async function round(side: Side, d: Dlogd, records: number, size: number, cpuProfDir: string | undefined): Promise<RoundResult> {
  const nodeArgs =
    cpuProfDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=client-${side.label}-${Date.now()}.cpuprofile`];
  const client = spawnAppenderClient(side.clientRoot, d.address, records, [], nodeArgs, size);
  try {
    await client.warm;
    const serverCpu0 = await d.cpuSeconds();
    const result = await client.run();
    const serverCpuS = (await d.cpuSeconds()) - serverCpu0;
    return {
      rate: (result.records * 1000) / result.ms,
      clientCpuUs: (result.cpuS * 1e6) / result.records,
      serverCpuUs: (serverCpuS * 1e6) / result.records,
    };
  } finally {
    await client.finish();
  }
}

function parseSide(arg: string): Side {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new Error(`a side is label=root or label=serverRoot,clientRoot, not ${arg}`);
  const roots = arg.slice(eq + 1).split(",");
  if (roots.length > 2) throw new Error(`a side is label=root or label=serverRoot,clientRoot, not ${arg}`);
  return { label: arg.slice(0, eq), serverRoot: resolve(roots[0]!), clientRoot: resolve(roots[1] ?? roots[0]!) };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const at = args.indexOf(name);
    return at >= 0 ? args.splice(at, 2)[1] : undefined;
  };
  const rounds = Number(option("--rounds") ?? 6);
  const records = Number(option("--records") ?? 200_000);
  const size = Number(option("--size") ?? 100);
  const cpuProfDir = option("--cpu-prof");
  const sides = args.map(parseSide);
  if (sides.length < 2) throw new Error("name at least two sides");
  const servers: Dlogd[] = [];
  try {
    for (const side of sides) {
      const { startDlogd } = await importDlogdProcess(`${side.serverRoot}/dist`);
      const options: DlogdOptions = cpuProfDir === undefined ? {} : { cpuProfDir };
      servers.push(await startDlogd(options));
    }
    const results: RoundResult[][] = sides.map(() => []);
    for (let r = 0; r < rounds; r++) {
      const order = sides.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      for (const i of order) {
        const result = await round(sides[i]!, servers[i]!, records, size, cpuProfDir);
        results[i]!.push(result);
        console.error(
          `round ${r + 1} ${sides[i]!.label}: ${Math.round(result.rate)} rec/s, client ${result.clientCpuUs.toFixed(2)} µs/rec, dlogd ${result.serverCpuUs.toFixed(2)} µs/rec`,
        );
      }
    }
    const median = (values: number[]): number => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)]!;
    };
    console.log(`appender row, ${records} records of ${size} B, ${rounds} rounds in turns; median (best) rate, median CPU µs per record`);
    const first = results[0]!;
    for (const [i, side] of sides.entries()) {
      const rs = results[i]!;
      const rate = median(rs.map((x) => x.rate));
      const ratio = i === 0 ? "" : ` (${(rate / median(first.map((x) => x.rate))).toFixed(2)}x ${sides[0]!.label})`;
      console.log(
        `${side.label}\t${Math.round(rate)} (${Math.round(Math.max(...rs.map((x) => x.rate)))}) rec/s${ratio}\tclient ${median(rs.map((x) => x.clientCpuUs)).toFixed(2)} µs\tdlogd ${median(rs.map((x) => x.serverCpuUs)).toFixed(2)} µs`,
      );
    }
  } finally {
    for (const d of servers) await d.stop();
  }
}

// Run as a script (not imported by appender-instructions.ts): the parent, or a client process.
if (process.argv[1] === SELF) {
  const [mode, root, address, records, size] = process.argv.slice(2);
  (mode === "--child" ? child(root!, address!, Number(records), Number(size ?? 100)) : main()).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
