/** Runs the `dlog` CLI as a person would: a child process, its stdout, stderr and exit code. */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO_ROOT } from "./dlogd.js";

export const DLOG = join(REPO_ROOT, "bin", "dlog.js");

export interface DlogRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

export interface DlogOptions {
  /** DLOG_ADDR; unset: the command line names it or the default applies. */
  address?: string;
  /** DLOG_TOKEN; default none. */
  token?: string;
  /** Written to stdin, which is then closed. */
  input?: string | Buffer;
  /** Keep stdin open (write to `child.stdin` yourself). */
  keepStdin?: boolean;
}

export function startDlog(args: string[], options: DlogOptions = {}): DlogRun {
  const env: NodeJS.ProcessEnv = { ...process.env, DLOG_TOKEN: options.token ?? "" };
  if (options.address === undefined) delete env.DLOG_ADDR;
  else env.DLOG_ADDR = options.address;
  const child = spawn(process.execPath, [DLOG, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  if (!options.keepStdin) child.stdin!.end(options.input ?? "");
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

export async function dlog(args: string[], options: DlogOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startDlog(args, options);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/**
 * Runs `dlog ARGS` with stderr (and stdin, unless `stdinFile`) on a pseudo-terminal,
 * through util-linux `script`; stdout goes to `stdoutFile`. Resolves with what the
 * terminal showed. `typed` is what a person types, once the prompt or progress
 * matching `waitFor` is on the screen.
 */
export async function dlogOnTerminal(
  args: string[],
  options: { address: string; stdoutFile: string; stdinFile?: string; feed?: string; typed?: string; waitFor?: RegExp; timeoutMs?: number },
): Promise<{ code: number | null; screen: string }> {
  const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, DLOG, ...args].map(quote).join(" ");
  const stdin = options.stdinFile ? ` < ${quote(options.stdinFile)}` : "";
  const child = spawn("script", ["-qec", `${command}${stdin} > ${quote(options.stdoutFile)}`, "/dev/null"], {
    env: { ...process.env, DLOG_ADDR: options.address, DLOG_TOKEN: "", TERM: "dumb" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let screen = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (screen += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  if (options.typed !== undefined) {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    while (!(options.waitFor ?? /\S/).test(screen)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.waitFor} on the terminal; it shows: ${screen}`);
      await sleep(20);
    }
    child.stdin!.write(options.typed);
  }
  const code = await exited;
  child.stdin!.end();
  return { code, screen };
}
