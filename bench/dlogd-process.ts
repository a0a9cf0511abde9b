/** A real dlogd in its own process on 127.0.0.1:0, with the generated nice-grpc clients bound to it. */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Channel, type ChannelOptions, createChannel, createClient } from "nice-grpc";
import { LogServiceDefinition, type LogServiceClient } from "../src/gen/dlog/v1/log.js";
import type { ReaderServiceClient } from "../src/gen/dlog/v1/reader.js";
import type { LoopReport } from "./loop-monitor.js";
import { tempDir } from "./peers/support.js";
import { FLOW_CONTROL_WINDOW_BYTES } from "../clients/typescript/src/client.js";
import { frameReaders } from "./session-client.js";
import { sleep } from "./stats.js";

/** bin/dlogd.js, found from dist/bench/ at run time. */
export const DLOGD = fileURLToPath(new URL("../../bin/dlogd.js", import.meta.url));
const LOOP_MONITOR = fileURLToPath(new URL("./loop-monitor.js", import.meta.url));
/**
 * The node flags bin/dlogd.js starts itself with (its first line, `#!/usr/bin/env -S node FLAGS`), so
 * that the bench runs dlogd as a deployment that starts bin/dlogd.js does, not as `node bin/dlogd.js`.
 */
export const LAUNCHER_NODE_FLAGS = launcherNodeFlags(DLOGD);
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const CLK_TCK = 100;

export interface DlogdOptions {
  /** Extra dlogd flags, e.g. ["--no-fsync"]. `--metrics-listen 127.0.0.1:0` is always added. */
  args?: string[];
  /** Reuse a data dir (kept on stop); default: a fresh temp dir removed on stop. */
  dataDir?: string;
  /** Write a V8 CPU profile of the server into this dir (node --cpu-prof). */
  cpuProfDir?: string;
  /** Extra node (V8) flags for the server process, e.g. ["--single-threaded-gc"]. */
  nodeArgs?: string[];
}

export interface Dlogd {
  address: string;
  metricsAddress: string;
  dataDir: string;
  child: ChildProcess;
  logs: LogServiceClient;
  readers: ReaderServiceClient;
  channel: Channel;
  /** A new channel with its own HTTP/2 connection to the server; the caller closes it. */
  newChannel(): Channel;
  /** CPU seconds (user + system) the server process has used so far. */
  cpuSeconds(): Promise<number>;
  /** Resident memory now and its peak so far, in MiB (Linux; NaN elsewhere). */
  memory(): Promise<{ rssMiB: number; peakMiB: number }>;
  /** dlogd's event-loop delay and GC pauses since the previous call (or its start); see loop-monitor.ts. */
  loopReport(): Promise<LoopReport>;
  /** Prometheus counters and gauges, summed over labels. */
  metrics(): Promise<Map<string, number>>;
  /** Stderr tail, for error messages. */
  output(): string;
  /** SIGTERM (graceful: flushes positions, writes a CPU profile if asked), SIGKILL after 10 s; removes a temp data dir. */
  stop(): Promise<void>;
}

