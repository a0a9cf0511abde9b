import { randomUUID } from "node:crypto";
import { ClientError, Status } from "nice-grpc";
import { DlogError } from "./dlog-error.js";
import type { DLSN } from "../../../src/dlsn.js";
import { AppendAnswer, type EncodedRecords, RequestEncoder } from "./append-codec.js";
import type { AppendRequest, AppendResponse, LogServiceClient, RecordInput } from "./gen/dlog/v1/log.js";
import { type Backoff, type ReconnectOptions, createBackoff } from "./backoff.js";
import { MessageQueue } from "./message-queue.js";

const APPEND_STREAM_PATH = "/dlog.v1.LogService/AppendStream";
/** An append renumbered this often is fighting another appender with the same producer id. */
const MAX_RENUMBERS = 16;

/** A record to append: its payload (a string is UTF-8 encoded), and optionally its txid. */
export type AppendInput = string | Uint8Array | { payload: string | Uint8Array; txid?: bigint | number | undefined };

export interface AppenderOptions {
  /**
   * Payload bytes sent and not yet answered; past it, appends wait in the client. Default 8 MiB.
   * Records in flight are also bounded, by 8 × maxBatchRecords.
   */
  maxInFlightBytes?: number | undefined;
  /**
   * Appends sent and not yet answered. Default 1024. With `retry`, keep it at or below the
   * server's `--producer-window` (default 1024), or a resend may be too old to recognise.
   */
  maxInFlight?: number | undefined;
  /**
   * When the stream breaks (UNAVAILABLE: the server restarted, the connection dropped) or the server
   * answers an append UNAVAILABLE (its storage cannot write for now), reconnect with this backoff
   * and resend every unanswered append. Appends are idempotent (a producer id and
   * a sequence number each), so a resend of an append that was written is answered with its
   * original DLSNs instead of being written twice. Default on; `false`: unanswered appends are
   * rejected instead (their outcome is unknown) and nothing carries a producer id.
   */
  retry?: ReconnectOptions | false | undefined;
  /** The producer id appends carry when `retry` is on. Default: a random one per appender. */
  producerId?: string | undefined;
  /**
   * How long an append may wait for others to share its request (one entry, consecutive slots),
   * ms. Default 2; 0: every append() is a request of its own. An append never waits while
   * nothing is in flight, so a caller that awaits each append pays no linger; appends made in one
   * synchronous run while nothing is in flight go out together when the run ends (a microtask).
   */
  lingerMs?: number | undefined;
  /** Most records one request carries when appends are batched (default 1000; keep it at or below the server's --max-records-per-append). */
  maxBatchRecords?: number | undefined;
  /** Most payload bytes one batched request carries (default 1 MiB; below the server's --max-message-bytes). */
  maxBatchBytes?: number | undefined;
}

/**
 * Records sent and not yet answered, at most, in full batches of maxBatchRecords: enough for the
 * server to write one group commit while the next arrives. Past it appends wait as past the other
 * bounds. Small records reach it long before maxInFlightBytes (100 B records: 8000 calls where
 * 8 MiB would be 84 000), and what a call holds until its answer (its promise's resolving
 * functions) is then young garbage instead of old space to collect: 0.81x the client's
 * instructions per record in the appender row (callgrind, main thread).
 */
const IN_FLIGHT_BATCHES = 8;

export interface AppenderCounters {
  /** Streams opened again after a break. */
  reconnects: number;
  /** Appends sent again: after a reconnect, or renumbered after a refused one before them. */
  resent: number;
  /** Resent appends the server had written already (answered `duplicate`, not written twice). */
  duplicates: number;
  /** Requests sent (first sends), and the append() calls they carried: calls / requests is the batching. */
  requests: number;
  batchedCalls: number;
}

/** A pipelined producer over `AppendStream`: many appends in flight, answered in order. */
export interface Appender extends AsyncDisposable {
  /**
   * Appends the records as one entry (with the records of other appends made within `lingerMs`,
   * in call order); resolves with one DLSN per record. A refused request rejects every append it
   * carried. Does not
   * wait for earlier appends: call it in a loop and await the results later (or
   * `await appender.ready()` first to keep the client's queue short). A failed
   * append rejects its own promise only.
   */
  append(records: AppendInput | readonly AppendInput[]): Promise<DLSN[]>;
  /** Resolves when another append would go out at once (in-flight bounds not reached). */
  ready(): Promise<void>;
  /** Resolves when every append made so far is answered. */
  flush(): Promise<void>;
  /** Waits for the answers, then ends the stream. Also what `await using` calls. */
  close(): Promise<void>;
  /** Resolves once the appender is closed. */
  readonly closed: Promise<void>;
  /** Appends sent and not yet answered. */
  readonly inFlight: number;
  /** Payload bytes sent and not yet answered. */
  readonly inFlightBytes: number;
  /** The producer id of the idempotent appends; undefined when `retry` is off. */
  readonly producerId: string | undefined;
  readonly counters: Readonly<AppenderCounters>;
}

