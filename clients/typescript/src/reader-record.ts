import { type Ordered, type Trackable, compareOrder } from "./ack-tracker.js";
import { LogRecord } from "./log-record.js";
import type { ReaderSession } from "./reader-session.js";
import type { RecordFrame } from "./record-frame.js";

/** One record delivered to a reader: process it, then `ack()` (or `nack()` to get it again). */
export class ReaderRecord extends LogRecord implements Trackable {
  /** @internal ack bookkeeping */
  acked = false;
  /** @internal ack bookkeeping */
  primary: Trackable | undefined = undefined;
  /** @internal the application acked or nacked it: auto-ack leaves it alone */
  settled = false;
  /** @internal ack bookkeeping: see `ackMessage` */
  ackMessage = 0;
  /** @internal its DLSN's order (ack-tracker.ts `Ordered`) */
  readonly segmentNumber: number;
  /** @internal */
  readonly entryNumber: number;
  /** @internal */
  readonly slotNumber: number;
  /**
   * Delivered before: attempt > 1 (nack, ack_wait, resume after a crash), or
   * delivered to this reader on an earlier session before a reconnect.
   */
  readonly redelivered: boolean;
  readonly #session: ReaderSession;

  /** @internal `seenBefore`: the highest DLSN earlier sessions of its reader handed out; at or below it, it is redelivered. */
  constructor(frame: RecordFrame, index: number, session: ReaderSession, seenBefore: Ordered | undefined) {
    super(frame, index);
    this.segmentNumber = frame.segmentNumber(index);
    this.entryNumber = frame.entryNumber(index);
    this.slotNumber = frame.slotNumber(index);
    this.#session = session;
    this.redelivered = frame.attempt(index) > 1 || (seenBefore !== undefined && compareOrder(this, seenBefore) <= 0 && frame.hasDlsn(index));
  }

  /** 1 = first delivery; > 1 = delivered again. */
  get attempt(): number {
    return this.frame.attempt(this.index);
  }

  /** Marks the record processed. Coalesced with other acks; a no-op when its session is gone (it will be redelivered). */
  ack(): void {
    this.settled = true;
    this.#session.ack(this);
  }

  /** Asks for this record again (attempt + 1), in this session. */
  nack(): void {
    this.settled = true;
    this.#session.nack(this);
  }

  /** The number (from 1, in its session) of the Ack message that carried this record's ack; 0 while not sent. */
  get sentInAckMessage(): number {
    return (this.primary ?? this).ackMessage;
  }

  /** Its ack is on disk: a status or drained frame of its session covered the Ack message that carried it. */
  get ackDurable(): boolean {
    const message = this.sentInAckMessage;
    return message > 0 && message <= this.#session.acksDurable;
  }

  /** @internal */
  get session(): ReaderSession {
    return this.#session;
  }
}
