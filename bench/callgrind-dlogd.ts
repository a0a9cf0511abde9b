/**
 * A dlogd under valgrind's callgrind, for the instruction-count benchmarks (append-instructions.ts,
 * deliver-instructions.ts): started with its metrics on, zeroed before the counted workload, and
 * dumped per thread — the main thread (JavaScript, the event loop) and all threads (LevelDB's
 * thread pool, GC, the JIT's background compiles).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const START_TIMEOUT_MS = 300_000;

export interface Instructions {
  main: number;
  all: number;
}

export interface CallgrindDlogd {
  address: string;
  /** Counting starts afresh from here. */
  zero(): Promise<void>;
  /** Instructions since the last zero, of the main thread and of all threads. */
  dump(): Promise<Instructions>;
  stop(): Promise<void>;
}

export async function startCallgrindDlogd(dlogd: string, options: { fsync: boolean }): Promise<CallgrindDlogd> {
  const dir = await mkdtemp(join(tmpdir(), "dlog-instructions-"));
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
      ...(options.fsync ? [] : ["--no-fsync"]),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const address = await listeningAddress(child);
  const pid = String(child.pid!);
  return {
    address,
    zero: async () => void (await run("callgrind_control", ["--zero", pid])),
    dump: () => dumpInstructions(pid, dir),
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
      if (process.env["DLOG_KEEP_CALLGRIND"] === undefined) await rm(dir, { recursive: true, force: true });
      else console.log(`callgrind dumps kept in ${dir}`);
    },
  };
}

function listeningAddress(child: ChildProcess): Promise<string> {
  let output = "";
  return new Promise<string>((resolveAddress, reject) => {
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
}

/** callgrind_control dumps one file per thread (`callgrind.PID.N-TT`, thread 01 the main one), each with a `summary:` line. */
export async function dumpInstructions(pid: string, dir: string): Promise<Instructions> {
  const before = new Set(await readdir(dir));
  await run("callgrind_control", ["--dump", pid]);
  for (let i = 0; i < 600; i++) {
    const fresh = (await readdir(dir)).filter((name) => name.startsWith(`callgrind.${pid}.`) && !before.has(name));
    if (fresh.length > 0) {
      // Every thread's file is written before the command returns; a short wait covers the file system.
      await new Promise((r) => setTimeout(r, 500));
      const counts = { main: 0, all: 0 };
      for (const name of (await readdir(dir)).filter((n) => n.startsWith(`callgrind.${pid}.`) && !before.has(n))) {
        const text = await readFile(join(dir, name), "utf8");
        const summary = /^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text);
        const count = summary ? Number(summary[1]) : 0;
        counts.all += count;
        if (name.endsWith("-01")) counts.main += count;
      }
      return counts;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("callgrind wrote no dump");
}
