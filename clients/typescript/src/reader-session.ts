import type { DLSN } from "../../../src/dlsn.js";
import type { SessionRequest } from "./gen/dlog/v1/reader.js";
import { AckTracker, type Ordered } from "./ack-tracker.js";
import { MessageQueue } from "./message-queue.js";
import type { ReaderRecord } from "./reader-record.js";

const DRAIN: SessionRequest = { kind: { $case: "drain", value: {} } };

/**
 * One session stream: its requests, its ack bookkeeping. Acks of a session
 * that ended are dropped — they must never reach a newer session.
 */
export class ReaderSession {
  readonly requests = new MessageQueue<SessionRequest>();
  readonly abort = new AbortController();
  readonly tracker = new AckTracker<ReaderRecord>();
  alive = true;
  /** Drain sent: what the application acks from now on comes again next time. */
  draining = false;
  opened = false;
  drained: { floor: DLSN | undefined } | undefined;
  /** The highest DLSN handed to the application from this session. */
  yieldedHigh: Ordered | undefined;
  /** Ack messages sent on this session, and how many of them the server said are durable. */
  ackMessages = 0;
  acksDurable = 0;
  private flushScheduled = false;
  private lastFlushAt = 0;
  private readonly ackIntervalMs: number;

  constructor(ackIntervalMs: number) {
    this.ackIntervalMs = ackIntervalMs;
  }

  ack(record: ReaderRecord): void {
    if (this.alive && !this.draining && this.tracker.ack(record)) this.scheduleFlush();
  }

  nack(record: ReaderRecord): void {
    if (this.alive && !this.draining && this.tracker.nack(record)) this.scheduleFlush();
  }

  send(request: SessionRequest): void {
    if (this.alive && !this.draining) this.requests.push(request);
  }

  /** Sends the acks made so far, then asks the server to finish. */
  drain(): void {
    if (!this.alive || this.draining) return;
    this.flush();
    this.requests.push(DRAIN);
    this.draining = true;
  }

  /** Sends what was acked and nacked so far, as one message each. */
  flush(): void {
    this.flushScheduled = false;
    if (!this.alive || this.draining || !this.tracker.pending) return;
    this.lastFlushAt = performance.now();
    const { ack, nack } = this.tracker.take(this.ackMessages + 1);
    if (ack) this.ackMessages++;
    if (ack) this.requests.push({ kind: { $case: "ack", value: ack } });
    if (nack) this.requests.push({ kind: { $case: "nack", value: nack } });
  }

  end(): void {
    this.alive = false;
    this.abort.abort();
    this.requests.end();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // The coalescing point: every ack made while the current batch is processed goes out in one message.
    const wait = this.lastFlushAt + this.ackIntervalMs - performance.now();
    if (wait > 0) setTimeout(() => this.flush(), wait);
    else setImmediate(() => this.flush());
  }
}
