/**
 * Starts real dlog servers on loopback for integration tests: in this process through the
 * server's own `startServer` (the default: no process to spawn, the suite stays fast), or as a
 * `node bin/dlogd.js` child (`process: true`) where a test needs the process boundary: kill -9,
 * signals, the process's own start-up and exit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Channel, createChannel, createClient } from "nice-grpc";
import { LogServiceDefinition, type LogServiceClient } from "../../src/gen/dlog/v1/log.js";
import { ReaderServiceDefinition, type ReaderServiceClient } from "../../src/gen/dlog/v1/reader.js";
import { HealthDefinition, type HealthClient } from "../../src/gen/grpc/health/v1/health.js";
import { loadServerConfig } from "../../src/server/config.js";
import { createLogger } from "../../src/server/logger.js";
import { startServer } from "../../src/server/server.js";
import { type NatsServer, startNatsServer } from "./nats-server.js";
import { runProcess } from "./process.js";
import { reapWithParent } from "./reaper.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const DLOGD = join(REPO_ROOT, "bin", "dlogd.js");
const START_TIMEOUT_MS = 15_000;

/** A fresh temp dir, removed by `cleanup()`. */
export function tempDir(prefix = "dlog-test-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export interface Dlogd {
  address: string;
  /** HOST:PORT of /metrics when the server was started with `--metrics-listen` (see `metrics: true`). */
  metricsAddress: string | undefined;
  /** "" when started without `--data-dir` (e.g. `--in-memory`). */
  dataDir: string;
  /** Everything the server logged so far (its stderr, for a process). */
  output(): string;
  /** Graceful stop (as on SIGTERM); resolves with the exit code dlogd would exit with (0: a clean shutdown). */
  stop(): Promise<number | null>;
}

/** A `node bin/dlogd.js` child process. */
export interface DlogdProcess extends Dlogd {
  child: ChildProcess;
  /** Graceful stop (SIGTERM by default); resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** kill -9: no chance to flush anything. */
  kill9(): Promise<void>;
}

export interface StartOptions {
  /** Passed as `--data-dir`; leave it out for `--in-memory` (in `args`). */
  dataDir?: string;
  args?: string[];
  listen?: string;
  /** Serve Prometheus metrics on a free loopback port (`--metrics-listen 127.0.0.1:0`). */
  metrics?: boolean;
}

export interface ProcessStartOptions extends StartOptions {
  /** Spawn `node bin/dlogd.js` instead of serving in this process. */
  process: true;
  /** Working directory of the server process. */
  cwd?: string;
  /** Added to this process's environment for the server process (e.g. an LD_PRELOAD fault shim). */
  env?: Record<string, string>;
}

let sharedNats: Promise<NatsServer> | undefined;

/**
 * `--data-dir DIR`, or with DLOG_TEST_STORAGE=nats the same data on NATS JetStream: one
 * nats-server for the test process (it dies with it), a prefix per data dir, so a server
 * restarted on the same dir finds its logs again and two dirs share nothing.
 */
async function storageArgs(dataDir: string | undefined): Promise<string[]> {
  if (dataDir === undefined) return [];
  if (process.env.DLOG_TEST_STORAGE !== "nats") return ["--data-dir", dataDir];
  sharedNats ??= startNatsServer().then((server) => {
    // It must not keep the test process alive: it dies with it (reaper.ts), its temp dir removed.
    server.unref();
    return server;
  });
  const nats = await sharedNats;
  const prefix = `t${createHash("sha256").update(dataDir).digest("hex").slice(0, 16)}`;
  return ["--storage", `nats://${nats.hostPort}`, "--nats-prefix", prefix];
}

async function dlogdArgs(options: StartOptions): Promise<string[]> {
  return [
    "--listen",
    options.listen ?? "127.0.0.1:0",
    ...(await storageArgs(options.dataDir)),
    ...(options.metrics === true ? ["--metrics-listen", "127.0.0.1:0"] : []),
    ...(options.args ?? []),
  ];
}

