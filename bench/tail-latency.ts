/** Append → delivery latency for a session sitting at the head of a log. */
import { ClassicLevel } from "classic-level";
import type { LogServiceClient } from "../src/gen/dlog/v1/log.js";
import type { ReaderServiceClient } from "../src/gen/dlog/v1/reader.js";
import { openSession } from "./session-client.js";
import { tempDir } from "./peers/support.js";
import { deadline, sleep } from "./stats.js";

export interface TailLatencyResult {
  /** ms from just before the Append call to the record's arrival on the session. */
  delivery: number[];
  /** ms from just before the Append call to its answer. */
  appendAck: number[];
  /**
   * Of `delivery`, ms from just before the Append call to the server's append time (the record's
   * `append_time_ms`, when the group commit took it; whole ms of the same clock): the time spent
   * in the client and on the way in. The rest of the delivery is the commit (fsync) and the way out.
   */
  toServer: number[];
  sent: number;
  received: number;
  ms: number;
}

/** Appends one record and resolves once it is answered. */
export type TailProducer = (payload: Buffer) => Promise<unknown>;

/**
 * Opens a session on an empty log, then appends single records (by default one unary Append
 * each, not awaited; `produce` sends them otherwise, e.g. through the client's appender) at
 * `ratePerSec` for `durationMs`; each payload carries its index so the arrival can be
 * matched to its send time. The first `warmup` records are not counted.
 */
export async function tailLatency(
  logs: LogServiceClient,
  readers: ReaderServiceClient,
  opts: { log: string; size: number; ratePerSec: number; durationMs: number; warmup: number; produce?: TailProducer | undefined },
): Promise<TailLatencyResult> {
  const produce = opts.produce ?? ((payload: Buffer) => logs.append({ log: opts.log, records: [{ payload }] }));
  await logs.createLog({ log: opts.log });
  const total = Math.max(1, Math.floor((opts.ratePerSec * opts.durationMs) / 1000));
  const sentAt = new Float64Array(total);
  const delivered = new Float64Array(total).fill(Number.NaN);
  const answered = new Float64Array(total).fill(Number.NaN);
  const reachedServer = new Float64Array(total).fill(Number.NaN);
  const epochOffset = performance.timeOrigin;
  const session = openSession(readers, opts.log, "tail");
  const guard = setTimeout(() => session.close(), opts.durationMs + 30_000);
  let received = 0;
  let sent = 0;
  let appendError: unknown;
  try {
    const first = await session.frames.next();
    if (first.done || first.value.kind?.$case !== "opened") throw new Error("the tail session did not start with Opened");

    const receiver = (async () => {
      let draining = false;
      for (;;) {
        const next = await session.frames.next();
        if (next.done) return;
        const kind = next.value.kind;
        if (kind?.$case !== "records") continue;
        const now = performance.now();
        const batch = kind.value.records;
        for (const record of batch) {
          const i = record.payload.readUInt32BE(0);
          if (i < total) {
            delivered[i] = now - sentAt[i]!;
            reachedServer[i] = Number(record.appendTimeMs) - (epochOffset + sentAt[i]!);
          }
        }
        received += batch.length;
        if (batch.length > 0) session.ack(batch[batch.length - 1]!.dlsn!);
        if (!draining && received >= total) {
          draining = true;
          session.drain();
        }
      }
    })();

    const expired = deadline(opts.durationMs + 5_000);
    const t0 = performance.now();
    while (sent < total && !expired() && appendError === undefined) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * opts.ratePerSec) / 1000) + 1);
      for (; sent < due; sent++) {
        const i = sent;
        const payload = Buffer.alloc(opts.size, 0x61);
        payload.writeUInt32BE(i, 0);
        sentAt[i] = performance.now();
        produce(payload).then(
          () => {
            answered[i] = performance.now() - sentAt[i]!;
          },
          (error: unknown) => {
            appendError ??= error;
          },
        );
      }
      await sleep(1);
    }
    if (appendError !== undefined) throw appendError;
    if (sent < total) session.drain(); // stopped early: drain with what arrived
    // Wait (bounded) for the stragglers and the Drained frame.
    const waitEnd = deadline(10_000);
    while (received < sent && !waitEnd()) await sleep(5);
    if (received < sent) session.drain();
    await Promise.race([receiver, sleep(10_000)]);
    const ms = performance.now() - t0;
    const pick = (values: Float64Array): number[] => Array.from(values.subarray(Math.min(opts.warmup, sent), sent)).filter((v) => !Number.isNaN(v));
    return { delivery: pick(delivered), appendAck: pick(answered), toServer: pick(reachedServer), sent, received, ms };
  } finally {
    clearTimeout(guard);
    session.close();
  }
}

/**
 * The disk's floor for what the tail measures, without dlogd: records "arrive" on the same schedule
 * (`ratePerSec`, open loop) and one writer writes everything arrived so far as one classic-level batch
 * with `sync: true`, then the next, as an ideal group commit would. Each record's time runs from its
 * scheduled arrival to the end of the fsynced write that carried it, so a slow fsync counts once for
 * every record that waited for it (timing each put alone counts it once: coordinated omission).
 * The writer sleeps (timer) while nothing has arrived, as dlogd's loop would.
 */
export async function groupCommitFloor(opts: { ratePerSec: number; durationMs: number; size: number; warmup: number }): Promise<number[]> {
  const dir = await tempDir("tail-floor");
  const db = new ClassicLevel<Buffer, Buffer>(dir.path, { keyEncoding: "buffer", valueEncoding: "buffer" });
  try {
    await db.open();
    const total = Math.max(1, Math.floor((opts.ratePerSec * opts.durationMs) / 1000));
    const intervalMs = 1000 / opts.ratePerSec;
    const value = Buffer.alloc(opts.size, 0x61);
    const latency = new Float64Array(total);
    const t0 = performance.now();
    const arrival = (i: number): number => t0 + i * intervalMs;
    let written = 0;
    // Bounded: every pass writes at least one record, or waits for the next to arrive.
    while (written < total) {
      const now = performance.now();
      const arrived = Math.min(total, Math.floor((now - t0) / intervalMs) + 1);
      if (arrived <= written) {
        const wait = arrival(written) - now;
        await new Promise((resolve) => (wait >= 1 ? setTimeout(resolve, wait) : setImmediate(resolve)));
        continue;
      }
      const batch = db.batch();
      for (let i = written; i < arrived; i++) {
        const key = Buffer.allocUnsafe(8);
        key.writeBigUInt64BE(BigInt(i));
        batch.put(key, value);
      }
      await batch.write({ sync: true });
      const done = performance.now();
      for (let i = written; i < arrived; i++) latency[i] = done - arrival(i);
      written = arrived;
    }
    return Array.from(latency.subarray(Math.min(opts.warmup, total)));
  } finally {
    await db.close();
    await dir.remove();
  }
}
