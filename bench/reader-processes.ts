/**
 * Many readers on one log, driven from several client processes (reader-process.ts), each with its
 * own gRPC channel and some of the readers: one Node process decoding every reader's records costs
 * more CPU than dlogd spends sending them, so readers multiplexed in the bench process measure the
 * bench process. The processes start and warm up first; then all get "go" at once, and the clock
 * runs from that common start to the last reader done. Each process reports its CPU time over its
 * readers' run, so the rows can show which side was saturated.
 */
import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { onCleanup } from "./cleanup.js";
import type { DeliverResult } from "./deliver.js";
import { LAUNCHER_NODE_FLAGS } from "./dlogd-process.js";

const READER_PROCESS = fileURLToPath(new URL("./reader-process.js", import.meta.url));
/** Start-up, connect and the warm-up session of every process, at once on a busy machine. */
const READY_TIMEOUT_MS = 60_000;
/** Past the readers' own deadline (deliverAndAck drains at `timeoutMs`, cancels 15 s later). */
const DONE_GRACE_MS = 30_000;
const EXIT_TIMEOUT_MS = 5_000;
/** Records of each process's warm-up session (a fresh process runs unoptimised code at first). */
const WARM_UP_RECORDS = 50_000;

/** What one reader process does (its argv). */
export interface ReaderProcessTask {
  address: string;
  log: string;
  readerIds: string[];
  targetEach: number;
  timeoutMs: number;
  warmUpRecords: number;
}

/** From a reader process to the bench. */
export type ReaderProcessMessage = { kind: "ready" } | { kind: "done"; results: DeliverResult[]; cpuSeconds: number } | { kind: "failed"; message: string };

export interface ManyReadersSpec {
  address: string;
  log: string;
  /** Reader ids are `${readerPrefix}-0` … `${readerPrefix}-${readers - 1}`, fresh for each run. */
  readerPrefix: string;
  readers: number;
  /** Client processes (at most `readers`); readers are dealt to them in turn. */
  processes: number;
  targetEach: number;
  timeoutMs: number;
}

export interface ManyReadersResult extends DeliverResult {
  /** Records each reader received. */
  perReader: number[];
  /** CPU seconds (user + system, all threads) of each reader process from "go" to its last reader done. */
  processCpuSeconds: number[];
  /** Readers in each process. */
  readersPerProcess: number[];
}

export interface ReaderProcesses {
  /** Sends "go" to every process; resolves when the last reader is done (`ms`: from the go to then). */
  run(): Promise<ManyReadersResult>;
  /** Kills what is still running and waits for every process to exit. */
  stop(): Promise<void>;
}

interface Child {
  child: ChildProcess;
  readers: number;
  ready: Promise<void>;
  done: Promise<{ results: DeliverResult[]; cpuSeconds: number }>;
  exited: Promise<unknown>;
}

function forkReaderProcess(task: ReaderProcessTask): Child {
  // dlogd's own V8 flags: with V8's small starting old space, a reader's HTTP/2 buffers (external
  // memory) set off a mark-compact every few tens of ms and the client's GC measures the client.
  const execArgv = [...process.execArgv, ...LAUNCHER_NODE_FLAGS];
  const child = fork(READER_PROCESS, [JSON.stringify(task)], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = once(child, "exit");
  let markReady!: () => void;
  let rejectReady!: (e: Error) => void;
  let markDone!: (d: { results: DeliverResult[]; cpuSeconds: number }) => void;
  let rejectDone!: (e: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    rejectReady = reject;
  });
  const done = new Promise<{ results: DeliverResult[]; cpuSeconds: number }>((resolve, reject) => {
    markDone = resolve;
    rejectDone = reject;
  });
  // Settled promises ignore a later rejection: an exit after "done" is the normal end.
  const fail = (e: Error): void => {
    rejectReady(e);
    rejectDone(e);
  };
  // Awaited later (or never, when start-up fails): rejections must not go unhandled meanwhile.
  ready.catch(() => undefined);
  done.catch(() => undefined);
  child.on("message", (m: ReaderProcessMessage) => {
    if (m.kind === "ready") markReady();
    else if (m.kind === "done") markDone(m);
    else fail(new Error(`reader process ${task.readerIds.join(", ")}: ${m.message}`));
  });
  void exited.then(([code, signal]) =>
    fail(new Error(`reader process ${task.readerIds.join(", ")} exited (code ${code}, signal ${signal}) before it was done`)),
  );
  return { child, readers: task.readerIds.length, ready, done, exited };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Forks the processes, each warmed up on `log` with a reader of its own, and resolves once all are
 * ready; `run()` then times all readers from one start.
 * @example const pool = await startReaderProcesses({ address, log, readerPrefix: "many", readers: 8, processes: 4, targetEach, timeoutMs });
 */
export async function startReaderProcesses(spec: ManyReadersSpec): Promise<ReaderProcesses> {
  const processes = Math.max(1, Math.min(spec.processes, spec.readers));
  const ids = Array.from({ length: processes }, (_, p) =>
    Array.from({ length: spec.readers }, (_, i) => `${spec.readerPrefix}-${i}`).filter((_, i) => i % processes === p),
  );
  const children = ids.map((readerIds) =>
    forkReaderProcess({
      address: spec.address,
      log: spec.log,
      readerIds,
      targetEach: spec.targetEach,
      timeoutMs: spec.timeoutMs,
      warmUpRecords: Math.min(WARM_UP_RECORDS, spec.targetEach),
    }),
  );
  const stop = onCleanup(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL");
    await within(Promise.all(children.map((c) => c.exited)), EXIT_TIMEOUT_MS, "reader processes did not exit").catch(() => undefined);
  });
  try {
    await within(Promise.all(children.map((c) => c.ready)), READY_TIMEOUT_MS, "reader processes were not ready");
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    stop,
    async run() {
      const t0 = performance.now();
      for (const c of children) c.child.send("go");
      const done = await within(Promise.all(children.map((c) => c.done)), spec.timeoutMs + DONE_GRACE_MS, "readers were not done");
      const ms = performance.now() - t0;
      const results = done.flatMap((d) => d.results);
      return {
        records: results.reduce((sum, r) => sum + r.records, 0),
        batches: results.reduce((sum, r) => sum + r.batches, 0),
        statusFrames: results.reduce((sum, r) => sum + r.statusFrames, 0),
        ms,
        // Each reader's, from its process's receipt of the go.
        deliverMs: Math.max(...results.map((r) => r.deliverMs)),
        perReader: results.map((r) => r.records),
        processCpuSeconds: done.map((d) => d.cpuSeconds),
        readersPerProcess: children.map((c) => c.readers),
      };
    },
  };
}
