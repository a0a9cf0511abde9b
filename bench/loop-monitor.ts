/**
 * Preloaded into a dlogd by the bench (`node --import dist/bench/loop-monitor.js bin/dlogd.js …`):
 * event-loop delay and GC pauses, so a latency figure can say where its tail came from. On SIGUSR2
 * it writes what it saw since the last SIGUSR2 to $DLOG_BENCH_LOOP_FILE and starts over.
 * Nothing in dlogd itself changes.
 */
import { renameSync, writeFileSync } from "node:fs";
import { constants, type IntervalHistogram, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export interface LoopReport {
  /** Event-loop delay (ms): how late timers ran, sampled every millisecond. */
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** GC pauses in the window: count, total and longest (ms), and the longest by kind. */
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
  gcMaxByKind: Record<string, number>;
  /** process.memoryUsage() at the end of the window after a full GC, MiB: what of the RSS is live JS heap, buffers, the rest native. */
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
  /** In a dlogd: its storage writes in the window (see `traceStorage`); absent in other processes. */
  storage?: StorageReport;
}

/** Quantiles (ms) of one kind of wait. */
export interface Spread {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface StorageReport {
  /** `LevelStorage.commit` of a group-committed batch, call to resolve: the thread pool's queue, LevelDB's writer queue, write, fsync, and the loop's turn to run the callback. */
  commit: Spread;
  /** Oldest append of a batch, from `GroupCommit.enqueue` to the start of its batch's commit: the wait for the next turn and for the batch in flight. */
  batchWait: Spread;
  /**
   * From the end of one commit's write to the start of the next one's, when the next one's appends
   * were already waiting at that end: time no commit was being written while appends waited for the loop.
   */
  idleGap: Spread;
  /** `LevelStorage.writePositions` (the position flusher's fsynced writes), and how many of them overlapped a commit. */
  positionWrite: Spread;
  positionWritesDuringCommit: number;
  /** LevelDB batch writes with `sync: true` (each an fsync unless LevelDB groups it with another writer's). */
  syncedWrites: number;
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

/** A monitor of this process's loop delay and GC pauses; `take()` returns the window so far and starts a new one. */
export function startLoopMonitor(): { take(): LoopReport; stop(): void } {
  // A full GC before each memory snapshot, so heapUsed is what is live (bench-only: dlogd itself never does this).
  setFlagsFromString("--expose-gc");
  const gcNow = runInNewContext("gc") as () => void;
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let gc = { count: 0, total: 0, max: 0, byKind: {} as Record<string, number> };
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const detail = (e as { detail?: { kind?: number; flags?: number } }).detail;
      // take()'s own full GC is reported after it returns, in the next window: not the process's pause.
      if (((detail?.flags ?? 0) & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0) continue;
      const kind = GC_KINDS[detail?.kind ?? 0] ?? "other";
      gc.count++;
      gc.total += e.duration;
      gc.max = Math.max(gc.max, e.duration);
      gc.byKind[kind] = Math.max(gc.byKind[kind] ?? 0, e.duration);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  return {
    take() {
      const report: LoopReport = {
        delayP50Ms: delay.percentile(50) / 1e6,
        delayP99Ms: delay.percentile(99) / 1e6,
        delayMaxMs: delay.max / 1e6,
        gcCount: gc.count,
        gcTotalMs: gc.total,
        gcMaxMs: gc.max,
        gcMaxByKind: gc.byKind,
        memory: { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 },
      };
      gcNow();
      report.memory = Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, v / 2 ** 20])) as LoopReport["memory"];
      delay.reset();
      gc = { count: 0, total: 0, max: 0, byKind: {} };
      return report;
    },
    stop() {
      delay.disable();
      observer.disconnect();
    },
  };
}

function spread(samples: number[]): Spread {
  const sorted = samples.sort((a, b) => a - b);
  const at = (q: number): number => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]! };
}

/** Keeps at most this many samples of each kind per window: a long window cannot grow without bound. */
const MAX_SAMPLES = 1_000_000;

/**
 * Wraps dlogd's own `LevelStorage.commit` / `writePositions` and `GroupCommit.enqueue` / `commitPending`
 * (the same module instances dlogd loads) to time them; `take()` returns the window so far. Only the
 * time stamps are added: what the calls do is unchanged.
 */