/** A server in this process by default; a dlogd child process with `process: true`. */
export function startDlogd(options: ProcessStartOptions): Promise<DlogdProcess>;
export function startDlogd(options?: StartOptions): Promise<Dlogd>;
export function startDlogd(options: StartOptions | ProcessStartOptions = {}): Promise<Dlogd> {
  return "process" in options && options.process ? spawnDlogd(options) : serveInProcess(options);
}

/** The same configuration and start function as bin/dlogd.js, with the log lines kept for `output()`. */
async function serveInProcess(options: StartOptions): Promise<Dlogd> {
  const config = loadServerConfig(await dlogdArgs(options), process.env);
  let output = "";
  const server = await startServer(config, createLogger(config.logLevel, { write: (line: string) => void (output += line) }));
  let stopped: Promise<number> | undefined;
  return {
    address: server.address,
    metricsAddress: server.metricsAddress,
    dataDir: options.dataDir ?? "",
    output: () => output,
    stop() {
      stopped ??= server.close().then(
        () => 0,
        (error: unknown) => {
          output += `shutdown failed: ${String(error)}\n`;
          return 1;
        },
      );
      return stopped;
    },
  };
}

/** Spawns bin/dlogd.js and waits for its "listening" line, which carries the bound address. */
async function spawnDlogd(options: ProcessStartOptions): Promise<DlogdProcess> {
  const child = spawn(process.execPath, [DLOGD, ...(await dlogdArgs(options))], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  // A file the test runner times out must not leave its servers running.
  reapWithParent(child);
  let output = "";
  child.stderr!.setEncoding("utf8");
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const listening = await new Promise<{ address: string; metricsAddress: string | undefined }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dlogd did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    child.stderr!.on("data", (chunk: string) => {
      output += chunk;
      // A whole line: the chunk that carries its start may not carry its end.
      const line = /^.*"msg":"dlogd listening".*(?=\n)/m.exec(output)?.[0];
      if (line) {
        clearTimeout(timer);
        const fields = JSON.parse(line) as { address: string; metricsAddress?: string };
        resolve({ address: fields.address, metricsAddress: fields.metricsAddress });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`dlogd exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    address: listening.address,
    metricsAddress: listening.metricsAddress,
    dataDir: options.dataDir ?? "",
    child,
    output: () => output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Scrapes `/metrics` (Prometheus text) into name → value; labelled series keep their labels in the name. */
export async function scrapeMetrics(metricsAddress: string): Promise<Map<string, number>> {
  const response = await fetch(`http://${metricsAddress}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`GET /metrics on ${metricsAddress}: HTTP ${response.status}`);
  const values = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

export interface Clients {
  channel: Channel;
  logs: LogServiceClient;
  readers: ReaderServiceClient;
  health: HealthClient;
  close(): void;
}

/** `ownConnection`: a TCP connection of its own (grpc-js otherwise shares one per address in the process). */
export function connect(address: string, options: { ownConnection?: boolean } = {}): Clients {
  const channel = createChannel(address, undefined, options.ownConnection === true ? { "grpc.use_local_subchannel_pool": 1 } : {});
  return {
    channel,
    logs: createClient(LogServiceDefinition, channel),
    readers: createClient(ReaderServiceDefinition, channel),
    health: createClient(HealthDefinition, channel),
    close: () => channel.close(),
  };
}

/** Runs `body` with a server on a fresh data dir, and always cleans up. */
export async function withServer<T>(body: (server: Dlogd, clients: Clients) => Promise<T>, args: string[] = []): Promise<T> {
  const dir = tempDir();
  const server = await startDlogd({ dataDir: dir.path, args });
  const clients = connect(server.address);
  try {
    return await body(server, clients);
  } finally {
    clients.close();
    await server.stop();
    dir.cleanup();
  }
}

export function bytes(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

/** Runs dlogd expecting it to refuse to start; resolves with its exit code and stderr (rejects after `timeoutMs`). */
export async function dlogdExit(args: string[], timeoutMs = START_TIMEOUT_MS): Promise<{ code: number | null; stderr: string }> {
  const { code, stderr } = await runProcess(process.execPath, [DLOGD, "--listen", "127.0.0.1:0", ...args], { timeoutMs });
  return { code, stderr };
}
