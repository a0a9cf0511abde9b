/** Runs the `dlog` CLI as a person would: a child process, its stdout, stderr and exit code. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { REPO_ROOT } from "./dlogd.js";
import { type Running, startProcess } from "./process.js";

export const DLOG = join(REPO_ROOT, "bin", "dlog.js");

export type DlogRun = Running;

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
  return startProcess(process.execPath, [DLOG, ...args], {
    env,
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.keepStdin === undefined ? {} : { keepStdin: options.keepStdin }),
  });
}

export async function dlog(args: string[], options: DlogOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startDlog(args, options);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** stdout (or stderr) as lines, without the last newline. */
export const lines = (text: string): string[] => (text === "" ? [] : text.replace(/\n$/, "").split("\n"));

export interface TerminalRun {
  /** Everything the terminal showed so far (stderr, and the prompt's echo). */
  screen(): string;
  /** Types on the terminal, as a person would. */
  type(text: string): void;
  exited: Promise<number | null>;
}

/**
 * Runs `dlog ARGS` with stderr and stdin on a pseudo-terminal, through util-linux
 * `script`; stdout goes to `stdoutFile`. `pipeFrom` (a shell command) feeds stdin
 * instead, as in `seq 10 | dlog append`.
 */
export function startDlogOnTerminal(args: string[], options: { address: string; stdoutFile: string; pipeFrom?: string }): TerminalRun {
  const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, DLOG, ...args].map(quote).join(" ");
  const pipe = options.pipeFrom ? `${options.pipeFrom} | ` : "";
  const child = spawn("script", ["-qec", `${pipe}${command} > ${quote(options.stdoutFile)}`, "/dev/null"], {
    env: { ...process.env, DLOG_ADDR: options.address, DLOG_TOKEN: "", TERM: "dumb" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let screen = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (screen += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (screen += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  void exited.then(() => child.stdin!.end());
  return { screen: () => screen, type: (text) => void child.stdin!.write(text), exited };
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