async function traceStorage(): Promise<{ take(): StorageReport }> {
  const { LevelStorage } = await import("../src/storage/level-storage.js");
  const { GroupCommit } = await import("../src/log/group-commit.js");
  const { ClassicLevel } = await import("classic-level");
  let commits: number[] = [];
  let waits: number[] = [];
  let gaps: number[] = [];
  let lastCommitEnd = Number.NEGATIVE_INFINITY;
  /** The batch being taken had appends waiting when the commit before it ended. */
  let waitedThroughCommitEnd = false;
  let positions: number[] = [];
  let positionsDuringCommit = 0;
  let syncedWrites = 0;
  let committing = 0;
  let oldestEnqueue: number | undefined;
  const keep = (into: number[], ms: number): void => {
    if (into.length < MAX_SAMPLES) into.push(ms);
  };
  const storage = LevelStorage.prototype as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const commit = storage["commit"]!;
  storage["commit"] = async function (this: unknown, ...args: unknown[]) {
    const started = performance.now();
    if (waitedThroughCommitEnd) keep(gaps, started - lastCommitEnd);
    waitedThroughCommitEnd = false;
    committing++;
    try {
      return await commit.apply(this, args);
    } finally {
      committing--;
      lastCommitEnd = performance.now();
      keep(commits, lastCommitEnd - started);
    }
  };
  const writePositions = storage["writePositions"]!;
  storage["writePositions"] = async function (this: unknown, ...args: unknown[]) {
    const started = performance.now();
    if (committing > 0) positionsDuringCommit++;
    try {
      return await writePositions.apply(this, args);
    } finally {
      keep(positions, performance.now() - started);
    }
  };
  const level = ClassicLevel.prototype as unknown as { batch: (...args: unknown[]) => unknown };
  const batch = level.batch;
  level.batch = function (this: unknown, ...args: unknown[]) {
    const made = batch.apply(this, args);
    // Only the chained form (no arguments) is used for synced writes.
    if (args.length === 0) {
      const chained = made as { write(options?: { sync?: boolean }): Promise<void> };
      const write = chained.write;
      chained.write = function (this: unknown, options?: { sync?: boolean }) {
        if (options?.sync === true) syncedWrites++;
        return write.call(this, options);
      };
    }
    return made;
  };
  const group = GroupCommit.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const enqueue = group["enqueue"]!;
  group["enqueue"] = function (this: unknown, ...args: unknown[]) {
    oldestEnqueue ??= performance.now();
    return enqueue.apply(this, args);
  };
  const commitPending = group["commitPending"]!;
  group["commitPending"] = function (this: unknown, ...args: unknown[]) {
    // commitPending takes every append assigned so far; those enqueued from here on wait for the next.
    waitedThroughCommitEnd = oldestEnqueue !== undefined && oldestEnqueue < lastCommitEnd && committing === 0;
    if (oldestEnqueue !== undefined) keep(waits, performance.now() - oldestEnqueue);
    oldestEnqueue = undefined;
    return commitPending.apply(this, args);
  };
  return {
    take() {
      const report = {
        commit: spread(commits),
        batchWait: spread(waits),
        idleGap: spread(gaps),
        positionWrite: spread(positions),
        positionWritesDuringCommit: positionsDuringCommit,
        syncedWrites,
      };
      commits = [];
      waits = [];
      gaps = [];
      positions = [];
      positionsDuringCommit = 0;
      syncedWrites = 0;
      return report;
    },
  };
}

const file = process.env["DLOG_BENCH_LOOP_FILE"];
if (file !== undefined && file !== "") {
  const monitor = startLoopMonitor();
  const storage = await traceStorage();
  // Written aside and renamed, so the bench never reads half a file.
  process.on("SIGUSR2", () => {
    writeFileSync(`${file}.part`, JSON.stringify({ ...monitor.take(), storage: storage.take() }));
    renameSync(`${file}.part`, file);
  });
}

/** "loop delay p99 1.2 ms (max 9.8); GC 12 pauses, 30 ms, longest 4.1 ms (minor 4.1)" */
export function loopNote(who: string, r: LoopReport): string {
  const kinds = Object.entries(r.gcMaxByKind)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(", ");
  return `${who}: loop delay p50 ${r.delayP50Ms.toFixed(1)} / p99 ${r.delayP99Ms.toFixed(1)} / max ${r.delayMaxMs.toFixed(1)} ms, GC ${r.gcCount} pauses, ${r.gcTotalMs.toFixed(0)} ms in all, longest ${r.gcMaxMs.toFixed(1)} ms${kinds ? ` (${kinds})` : ""}`;
}

/** "commit p50 0.4 / p99 9.1 / p99.9 20.3 / max 31 ms (1200); batch wait …; position writes … (3 during a commit)" */
export function storageNote(r: StorageReport): string {
  const q = (s: Spread): string => `p50 ${s.p50.toFixed(1)} / p99 ${s.p99.toFixed(1)} / p99.9 ${s.p999.toFixed(1)} / max ${s.max.toFixed(1)} ms (${s.count})`;
  return `storage: commit ${q(r.commit)}; batch wait ${q(r.batchWait)}; gap between commits while appends waited ${q(r.idleGap)}; position writes ${q(r.positionWrite)}, ${r.positionWritesDuringCommit} during a commit; ${r.syncedWrites} synced LevelDB writes`;
}