/**
 * One request: the append() calls it carries (consecutive ones), their records encoded as they
 * came, and what each caller is owed. Gathered while it waits to be sent, then in flight until
 * answered; a reconnect or renumbering sends it again as it is.
 */
class Batch {
  readonly records: EncodedRecords;
  /** When its first caller came: how long it has lingered. */
  readonly queuedAt: number;
  recordCount = 0;
  /** Payload bytes. */
  bytes = 0;
  /** Takes no more callers: full, or sent. */
  closed = false;
  readonly resolves: Array<(dlsns: DLSN[]) => void> = [];
  readonly rejects: Array<(error: unknown) => void> = [];
  /** Records per caller, once a caller appended other than one record; until then, one each. */
  counts: number[] | undefined;
  /** Producer seq (0 when not idempotent), given when first sent. */
  seq = 0n;
  /** Request id of the latest send: an answer to an earlier send of this batch is stale. */
  requestId = 0n;
  renumbered = 0;

  constructor(records: EncodedRecords, queuedAt: number) {
    this.records = records;
    this.queuedAt = queuedAt;
  }

  get callers(): number {
    return this.resolves.length;
  }

  /** Each caller its own records' DLSNs, in call order. */
  resolve(answer: AppendAnswer): void {
    if (answer.count !== this.recordCount) {
      this.reject(new DlogError(APPEND_STREAM_PATH, Status.INTERNAL, `an answer carried ${answer.count} DLSNs for an append of ${this.recordCount} records`));
      return;
    }
    const { resolves, counts } = this;
    if (counts === undefined) {
      for (let i = 0; i < resolves.length; i++) resolves[i]!([answer.at(i)]);
      return;
    }
    let at = 0;
    for (let i = 0; i < resolves.length; i++) {
      const dlsns: DLSN[] = [];
      for (let n = counts[i]!; n > 0; n--) dlsns.push(answer.at(at++));
      resolves[i]!(dlsns);
    }
  }

  reject(error: unknown): void {
    for (const reject of this.rejects) reject(error);
  }
}

/** The batch a new append() joins, for `capture`: a Promise executor shared by every call, so that a call makes no closure of its own. */
let joining: Batch | undefined;

function capture(resolve: (dlsns: DLSN[]) => void, reject: (error: unknown) => void): void {
  joining!.resolves.push(resolve);
  joining!.rejects.push(reject);
}

/** What `ready()` answers when there is room: one promise for every call. */
const READY: Promise<void> = Promise.resolve();

/** One AppendStream call: its requests and, in order, the sends it owes answers for. */
interface Stream {
  requests: MessageQueue<AppendRequest>;
  sent: Fifo<{ append: Batch; requestId: bigint }>;
  /** Sends with a lower request id went out on an earlier stream. */
  firstRequestId: bigint;
  /**
   * After a reconnect only the oldest unanswered append goes out until it is answered: a server
   * that is still down costs one message per attempt, not every append in flight.
   */
  probing: boolean;
}

