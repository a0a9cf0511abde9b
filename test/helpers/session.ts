/** Drives ReaderService.Session from tests: a request queue the test writes to, and lazily pulled frames. */
import assert from "node:assert/strict";
import { ClientError, type Status } from "nice-grpc";
import type { DLSN as WireDLSN, Record as WireRecord } from "../../src/gen/dlog/v1/common.js";
import type { DeepPartial, Drained, FlowLimits, Open, Opened, ReaderStatus, SessionRequest, SessionResponse } from "../../src/gen/dlog/v1/reader.js";
import { type Clients, bytes } from "./dlogd.js";
import { MessageQueue } from "../../clients/typescript/src/message-queue.js";

type Request = DeepPartial<SessionRequest>;

export const FRAME_TIMEOUT_MS = 5_000;

/** "segment/entry/slot", for maps, sets and messages. */
export const dlsnKey = (dlsn: WireDLSN | undefined): string => (dlsn ? `${dlsn.segment}/${dlsn.entry}/${dlsn.slot}` : "unset");

export function compareDlsn(a: WireDLSN, b: WireDLSN): number {
  for (const field of ["segment", "entry", "slot"] as const) {
    if (a[field] !== b[field]) return a[field] < b[field] ? -1 : 1;
  }
  return 0;
}

/** The record's payload as text: tests number their records "1", "2", … */
export const text = (record: WireRecord): string => record.payload.toString("utf8");
export const numberOf = (record: WireRecord): number => Number(text(record));

/** Appends records numbered `from`..`from + count - 1` (payload = the number, optionally padded), in big batches. */
export async function appendNumbered(
  clients: Clients,
  log: string,
  count: number,
  options: { from?: number; batch?: number; padTo?: number; txid?: (n: number) => bigint } = {},
): Promise<WireDLSN[]> {
  const from = options.from ?? 1;
  const batch = options.batch ?? 5_000;
  const dlsns: WireDLSN[] = [];
  for (let start = from; start < from + count; start += batch) {
    const end = Math.min(from + count, start + batch);
    const records = [];
    for (let n = start; n < end; n++) {
      const payload = options.padTo ? `${n}`.padEnd(options.padTo, " ") : `${n}`;
      records.push(options.txid ? { payload: bytes(payload), txid: options.txid(n) } : { payload: bytes(payload) });
    }
    const answer = await clients.logs.append({ log, records });
    dlsns.push(...answer.dlsns);
  }
  return dlsns;
}

export type Frame = NonNullable<SessionResponse["kind"]>;

/**
 * One Session call. Frames are pulled only when the test asks (so a test that stops asking
 * exercises HTTP/2 backpressure); every Status seen is remembered.
 */
export class TestSession {
  readonly requests = new MessageQueue<Request>();
  private halfClosed = false;
  readonly statuses: ReaderStatus[] = [];
  /** Every record received, in arrival order. */
  readonly received: WireRecord[] = [];
  private readonly abort = new AbortController();
  private readonly iterator: AsyncIterator<SessionResponse>;
  private pending: Promise<IteratorResult<SessionResponse>> | undefined;
  private failure: ClientError | undefined;
  private done = false;

  constructor(clients: Clients, first?: Request) {
    if (first) this.requests.push(first);
    this.iterator = clients.readers.session(this.requests, { signal: this.abort.signal })[Symbol.asyncIterator]();
  }

  /** Opens a session and returns it with its Opened frame (failing if none comes within `timeoutMs`). */
  static async open(clients: Clients, open: DeepPartial<Open>, timeoutMs = FRAME_TIMEOUT_MS): Promise<{ session: TestSession; opened: Opened }> {
    const session = new TestSession(clients, { kind: { $case: "open", value: open } });
    return { session, opened: await session.opened(timeoutMs) };
  }

  get lastStatus(): ReaderStatus | undefined {
    return this.statuses.at(-1);
  }

  get error(): ClientError | undefined {
    return this.failure;
  }

  send(request: Request): void {
    assert.ok(!this.halfClosed, "the request stream was already half-closed");
    this.requests.push(request);
  }

  ack(dlsns: readonly WireDLSN[]): void {
    this.send({ kind: { $case: "ack", value: { dlsns: [...dlsns] } } });
  }

  ackUpTo(dlsn: WireDLSN): void {
    this.send({ kind: { $case: "ack", value: { upTo: dlsn } } });
  }

