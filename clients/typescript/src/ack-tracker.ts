import type { DLSN as WireDLSN } from "./gen/dlog/v1/common.js";
import type { Ack, Nack } from "./gen/dlog/v1/reader.js";
import { compareWire } from "./convert.js";

/**
 * A DLSN ordered without bigints: its fields as numbers, all three -1 when one is outside
 * 0..2^53-1 (then its `wireDlsn` orders it). Delivered records are ordered several times each
 * (the tracker, the reader's redelivery and yield marks); their bigints are made only when sent.
 */
export interface Ordered {
  readonly segmentNumber: number;
  readonly entryNumber: number;
  readonly slotNumber: number;
  readonly wireDlsn: WireDLSN;
}

/** DLSN order, as `compareWire` on their wire DLSNs. */
export function compareOrder(a: Ordered, b: Ordered): number {
  if (a.segmentNumber < 0 || b.segmentNumber < 0) return compareWire(a.wireDlsn, b.wireDlsn);
  if (a.segmentNumber !== b.segmentNumber) return a.segmentNumber < b.segmentNumber ? -1 : 1;
  if (a.entryNumber !== b.entryNumber) return a.entryNumber < b.entryNumber ? -1 : 1;
  if (a.slotNumber !== b.slotNumber) return a.slotNumber < b.slotNumber ? -1 : 1;
  return 0;
}

/** A copy of `a`'s order, holding nothing else of it (a record would hold its session). */
export function orderOf(a: Ordered): Ordered {
  return { segmentNumber: a.segmentNumber, entryNumber: a.entryNumber, slotNumber: a.slotNumber, wireDlsn: a.wireDlsn };
}

/** What the tracker needs of a delivered record. */
export interface Trackable extends Ordered {
  /** Set by the tracker: acked by the application (directly or through another delivery of the same DLSN). */
  acked: boolean;
  /** Set by the tracker on a second delivery in the same session: the first delivery of this DLSN. */
  primary: Trackable | undefined;
  /** Set by the tracker: the number (from 1, per session) of the Ack message that carried its ack; 0 before. */
  ackMessage: number;
}

export interface AckBatch {
  ack: Ack | undefined;
  nack: Nack | undefined;
}

/** Trim the delivered window once this many settled entries sit before its head. */
const TRIM_AT = 4096;

/**
 * The acks of one session, coalesced: the application acks records one by one,
 * `take()` turns everything acked since the last call into one `Ack` message —
 * a cumulative `up_to` for the contiguous acked prefix of what was delivered,
 * plus individual DLSNs only for acks above the first unacked record.
 *
 * First deliveries arrive in DLSN order, so the window is sorted and a second
 * delivery (nack, ack_wait) finds its first one by binary search; acking either
 * settles the DLSN, which is what the server tracks.
 */
export class AckTracker<T extends Trackable> {
  private window: T[] = [];
  private head = 0;
  private high: Trackable | undefined;
  /** The record of the last `up_to` handed out: everything at or below it is acked on the server's side. */
  private covered: Trackable | undefined;
  private acks: Trackable[] = [];
  private nacks: WireDLSN[] = [];

  get pending(): boolean {
    return this.acks.length > 0 || this.nacks.length > 0;
  }

  /** Records in the window not yet covered by a cumulative ack. */
  get outstanding(): number {
    return this.window.length - this.head;
  }

  delivered(record: T): void {
    if (this.high === undefined || compareOrder(record, this.high) > 0) {
      this.window.push(record);
      this.high = record;
      return;
    }
    record.primary = this.find(record);
  }

  /** Marks the record acked; false when its DLSN was already acked. */
  ack(record: T): boolean {
    const target = record.primary ?? record;
    if (target.acked) return false;
    target.acked = true;
    record.acked = true;
    this.acks.push(target);
    return true;
  }

  /** Asks for the record again; false when its DLSN is already acked (nothing to redeliver). */
  nack(record: T): boolean {
    const target = record.primary ?? record;
    if (target.acked) return false;
    this.nacks.push(target.wireDlsn);
    return true;
  }

  /**
   * Everything acked and nacked since the last call, as at most one Ack and one Nack message;
   * the records acked are stamped with `ackMessage` (the number the Ack message will have).
   */
  take(ackMessage: number): AckBatch {
    let ack: Ack | undefined;
    if (this.acks.length > 0) {
      let head = this.head;
      while (head < this.window.length && this.window[head]!.acked) head++;
      let upTo: WireDLSN | undefined;
      if (head > this.head) {
        this.covered = this.window[head - 1]!;
        upTo = this.covered.wireDlsn;
        this.head = head;
      }
      const dlsns: WireDLSN[] = [];
      const covered = this.covered;
      for (const record of this.acks) {
        record.ackMessage = ackMessage;
        if (covered === undefined || compareOrder(record, covered) > 0) dlsns.push(record.wireDlsn);
      }
      this.acks = [];
      if (upTo !== undefined || dlsns.length > 0) ack = { dlsns, upTo };
      this.trim();
    }
    let nack: Nack | undefined;
    if (this.nacks.length > 0) {
      nack = { dlsns: this.nacks };
      this.nacks = [];
    }
    return { ack, nack };
  }

  private find(dlsn: Ordered): T | undefined {
    let low = this.head;
    let high = this.window.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const order = compareOrder(this.window[middle]!, dlsn);
      if (order === 0) return this.window[middle];
      if (order < 0) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  private trim(): void {
    if (this.head >= TRIM_AT && this.head * 2 >= this.window.length) {
      this.window = this.window.slice(this.head);
      this.head = 0;
    }
  }
}
