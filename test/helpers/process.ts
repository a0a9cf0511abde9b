/** Child processes for tests: their output collected as text; a run to exit, bounded in time. */
import { type ChildProcess, spawn } from "node:child_process";

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The exit code, once the process has exited and its output has ended (null: killed by a signal). */
  exited: Promise<number | null>;
}

export interface ProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed. */
  input?: string | Buffer;
  /** Keep stdin open (write to `child.stdin` yourself). */
  keepStdin?: boolean;
}

export function startProcess(command: string, args: readonly string[], options: ProcessOptions = {}): Running {
  const child = spawn(command, args, {
    stdio: ["pipe", "pipe", "pipe"],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  // A process that exits without reading its stdin must not fail the test with EPIPE.
  child.stdin!.on("error", () => undefined);
  if (!options.keepStdin) child.stdin!.end(options.input ?? "");
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
}

/** Runs the process to its exit; past `timeoutMs` (when given) it is killed and the run rejects, with its stderr. */
export async function runProcess(command: string, args: readonly string[], options: ProcessOptions & { timeoutMs?: number } = {}): Promise<Finished> {
  const started = Date.now();
  const run = startProcess(command, args, options);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    if (options.timeoutMs === undefined) return;
    timer = setTimeout(() => {
      run.child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} still running after ${options.timeoutMs} ms:\n${run.stderr()}`));
    }, options.timeoutMs);
  });
  try {
    const code = await Promise.race([run.exited, timedOut]);
    return { code, stdout: run.stdout(), stderr: run.stderr(), ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
