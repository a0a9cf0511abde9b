/**
 * Servers a test starts die with the test process, however it ends: an exit hook does not run when
 * the test runner times a file out (SIGTERM) or kills it (SIGKILL), and the nats-servers and dlogd
 * processes of that file would live on. One small `sh` per test process reads "add PID", "del PID"
 * and "dir PATH" lines on a pipe from this process; when the pipe closes (this process is gone, by
 * any means) it kills -9 every pid still added and removes the dirs. Children are spawned as usual,
 * so signals (kill -9, SIGSTOP) still reach the server itself, not a wrapper.
 */
import { type ChildProcess, spawn } from "node:child_process";

// `del` matches a whole pid; a pid that exited is removed before its number can be reused.
const SCRIPT = `
pids=" "
dirs=""
while IFS= read -r line; do
  case "$line" in
    "add "*) pids="$pids\${line#add } " ;;
    "del "*) pids=$(printf '%s' "$pids" | sed "s/ \${line#del } / /") ;;
    "dir "*) dirs="$dirs
\${line#dir }" ;;
  esac
done
for pid in $pids; do kill -9 "$pid" 2>/dev/null; done
printf '%s\\n' "$dirs" | while IFS= read -r dir; do [ -n "$dir" ] && rm -rf -- "$dir"; done
`;

let reaper: ChildProcess | undefined;

function send(line: string): void {
  if (!reaper) {
    reaper = spawn("sh", ["-c", SCRIPT], { stdio: ["pipe", "ignore", "ignore"], detached: true });
    // It must not keep this process alive, nor take a Ctrl-C meant for it (its own process group).
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void }).unref?.();
    reaper.stdin!.on("error", () => undefined);
  }
  reaper.stdin!.write(`${line}\n`);
}

/** `child` is killed -9 when this process ends, unless it has exited by then. */
export function reapWithParent(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  send(`add ${pid}`);
  child.once("exit", () => send(`del ${pid}`));
}

/** `dir` is removed when this process ends (after the processes are killed). */
export function removeWithParent(dir: string): void {
  if (dir.includes("\n")) throw new Error(`a dir name with a newline: ${JSON.stringify(dir)}`);
  send(`dir ${dir}`);
}
