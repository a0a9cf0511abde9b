import type { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import type { EntryBatch, EntryRun } from "../log/entry-codec.js";
import type { LogReader } from "../log/log-store.js";
import type { ReaderPosition } from "../positions/position-codec.js";
import { AckWindow, type SendRanges } from "./ack-window.js";
import { DeliveryReservation } from "./delivery-reservation.js";
import { type FlowLimits, mergeFlow } from "./flow-limits.js";
import type { BudgetAccount, OutstandingBudget } from "./outstanding-budget.js";
import type { OpenedInfo, SessionFrame, StatusInfo } from "./session-frames.js";
import { WakeSignal } from "../util/wake-signal.js";

export type { OpenedInfo, ResumeSource, SessionFrame, StatusInfo } from "./session-frames.js";

/** What a session needs of the log layer (`LogStore` is one); small, so a test can stand in for it. */
export interface SessionLogs {
  openReader(log: string, from: DLSN): Pick<LogReader, "readBatch" | "waitForMore" | "close"> & Partial<Pick<LogReader, "readAhead" | "keepResumeEntry">>;
  has(log: string): boolean;
  head(log: string): { nextSequenceId: bigint };
}

/**
 * Where a session's position goes. The session only says that it changed and when it must be on
 * disk; the owner writes `session.position()` and calls `durableChanged` with what it wrote.
 */
export interface SessionPositions {
  /** The position changed (`acks`: records newly acked, or 0): write it soon. */
  changed(acks: number): void;
  /** Resolves once everything changed so far is durable (and `durableChanged` was called). */
  flush(): Promise<void>;
}

export interface SessionOptions {
  log: string;
  readerId: string;
  epoch: bigint;
  /** Where the session resumes, with what earlier sessions were delivered (`deliveredThrough`). */
  start: ReaderPosition;
  /** Delivery already reserved on disk for this session (a resume grant's), past `start.deliveredThrough`. */
  reservedThrough?: bigint | undefined;
  opened: Pick<OpenedInfo, "source" | "logHead" | "skippedByTruncation" | "fencedEpoch">;
  flow: FlowLimits;
  ackWaitMs: number;
  maxHoles: number;
  heartbeatMs: number;
  logs: SessionLogs;
  positions: SessionPositions;
  /** The session is over (drained, failed, fenced or abandoned); called once. */
  onEnded(session: Session): void;
  /** The server-wide budget of delivered, unacked bytes this session's deliveries count against. */
  budget?: OutstandingBudget | undefined;
}

/** Records a single Records frame may carry, by payload bytes: keeps messages well under gRPC's 4 MiB default. */
const MAX_FRAME_BYTES = 1024 * 1024;

const SHUTTING_DOWN_REASON = "server is shutting down: ack what you have processed, then reconnect";

/**
 * One live reader session, without any network: it reads the log, admits
 * records through the ack window under flow control, takes acks, nacks and
 * flow changes, and produces frames. The wire layer feeds `handle*` and sends
 * what `frames()` yields; a slow consumer simply stops pulling.
 *
 * Delivery is reserved ahead on disk (`DeliveryReservation`): after any crash every record that
 * may have reached the client comes again with attempt >= 2.
 */
export class Session {
  readonly log: string;
  readonly readerId: string;
  readonly epoch: bigint;
  private readonly options: SessionOptions;
  private readonly window: AckWindow<EntryBatch>;
  private readonly reader: ReturnType<SessionLogs["openReader"]>;
  private flow: FlowLimits;
  private durable: ReaderPosition;

  /** Highest record delivered to earlier sessions, and the sequence id through which they may have delivered. */
  private readonly priorHigh: DLSN | undefined;
  private readonly priorThrough: bigint;
  private readonly reservation: DeliveryReservation;

  /** Ack messages applied, and how many of the first of them are on disk. */
  private acksReceived = 0;
  private acksDurable = 0;
  /** The window version on disk: when nothing changed since, a no-op ack is durable at once. */
  private durableVersion: number;
  private lastSnapshot: { position: ReaderPosition; acks: number; version: number; final: boolean } | undefined;

  private statusDue = false;
  private draining = false;
  /** The client sent Drain: it acked all it processed (see `position`). */
  private drainedClean = false;
  /** The final write of a clean drain is under way: the delivered mark is what was acked. */
  private drained = false;
  /** The drain's write is under way: nothing more goes out, so the delivered mark is what was sent. */
  private final = false;
  /** That final state is on disk: the end needs no write of its own. */
  private finalDurable = false;
  /** Server shutdown: no new deliveries; acks still count, so what the client processed is kept. */
  private closing = false;
  private settledWaiters: Array<() => void> = [];
  private failure: Error | undefined;
  private ended = false;
  private readonly wakeup = new WakeSignal();
  private appendWait: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private heartbeat: NodeJS.Timeout | undefined;
  private ackWaitTimer: NodeJS.Timeout | undefined;
  private lastFrameAt = Date.now();
  /** The log read in flight: the reader is closed only after it settles. */
  private reading: Promise<unknown> | undefined;
  private readonly budget: BudgetAccount | undefined;

  constructor(options: SessionOptions) {
    const start = options.start;
    this.options = options;
    this.log = options.log;
    this.readerId = options.readerId;
    this.epoch = options.epoch;
    this.flow = options.flow;
    this.durable = start;
    this.priorHigh = start.deliveredHigh;
    this.priorThrough = start.deliveredThrough;
    this.reservation = new DeliveryReservation(start, this.flow.maxOutstandingRecords, options.reservedThrough);
    this.window = new AckWindow<EntryBatch>({
      floor: start.floor,
      floorSequenceId: start.floorSequenceId,
      holes: start.holes,
      maxHoles: options.maxHoles,
      deliveredThrough: start.deliveredThrough,
    });
    this.durableVersion = this.window.version;
    this.reader = options.logs.openReader(options.log, start.floor.next());
    this.budget = options.budget?.open(() => this.poke());
  }

  /**
   * The reader's position as it stands in memory: what the owner writes. Its delivered mark is the
   * reservation while the session is live, exactly what was sent once it ended or drains, and what
   * was acked once it drained (a drained client acked everything it processed; the rest it never
   * handed out).
   */
  position(): ReaderPosition {
    const holes = this.window.holes();
    let high = this.window.deliveredHigh;
    let through = this.window.deliveredHighSequenceId ?? -1n;
    if (this.drained) {
      const lastAcked = holes.at(-1);
      const ackedNothing = !lastAcked && this.window.floor.equals(this.window.startFloor);
      high = lastAcked?.dlsn ?? (ackedNothing ? undefined : this.window.floor);
      through = lastAcked?.sequenceId ?? this.window.floorSequenceId;
    } else if (!this.ended && !this.final) {
      through = maxOf(through, this.reservation.reservedThrough);
    }
    const position: ReaderPosition = {
      floor: this.window.floor,
      floorSequenceId: this.window.floorSequenceId,
      holes,
      epoch: this.epoch,
      updatedTimeMs: Date.now(),
      deliveredHigh: high && this.priorHigh && !high.isAfter(this.priorHigh) ? this.priorHigh : (high ?? this.priorHigh),
      deliveredThrough: maxOf(this.priorThrough, through),
    };
    this.lastSnapshot = { position, acks: this.acksReceived, version: this.window.version, final: this.final || this.ended };
    return position;
  }

  /** Nothing more goes out (it drains or ended) and it did not fail: its reader's next session may follow at once. */
  get endsCleanly(): boolean {
    return (this.final || this.ended) && this.failure === undefined;
  }

  /** Its final state is on disk (its drain wrote it): the write at its end would store nothing new. */
  get finalStateDurable(): boolean {
    return this.finalDurable;
  }

  /** The flow window it delivers in: what a reservation for its reader's next session is sized by. */
  get maxOutstandingRecords(): number {
    return this.flow.maxOutstandingRecords;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Delivered, unacked records: what a shutdown waits for. */
  get outstandingRecords(): number {
    return this.window.outstandingRecords;
  }

  /** Records waiting to be delivered again (bounded by the window). */
  get redeliveriesQueued(): number {
    return this.window.redeliveriesQueued;
  }

  // ---- input from the client -------------------------------------------------------------------

  /**
   * One Ack message: individual and cumulative acks. A bad DLSN fails the session
   * (INVALID_ARGUMENT) and applies nothing. After a drain an ack is still checked but never
   * applied: Drained reports the final position.
   */
  handleAck(dlsns: readonly DLSN[], upTo: DLSN | undefined): void {
    if (this.ended) return;
    let acked: number;
    try {
      if (this.draining) {
        this.window.checkAck(dlsns, upTo);
        return;
      }
      acked = this.window.ack(dlsns, upTo); // all or nothing
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.budget?.hold(this.window.outstandingBytes);
    this.acksReceived++;
    if (acked > 0) {
      this.options.positions.changed(acked);
      this.poke();
    } else if (this.window.version === this.durableVersion) {
      this.acksDurable = this.acksReceived; // it changed nothing, and everything before it is on disk
    }
    if (this.closing) this.checkSettled();
  }

  handleNack(dlsns: readonly DLSN[]): void {
    if (this.ended) return;
    try {
      this.window.nack(dlsns);
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

  /**
   * Stop sending, make everything durable, answer Drained and end cleanly. `explicit`: the client
   * sent Drain, saying it acked all it processed, so what it left unacked was never handed out
   * (see `position`); a half-close only drains.
   */
  handleDrain({ explicit }: { explicit: boolean }): void {
    this.draining = true;
    if (explicit) this.drainedClean = true;
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

  /**
   * Server shutdown, first step: nothing more is delivered, a status says why, and acks keep
   * coming in. Resolves once every delivered record is acked (or the session ended); the owner
   * bounds the wait, flushes, then ends the session.
   */
  beginShutdown(): Promise<void> {
    this.closing = true;
    this.statusDue = true;
    this.poke();
    return new Promise<void>((resolve) => {
      this.settledWaiters.push(resolve);
      this.checkSettled();
    });
  }

  /** A write of the owner made `position` durable. */
  durableChanged(position: ReaderPosition): void {
    if (this.ended || position.epoch !== this.epoch) return;
    this.durable = position;
    this.reservation.durable(position.deliveredThrough);
    const snapshot = this.lastSnapshot;
    if (snapshot?.position === position) {
      this.durableVersion = snapshot.version;
      if (snapshot.final) this.finalDurable = true;
      // Acks after the snapshot that changed nothing are covered as well.
      const covered = this.window.version === snapshot.version ? this.acksReceived : snapshot.acks;
      if (covered > this.acksDurable) this.acksDurable = covered;
    }
    this.statusDue = true;
    this.poke();
  }

  private checkSettled(): void {
    if (!this.ended && this.window.outstandingRecords > 0) return;
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort(new DlogError("ABORTED", "session ended"));
    clearTimeout(this.heartbeat);
    clearInterval(this.ackWaitTimer);
    this.budget?.close();
    this.poke();
    this.checkSettled();
    // Its reader's next session (a reconnect, a takeover) starts in that entry: kept in memory.
    const first = this.window.firstUnacked;
    this.reader.keepResumeEntry?.(first?.batch.entryRunAt(first.index).entry);
    // Closing the cursor under a read in flight would fail that read: close after it.
    const closeReader = (): void => void this.reader.close().catch(() => undefined);
    if (this.reading) void this.reading.then(closeReader, closeReader);
    else closeReader();
    this.options.onEnded(this);
  }

  private poke(): void {
    this.wakeup.poke();
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

  /**
   * Takes the first batch's entries from the entry cache while the owner makes the open durable
   * (nothing is sent before `frames()` is pulled). What the cache lacks is read from storage only
   * after that write: a cursor read beside it (one more thread woken, its copy and decoding on the
   * loop) made that write about twice as slow, and its p99 several times, on a busy 2-core machine.
   */
  readAhead(): void {
    this.reader.readAhead?.(this.flow.maxBatchRecords, this.options.start.floorSequenceId + 1n);
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
        deliveredHigh: this.priorHigh,
      },
    };
    this.lastFrameAt = Date.now();
    this.armHeartbeat();
    if (this.options.ackWaitMs > 0) {
      this.ackWaitTimer = setInterval(
        () => {
          if (this.window.expired(Date.now(), this.options.ackWaitMs) > 0) this.poke();
        },
        Math.min(1000, Math.max(10, Math.floor(this.options.ackWaitMs / 4))),
      );
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
        if (!this.closing && this.window.redeliveriesQueued > 0) {
          const batch = this.window.takeRedeliveries(this.flow.maxBatchRecords, Date.now());
          if (batch.length > 0) {
            const last = batch.at(-1)!;
            this.lastFrameAt = Date.now();
            yield {
              kind: "records",
              count: batch.length,
              runs: batch.map((redelivery) => redelivery.batch.entryRunAt(redelivery.index)),
              attempts: batch.map((redelivery) => redelivery.attempt),
              lag: this.lagAfter(last.batch.sequenceIdAt(last.index)),
            };
          }
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
        await this.wakeup.sleep();
      }
    } finally {
      this.end();
    }
  }

  private async readNext(): Promise<SessionFrame | undefined> {
    const room = this.flow.maxOutstandingRecords - this.window.outstandingRecords;
    const wantedRecords = Math.min(this.flow.maxBatchRecords, room);
    const wanted = Math.min(MAX_FRAME_BYTES, this.flow.maxOutstandingBytes - this.window.outstandingBytes);
    const bytesRoom = this.budget ? this.budget.reserve(wanted) : wanted;
    const reading = this.reader.readBatch(wantedRecords, bytesRoom);
    this.reading = reading;
    let batch: EntryBatch;
    try {
      batch = await reading;
    } finally {
      this.reading = undefined;
    }
    // Fenced or failed while reading: not one more record goes out (another session may own the reader now).
    if (this.ended || batch.length === 0) {
      this.budget?.hold(this.window.outstandingBytes);
      return undefined;
    }
    const lastSequenceId = batch.sequenceIdAt(batch.length - 1);
    try {
      await this.reserve(lastSequenceId);
    } finally {
      if (this.ended) this.budget?.hold(this.window.outstandingBytes);
    }
    if (this.ended) return undefined;
    const ranges = this.window.admit(batch, Date.now());
    this.budget?.hold(this.window.outstandingBytes);
    let runs: readonly EntryRun[] = batch.runs;
    let count = batch.length;
    if (ranges.length !== 1 || ranges[0]![1] - ranges[0]![0] !== batch.length) {
      this.options.positions.changed(0); // inherited holes absorbed
      runs = ranges.flatMap(([from, to]) => batch.slice(from, to));
      count = ranges.reduce((sum, [from, to]) => sum + to - from, 0);
    }
    this.renewReservation();
    if (count === 0) return { kind: "status", status: this.status() };
    const lastSent = ranges.at(-1)![1] - 1;
    return {
      kind: "records",
      count,
      runs,
      attempts: this.attemptsOf(batch, ranges),
      lag: this.lagAfter(lastSent === batch.length - 1 ? lastSequenceId : batch.sequenceIdAt(lastSent)),
    };
  }

  /** Waits until the reservation on disk covers `sequenceId` (see `DeliveryReservation`). */
  private async reserve(sequenceId: bigint): Promise<void> {
    if (this.reservation.covers(sequenceId)) return;
    this.reservation.extendPast(sequenceId, this.flow.maxOutstandingRecords);
    this.options.positions.changed(0);
    await this.options.positions.flush();
    if (!this.ended && !this.reservation.covers(sequenceId)) {
      throw new DlogError("UNAVAILABLE", `the delivery position of reader "${this.readerId}" could not be made durable; reconnect`, {
        reason: "STORAGE_UNAVAILABLE",
      });
    }
  }

  /** Once half of the reservation on disk is used, asks for the next one without waiting for it. */
  private renewReservation(): void {
    if (!this.reservation.renew(this.window.deliveredHighSequenceId ?? -1n, this.flow.maxOutstandingRecords)) return;
    this.options.positions.changed(0);
    this.options.positions.flush().catch(() => undefined); // a failure shows in the next reserve()
  }

  /** First deliveries of `ranges` of `batch`: attempt 2 for records an earlier session may have delivered, else 1. */
  private attemptsOf(batch: EntryBatch, ranges: SendRanges): number | number[] {
    if (batch.sequenceIdAt(ranges[0]![0]) > this.priorThrough) return 1;
    if (batch.sequenceIdAt(ranges.at(-1)![1] - 1) <= this.priorThrough) return 2;
    const attempts: number[] = [];
    for (const [from, to] of ranges) for (let i = from; i < to; i++) attempts.push(batch.sequenceIdAt(i) <= this.priorThrough ? 2 : 1);
    return attempts;
  }

  /** Why no new records go out now; empty when they can. */
  private pausedReason(): string {
    if (this.closing) return SHUTTING_DOWN_REASON;
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
      acksDurable: this.acksDurable,
      acksReceived: this.acksReceived,
    };
  }

  private async drain(): Promise<SessionFrame> {
    this.drained = this.drainedClean;
    this.final = true;
    this.options.positions.changed(0);
    await this.options.positions.flush();
    return { kind: "drained", durableFloor: this.durable.floor, durableHoles: this.durable.holes.length, acksDurable: this.acksDurable };
  }
}

function maxOf(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
