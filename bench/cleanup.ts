/** What to undo if the run is interrupted: dlogd processes, temp dirs, and any other child left running. */
import { readdir, readFile } from "node:fs/promises";

const pending = new Set<() => Promise<void>>();
let interrupted = false;

/**
 * Registers an undo step; returns a function that runs it once and unregisters it. After a
 * signal, a step registered by the still-running main flow is run at once.
 */
export function onCleanup(undo: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = (): Promise<void> => {
    pending.delete(once);
    done ??= undo();
    return done;
  };
  pending.add(once);
  if (interrupted) void once().catch(() => undefined);
  return once;
}

/** Pids of this process's direct children (Linux /proc; empty elsewhere). */
async function childPids(): Promise<number[]> {
  const pids: number[] = [];
  try {
    for (const name of await readdir("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid) pids.push(Number(name));
    }
  } catch {
    // not Linux: the registered steps are all we can do
  }
  return pids;
}

/**
 * On SIGINT/SIGTERM: run every registered step, then SIGTERM the children that remain (the
 * NATS/Redis/raw-gRPC servers bench/peers started), and exit 130.
 */
export function cleanUpOnSignals(log: (message: string) => void): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      interrupted = true;
      void Promise.allSettled([...pending].map((undo) => undo()))
        // The main flow keeps running meanwhile; give a step it just started time to register.
        .then(() => new Promise((resolve) => setTimeout(resolve, 300)))
        .then(() => Promise.allSettled([...pending].map((undo) => undo())))
        .then(childPids)
        .then((pids) => {
          for (const pid of pids) {
            try {
              process.kill(pid, "SIGTERM");
            } catch {
              // already gone
            }
          }
        })
        .finally(() => process.exit(130));
    });
  }
}
