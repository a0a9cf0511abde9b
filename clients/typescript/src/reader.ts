import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { ClientError, Status } from "nice-grpc";
import type { DLSN } from "../../../src/dlsn.js";
import type { Opened, ReaderServiceClient, ReaderStatus as WireReaderStatus } from "./gen/dlog/v1/reader.js";
import { type Backoff, createBackoff } from "./backoff.js";
import { type Ordered, compareOrder, orderOf } from "./ack-tracker.js";
import { type StartAt, fromWireDlsn } from "./convert.js";
import { DlogError } from "./dlog-error.js";
import { type OpenedInfo, type ReaderEnd, type ReaderEvents, type ReaderStatus, openedInfoOf, readerStatusOf } from "./reader-events.js";
import { type FlowSettings, type ReaderOptions, openMessage, toWireFlow } from "./reader-options.js";
import { ReaderRecord } from "./reader-record.js";
import { ReaderSession } from "./reader-session.js";
import { RecordFrame } from "./record-frame.js";

const SESSION_PATH = "/dlog.v1.ReaderService/Session";

interface Waiter {
  resolve(result: IteratorResult<ReaderRecord>): void;
  reject(error: unknown): void;
}

/**
 * A high-level, at-least-once reader: iterate, ack, and the reader takes care
 * of coalescing acks, reconnecting with backoff, resuming from the server's
 * durable position and draining on close.
 *
 * @example
 * const reader = client.reader({ log: "orders", readerId: "billing" });
 * reader.on("status", (status) => console.log("durable:", status.durableFloor?.toString()));
 * for await (const record of reader) {
 *   await handle(record.payload);
 *   record.ack();
 * }
 * const final = await reader.close(); // acks sent, drained, made durable
 */
export class Reader extends EventEmitter<ReaderEvents> implements AsyncIterableIterator<ReaderRecord>, AsyncDisposable {
  readonly log: string;
  readonly readerId: string;
  /** Resolves (never rejects) once the reader has ended, saying why. */
  readonly closed: Promise<ReaderEnd>;
  private readonly client: ReaderServiceClient;
  private readonly options: ReaderOptions;
  private readonly backoff: Backoff | undefined;
  private flow: FlowSettings | undefined;

  private session: ReaderSession | undefined;
  private buffer: ReaderRecord[] = [];
  private bufferHead = 0;
  private waiters: Waiter[] = [];
  private current: ReaderRecord | undefined;
  /** Highest DLSN handed to the application by sessions that have ended. */
  private earlierYieldedHigh: Ordered | undefined;
  private sessions = 0;

  private openedInfo: OpenedInfo | undefined;
  private lastStatus: ReaderStatus | undefined;
  private durable: DLSN | undefined;

  /** close() was called (or the signal aborted): no more records, no more reconnects. */
  private stopping = false;
  private readonly stop = new AbortController();
  private failure: { error: unknown; thrown: boolean } | undefined;
  private closeError: unknown;
  private closing: Promise<DLSN | undefined> | undefined;
  private readonly running: Promise<void>;
  private readonly firstOpen: Promise<OpenedInfo>;
  private detachSignal: (() => void) | undefined;
  private iterated = false;
  private endReason: ReaderEnd["reason"] | undefined;
  private resolveFirstOpen!: (info: OpenedInfo) => void;
  private rejectFirstOpen!: (error: unknown) => void;

