import { ClientError, Status } from "nice-grpc";
import { DlogClientError } from "./dlog-client-error.js";
import type { DLSN } from "../../../src/dlsn.js";
import type { AppendRequest, AppendResponse, LogServiceClient, RecordInput } from "../../../src/gen/dlog/v1/log.js";
import { fromWireDlsn } from "./convert.js";
import { MessageQueue } from "./message-queue.js";

const APPEND_STREAM_PATH = "/dlog.v1.LogService/AppendStream";

/** A record to append: its payload (a string is UTF-8 encoded), and optionally its txid. */
export type AppendInput = string | Uint8Array | { payload: string | Uint8Array; txid?: bigint | number };

export interface AppenderOptions {
  /** Payload bytes sent and not yet answered; past it, appends wait in the client. Default 8 MiB. */
  maxInFlightBytes?: number;
  /** Appends sent and not yet answered. Default 1024. */
  maxInFlight?: number;
}

/** A pipelined producer over `AppendStream`: many appends in flight, answered in order. */
export interface Appender {
  /**
   * Appends the records as one entry; resolves with one DLSN per record. Does not
   * wait for earlier appends: call it in a loop and await the results later (or
   * `await appender.ready()` first to keep the client's queue short). A failed
   * append rejects its own promise only.
   */
  append(records: AppendInput | readonly AppendInput[]): Promise<DLSN[]>;
  /** Resolves when another append would go out at once (in-flight bounds not reached). */
  ready(): Promise<void>;
  /** Resolves when every append made so far is answered. */
  flush(): Promise<void>;
  /** Waits for the answers, then ends the stream. */
  close(): Promise<void>;
  /** Appends sent and not yet answered. */
  readonly inFlight: number;
  /** Payload bytes sent and not yet answered. */
  readonly inFlightBytes: number;
}

interface PendingAppend {
  request: AppendRequest;
  bytes: number;
  resolve(dlsns: DLSN[]): void;
  reject(error: unknown): void;
}

/** Where one AppendStream call stands: its requests and the appends it still owes answers for. */
interface Stream {
  requests: MessageQueue<AppendRequest>;
  sent: PendingAppend[];
  sentHead: number;
}

export function toRecordInputs(records: AppendInput | readonly AppendInput[]): RecordInput[] {
  const list: readonly AppendInput[] = typeof records === "string" || records instanceof Uint8Array || !Array.isArray(records) ? [records as AppendInput] : records;
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

export function createAppender(client: LogServiceClient, log: string, options: AppenderOptions = {}): Appender {
  const maxBytes = options.maxInFlightBytes ?? 8 * 1024 * 1024;
  const maxCount = options.maxInFlight ?? 1024;
  if (!(maxBytes > 0) || !(maxCount > 0)) throw new RangeError("appender: maxInFlightBytes and maxInFlight must be > 0");

  let stream: Stream | undefined;
  // FIFO with a moving head: shift() on a long queue is O(n) per append.
  let waiting: PendingAppend[] = [];
  let waitingHead = 0;
  let inFlight = 0;
  let inFlightBytes = 0;
  let nextRequestId = 1n;
  let closed = false;
  let idle: Array<() => void> = [];
  let roomWaiters: Array<() => void> = [];

  function queued(): number {
    return waiting.length - waitingHead;
  }

  function hasRoom(bytes: number): boolean {
    // One append larger than the bound still goes out alone, or it would wait forever.
    return inFlight === 0 || (inFlight < maxCount && inFlightBytes + bytes <= maxBytes);
  }

  /** Room for one more append of any size: what `ready()` waits for. */
  function canTakeMore(): boolean {
    return queued() === 0 && (inFlight === 0 || (inFlight < maxCount && inFlightBytes < maxBytes));
  }

  function pump(): void {
    while (waitingHead < waiting.length && hasRoom(waiting[waitingHead]!.bytes)) {
      const append = waiting[waitingHead]!;
      waiting[waitingHead++] = undefined as unknown as PendingAppend;
      const current = (stream ??= open());
      inFlight++;
      inFlightBytes += append.bytes;
      current.sent.push(append);
      current.requests.push(append.request);
    }
    if (waitingHead === waiting.length) {
      waiting = [];
      waitingHead = 0;
    }
    if (canTakeMore() && roomWaiters.length > 0) {
      const resolved = roomWaiters;
      roomWaiters = [];
      for (const resolve of resolved) resolve();
    }
    if (inFlight === 0 && queued() === 0 && idle.length > 0) {
      const resolved = idle;
      idle = [];
      for (const resolve of resolved) resolve();
    }
  }

  function open(): Stream {
    const opened: Stream = { requests: new MessageQueue<AppendRequest>(), sent: [], sentHead: 0 };
    void consume(opened);
    return opened;
  }

  function answered(current: Stream): PendingAppend | undefined {
    if (current.sentHead >= current.sent.length) return undefined;
    const append = current.sent[current.sentHead]!;
    current.sent[current.sentHead++] = undefined as unknown as PendingAppend;
    if (current.sentHead === current.sent.length) {
      current.sent = [];
      current.sentHead = 0;
    }
    inFlight--;
    inFlightBytes -= append.bytes;
    return append;
  }

  async function consume(current: Stream): Promise<void> {
    let failure: unknown;
    try {
      for await (const response of client.appendStream(current.requests)) {
        settle(answered(current), response);
        pump();
      }
      if (current.sentHead < current.sent.length) {
        failure = new ClientError(APPEND_STREAM_PATH, Status.UNAVAILABLE, "the append stream ended before answering every append");
      }
    } catch (error) {
      failure = error;
    }
    // Appends in flight on a broken stream have an unknown outcome: each is rejected; later appends open a new stream.
    if (stream === current) stream = undefined;
    current.requests.end();
    for (let append = answered(current); append; append = answered(current)) append.reject(failure);
    pump();
  }

  function settle(append: PendingAppend | undefined, response: AppendResponse): void {
    if (!append) return;
    if (response.error) {
      const { code, message, reason, metadata } = response.error;
      append.reject(new DlogClientError(APPEND_STREAM_PATH, code as Status, message, reason, metadata));
    } else if (response.requestId !== append.request.requestId) {
      // Answers are matched by order: once one is out of place none after it can be trusted, so the stream fails.
      const mismatch = new ClientError(APPEND_STREAM_PATH, Status.INTERNAL, `answer for append ${response.requestId} arrived in place of ${append.request.requestId}`);
      append.reject(mismatch);
      throw mismatch;
    } else {
      append.resolve(response.dlsns.map((dlsn) => fromWireDlsn(dlsn)));
    }
  }

  return {
    append(records) {
      if (closed) return Promise.reject(new ClientError(APPEND_STREAM_PATH, Status.CANCELLED, "the appender is closed"));
      const inputs = toRecordInputs(records);
      let bytes = 0;
      for (const input of inputs) bytes += input.payload.length;
      const request: AppendRequest = { log, records: inputs, requestId: nextRequestId++, producerId: "", producerSeq: 0n };
      return new Promise<DLSN[]>((resolve, reject) => {
        waiting.push({ request, bytes, resolve, reject });
        pump();
      });
    },
    ready() {
      if (canTakeMore()) return Promise.resolve();
      return new Promise((resolve) => roomWaiters.push(resolve));
    },
    flush() {
      if (inFlight === 0 && queued() === 0) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
    async close() {
      closed = true;
      await this.flush();
      stream?.requests.end();
      stream = undefined;
    },
    get inFlight() {
      return inFlight;
    },
    get inFlightBytes() {
      return inFlightBytes;
    },
  };
}