/** A FIFO with a moving head: shift() on a long array is O(n) per append. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return item;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
}

export function toRecordInputs(records: AppendInput | readonly AppendInput[]): RecordInput[] {
  // One record of bytes, the producer's usual call: no list to build and map.
  if (records instanceof Uint8Array) return [{ payload: asBuffer(records), txid: undefined }];
  const list: readonly AppendInput[] =
    typeof records === "string" || records instanceof Uint8Array || !Array.isArray(records) ? [records as AppendInput] : records;
  return list.map((record): RecordInput => {
    if (typeof record === "string") return { payload: Buffer.from(record, "utf8"), txid: undefined };
    if (record instanceof Uint8Array) return { payload: asBuffer(record), txid: undefined };
    const payload = typeof record.payload === "string" ? Buffer.from(record.payload, "utf8") : asBuffer(record.payload);
    return { payload, txid: record.txid === undefined ? undefined : BigInt(record.txid) };
  });
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isRetryable(error: unknown): boolean {
  return error instanceof ClientError && error.code === Status.UNAVAILABLE;
}

export function createAppender(client: LogServiceClient, log: string, options: AppenderOptions = {}): Appender {
  const maxBytes = options.maxInFlightBytes ?? 8 * 1024 * 1024;
  const maxCount = options.maxInFlight ?? 1024;
  if (!(maxBytes > 0) || !(maxCount > 0)) throw new RangeError("appender: maxInFlightBytes and maxInFlight must be > 0");
  const backoff: Backoff | undefined = options.retry === false ? undefined : createBackoff(options.retry);
  const producerId = backoff ? (options.producerId ?? `ts-${randomUUID()}`) : undefined;
  const counters: AppenderCounters = { reconnects: 0, resent: 0, duplicates: 0, requests: 0, batchedCalls: 0 };
  const lingerMs = options.lingerMs ?? 2;
  const maxBatchRecords = options.maxBatchRecords ?? 1000;
  const maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
  if (!(lingerMs >= 0) || !(maxBatchRecords > 0) || !(maxBatchBytes > 0))
    throw new RangeError("appender: lingerMs must be >= 0, maxBatchRecords and maxBatchBytes > 0");
  const maxRecords = IN_FLIGHT_BATCHES * maxBatchRecords;

  let stream: Stream | undefined;
  const encoder = new RequestEncoder(log, producerId);
  /** Not yet sent, in call order; the last may still take callers (`gathering`). */
  const waiting = new Fifo<Batch>();
  let gathering: Batch | undefined;
  let waitingBytes = 0;
  let waitingRecords = 0;
  let lingerTimer: NodeJS.Timeout | undefined;
  /** flush() or close() asked: what lingers goes out now. */
  let hurry = false;
  /** A pump is queued for the end of the current synchronous run of appends (see append()). */
  let pumpQueued = false;
  /** Sent and not yet answered, in seq order: what a reconnect resends. */
  const unanswered = new Fifo<Batch>();
  let inFlightBytes = 0;
  let inFlightRecords = 0;
  let nextSeq = 1n;
  let nextRequestId = 1n;
  let reconnecting = false;
  let closed = false;
  let idle: Array<() => void> = [];
  let roomWaiters: Array<() => void> = [];
  let closing: Promise<void> | undefined;
  let markClosed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (markClosed = resolve));

  function hasRoom(bytes: number, records: number): boolean {
    // One append larger than the bound still goes out alone, or it would wait forever.
    return unanswered.length === 0 || (unanswered.length < maxCount && inFlightBytes + bytes <= maxBytes && inFlightRecords + records <= maxRecords);
  }

  /** Room for one more append of any size: what `ready()` waits for. Appends that only linger do not count. */
  function canTakeMore(): boolean {
    return (
      unanswered.length === 0 || (unanswered.length < maxCount && inFlightBytes + waitingBytes < maxBytes && inFlightRecords + waitingRecords < maxRecords)
    );
  }

  /**
   * The batch the next call of `records` records and `bytes` bytes joins: the one gathering, or a
   * new one when that would pass maxBatchRecords / maxBatchBytes (a call over either goes alone).
   */
  function batchFor(records: number, bytes: number): Batch {
    const open = gathering;
    if (open !== undefined && open.recordCount + records <= maxBatchRecords && open.bytes + bytes <= maxBatchBytes) return open;
    if (open !== undefined) open.closed = true;
    const batch = new Batch(encoder.open(), lingerMs > 0 ? performance.now() : 0);
    waiting.push(batch);
    gathering = batch;
    return batch;
  }

  /** After a call joined `batch`: it takes no more when full (or when every call is a request of its own). */
  function joined(batch: Batch, records: number, bytes: number): void {
    batch.recordCount += records;
    batch.bytes += bytes;
    waitingBytes += bytes;
    waitingRecords += records;
    if (lingerMs === 0 || batch.recordCount >= maxBatchRecords || batch.bytes >= maxBatchBytes) {
      batch.closed = true;
      gathering = undefined;
    }
  }

  function send(current: Stream, append: Batch): void {
    append.requestId = nextRequestId++;
    current.sent.push({ append, requestId: append.requestId });
    // Pre-encoded: the appender's service definition sends it as it is (append-codec.ts).
    current.requests.push(encoder.request(append.records, append.requestId, append.seq) as unknown as AppendRequest);
  }

  function pump(): void {
    if (!reconnecting && stream?.probing !== true) {
      while (waiting.length > 0) {
        const batch = waiting.peek()!;
        if (!hasRoom(batch.bytes, batch.recordCount)) break;
        // Linger: a batch that could still grow waits, up to lingerMs, while something is in flight.
        // With the timer set the head is still the one it waits for: no need to read the clock again.
        if (!batch.closed && !hurry && unanswered.length > 0 && (lingerTimer !== undefined || performance.now() < batch.queuedAt + lingerMs)) {
          lingerTimer ??= setTimeout(
            () => {
              lingerTimer = undefined;
              pump();
            },
            Math.max(1, batch.queuedAt + lingerMs - performance.now()),
          );
          break;
        }
        waiting.shift();
        if (batch === gathering) gathering = undefined;
        batch.closed = true;
        waitingBytes -= batch.bytes;
        waitingRecords -= batch.recordCount;
        counters.requests++;
        counters.batchedCalls += batch.callers;
        if (producerId !== undefined) batch.seq = nextSeq++;
        unanswered.push(batch);
        inFlightBytes += batch.bytes;
        inFlightRecords += batch.recordCount;
        send((stream ??= open()), batch);
      }
    }
    if (roomWaiters.length > 0 && canTakeMore()) {
      const resolved = roomWaiters;
      roomWaiters = [];
      for (const resolve of resolved) resolve();
    }
    if (waiting.length === 0) {
      hurry = false;
      if (lingerTimer !== undefined) clearTimeout(lingerTimer);
      lingerTimer = undefined;
    }
    if (idle.length > 0 && unanswered.length === 0 && waiting.length === 0) {
      const resolved = idle;
      idle = [];
      for (const resolve of resolved) resolve();
    }
  }

  function pumpSoon(): void {
    if (pumpQueued) return;
    pumpQueued = true;
    queueMicrotask(() => {
      pumpQueued = false;
      pump();
    });
  }

  function open(): Stream {
    const opened: Stream = { requests: new MessageQueue<AppendRequest>(), sent: new Fifo(), firstRequestId: nextRequestId, probing: false };
    void consume(opened);
    return opened;
  }

  /** Settles the oldest unanswered append (answers come in send order). */
  function settleHead(append: Batch, outcome: AppendAnswer | { error: unknown }): void {
    if (unanswered.peek() !== append) throw new DlogError(APPEND_STREAM_PATH, Status.INTERNAL, "appender: an answer arrived out of order");
    unanswered.shift();
    inFlightBytes -= append.bytes;
    inFlightRecords -= append.recordCount;
    if (outcome instanceof AppendAnswer) append.resolve(outcome);
    else append.reject(outcome.error);
  }

  /** Renumbers every unanswered append from `from` and sends them all again, in order. */
  function renumberAndResend(current: Stream, from: bigint): void {
    nextSeq = from;
    current.probing = false;
    for (const append of unanswered) {
      append.seq = nextSeq++;
      counters.resent++;
      send(current, append);
    }
  }

  /** Sends, in order, the unanswered appends that have not gone out on `current` yet. */
  function resendRest(current: Stream): void {
    for (const append of unanswered) {
      if (append.requestId >= current.firstRequestId) continue;
      counters.resent++;
      send(current, append);
    }
  }

  function onAnswer(current: Stream, response: AppendResponse): void {
    const probe = current.probing;
    current.probing = false;
    settleAnswer(current, response);
    if (probe) resendRest(current);
  }

  function settleAnswer(current: Stream, response: AppendResponse): void {
    const sent = current.sent.shift();
    if (!sent || response.requestId !== sent.requestId) {
      // Answers are matched by order: once one is out of place none after it can be trusted, so the stream fails.
      throw new DlogError(APPEND_STREAM_PATH, Status.INTERNAL, `answer for append ${response.requestId} arrived in place of ${sent?.requestId}`);
    }
    const { append } = sent;
    if (append.requestId !== sent.requestId) return; // superseded by a resend: its answer is the one that counts
    if (response.error?.code === Status.UNAVAILABLE && backoff !== undefined) {
      // Not written now (the server's storage is unavailable, e.g. during a JetStream leader election): with retry on,
      // this is a broken stream — every unanswered append goes again, in order, with its own sequence number.
      const { message, reason, metadata } = response.error;
      throw new DlogError(APPEND_STREAM_PATH, Status.UNAVAILABLE, message, { reason, metadata });
    }
    backoff?.reset();
    if (!response.error) {
      if (response.duplicate) counters.duplicates++;
      // The appender's own decoder (append-codec.ts) gives AppendAnswers already.
      settleHead(append, response instanceof AppendAnswer ? response : AppendAnswer.of(response));
      return;
    }
    const { code, message, reason, metadata } = response.error;
    const expected = metadata.expected_seq;
    if (reason === "PRODUCER_SEQUENCE_GAP" && expected !== undefined && append.renumbered < MAX_RENUMBERS) {
      // An append before this one was refused, so not written: this one and all after it move down.
      for (const later of unanswered) later.renumbered++;
      renumberAndResend(current, BigInt(expected));
      return;
    }
    settleHead(append, { error: new DlogError(APPEND_STREAM_PATH, code as Status, message, { reason, metadata }) });
  }

  async function consume(current: Stream): Promise<void> {
    let failure: unknown;
    try {
      for await (const response of client.appendStream(current.requests)) {
        onAnswer(current, response);
        pump();
      }
      if (current.sent.length > 0) {
        failure = new DlogError(APPEND_STREAM_PATH, Status.UNAVAILABLE, "the append stream ended before answering every append");
      }
    } catch (error) {
      failure = error;
    }
    if (stream !== current) return;
    stream = undefined;
    current.requests.end();
    if (unanswered.length === 0) return pump();
    const delayMs = backoff && isRetryable(failure) ? backoff.next() : undefined;
    if (delayMs === undefined) {
      // Not retried: each unanswered append has an unknown outcome and is rejected; later appends open a new stream.
      backoff?.reset();
      const error = DlogError.from(failure, APPEND_STREAM_PATH);
      while (unanswered.length > 0) settleHead(unanswered.peek()!, { error });
      return pump();
    }
    reconnecting = true;
    setTimeout(() => {
      reconnecting = false;
      counters.reconnects++;
      const reopened = (stream = open());
      reopened.probing = unanswered.length > 1;
      counters.resent++;
      send(reopened, unanswered.peek()!);
      pump();
    }, delayMs);
  }

  /** Joins the call to a batch: encodes its records there (checked first, so a refused call leaves nothing) and makes its promise. */
  function join(records: AppendInput | readonly AppendInput[]): Promise<DLSN[]> {
    let batch: Batch;
    let count = 1;
    let bytes: number;
    if (records instanceof Uint8Array || typeof records === "string") {
      // One record, the producer's usual call: encoded as it is, nothing to build.
      bytes = typeof records === "string" ? Buffer.byteLength(records, "utf8") : records.length;
      batch = batchFor(1, bytes);
      encoder.add(batch.records, records, undefined);
    } else {
      const inputs = toRecordInputs(records);
      count = inputs.length;
      bytes = 0;
      for (const input of inputs) {
        bytes += input.payload.length;
        if (input.txid !== undefined && BigInt.asIntN(64, input.txid) !== input.txid) {
          throw new RangeError("value provided for field message.txid of type int64 too large");
        }
      }
      batch = batchFor(count, bytes);
      for (const input of inputs) encoder.add(batch.records, input.payload, input.txid);
    }
    if (count !== 1 || batch.counts !== undefined) {
      batch.counts ??= batch.resolves.map(() => 1);
      batch.counts.push(count);
    }
    joining = batch;
    const promise = new Promise<DLSN[]>(capture);
    joining = undefined;
    joined(batch, count, bytes);
    return promise;
  }

  return {
    append(records) {
      if (closed) return Promise.reject(new DlogError(APPEND_STREAM_PATH, Status.CANCELLED, "the appender is closed"));
      const promise = join(records);
      // With nothing in flight the request goes out at the end of this synchronous run (a microtask,
      // not a timer: no wait), so appends made together are one request, not the first alone and
      // the rest after its answer: one commit and fsync on the server instead of two.
      if (lingerMs > 0 && unanswered.length === 0) pumpSoon();
      else pump();
      return promise;
    },
    ready() {
      if (canTakeMore()) return READY;
      return new Promise((resolve) => roomWaiters.push(resolve));
    },
    flush() {
      if (unanswered.length === 0 && waiting.length === 0) return Promise.resolve();
      hurry = true;
      pump();
      return new Promise((resolve) => idle.push(resolve));
    },
    close() {
      closed = true;
      closing ??= this.flush().then(() => {
        stream?.requests.end();
        stream = undefined;
        markClosed();
      });
      return closing;
    },
    get closed() {
      return closedPromise;
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
    get inFlight() {
      return unanswered.length;
    },
    get inFlightBytes() {
      return inFlightBytes;
    },
    producerId,
    counters,
  };
}
