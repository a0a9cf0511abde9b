/**
 * Instructions dlogd executes per delivered + acked record, counted by valgrind's callgrind:
 * exact and load-independent where wall-clock rates on a shared machine are not, so two builds
 * compare in one run record for record. dlogd runs under callgrind, the clients here natively;
 * the log is filled and read once to warm up, then counting is zeroed, one fresh reader catches
 * up (then `--readers` fresh readers at once), and the counts are dumped.
 *
 *   node dist/bench/deliver-instructions.js [--records 20000] [--readers 8] [--size 100] bin/dlogd.js [other/bin/dlogd.js ...]
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { createChannel, createClient } from "nice-grpc";
import { LogServiceDefinition } from "../src/gen/dlog/v1/log.js";
import { ReaderServiceDefinition } from "../src/gen/dlog/v1/reader.js";
import { appendStream } from "./append.js";
import { deliverAndAck, deliverAndAckMany } from "./deliver.js";

const run = promisify(execFile);
const START_TIMEOUT_MS = 300_000;
const RUN_TIMEOUT_MS = 600_000;

interface Counts {
  dlogd: string;
  oneReader: number;
  manyReaders: number;
}

async function startUnderCallgrind(dlogd: string, dir: string): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(
    "valgrind",
    [
      "--tool=callgrind",
      `--callgrind-out-file=${join(dir, "callgrind.%p")}`,
      "--dump-line=no",
      process.execPath,
      dlogd,
      "--listen",
      "127.0.0.1:0",
      "--metrics-listen",
      "127.0.0.1:0",
      "--data-dir",
      join(dir, "data"),
      "--no-fsync",
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

/** Instructions since the last zeroing: callgrind_control dumps, the newest dump's `summary:` line says. */
async function dumpInstructions(pid: number, dir: string): Promise<number> {
  const before = new Set(await readdir(dir));
  await run("callgrind_control", ["--dump", String(pid)]);
  for (let i = 0; i < 600; i++) {
    const fresh = (await readdir(dir)).filter((name) => name.startsWith(`callgrind.${pid}.`) && !before.has(name));
    if (fresh.length > 0) {
      const text = await readFile(join(dir, fresh[0]!), "utf8");
      const summary = /^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text);
      if (summary) return Number(summary[1]);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("callgrind wrote no dump");
}

async function measure(dlogd: string, records: number, readers: number, size: number): Promise<Counts> {
  const dir = await mkdtemp(join(tmpdir(), "dlog-instructions-"));
  const { child, address } = await startUnderCallgrind(dlogd, dir);
  const channel = createChannel(address);
  try {
    const logs = createClient(LogServiceDefinition, channel);
    const sessions = createClient(ReaderServiceDefinition, channel);
    const log = "instructions";
    await appendStream(logs, { log, size, recordsPerAppend: 1000, inFlight: 4, appends: Math.ceil(records / 1000), timeoutMs: RUN_TIMEOUT_MS });
    // Warm-up: the JIT compiles the delivery path on the first pass over the log.
    await deliverAndAck(sessions, log, "warm-0", records, RUN_TIMEOUT_MS);
    await deliverAndAckMany(sessions, log, "warm-many", readers, records, RUN_TIMEOUT_MS);
    const pid = child.pid!;
    await run("callgrind_control", ["--zero", String(pid)]);
    const one = await deliverAndAck(sessions, log, "one", records, RUN_TIMEOUT_MS);
    const oneReader = (await dumpInstructions(pid, dir)) / one.records;
    await run("callgrind_control", ["--zero", String(pid)]);
    const many = await deliverAndAckMany(sessions, log, "many", readers, records, RUN_TIMEOUT_MS);
    const manyReaders = (await dumpInstructions(pid, dir)) / many.records;
    return { dlogd, oneReader, manyReaders };
  } finally {
    channel.close();
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: number): number => {
    const at = args.indexOf(`--${name}`);
    if (at < 0) return fallback;
    const value = Number(args.splice(at, 2)[1]);
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} takes a positive integer`);
    return value;
  };
  const records = option("records", 20_000);
  const readers = option("readers", 8);
  const size = option("size", 100);
  if (args.length === 0) throw new Error("name at least one bin/dlogd.js");
  const results: Counts[] = [];
  for (const dlogd of args) results.push(await measure(resolve(dlogd), records, readers, size));
  console.log(`instructions per delivered + acked record (${records} records of ${size} B; ${readers} readers: per record of all readers)`);
  for (const r of results) console.log(`${r.dlogd}\t1 reader ${Math.round(r.oneReader)}\t${readers} readers ${Math.round(r.manyReaders)}`);
  const [first, ...rest] = results;
  for (const r of rest) {
    console.log(
      `${r.dlogd} vs ${first!.dlogd}: 1 reader ${(r.oneReader / first!.oneReader).toFixed(3)}x, ${readers} readers ${(r.manyReaders / first!.manyReaders).toFixed(3)}x`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
