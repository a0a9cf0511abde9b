/** Snapshots of CPU time (dlogd, this client, everything else on the machine) and dlogd counters around one measured step. */
import { readFile } from "node:fs/promises";
import type { Dlogd } from "./dlogd-process.js";

export interface ProbeDelta {
  serverCpuS: number;
  clientCpuS: number;
  /** CPU seconds used by every other process on the machine meanwhile (other test runs, compaction of other servers…). */
  othersCpuS: number;
  /** Counter deltas by metric name. */
  counters: Map<string, number>;
  /** dlogd's resident memory at the end of the step and its peak since the process started. */
  rssMiB: number;
  peakRssMiB: number;
  /** CPU seconds of each client process the step forked (reader-processes.ts); counted in clientCpuS too. */
  readerProcessesCpuS?: number[];
}

const CLK_TCK = 100;

/** Busy CPU seconds of the whole machine since boot, from /proc/stat (NaN elsewhere). */
export async function machineBusySeconds(): Promise<number> {
  try {
    const cpu = (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: everything but idle and iowait is busy.
    const busy = cpu.reduce((sum, v, i) => (i === 3 || i === 4 || i > 7 ? sum : sum + v), 0);
    return busy / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

export async function probe(d: Dlogd): Promise<() => Promise<ProbeDelta>> {
  const [server0, metrics0, busy0] = await Promise.all([d.cpuSeconds(), d.metrics(), machineBusySeconds()]);
  const client0 = process.cpuUsage();
  return async () => {
    const client = process.cpuUsage(client0);
    const [server1, metrics1, busy1, memory] = await Promise.all([d.cpuSeconds(), d.metrics(), machineBusySeconds(), d.memory()]);
    const counters = new Map<string, number>();
    for (const [name, value] of metrics1) counters.set(name, value - (metrics0.get(name) ?? 0));
    const serverCpuS = server1 - server0;
    const clientCpuS = (client.user + client.system) / 1e6;
    return {
      serverCpuS,
      clientCpuS,
      othersCpuS: Math.max(0, busy1 - busy0 - serverCpuS - clientCpuS),
      counters,
      rssMiB: memory.rssMiB,
      peakRssMiB: memory.peakMiB,
    };
  };
}

/** The delta with the CPU of the step's reader processes moved from "rest of machine" to the client. */
export function withReaderProcesses(delta: ProbeDelta, cpuSeconds: readonly number[]): ProbeDelta {
  const sum = cpuSeconds.reduce((a, b) => a + b, 0);
  return { ...delta, clientCpuS: delta.clientCpuS + sum, othersCpuS: Math.max(0, delta.othersCpuS - sum), readerProcessesCpuS: [...cpuSeconds] };
}

/** "CPU over 2.5 s: dlogd 3.1 s (…%), client 2.0 s (…%), other processes …" — shows which side was busy and whether the machine was shared. */
export function cpuNote(delta: ProbeDelta, ms: number): string {
  const s = ms / 1000;
  const pct = (v: number): string => `${((v / s) * 100).toFixed(0)} %`;
  const others = Number.isNaN(delta.othersCpuS) ? "" : `, rest of machine ${pct(delta.othersCpuS)}`;
  const forked = delta.readerProcessesCpuS;
  const split =
    forked === undefined || forked.length === 0
      ? ""
      : ` (${forked.length} reader processes ${pct(forked.reduce((a, b) => a + b, 0))}, busiest ${pct(Math.max(...forked))}; bench process ${pct(delta.clientCpuS - forked.reduce((a, b) => a + b, 0))})`;
  return `CPU over ${s.toFixed(1)} s: dlogd ${pct(delta.serverCpuS)}, client ${pct(delta.clientCpuS)}${split}${others} (100 % = one core)`;
}

/** CPU seconds of this process plus its children that have exited (dlogd, nats-server, redis-server, raw gRPC server). */
export async function ownTreeCpuSeconds(): Promise<number> {
  try {
    const stat = await readFile("/proc/self/stat", "utf8");
    const f = stat
      .slice(stat.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    // utime, stime, cutime, cstime are fields 14-17 (indexes 11-14 after the command name).
    return (f[11]! + f[12]! + f[13]! + f[14]!) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}