  constructor(client: ReaderServiceClient, options: ReaderOptions) {
    super();
    this.client = client;
    this.options = options;
    this.log = options.log;
    this.readerId = options.readerId;
    this.flow = options.flow;
    this.backoff = options.reconnect === false ? undefined : createBackoff(options.reconnect);
    this.firstOpen = new Promise<OpenedInfo>((resolve, reject) => {
      this.resolveFirstOpen = resolve;
      this.rejectFirstOpen = reject;
    });
    this.firstOpen.catch(() => undefined); // observed by ready(), if anyone asks
    const signal = options.signal;
    if (signal?.aborted) {
      this.stopping = true;
      this.endReason = "aborted";
      this.failure = { error: signal.reason, thrown: false };
      this.rejectFirstOpen(signal.reason);
      this.running = Promise.resolve();
      this.closed = Promise.resolve(this.ending());
      return;
    }
    this.running = this.run();
    this.closed = this.running.then(async () => {
      await this.closing?.catch(() => undefined);
      return this.ending();
    });
    if (signal) {
      const onAbort = (): void => this.onAbort(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.detachSignal = () => signal.removeEventListener("abort", onAbort);
    }
  }

  /** What the server said when the current (or last) session opened. */
  get opened(): OpenedInfo | undefined {
    return this.openedInfo;
  }

  /** The last status frame. */
  get status(): ReaderStatus | undefined {
    return this.lastStatus;
  }

  /** The durable floor the server last reported: a server crash would replay everything after it. */
  get durablePosition(): DLSN | undefined {
    return this.durable;
  }

  /** Resolves when the first session is open; rejects if it never opens. */
  ready(): Promise<OpenedInfo> {
    return this.firstOpen;
  }

  /** Changes the flow limits of the live session and of the sessions after a reconnect. */
  setFlow(flow: FlowSettings): void {
    this.flow = { ...this.flow, ...flow };
    this.session?.send({ kind: { $case: "flow", value: toWireFlow(flow) } });
  }

  /** One loop per reader: a second `for await` on it is refused (FAILED_PRECONDITION). */
  [Symbol.asyncIterator](): this {
    if (this.iterated) {
      throw new DlogError(
        SESSION_PATH,
        Status.FAILED_PRECONDITION,
        `reader ${this.readerId} of ${this.log} is iterated already: one loop per reader (a second consumer needs a reader of its own)`,
        { local: true },
      );
    }
    this.iterated = true;
    return this;
  }

  /** `await using reader = client.reader(…)`: closes (drains) it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  next(): Promise<IteratorResult<ReaderRecord>> {
    const previous = this.current;
    if (previous !== undefined) {
      this.current = undefined;
      if (this.options.autoAck && !previous.settled) previous.ack();
    }
    const record = this.take();
    if (record) return Promise.resolve({ value: record, done: false });
    if (this.failure && !this.failure.thrown) {
      this.failure.thrown = true;
      return Promise.reject(this.failure.error);
    }
    if (this.stopping || this.failure) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Leaving the loop (`break`, `return`, `throw`) closes the reader: pending acks are sent and made durable. */
  async return(): Promise<IteratorResult<ReaderRecord>> {
    this.current = undefined;
    await this.close().catch(() => undefined);
    return { value: undefined, done: true };
  }

  /**
   * Ends the reader: stops delivery, sends the acks made so far, drains the
   * session and resolves with the final durable position. Records received but
   * not yet handed out are not acked and come back next time. Idempotent.
   */
  close(): Promise<DLSN | undefined> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * Ends the reader at once, without a drain, as a lost connection would: acks not sent yet
   * are dropped and everything not acked durably comes again to the next session of this reader.
   */
  async cancel(): Promise<void> {
    this.endReason ??= "cancelled";
    this.detachSignal?.();
    this.stopIterating();
    this.stop.abort();
    this.session?.end();
    this.closing ??= this.running.then(() => this.durable);
    await this.running;
  }

  private async shutdown(): Promise<DLSN | undefined> {
    this.detachSignal?.();
    this.stopIterating();
    const session = this.session;
    session?.drain();
    this.stop.abort();
    const timeoutMs = this.options.drainTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([this.running.then(() => "done" as const), timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      session?.end();
      this.closeError = new DlogError(
        SESSION_PATH,
        Status.DEADLINE_EXCEEDED,
        `no drained answer within ${timeoutMs} ms; acks since the last status frame may be replayed`,
      );
      throw this.closeError;
    }
    if (this.closeError !== undefined) throw this.closeError;
    return this.durable;
  }

  private ending(): ReaderEnd {
    const error = this.failure?.error ?? this.closeError;
    return { reason: this.endReason ?? (error === undefined ? "closed" : "failed"), error, durablePosition: this.durable };
  }

  private onAbort(reason: unknown): void {
    this.endReason ??= "aborted";
    this.failure ??= { error: reason, thrown: false };
    this.rejectWaiters(reason);
    void this.close().catch(() => undefined);
  }

  /** The session loop, until the reader is closed or fails. */
  private async run(): Promise<void> {
    try {
      await this.serveSessions();
    } finally {
      this.rejectFirstOpen(new DlogError(SESSION_PATH, Status.CANCELLED, "the reader was closed before a session opened"));
    }
  }

  /** Open, serve until the stream ends, then reconnect or finish. */
  private async serveSessions(): Promise<void> {
    let override = this.options.from;
    for (;;) {
      if (this.stopping) return;
      const session = new ReaderSession(this.options.ackIntervalMs ?? 2);
      this.session = session;
      let error: unknown;
      try {
        await this.serve(session, override);
      } catch (caught) {
        error = caught;
      }
      this.endSession(session);
      if (session.drained) {
        if (session.drained.floor) this.durable = session.drained.floor;
        return;
      }
      if (session.opened) {
        override = undefined; // the server applied it; a reconnect resumes from the stored position
        this.backoff?.reset();
      }
      if (this.stopping) {
        if (session.opened && !this.failure) {
          this.closeError = error ?? new DlogError(SESSION_PATH, Status.UNAVAILABLE, "the session ended before the drain was answered");
        }
        return;
      }
      error ??= new DlogError(SESSION_PATH, Status.UNAVAILABLE, "the server ended the session stream without drained");
      const delayMs = this.backoff && isRetryable(error, this.sessions > 0) ? this.backoff.next() : undefined;
      if (delayMs === undefined) {
        this.fail(DlogError.from(error, SESSION_PATH));
        return;
      }
      this.emit("reconnecting", { attempt: this.backoff!.attempts, delayMs, error });
      try {
        await sleep(delayMs, undefined, { signal: this.stop.signal });
      } catch {
        return; // closed while waiting
      }
    }
  }

  private async serve(session: ReaderSession, override: StartAt | undefined): Promise<void> {
    const responses = this.client.session(session.requests, { signal: session.abort.signal });
    session.send({ kind: { $case: "open", value: openMessage(this.options, override, this.flow, this.sessions === 0) } });
    for await (const response of responses) {
      const kind = response.kind;
      if (kind === undefined) continue;
      switch (kind.$case) {
        case "opened":
          this.onOpened(session, kind.value);
          break;
        case "records":
          this.deliver(session, RecordFrame.of(kind.value));
          break;
        case "status":
          this.onStatus(session, kind.value);
          break;
        case "drained":
          session.acksDurable = Math.max(session.acksDurable, Number(kind.value.acksDurable));
          session.drained = { floor: fromWireDlsn(kind.value.durableFloor) };
          break;
      }
    }
  }

  private onOpened(session: ReaderSession, opened: Opened): void {
    session.opened = true;
    const info = openedInfoOf(opened, this.sessions);
    this.sessions++;
    this.openedInfo = info;
    this.resolveFirstOpen(info);
    this.emit("opened", info);
  }

  private onStatus(session: ReaderSession, wire: WireReaderStatus): void {
    session.acksDurable = Math.max(session.acksDurable, Number(wire.acksDurable));
    const status = readerStatusOf(wire);
    this.lastStatus = status;
    if (status.durableFloor) this.durable = status.durableFloor;
    this.emit("status", status);
  }

  private deliver(session: ReaderSession, frame: RecordFrame): void {
    if (this.stopping || !session.alive) return;
    const seenBefore = this.earlierYieldedHigh;
    for (let i = 0; i < frame.count; i++) {
      const record = new ReaderRecord(frame, i, session, seenBefore);
      session.tracker.delivered(record);
      this.buffer.push(record);
    }
    while (this.waiters.length > 0) {
      const record = this.take();
      if (!record) break;
      this.waiters.shift()!.resolve({ value: record, done: false });
    }
  }

  /** The next buffered record of a live session, or undefined. */
  private take(): ReaderRecord | undefined {
    if (this.stopping) return undefined;
    while (this.bufferHead < this.buffer.length) {
      const record = this.buffer[this.bufferHead]!;
      this.buffer[this.bufferHead++] = undefined as unknown as ReaderRecord;
      if (this.bufferHead === this.buffer.length) {
        this.buffer = [];
        this.bufferHead = 0;
      }
      const session = record.session;
      if (!session.alive) continue; // the session died: its records come again on the next one
      if (session.yieldedHigh === undefined || compareOrder(record, session.yieldedHigh) > 0) session.yieldedHigh = record;
      this.current = record;
      return record;
    }
    return undefined;
  }

  private endSession(session: ReaderSession): void {
    session.end();
    const high = session.yieldedHigh;
    if (high && (this.earlierYieldedHigh === undefined || compareOrder(high, this.earlierYieldedHigh) > 0)) {
      this.earlierYieldedHigh = orderOf(high);
    }
  }

  private stopIterating(): void {
    this.stopping = true;
    this.buffer = [];
    this.bufferHead = 0;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve({ value: undefined, done: true });
  }

  private fail(error: unknown): void {
    this.failure ??= { error, thrown: false };
    this.rejectFirstOpen(error);
    this.rejectWaiters(error);
  }

  private rejectWaiters(error: unknown): void {
    const waiters = this.waiters;
    this.waiters = [];
    if (waiters.length > 0 && this.failure) this.failure.thrown = true;
    for (const waiter of waiters) waiter.reject(error);
  }
}

/**
 * Worth a new session: the server or the network went away. Not: fenced
 * (ABORTED), bad input, unknown log, no permission — retrying cannot help.
 * ALREADY_EXISTS after a loss (takeover "reject") is our own dead session that
 * the server has not noticed yet.
 */
function isRetryable(error: unknown, reconnecting: boolean): boolean {
  if (!(error instanceof ClientError)) return false;
  if (error.code === Status.UNAVAILABLE) return true;
  if (error.code === Status.CANCELLED) return true; // reset by the server (e.g. a forced shutdown); our own cancels end the loop first
  if (error.code === Status.INTERNAL && /RST_STREAM|stream removed|connection/i.test(error.details)) return true;
  return reconnecting && error.code === Status.ALREADY_EXISTS;
}