/** Spawns `node bin/dlogd.js` and waits for its "dlogd listening" line, which carries both addresses. */
/** A channel to dlogd with the TypeScript client's HTTP/2 window (client.ts), as every bench client of dlogd opens it. */
export const benchChannel = (address: string, options: ChannelOptions = {}): Channel =>
  createChannel(address, undefined, { "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW_BYTES, ...options });

export async function startDlogd(options: DlogdOptions = {}): Promise<Dlogd> {
  const owned = options.dataDir === undefined ? await tempDir("dlogd") : undefined;
  const dataDir = options.dataDir ?? owned!.path;
  const nodeArgs = [
    ...LAUNCHER_NODE_FLAGS,
    ...(options.nodeArgs ?? []),
    "--import",
    LOOP_MONITOR,
    ...(options.cpuProfDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`]),
  ];
  const loopFile = join(tmpdir(), `dlog-bench-loop-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  // `--storage nats://...` keeps everything in NATS: no data dir then (dlogd refuses both).
  const storageArgs = options.args?.includes("--storage") ? [] : ["--data-dir", dataDir];
  const args = [...nodeArgs, DLOGD, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", ...storageArgs, ...(options.args ?? [])];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DLOG_BENCH_LOOP_FILE: loopFile } });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const keep = (chunk: string): void => {
    output = (output + chunk).slice(-20_000);
  };
  child.stdout!.setEncoding("utf8").on("data", keep);
  child.stderr!.setEncoding("utf8");

  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await owned?.remove();
    await rm(loopFile, { force: true });
  };

  let listening: { address: string; metricsAddress: string };
  try {
    listening = await new Promise((resolve, reject) => {
      let pending = "";
      const timer = setTimeout(() => reject(new Error(`dlogd did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
      child.stderr!.on("data", (chunk: string) => {
        keep(chunk);
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (!line.includes('"dlogd listening"')) continue;
          const fields = JSON.parse(line) as { address?: string; metricsAddress?: string };
          clearTimeout(timer);
          if (fields.address === undefined || fields.metricsAddress === undefined) {
            reject(new Error(`dlogd's listening line lacks an address: ${line}`));
          } else {
            resolve({ address: fields.address, metricsAddress: fields.metricsAddress });
          }
        }
        // Once started, stop buffering lines; `keep` still records the tail for diagnostics.
        if (pending.length > 100_000) pending = "";
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`dlogd exited (code ${child.exitCode}, signal ${child.signalCode}) before listening:\n${output}`));
      });
    });
  } catch (error) {
    await kill();
    throw error;
  }

  const channel = benchChannel(listening.address);
  return {
    ...listening,
    dataDir,
    child,
    channel,
    logs: createClient(LogServiceDefinition, channel),
    readers: frameReaders(channel),
    // A local subchannel pool: grpc-js otherwise shares one connection among channels to one address.
    newChannel: () => benchChannel(listening.address, { "grpc.use_local_subchannel_pool": 1 }),
    cpuSeconds: () => processCpuSeconds(child.pid!),
    memory: () => processMemory(child.pid!),
    metrics: () => scrapeMetrics(listening.metricsAddress),
    async loopReport() {
      await rm(loopFile, { force: true });
      child.kill("SIGUSR2");
      for (let i = 0; i < 100; i++) {
        const text = await readFile(loopFile, "utf8").catch(() => "");
        if (text !== "") return JSON.parse(text) as LoopReport;
        await sleep(20);
      }
      throw new Error("dlogd wrote no loop report within 2 s of SIGUSR2");
    },
    output: () => output,
    async stop() {
      channel.close();
      await kill();
    },
  };
}

/** utime + stime of a Linux process from /proc/PID/stat; NaN elsewhere. */
async function processCpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** VmRSS and VmHWM of a Linux process from /proc/PID/status. */
async function processMemory(pid: number): Promise<{ rssMiB: number; peakMiB: number }> {
  const field = (status: string, name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) / 1024;
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    return { rssMiB: field(status, "VmRSS"), peakMiB: field(status, "VmHWM") };
  } catch {
    return { rssMiB: Number.NaN, peakMiB: Number.NaN };
  }
}

/** GET /metrics and sum every sample of each family (labels dropped). */
export async function scrapeMetrics(address: string): Promise<Map<string, number>> {
  const response = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`GET http://${address}/metrics: HTTP ${response.status}`);
  const values = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    values.set(match[1]!, (values.get(match[1]!) ?? 0) + Number(match[2]));
  }
  return values;
}

export function launcherNodeFlags(launcher: string): string[] {
  const firstLine = readFileSync(launcher, "utf8").split("\n", 1)[0]!;
  const flags = /^#!\S*env -S node\b(.*)$/.exec(firstLine)?.[1];
  if (flags === undefined) throw new Error(`${launcher} does not start with "#!/usr/bin/env -S node": ${firstLine}`);
  return flags.split(" ").filter((flag) => flag !== "");
}
