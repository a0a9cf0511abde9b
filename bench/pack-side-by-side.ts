/**
 * Appends sharing entries, off and on, in one run: two dlogd processes of this build
 * (`--no-pack-appends` and the default), taken in turns like side-by-side.ts. Each round writes
 * a fresh log with single-record appends pipelined on AppendStream (the producer with no batching
 * of its own), then one reader catches up on it, and on a log of the same size written 1000
 * records per append; rates and dlogd CPU per record of each.
 */
import { appendStream } from "./append.js";
import { deliverAndAck } from "./deliver.js";
import type { Dlogd } from "./dlogd-process.js";
import { inTurns, type Side } from "./side-by-side.js";

export interface PackFigures {
  /** AppendStream, 1 record per request, 256 in flight: records/s (best round) and dlogd CPU µs per record (lowest round). */
  appendRate: number;
  appendCpuUs: number;
  /** Records per entry in the log those appends wrote. */
  recordsPerEntry: number;
  /** One reader catching up on that log: records/s and dlogd CPU µs per record. */
  deliverRate: number;
  deliverCpuUs: number;
  /** The same catch-up on the log written 1000 records per append. */
  bulkDeliverRate: number;
  bulkDeliverCpuUs: number;
}

export interface PackSpec {
  records: number;
  rounds: number;
  timeoutMs: number;
}

const IN_FLIGHT = 256;

async function round(d: Dlogd, spec: PackSpec, tag: string): Promise<PackFigures> {
  const singles = `pack-singles-${tag}`;
  const bulk = `pack-bulk-${tag}`;
  const cpu0 = await d.cpuSeconds();
  const appended = await appendStream(d.logs, {
    log: singles,
    size: 100,
    recordsPerAppend: 1,
    inFlight: IN_FLIGHT,
    appends: spec.records,
    timeoutMs: spec.timeoutMs,
  });
  const cpu1 = await d.cpuSeconds();
  await appendStream(d.logs, {
    log: bulk,
    size: 100,
    recordsPerAppend: 1_000,
    inFlight: 8,
    appends: Math.ceil(appended.records / 1_000),
    timeoutMs: spec.timeoutMs,
  });
  const info = await d.logs.getLog({ log: singles });
  const entries = info.segments.reduce((n, s) => n + Number((s.lastDlsn?.entry ?? 0n) - (s.firstDlsn?.entry ?? 0n)) + 1, 0);
  const cpu2 = await d.cpuSeconds();
  const one = await deliverAndAck(d.readers, singles, `pack-${tag}`, appended.records, spec.timeoutMs);
  const cpu3 = await d.cpuSeconds();
  const many = await deliverAndAck(d.readers, bulk, `pack-${tag}`, appended.records, spec.timeoutMs);
  const cpu4 = await d.cpuSeconds();
  const perRecordUs = (seconds: number, records: number): number => (seconds * 1e6) / Math.max(1, records);
  return {
    appendRate: (appended.records * 1000) / appended.ms,
    appendCpuUs: perRecordUs(cpu1 - cpu0, appended.records),
    recordsPerEntry: Number(info.recordCount) / Math.max(1, entries),
    deliverRate: (one.records * 1000) / one.ms,
    deliverCpuUs: perRecordUs(cpu3 - cpu2, one.records),
    bulkDeliverRate: (many.records * 1000) / many.ms,
    bulkDeliverCpuUs: perRecordUs(cpu4 - cpu3, many.records),
  };
}

/** Runs both sides `rounds` times in alternating order; rates: best round, CPU: lowest round. */
export async function packSideBySide(a: Side, b: Side, spec: PackSpec, progress: (m: string) => void): Promise<[PackFigures, PackFigures]> {
  const rounds = await inTurns(
    [a, b],
    spec.rounds,
    async () => undefined,
    (d, tag) => round(d, spec, tag),
    progress,
    "appends sharing entries",
  );
  const best = (rs: PackFigures[]): PackFigures => {
    const max = (k: keyof PackFigures): number => Math.max(...rs.map((x) => x[k]));
    const min = (k: keyof PackFigures): number => Math.min(...rs.map((x) => x[k]));
    return {
      appendRate: max("appendRate"),
      appendCpuUs: min("appendCpuUs"),
      recordsPerEntry: rs[0]!.recordsPerEntry,
      deliverRate: max("deliverRate"),
      deliverCpuUs: min("deliverCpuUs"),
      bulkDeliverRate: max("bulkDeliverRate"),
      bulkDeliverCpuUs: min("bulkDeliverCpuUs"),
    };
  };
  return [best(rounds[0]), best(rounds[1])];
}
