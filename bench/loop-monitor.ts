/**
 * Preloaded into a dlogd by the bench (`node --import dist/bench/loop-monitor.js bin/dlogd.js …`):
 * event-loop delay and GC pauses, so a latency figure can say where its tail came from. On SIGUSR2
 * it writes what it saw since the last SIGUSR2 to $DLOG_BENCH_LOOP_FILE and starts over.
 * Nothing in dlogd itself changes.
 */
import { renameSync, writeFileSync } from "node:fs";
import { type IntervalHistogram, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
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
}

const GC_KINDS: Record<number, string> = { 1: "minor", 2: "major", 4: "incremental", 8: "weakcb" };

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
      const kind = GC_KINDS[(e as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? "other";
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

const file = process.env["DLOG_BENCH_LOOP_FILE"];
if (file !== undefined && file !== "") {
  const monitor = startLoopMonitor();
  // Written aside and renamed, so the bench never reads half a file.
  process.on("SIGUSR2", () => {
    writeFileSync(`${file}.part`, JSON.stringify(monitor.take()));
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
