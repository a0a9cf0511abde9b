/**
 * A real nats-server with JetStream for tests (the pinned build in .tools/bin): on a free
 * loopback port, its store in a temp dir, stopped and removed by `stop()`. One node by default;
 * `config` adds lines (a `cluster {}` block, `server_name`), so a 3-node cluster is three of these.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Running, startProcess } from "./process.js";

// Not from dlogd.ts: that helper starts a nats-server itself (DLOG_TEST_STORAGE=nats), and the cycle would break both.
export const NATS_SERVER = fileURLToPath(new URL("../../../.tools/bin/nats-server", import.meta.url));
const START_TIMEOUT_MS = 15_000;

export interface NatsServerOptions {
  /** The store and config live here; a temp dir (removed by `stop()`) when not given. */
  dir?: string;
  /** Extra config lines, e.g. `server_name: n1` and a `cluster { ... }` block. */
  config?: string;
  /** fsync every write (`sync_interval: always`, dlog's durable setting); off by default in tests, for speed. */
  syncAlways?: boolean;
  /** Client port; a free one when not given (or 0). */
  port?: number;
}

export interface NatsServer {
  /** nats://127.0.0.1:PORT */
  url: string;
  /** HOST:PORT, as `dlogd --storage nats://` takes it. */
  hostPort: string;
  dir: string;
  running: Running;
  /** SIGTERM and wait for the exit (a leader hands over first); removes a temp dir. */
  stop(): Promise<void>;
  /** kill -9 and wait for the exit; keeps the dir (start again on it with `dir`). */
  kill9(): Promise<void>;
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const created = options.dir === undefined ? mkdtempSync(join(tmpdir(), "dlog-nats-")) : undefined;
  const dir = options.dir ?? created!;
  const cleanup = (): void => {
    if (created) rmSync(created, { recursive: true, force: true });
  };
  const portsDir = join(dir, "ports");
  const config = [
    `listen: 127.0.0.1:${options.port || -1}`,
    `ports_file_dir: ${JSON.stringify(portsDir)}`,
    // dlog entries are one append each: up to --max-message-bytes (4 MiB) plus headers.
    "max_payload: 8MB",
    `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))}${options.syncAlways ? ", sync_interval: always" : ""} }`,
    options.config ?? "",
  ].join("\n");
  mkdirSync(portsDir, { recursive: true });
  const configFile = join(dir, "nats.conf");
  writeFileSync(configFile, config);
  const running = startProcess(NATS_SERVER, ["-c", configFile]);
  const pid = running.child.pid;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let url: string | undefined;
  while (!url) {
    const file = join(portsDir, `nats-server_${pid}.ports`);
    if (existsSync(file)) {
      try {
        url = (JSON.parse(readFileSync(file, "utf8")) as { nats: string[] }).nats[0];
      } catch {
        // Written but not complete yet: read again.
      }
    }
    if (running.child.exitCode !== null || Date.now() > deadline) {
      running.child.kill("SIGKILL");
      cleanup();
      throw new Error(`nats-server did not start (files: ${existsSync(portsDir) ? readdirSync(portsDir).join(",") : "none"}):\n${running.stderr()}`);
    }
    if (!url) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const exited = async (signal: NodeJS.Signals): Promise<void> => {
    if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill(signal);
    await running.exited;
  };
  return {
    url,
    hostPort: url.replace(/^nats:\/\//, ""),
    dir,
    running,
    async stop() {
      await exited("SIGTERM");
      cleanup();
    },
    kill9: () => exited("SIGKILL"),
  };
}
