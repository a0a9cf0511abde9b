/** Slot states in `Run.state`. */
export const ACKED = 1;
/** An inherited hole: acked before this session, never sent (attempt 0, no bytes). */
export const INHERITED = 2;

/**
 * The records of one `admit` call, in DLSN order, with one state byte per slot: no object per
 * record on the delivery path. Slots below `head` are popped (the floor passed them).
 */
export interface Run<B> {
  /** The admitted batch itself (never changed); kept until the floor passes the whole run. */
  batch: B | undefined;
  readonly length: number;
  readonly state: Uint8Array;
  head: number;
  /** Its delivered, unacked records and their payload bytes. */
  unacked: number;
  unackedBytes: number;
  readonly deliveredAt: number;
  /** Per slot, once it was nacked or expired: its redelivery state; the rest still have their first delivery's. */
  resent: Array<Resent<B> | undefined> | undefined;
}

/** A record queued for, or sent by, redelivery: made only then. */
export interface Resent<B> {
  readonly run: Run<B>;
  readonly slot: number;
  attempt: number;
  deliveredAt: number;
  /** Waiting in the redelivery queue: a record is in it at most once. */
  queued: boolean;
}
