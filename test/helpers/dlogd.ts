/** Starts real dlogd processes on loopback for integration tests. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Channel, createChannel, createClient } from "nice-grpc";
import { LogServiceDefinition, type LogServiceClient } from "../../src/gen/dlog/v1/log.js";
import { ReaderServiceDefinition, type ReaderServiceClient } from "../../src/gen/dlog/v1/reader.js";
import { HealthDefinition, type HealthClient } from "../../src/gen/grpc/health/v1/health.js";

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
  dataDir: string;
  child: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  output(): string;
  /** Graceful stop (SIGTERM by default); resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** kill -9: no chance to flush anything. */
  kill9(): Promise<void>;
}

export interface StartOptions {
  dataDir: string;
  args?: string[];
  listen?: string;
}

/** Spawns bin/dlogd.js and waits for its "listening" line, which carries the bound address. */
export async function startDlogd(options: StartOptions): Promise<Dlogd> {
  const child = spawn(
    process.execPath,
    [DLOGD, "--listen", options.listen ?? "127.0.0.1:0", "--data-dir", options.dataDir, ...(options.args ?? [])],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } },
  );
  let output = "";
  child.stderr!.setEncoding("utf8");
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dlogd did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    child.stderr!.on("data", (chunk: string) => {
      output += chunk;
      const match = /"msg":"dlogd listening","address":"([^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`dlogd exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    address,
    dataDir: options.dataDir,
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

export interface Clients {
  channel: Channel;
  logs: LogServiceClient;
  readers: ReaderServiceClient;
  health: HealthClient;
  close(): void;
}

export function connect(address: string): Clients {
  const channel = createChannel(address);
  return {
    channel,
    logs: createClient(LogServiceDefinition, channel),
    readers: createClient(ReaderServiceDefinition, channel),
    health: createClient(HealthDefinition, channel),
    close: () => channel.close(),
  };
}

/** Runs `body` with a server on a fresh data dir, and always cleans up. */
export async function withServer<T>(
  body: (server: Dlogd, clients: Clients) => Promise<T>,
  args: string[] = [],
): Promise<T> {
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
