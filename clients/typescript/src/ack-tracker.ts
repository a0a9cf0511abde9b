import type { DLSN as WireDLSN } from "./gen/dlog/v1/common.js";
import type { Ack, Nack } from "./gen/dlog/v1/reader.js";
import { compareWire } from "./convert.js";

/** What the tracker needs of a delivered record. */
export interface Trackable {
  readonly wireDlsn: WireDLSN;
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
  private high: WireDLSN | undefined;
  /** The last `up_to` handed out: everything at or below it is acked on the server's side. */
  private covered: WireDLSN | undefined;
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
    const dlsn = record.wireDlsn;
    if (this.high === undefined || compareWire(dlsn, this.high) > 0) {
      this.window.push(record);
      this.high = dlsn;
      return;
    }
    record.primary = this.find(dlsn);
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
        upTo = this.window[head - 1]!.wireDlsn;
        this.covered = upTo;
        this.head = head;
      }
      const dlsns: WireDLSN[] = [];
      const covered = this.covered;
      for (const record of this.acks) {
        record.ackMessage = ackMessage;
        if (covered === undefined || compareWire(record.wireDlsn, covered) > 0) dlsns.push(record.wireDlsn);
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

  private find(dlsn: WireDLSN): T | undefined {
    let low = this.head;
    let high = this.window.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const order = compareWire(this.window[middle]!.wireDlsn, dlsn);
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
