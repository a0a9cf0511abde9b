import type { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import type { DecodedRecord } from "../log/entry-codec.js";
import type { LogReader } from "../log/log-store.js";
import type { ReaderPosition } from "../positions/position-codec.js";
import { AckWindow } from "./ack-window.js";
import { type FlowLimits, mergeFlow } from "./flow-limits.js";
import type { BudgetAccount, OutstandingBudget } from "./outstanding-budget.js";

export type ResumeSource = "stored" | "fallback" | "override" | "client";

export interface OpenedInfo {
  epoch: bigint;
  resumeAfter: DLSN;
  source: ResumeSource;
  logHead: DLSN | undefined;
  skippedByTruncation: bigint;
  durableHoles: number;
  flow: FlowLimits;
}

export interface StatusInfo {
  durableFloor: DLSN;
  durableHoles: number;
  ackedFloor: DLSN;
  deliveredHigh: DLSN | undefined;
  outstandingRecords: number;
  outstandingBytes: number;
  holes: number;
  lag: bigint;
  pausedReason: string;
}

interface Redelivery {
  record: DecodedRecord;
  attempt: number;
}

export type SessionFrame =
  | { kind: "opened"; opened: OpenedInfo }
  /** `attempts`: one number for the whole batch (first deliveries: 1), or one per record (redeliveries). */
  | { kind: "records"; records: DecodedRecord[]; attempts: number | number[]; lag: bigint }
  | { kind: "status"; status: StatusInfo }
  | { kind: "drained"; durableFloor: DLSN; durableHoles: number };

/** What a session needs of the log layer (`LogStore` is one); small, so a test can stand in for it. */
export interface SessionLogs {
  openReader(log: string, from: DLSN): Pick<LogReader, "read" | "waitForMore" | "close">;
  has(log: string): boolean;
  head(log: string): { nextSequenceId: bigint };
}

export interface SessionOptions {
  log: string;
  readerId: string;
  epoch: bigint;
  start: ReaderPosition;
  opened: Omit<OpenedInfo, "epoch" | "resumeAfter" | "durableHoles" | "flow">;
  flow: FlowLimits;
  ackWaitMs: number;
  maxHoles: number;
  heartbeatMs: number;
  logs: SessionLogs;
  /** The reader's state changed (`acks` newly acked records, or 0): the flusher should write it. */
  onPositionChanged(acks: number): void;
  /** Everything marked so far is durable once this resolves. */
  flush(): Promise<void>;
  /** The session is over (drained, failed, fenced or abandoned); called once. */
  onEnded(session: Session): void;
  /** The server-wide budget of delivered, unacked bytes this session's deliveries count against. */
  budget?: OutstandingBudget | undefined;
}

/** Records a single Records frame may carry, by payload bytes: keeps messages well under gRPC's 4 MiB default. */
const MAX_FRAME_BYTES = 1024 * 1024;

/**
 * One live reader session, without any network: it reads the log, admits
 * records through the ack window under flow control, takes acks, nacks and
 * flow changes, and produces frames. The wire layer feeds `handle*` and sends
 * what `frames()` yields; a slow consumer simply stops pulling.
 */
export class Session {
  readonly log: string;
  readonly readerId: string;
  readonly epoch: bigint;
  private readonly options: SessionOptions;
  private readonly window: AckWindow<DecodedRecord>;
  private readonly reader: ReturnType<SessionLogs["openReader"]>;
  private flow: FlowLimits;
  private durable: ReaderPosition;

  private redeliveries: Redelivery[] = [];
  private statusDue = false;
  private draining = false;
  private failure: Error | undefined;
  private ended = false;
  private wake: (() => void) | undefined;
  /** A poke that found the loop busy (e.g. a nack during a read): the loop must not go to sleep on it. */
  private wakePending = false;
  private appendWait: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private heartbeat: NodeJS.Timeout | undefined;
  private ackWaitTimer: NodeJS.Timeout | undefined;
  private lastFrameAt = Date.now();
  /** The log read in flight: the reader is closed only after it settles. */
  private reading: Promise<unknown> | undefined;
  private readonly budget: BudgetAccount | undefined;

  constructor(options: SessionOptions) {
    this.options = options;
    this.log = options.log;
    this.readerId = options.readerId;
    this.epoch = options.epoch;
    this.flow = options.flow;
    this.durable = options.start;
    this.window = new AckWindow<DecodedRecord>({
      floor: options.start.floor,
      floorSequenceId: options.start.floorSequenceId,
      holes: options.start.holes,
      maxHoles: options.maxHoles,
    });
    this.reader = options.logs.openReader(options.log, options.start.floor.next());
    this.budget = options.budget?.open(() => this.poke());
  }

  /** The reader's position as it stands in memory: what the flusher writes. */
  position(): ReaderPosition {
    return {
      floor: this.window.floor,
      floorSequenceId: this.window.floorSequenceId,
      holes: this.window.holes(),
      epoch: this.epoch,
      updatedTimeMs: Date.now(),
    };
  }

  get isEnded(): boolean {
    return this.ended;
  }

  // ---- input from the client -------------------------------------------------------------------

  /** Individual and cumulative acks. A bad DLSN fails the session (INVALID_ARGUMENT) and moves nothing. */
  handleAck(dlsns: readonly DLSN[], upTo: DLSN | undefined): void {
    if (this.ended) return; // a fenced or finished session's acks are refused
    let acked: number;
    try {
      acked = this.window.ack(dlsns, upTo); // all or nothing
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.budget?.hold(this.window.outstandingBytes);
    if (acked > 0) {
      this.options.onPositionChanged(acked);
      this.poke();
    }
  }

  handleNack(dlsns: readonly DLSN[]): void {
    if (this.ended) return;
    try {
      for (const redelivery of this.window.nack(dlsns, Date.now())) {
        this.redeliveries.push({ record: redelivery.record, attempt: redelivery.attempt });
      }
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.poke();
  }

  /** Changes flow limits mid-stream; unset (0) fields keep their value. */
  handleFlow(flow: Partial<FlowLimits>): void {
    if (this.ended) return;
    try {
      this.flow = mergeFlow(this.flow, flow);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.statusDue = true;
    this.poke();
  }

  /** Stop sending, make everything durable, answer Drained and end cleanly. */
  handleDrain(): void {
    this.draining = true;
    this.poke();
  }

  /** The client went away without draining: nothing it acked is lost (the owner flushes). */
  handleGone(): void {
    this.end();
  }

  /** A newer session, or an admin call, took the reader over: `why` is the ABORTED error the client hears. */
  fence(why: DlogError): void {
    this.fail(why);
  }

  fail(error: Error): void {
    if (this.ended) return;
    this.failure ??= error;
    this.end();
  }

  /** A flush wrote this reader's position. */
  durableChanged(position: ReaderPosition): void {
    this.durable = position;
    this.statusDue = true;
    this.poke();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort(new DlogError("ABORTED", "session ended"));
    clearTimeout(this.heartbeat);
    clearInterval(this.ackWaitTimer);
    this.budget?.close();
    this.poke();
    // Closing the cursor under a read in flight would fail that read: close after it.
    const closeReader = (): void => void this.reader.close().catch(() => undefined);
    if (this.reading) void this.reading.then(closeReader, closeReader);
    else closeReader();
    this.options.onEnded(this);
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    if (wake) wake();
    else this.wakePending = true;
  }

  /** Waits for the next poke, or returns at once when one came while the loop was busy. */
  private sleep(): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  /** An idle status exactly `heartbeatMs` after the last frame: re-armed from the last frame, not on a fixed tick. */
  private armHeartbeat(): void {
    if (this.ended) return;
    const heartbeatMs = this.options.heartbeatMs;
    const idleMs = Date.now() - this.lastFrameAt;
    if (idleMs >= heartbeatMs) {
      this.statusDue = true;
      this.poke();
    }
    this.heartbeat = setTimeout(() => this.armHeartbeat(), idleMs >= heartbeatMs ? heartbeatMs : heartbeatMs - idleMs);
  }

  // ---- output to the client --------------------------------------------------------------------

  /** The frames to send, starting with Opened. Ends after Drained; throws the session's failure. */
  async *frames(): AsyncGenerator<SessionFrame, void, undefined> {
    yield {
      kind: "opened",
      opened: {
        ...this.options.opened,
        epoch: this.epoch,
        resumeAfter: this.window.floor,
        durableHoles: this.window.holeCount,
        flow: this.flow,
      },
    };
    this.lastFrameAt = Date.now();
    this.armHeartbeat();
    if (this.options.ackWaitMs > 0) {
      this.ackWaitTimer = setInterval(() => {
        for (const redelivery of this.window.expired(Date.now(), this.options.ackWaitMs)) {
          this.redeliveries.push({ record: redelivery.record, attempt: redelivery.attempt });
        }
        if (this.redeliveries.length > 0) this.poke();
      }, Math.min(1000, Math.max(10, Math.floor(this.options.ackWaitMs / 4))));
    }
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        if (this.draining) {
          yield await this.drain();
          return;
        }
        if (this.ended) return;
        if (this.statusDue) {
          this.statusDue = false;
          this.lastFrameAt = Date.now();
          yield { kind: "status", status: this.status() };
          continue;
        }
        if (this.redeliveries.length > 0) {
          const batch = this.redeliveries.splice(0, this.flow.maxBatchRecords);
          const records = batch.map((redelivery) => redelivery.record);
          this.lastFrameAt = Date.now();
          yield { kind: "records", records, attempts: batch.map((redelivery) => redelivery.attempt), lag: this.lagAfter(records.at(-1)!.sequenceId) };
          continue;
        }
        const paused = this.pausedReason();
        if (paused === "") {
          let frame: SessionFrame | undefined;
          try {
            frame = await this.readNext();
          } catch (error) {
            if (this.ended) continue; // the session's own failure (or a clean end) is what the client hears
            throw error;
          }
          if (frame) {
            this.lastFrameAt = Date.now();
            yield frame;
            continue;
          }
          if (this.failure || this.draining || this.ended || this.statusDue) continue;
          this.appendWait ??= this.reader.waitForMore(this.abort.signal).then(
            () => {
              this.appendWait = undefined;
              this.poke();
            },
            (error: unknown) => {
              this.appendWait = undefined;
              if (!this.ended) this.fail(error as Error);
            },
          );
        }
        await this.sleep();
      }
    } finally {
      this.end();
    }
  }

  private async readNext(): Promise<SessionFrame | undefined> {
    const room = this.flow.maxOutstandingRecords - this.window.outstandingRecords;
    const count = Math.min(this.flow.maxBatchRecords, room);
    const wanted = Math.min(MAX_FRAME_BYTES, this.flow.maxOutstandingBytes - this.window.outstandingBytes);
    const bytesRoom = this.budget ? this.budget.reserve(wanted) : wanted;
    const reading = this.reader.read(count, bytesRoom);
    this.reading = reading;
    let records: DecodedRecord[];
    try {
      records = await reading;
    } finally {
      this.reading = undefined;
    }
    // Fenced or failed while reading: not one more record goes out (another session may own the reader now).
    if (this.ended || records.length === 0) {
      this.budget?.hold(this.window.outstandingBytes);
      return undefined;
    }
    const toSend = this.window.admit(records, Date.now());
    this.budget?.hold(this.window.outstandingBytes);
    if (toSend.length < records.length) this.options.onPositionChanged(0); // inherited holes absorbed
    if (toSend.length === 0) return { kind: "status", status: this.status() };
    return { kind: "records", records: toSend, attempts: 1, lag: this.lagAfter(toSend[toSend.length - 1]!.sequenceId) };
  }

  /** Why no new records go out now; empty when they can. */
  private pausedReason(): string {
    if (this.window.outstandingRecords >= this.flow.maxOutstandingRecords) {
      return `max_outstanding_records reached (${this.flow.maxOutstandingRecords}); ack to receive more`;
    }
    if (this.window.outstandingBytes >= this.flow.maxOutstandingBytes) {
      return `max_outstanding_bytes reached (${this.flow.maxOutstandingBytes}); ack to receive more`;
    }
    if (this.budget && this.budget.room() === 0) {
      return `the server's outstanding bytes budget is in use (--max-outstanding-bytes-total ${this.options.budget!.max}); ack to receive more`;
    }
    // Holes only grow while something below them is outstanding, so that is when pausing helps.
    if (this.window.holesFull && this.window.outstandingRecords > 0) {
      return `ack holes limit reached (${this.options.maxHoles}); ack the records below the holes (from ${this.window.floor.next().toString()})`;
    }
    return "";
  }

  /** Records in the log after the one with `sequenceId`. */
  private lagAfter(sequenceId: bigint): bigint {
    if (!this.options.logs.has(this.log)) return 0n; // deleted under the session
    const lag = this.options.logs.head(this.log).nextSequenceId - sequenceId - 1n;
    return lag > 0n ? lag : 0n;
  }

  /** Records in the log after the acked floor. */
  lag(): bigint {
    return this.lagAfter(this.window.floorSequenceId);
  }

  private status(): StatusInfo {
    return {
      durableFloor: this.durable.floor,
      durableHoles: this.durable.holes.length,
      ackedFloor: this.window.floor,
      deliveredHigh: this.window.deliveredHigh,
      outstandingRecords: this.window.outstandingRecords,
      outstandingBytes: this.window.outstandingBytes,
      holes: this.window.holeCount,
      lag: this.lag(),
      pausedReason: this.pausedReason(),
    };
  }

  private async drain(): Promise<SessionFrame> {
    this.options.onPositionChanged(0);
    await this.options.flush();
    return { kind: "drained", durableFloor: this.durable.floor, durableHoles: this.durable.holes.length };
  }
}