  nack(dlsns: readonly WireDLSN[]): void {
    this.send({ kind: { $case: "nack", value: { dlsns: [...dlsns] } } });
  }

  flow(flow: DeepPartial<FlowLimits>): void {
    this.send({ kind: { $case: "flow", value: flow } });
  }

  drain(): void {
    this.send({ kind: { $case: "drain", value: {} } });
  }

  /** Ends the request stream; the server treats it as a drain. */
  halfClose(): void {
    this.halfClosed = true;
    this.requests.end();
  }

  /** Cancels the call: a client that just goes away (not a half-close, which the server takes as a drain). */
  cancel(): void {
    this.halfClosed = true;
    this.abort.abort();
    this.requests.end();
  }

  /**
   * The next frame; `undefined` when the stream ended OK. Throws the call's ClientError, or a
   * plain Error when nothing arrives within `timeoutMs` (the pull stays pending for the next call).
   */
  async next(timeoutMs = FRAME_TIMEOUT_MS): Promise<Frame | undefined> {
    if (this.failure) throw this.failure;
    if (this.done) return undefined;
    this.pending ??= this.iterator.next();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    let result: IteratorResult<SessionResponse> | "timeout";
    try {
      result = await Promise.race([this.pending, timeout]);
    } catch (error) {
      this.pending = undefined;
      if (error instanceof ClientError) this.failure = error;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (result === "timeout") throw new Error(`no session frame within ${timeoutMs} ms`);
    this.pending = undefined;
    if (result.done === true) {
      this.done = true;
      return undefined;
    }
    const frame = result.value.kind;
    assert.ok(frame, "a session frame without a kind");
    if (frame.$case === "status") this.statuses.push(frame.value);
    if (frame.$case === "records") this.received.push(...frame.value.records);
    return frame;
  }

  /** Pulls frames until `match` returns something; fails if the stream ends first. */
  /** `what` names the awaited thing in failures; a function is asked at failure time, so it can say how far it got. */
  async until<T>(match: (frame: Frame) => T | undefined, what: string | (() => string), timeoutMs = FRAME_TIMEOUT_MS): Promise<T> {
    const describe = (): string => (typeof what === "string" ? what : what());
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
      const frame = await this.next(left);
      if (frame === undefined) throw new Error(`the session ended while waiting for ${describe()}`);
      const found = match(frame);
      if (found !== undefined) return found;
    }
  }

  async opened(timeoutMs = FRAME_TIMEOUT_MS): Promise<Opened> {
    const frame = await this.next(timeoutMs);
    assert.equal(frame?.$case, "opened", `the first frame is opened, got ${frame?.$case ?? "the end of the stream"}`);
    return (frame as Extract<Frame, { $case: "opened" }>).value;
  }

  /** Pulls frames until at least `count` records arrived (whole batches); returns those records. */
  async records(count: number, timeoutMs = FRAME_TIMEOUT_MS): Promise<WireRecord[]> {
    const out: WireRecord[] = [];
    await this.until(
      (frame) => {
        if (frame.$case === "records") out.push(...frame.value.records);
        return out.length >= count ? true : undefined;
      },
      () => `${count} records (got ${out.length})`,
      timeoutMs,
    );
    return out;
  }

  /** Pulls frames until a Status satisfies `match`. */
  async status(match: (status: ReaderStatus) => boolean, what: string, timeoutMs = FRAME_TIMEOUT_MS): Promise<ReaderStatus> {
    return this.until((frame) => (frame.$case === "status" && match(frame.value) ? frame.value : undefined), what, timeoutMs);
  }

  /** Pulls frames until Drained and then the OK end of the stream. */
  async drained(timeoutMs = FRAME_TIMEOUT_MS): Promise<Drained> {
    const drained = await this.until((frame) => (frame.$case === "drained" ? frame.value : undefined), "drained", timeoutMs);
    assert.equal(await this.next(timeoutMs), undefined, "the stream ends OK after drained");
    return drained;
  }

  /** Pulls frames until the call fails; returns its status. Fails if it ends OK or times out. */
  async failed(timeoutMs = FRAME_TIMEOUT_MS): Promise<{ code: Status; details: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const frame = await this.next(Math.max(1, deadline - Date.now()));
        if (frame === undefined) assert.fail("expected the session to fail, but it ended OK");
      } catch (error) {
        if (error instanceof ClientError) return { code: error.code, details: error.details };
        throw error;
      }
    }
  }
}
