/** Deliver + ack throughput through ReaderService.Session, catching up from the start of a log. */
import type { ReaderServiceClient } from "../src/gen/dlog/v1/reader.js";
import { lastDlsn, openSession, recordCount } from "./session-client.js";

export interface DeliverResult {
  records: number;
  batches: number;
  statusFrames: number;
  /** Session call → Drained (every ack processed and durable). */
  ms: number;
  /** Session call → last record received. */
  deliverMs: number;
}

/**
 * One reader: opens a session for a fresh reader id, acks each received batch with one
 * cumulative `up_to`, drains after `target` records (or at the deadline) and waits for Drained.
 */
export async function deliverAndAck(readers: ReaderServiceClient, log: string, readerId: string, target: number, timeoutMs: number): Promise<DeliverResult> {
  const session = openSession(readers, log, readerId);
  let draining = false;
  const drain = (): void => {
    if (draining) return;
    draining = true;
    session.drain();
  };
  // At the deadline: drain with what arrived (a timer, since a caught-up session may send nothing).
  const stop = setTimeout(drain, timeoutMs);
  // A stuck server must not hang the run: the call is cancelled well after the deadline.
  const guard = setTimeout(() => session.close(), timeoutMs + 15_000);
  let records = 0;
  let batches = 0;
  let statusFrames = 0;
  let drained = false;
  let deliverMs = 0;
  const t0 = performance.now();
  try {
    for (;;) {
      const next = await session.frames.next();
      if (next.done) break;
      const kind = next.value.kind;
      if (kind?.$case === "records") {
        const count = recordCount(kind.value);
        if (count === 0) continue;
        records += count;
        batches++;
        deliverMs = performance.now() - t0;
        session.ack(lastDlsn(kind.value));
        if (records >= target) drain();
      } else if (kind?.$case === "status") {
        statusFrames++;
      } else if (kind?.$case === "drained") {
        drained = true;
      }
    }
  } finally {
    clearTimeout(stop);
    clearTimeout(guard);
    session.close();
  }
  const ms = performance.now() - t0;
  if (!drained) throw new Error(`session of ${readerId} ended without Drained after ${records} records`);
  return { records, batches, statusFrames, ms, deliverMs };
}

/** `readers` sessions at once, each its own reader id on the same log; the rate is over the slowest. */
export async function deliverAndAckMany(
  client: ReaderServiceClient,
  log: string,
  readerPrefix: string,
  readers: number,
  targetEach: number,
  timeoutMs: number,
): Promise<DeliverResult & { perReader: number[] }> {
  const results = await Promise.all(Array.from({ length: readers }, (_, i) => deliverAndAck(client, log, `${readerPrefix}-${i}`, targetEach, timeoutMs)));
  return {
    records: results.reduce((sum, r) => sum + r.records, 0),
    batches: results.reduce((sum, r) => sum + r.batches, 0),
    statusFrames: results.reduce((sum, r) => sum + r.statusFrames, 0),
    ms: Math.max(...results.map((r) => r.ms)),
    deliverMs: Math.max(...results.map((r) => r.deliverMs)),
    perReader: results.map((r) => r.records),
  };
}
