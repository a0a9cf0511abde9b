/**
 * A throw-away dlogd for integration tests: `startTestServer()` finds dlogd, starts it on a free
 * loopback port (in memory, or on a temp data dir), waits until it serves, and stops it (removing
 * its data) when the test is done.
 *
 * @example
 * import { startTestServer } from "@dlog/client/testing";
 *
 * test("orders", async () => {
 *   await using server = await startTestServer();
 *   await using client = server.client();
 *   await client.append("orders", "hello");
 * });
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type DlogClient, type DlogClientOptions, createDlogClient } from "./client.js";

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export interface TestServerOptions {
  /**
   * `false`: a data dir (`dataDir`, or a temp one removed at the end), for tests that restart the
   * server on the same data. Default: in memory (nothing on disk, not durable) unless `dataDir` is given.
   */
  inMemory?: boolean | undefined;
  /** Passed as `--data-dir`; kept at the end (only a temp dir the helper made is removed). */
  dataDir?: string | undefined;
  /** More flags, e.g. `["--ack-flush-interval", "50ms"]`. */
  args?: readonly string[] | undefined;
  /** The dlogd to run (a path; one ending in `.js` runs with this node). Default: `DLOG_DLOGD`, else `dlogd` on the PATH. */
  dlogd?: string | undefined;
}

export interface TestServer extends AsyncDisposable {
  /** `127.0.0.1:PORT`: the port stays the same across `restart()`. */
  readonly address: string;
  /** "" when in memory. */
  readonly dataDir: string;
  /** The dlogd process itself (never a wrapper), so a `kill()` is a real kill -9 of the server. */
  readonly pid: number;
  /** Everything the server wrote so far (its JSON log lines). */
  output(): string;
  /** A client of this server; the caller closes it. */
  client(options?: Omit<DlogClientOptions, "address">): DlogClient;
  /** Stops the server (SIGTERM: graceful, SIGKILL after 10 s) and keeps its data; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** kill -9: no chance to flush anything. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data (after `stop()` or `kill()`, or stops it first with SIGTERM). */
  restart(): Promise<void>;
  /** Stops the server and removes the temp data dir. Also what `await using` calls. */
  close(): Promise<void>;
}

/** The command that runs dlogd: `dlogd` itself, or node with a `.js` path. */
export function dlogdCommand(dlogd = process.env.DLOG_DLOGD || undefined): [string, ...string[]] {
  if (dlogd !== undefined) {
    try {
      accessSync(dlogd, constants.R_OK);
    } catch {
      throw new Error(`dlogd not found at ${dlogd} (DLOG_DLOGD or the dlogd option)`);
    }
    return dlogd.endsWith(".js") ? [process.execPath, dlogd] : [dlogd];
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "dlogd");
    try {
      accessSync(candidate, constants.X_OK);
      return [candidate];
    } catch {
      // not in this dir
    }
  }
  throw new Error("dlogd not found: put it on the PATH or set DLOG_DLOGD to its path");
}

/** Servers still running when the test process exits are killed, their temp dirs removed. */
const running = new Set<{ child: ChildProcess; tempDir: string | undefined }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const { child, tempDir } of running) {
      child.kill("SIGKILL");
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    }
  });
}

interface Started {
  child: ChildProcess;
  address: string;
  exited: Promise<number | null>;
}

/** Spawns dlogd and waits for its `"dlogd listening"` line, which carries the bound address. */
async function spawnDlogd(command: readonly [string, ...string[]], args: readonly string[], log: { text: string }): Promise<Started> {
  const [file, ...prefix] = command;
  const child = spawn(file, [...prefix, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (log.text += chunk));
  child.stderr!.setEncoding("utf8");
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const spawnFailed = new Promise<never>((_, reject) => child.once("error", reject));
  const startOffset = log.text.length;
  const address = await Promise.race([
    spawnFailed,
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`dlogd did not listen within ${START_TIMEOUT_MS} ms:\n${log.text.slice(startOffset)}`));
      }, START_TIMEOUT_MS);
      child.stderr!.on("data", (chunk: string) => {
        log.text += chunk;
        // A whole line: the chunk that carries its start may not carry its end.
        const line = /^.*"msg":"dlogd listening".*(?=\n)/m.exec(log.text.slice(startOffset))?.[0];
        if (line === undefined) return;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { address: string }).address);
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`dlogd exited with ${code} before listening:\n${log.text.slice(startOffset)}`));
      });
    }),
  ]);
  return { child, address, exited };
}

/**
 * Starts a dlogd for a test on `127.0.0.1` (a free port), in memory unless told otherwise, and
 * resolves once it serves. Always `close()` it (or `await using`); a server left running is killed
 * when the process exits.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  if (options.inMemory === true && options.dataDir !== undefined) throw new Error("startTestServer: inMemory and dataDir exclude each other");
  const command = dlogdCommand(options.dlogd);
  const inMemory = options.inMemory ?? options.dataDir === undefined;
  const tempDir = inMemory || options.dataDir !== undefined ? undefined : mkdtempSync(join(tmpdir(), "dlogd-test-"));
  const dataDir = inMemory ? "" : (options.dataDir ?? tempDir!);
  const storage = inMemory ? ["--in-memory"] : ["--data-dir", dataDir];
  const log = { text: "" };
  const entry = { child: undefined as unknown as ChildProcess, tempDir };
  let port = "0";
  let current: Started;

  async function start(): Promise<void> {
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        current = await spawnDlogd(command, ["--listen", `127.0.0.1:${port}`, ...storage, ...(options.args ?? [])], log);
        break;
      } catch (error) {
        // A restart on the same port can race the old socket's release: try again, briefly.
        const taken = /address in use|EADDRINUSE/.test(String(error));
        if (!(port !== "0" && taken && performance.now() < deadline)) throw error;
        await sleep(100);
      }
    }
    port = current.address.slice(current.address.lastIndexOf(":") + 1);
    entry.child = current.child;
    running.add(entry);
    installExitHook();
  }

  async function stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const { child, exited } = current;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    running.delete(entry);
    return child.exitCode;
  }

  try {
    await start();
  } catch (error) {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    throw error;
  }

  let closed: Promise<void> | undefined;
  const server: TestServer = {
    get address() {
      return current.address;
    },
    dataDir,
    get pid() {
      return current.child.pid!;
    },
    output: () => log.text,
    client: (clientOptions = {}) => createDlogClient({ ...clientOptions, address: current.address }),
    stop,
    async kill() {
      await stop("SIGKILL");
    },
    async restart() {
      await stop();
      if (inMemory) log.text += "(restarted in memory: the earlier data is gone)\n";
      await start();
    },
    close() {
      closed ??= stop().then(() => {
        if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      });
      return closed;
    },
    [Symbol.asyncDispose]() {
      return server.close();
    },
  };
  return server;
}
