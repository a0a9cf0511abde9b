/**
 * Before/after in one run: the same workloads on two dlogd processes of this build that differ
 * only in the flags under test (e.g. `--entry-cache 0` against the default), taken in turns
 * (A B, then B A, …) so that whatever else the shared machine does falls on both alike. Each
 * figure keeps the better of its rounds per side; dlogd CPU time per record is reported too,
 * which a busy machine disturbs far less than wall-clock rates.
 */
import { appendStream } from "./append.js";
import { deliverAndAck } from "./deliver.js";
import { startDlogd, type Dlogd } from "./dlogd-process.js";
import { onCleanup } from "./cleanup.js";
import { startReaderProcesses, type ManyReadersResult } from "./reader-processes.js";
import { quantile } from "./stats.js";
import { tailLatency } from "./tail-latency.js";
import { warmUp } from "./warm-up.js";

export interface Side {
  label: string;
  args: string[];
}

export interface SideFigures {
  /** records/s, best round. */
  oneReader: number;
  eightReaders: number;
  /** dlogd CPU µs per delivered record (lowest round). */
  oneReaderCpuUs: number;
  eightReadersCpuUs: number;
  /** CPU while the readers of the best eight-reader round ran, in % of one core: dlogd, all reader processes, the busiest of them. */
  eightReadersDlogdCpuPct: number;
  eightReadersClientCpuPct: number;
  eightReadersBusiestClientCpuPct: number;
  tailP50Ms: number;
  tailP99Ms: number;
  tailP999Ms: number;
}

export interface SideBySideSpec {
  records: number;
  readers: number;
  /** Client processes driving the readers (reader-processes.ts). */
  readerProcesses: number;
  rounds: number;
  tailRate: number;
  tailMs: number;
  timeoutMs: number;
}

interface Round {
  oneReader: number;
  oneReaderCpuUs: number;
  eightReaders: number;
  eightReadersCpuUs: number;
  eightReadersDlogdCpuPct: number;
  eightReadersClientCpuPct: number;
  eightReadersBusiestClientCpuPct: number;
  tail: number[];
}

/** The readers of one round from their client processes (started first), and dlogd's CPU seconds over their run. */
async function manyReaders(d: Dlogd, spec: SideBySideSpec, tag: string): Promise<{ result: ManyReadersResult; dlogdCpuS: number }> {
  const pool = await startReaderProcesses({
    address: d.address,
    log: "sbs",
    readerPrefix: `many-${tag}`,
    readers: spec.readers,
    processes: spec.readerProcesses,
    targetEach: spec.records,
    timeoutMs: spec.timeoutMs,
  });
  try {
    const cpu0 = await d.cpuSeconds();
    const result = await pool.run();
    return { result, dlogdCpuS: (await d.cpuSeconds()) - cpu0 };
  } finally {
    await pool.stop();
  }
}

async function round(d: Dlogd, spec: SideBySideSpec, tag: string): Promise<Round> {
  const cpu0 = await d.cpuSeconds();
  const one = await deliverAndAck(d.readers, "sbs", `one-${tag}`, spec.records, spec.timeoutMs);
  const cpu1 = await d.cpuSeconds();
  const many = await manyReaders(d, spec, tag);
  const tail = await tailLatency(d.logs, d.readers, { log: `sbs-tail-${tag}`, size: 100, ratePerSec: spec.tailRate, durationMs: spec.tailMs, warmup: 200 });
  const { result, dlogdCpuS } = many;
  const pctOfCore = (seconds: number): number => (seconds * 100_000) / result.ms;
  return {
    oneReader: (one.records * 1000) / one.ms,
    oneReaderCpuUs: ((cpu1 - cpu0) * 1e6) / Math.max(1, one.records),
    eightReaders: (result.records * 1000) / result.ms,
    eightReadersCpuUs: (dlogdCpuS * 1e6) / Math.max(1, result.records),
    eightReadersDlogdCpuPct: pctOfCore(dlogdCpuS),
    eightReadersClientCpuPct: pctOfCore(result.processCpuSeconds.reduce((a, b) => a + b, 0)),
    eightReadersBusiestClientCpuPct: pctOfCore(Math.max(...result.processCpuSeconds)),
    tail: tail.delivery,
  };
}

/**
 * Starts one warmed-up dlogd per side, runs `prepare` on each, then `round` on each side `rounds`
 * times in alternating order (A B, B A, …); returns every side's rounds. Both servers stop at the end.
 */
export async function inTurns<R>(
  sides: readonly [Side, Side],
  rounds: number,
  prepare: (d: Dlogd) => Promise<unknown>,
  round: (d: Dlogd, tag: string) => Promise<R>,
  progress: (m: string) => void,
  what: string,
): Promise<[R[], R[]]> {
  const servers: Dlogd[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    for (const side of sides) {
      const d = await startDlogd({ args: side.args });
      servers.push(d);
      stops.push(onCleanup(() => d.stop()));
      await warmUp(d, true);
      await prepare(d);
    }
    const results: [R[], R[]] = [[], []];
    for (let r = 0; r < rounds; r++) {
      for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
        progress(`  ${what}: round ${r + 1}/${rounds}, ${sides[i]!.label}`);
        results[i]!.push(await round(servers[i]!, `${r}`));
      }
    }
    return results;
  } finally {
    for (const stop of stops) await stop();
  }
}

/** Runs both sides `rounds` times in alternating order and returns each side's figures. */
export async function sideBySide(a: Side, b: Side, spec: SideBySideSpec, progress: (m: string) => void): Promise<[SideFigures, SideFigures]> {
  const prepare = (d: Dlogd) =>
    appendStream(d.logs, { log: "sbs", size: 100, recordsPerAppend: 1_000, inFlight: 8, appends: Math.ceil(spec.records / 1_000), timeoutMs: spec.timeoutMs });
  const rounds = await inTurns([a, b], spec.rounds, prepare, (d, tag) => round(d, spec, tag), progress, "side by side");
  const figures = rounds.map((rs): SideFigures => {
    const tail = rs.flatMap((x) => x.tail);
    const bestMany = rs.reduce((a, b) => (b.eightReaders > a.eightReaders ? b : a));
    return {
      oneReader: Math.max(...rs.map((x) => x.oneReader)),
      eightReaders: bestMany.eightReaders,
      eightReadersDlogdCpuPct: bestMany.eightReadersDlogdCpuPct,
      eightReadersClientCpuPct: bestMany.eightReadersClientCpuPct,
      eightReadersBusiestClientCpuPct: bestMany.eightReadersBusiestClientCpuPct,
      oneReaderCpuUs: Math.min(...rs.map((x) => x.oneReaderCpuUs)),
      eightReadersCpuUs: Math.min(...rs.map((x) => x.eightReadersCpuUs)),
      tailP50Ms: quantile(tail, 0.5),
      tailP99Ms: quantile(tail, 0.99),
      tailP999Ms: quantile(tail, 0.999),
    };
  });
  return [figures[0]!, figures[1]!];
}
