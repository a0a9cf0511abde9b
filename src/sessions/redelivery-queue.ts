import type { Redelivery, RecordBatch } from "./ack-window.js";
import { ACKED, type Resent } from "./ack-runs.js";

/**
 * The records an ack window is to send again (nacked or past the ack wait), oldest request first,
 * each record once. A queued record acked since is skipped when its turn comes, and the queue is
 * compacted once such records are half of it, so acks keep it small.
 */
export class RedeliveryQueue<B extends RecordBatch = RecordBatch> {
  #redeliveries: Resent<B>[] = [];
  #redeliveriesHead = 0;
  /** Queued records acked since: skipped when their turn comes. */
  #staleRedeliveries = 0;

  /** Records waiting (acked ones among them are skipped when taken). */
  get size(): number {
    return this.#redeliveries.length - this.#redeliveriesHead - this.#staleRedeliveries;
  }

  /** Queues `resent`; false when it is queued already. */
  push(resent: Resent<B>): boolean {
    if (resent.queued) return false;
    resent.queued = true;
    this.#redeliveries.push(resent);
    return true;
  }

  /**
   * Up to `max` records from the redelivery queue to send now, each with attempt + 1 and a fresh
   * delivery time (the ack wait starts again).
   */
  take(max: number, nowMs: number): Redelivery<B>[] {
    const out: Redelivery<B>[] = [];
    const queue = this.#redeliveries;
    while (out.length < max && this.#redeliveriesHead < queue.length) {
      const resent = queue[this.#redeliveriesHead++]!;
      resent.queued = false;
      if ((resent.run.state[resent.slot]! & ACKED) !== 0) {
        this.#staleRedeliveries--;
        continue;
      }
      resent.attempt++;
      resent.deliveredAt = nowMs;
      const batch = resent.run.batch!;
      out.push({ batch, index: resent.slot, dlsn: batch.dlsnAt(resent.slot), attempt: resent.attempt });
    }
    if (this.#redeliveriesHead === queue.length) {
      this.#redeliveries = [];
      this.#redeliveriesHead = 0;
    }
    return out;
  }

  /** A queued record was acked: compact the queue once such records are half of it, so acks keep it small. */
  dropStale(): void {
    this.#staleRedeliveries++;
    const live = this.#redeliveries.length - this.#redeliveriesHead;
    if (this.#staleRedeliveries * 2 < live || live < 64) return;
    this.#redeliveries = this.#redeliveries.slice(this.#redeliveriesHead).filter((resent) => {
      const acked = (resent.run.state[resent.slot]! & ACKED) !== 0;
      if (acked) resent.queued = false;
      return !acked;
    });
    this.#redeliveriesHead = 0;
    this.#staleRedeliveries = 0;
  }
}
