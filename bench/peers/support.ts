import { spawn, type ChildProcess } from "node:child_process";
import { access, constants, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** Absolute path of `bin` on PATH, or undefined when it is not installed. */
export async function which(bin: string): Promise<string | undefined> {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, bin);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Why a peer cannot run, or undefined when its server binary is present. */
export async function missingBinary(bin: string, debianPackage: string): Promise<string | undefined> {
  return (await which(bin)) === undefined ? `${bin} not found on PATH (apt-get install -y ${debianPackage})` : undefined;
}

/** A fresh temp dir and its remover. */
export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `dlog-bench-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export { freePort } from "../../test/helpers/ports.js";

export interface ServerProcess {
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. */
  stop: () => Promise<void>;
}

/** Spawns a server and resolves when its stdout or stderr matches `ready`. */
export function startServer(bin: string, args: string[], ready: RegExp, timeoutMs = 10_000): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let settled = false;
    const exited = new Promise<void>((res) => child.once("exit", () => res()));
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    };
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop().then(() => reject(new Error(`${bin}: ${why}\n${output.slice(-2_000)}`)));
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      output += chunk.toString();
      if (ready.test(output)) {
        settled = true;
        clearTimeout(timer);
        resolve({ child, stop });
      }
    };
    // Keep draining the pipes after ready so a chatty server never blocks on a full pipe.
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", (err) => fail(err.message));
    child.once("exit", (code, signal) => fail(`exited early (code ${code}, signal ${signal})`));
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
  });
}
