import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import {
  type CallOptions,
  type Channel,
  ChannelCredentials,
  type ChannelOptions,
  type ClientMiddlewareCall,
  createChannel,
  createClientFactory,
  Metadata,
  Status,
} from "nice-grpc";
import type { DLSN } from "../../../src/dlsn.js";
import { AppendRequest, AppendResponse, LogServiceDefinition, type LogServiceClient } from "./gen/dlog/v1/log.js";
import { ReaderServiceDefinition, type ReaderServiceClient } from "./gen/dlog/v1/reader.js";
import { decodeAppendAnswer, encodeAppendRequest } from "./append-codec.js";
import { type AppendInput, type Appender, type AppenderOptions, createAppender, toRecordInputs } from "./appender.js";
import { type LogInfo, type ReaderPosition, type StartAt, fromWireDlsn, toLogInfo, toReaderPosition, toWireDlsn, toWirePosition } from "./convert.js";
import { DlogError, dlogErrorMiddleware } from "./dlog-error.js";
import { LogRecord } from "./log-record.js";
import { Reader } from "./reader.js";
import type { ReaderOptions } from "./reader-options.js";
import { FRAME_READER_DEFINITION, RecordFrame } from "./record-frame.js";

/** TLS material, as PEM contents or file paths. */
export interface TlsOptions {
  /** CA certificate(s) to trust; default: the system roots. */
  ca?: Buffer | string | undefined;
  /** Client certificate and key, for mutual TLS. */
  cert?: Buffer | string | undefined;
  key?: Buffer | string | undefined;
  /** Expected server name when it differs from the address host. */
  serverName?: string | undefined;
}

export interface DlogClientOptions {
  /** `host:port` of dlogd. */
  address: string;
  /** Bearer token sent with every call. */
  token?: string | undefined;
  /** TLS (`true`: system roots) or mutual TLS. */
  tls?: boolean | TlsOptions | undefined;
  /** Deadline of unary calls (admin, `append`), ms. Default: none. */
  callTimeoutMs?: number | undefined;
  /** HTTP/2 keepalive ping interval, ms. Default 30 000. */
  keepaliveMs?: number | undefined;
  /** Raw grpc-js channel options, applied last. */
  channelOptions?: ChannelOptions | undefined;
}

export interface ReadOptions {
  /** Default: earliest. */
  from?: StartAt | undefined;
  /** Stop after this many records. */
  max?: number | undefined;
  /** Keep waiting for new records at the end of the log. */
  follow?: boolean | undefined;
  /** Records per response message (server default 256). */
  batchSize?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface TruncateResult {
  segmentsDeleted: bigint;
  recordsDeleted: bigint;
  /** The first record that still exists; undefined when none does. */
  firstDlsn: DLSN | undefined;
}

/** A connection to one dlogd: appends, reads, admin and at-least-once readers. */
export interface DlogClient extends AsyncDisposable {
  /**
   * Appends the records to one entry, in consecutive slots; resolves with their DLSNs
   * once written (and fsynced unless the server runs --no-fsync).
   * @example
   * const [dlsn] = await client.append("orders", JSON.stringify(order));
   */
  append(log: string, records: AppendInput | readonly AppendInput[], options?: CallOptions): Promise<DLSN[]>;
  /**
   * A pipelined producer: many appends in flight on one stream, answered in order.
   * @example
   * const appender = client.appender("events", { maxInFlightBytes: 4 << 20 });
   * const results = lines.map((line) => appender.append(line));
   * await Promise.all(results);
   * await appender.close();
   */
  appender(log: string, options?: AppenderOptions): Appender;
  /**
   * A stateless read: no position is kept.
   * @example
   * for await (const record of client.read("orders", { from: "earliest", max: 10 })) console.log(record.text());
   */
  read(log: string, options?: ReadOptions): AsyncIterable<LogRecord>;
  /**
   * An at-least-once reader: iterate, ack; it reconnects, resumes and drains by itself.
   * @example
   * const reader = client.reader({ log: "orders", readerId: "billing" });
   * for await (const record of reader) { await handle(record); record.ack(); }
   */
  reader(options: ReaderOptions): Reader;

  createLog(log: string, options?: CallOptions): Promise<LogInfo>;
  /** Resolves with the number of records deleted. */
  deleteLog(log: string, options?: CallOptions): Promise<bigint>;
  listLogs(prefix?: string, options?: CallOptions): Promise<LogInfo[]>;
  getLog(log: string, options?: CallOptions): Promise<LogInfo>;
  /** Drops the whole segments that lie before `before`. */
  /** Drops whole segments before `before`; one after the log's head (every record would go) needs `force`. */
  truncate(log: string, before: DLSN, options?: CallOptions & { force?: boolean | undefined }): Promise<TruncateResult>;

  getPosition(log: string, readerId: string, options?: CallOptions): Promise<ReaderPosition>;
  /** Re-positions a reader (where it starts next time, inclusive); `force` fences a live session. */
  setPosition(log: string, readerId: string, at: StartAt, options?: CallOptions & { force?: boolean | undefined }): Promise<ReaderPosition>;
  listReaders(log: string, options?: CallOptions): Promise<ReaderPosition[]>;
  deleteReader(log: string, readerId: string, options?: CallOptions & { force?: boolean | undefined }): Promise<void>;

  /** The generated nice-grpc clients, for anything not wrapped here. */
  readonly logs: LogServiceClient;
  readonly readers: ReaderServiceClient;
  readonly channel: Channel;
  /**
   * Closes the readers (each drains) and appenders (each waits for its answers) made by this
   * client, then the channel; other calls in progress fail. Also what `await using` calls.
   */
  close(): Promise<void>;
}

/**
 * grpc-js completes a client-stream write at once while the message fits in the
 * call's retry buffer (256 KiB by default), so the stream never pushes back; a
 * fast writer piles messages into an array that is re-sliced on every send —
 * quadratic with many small ack or append messages. A small buffer keeps
 * backpressure real (past it, writes complete when sent) and still lets short
 * unary calls be retried transparently. Our streams recover on their own (the
 * reader reconnects, the appender reconnects and resends), and acks are coalesced.
 */
const PER_RPC_RETRY_BUFFER_BYTES = 16 * 1024;

/**
 * The HTTP/2 window this client grants the server (per stream and for the connection). Node's
 * default, 64 KiB, is less than two records frames of a reader (256 records of 100 B are ~33 KiB):
 * the server then waits for a WINDOW_UPDATE every frame or two. 1 MiB (grpc-java's default) let
 * a reader catching up deliver ~1.15x as fast at ~0.75x the client CPU per record (bench, side by
 * side). Exported for the benchmark's own channels.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 1024 * 1024;

function channelOptionsFor(options: DlogClientOptions): ChannelOptions {
  const keepalive = options.keepaliveMs ?? 30_000;
  const serverName = typeof options.tls === "object" ? options.tls.serverName : undefined;
  return {
    "grpc.per_rpc_retry_buffer_size": PER_RPC_RETRY_BUFFER_BYTES,
    "grpc-node.flow_control_window": FLOW_CONTROL_WINDOW_BYTES,
    // Record batches may carry records up to the server's record limit (configurable beyond 1 MiB).
    "grpc.max_receive_message_length": 256 * 1024 * 1024,
    "grpc.max_send_message_length": 256 * 1024 * 1024,
    "grpc.keepalive_time_ms": keepalive,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    // grpc-js waits 1 s, then 1.6 s… before redialling a lost server; the reader's own backoff decides instead.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 2_000,
    ...(serverName ? { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName } : {}),
    ...options.channelOptions,
  };
}

function pem(value: Buffer | string | undefined): Buffer | null {
  if (value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  return value.includes("-----BEGIN") ? Buffer.from(value) : readFileSync(value);
}

function credentialsFor(tls: DlogClientOptions["tls"]): ChannelCredentials {
  if (!tls) return ChannelCredentials.createInsecure();
  const credentials = tls === true ? ChannelCredentials.createSsl() : ChannelCredentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
  return typeof tls === "object" && tls.serverName !== undefined ? credentials : withoutIpServerName(credentials);
}

/**
 * grpc-js passes the address's host to tls.connect as `servername` (SNI) even when it is an IP
 * address, which RFC 6066 forbids and Node warns about (DEP0123). For an IP address we drop
 * `servername` from the connection options grpc-js builds: Node then checks the certificate
 * against the IP (`host`), as before, and sends no SNI. The hook is grpc-js's connector factory
 * (an internal of the pinned grpc-js, checked by the TLS test, which fails on the warning).
 */
function withoutIpServerName(credentials: ChannelCredentials): ChannelCredentials {
  type Connector = { connectionOptions?: { servername?: string } };
  type Factory = { _createSecureConnector(...args: unknown[]): Connector };
  const inner = credentials as unknown as Factory;
  const create = inner._createSecureConnector.bind(inner);
  inner._createSecureConnector = (...args: unknown[]) => {
    const connector = create(...args);
    const options = connector.connectionOptions;
    if (options?.servername !== undefined && isIP(options.servername) !== 0) delete options.servername;
    return connector;
  };
  return credentials;
}

/** Adds the bearer token, and a deadline to unary calls. */
function callMiddleware(token: string | undefined, timeoutMs: number | undefined) {
  return async function* dlogCall<Request, Response>(
    call: ClientMiddlewareCall<Request, Response>,
    options: CallOptions,
  ): AsyncGenerator<Response, Response | void, undefined> {
    let next = options;
    if (token !== undefined) {
      const metadata = Metadata(options.metadata);
      metadata.set("authorization", `Bearer ${token}`);
      next = { ...next, metadata };
    }
    if (timeoutMs === undefined || call.requestStream || call.responseStream) {
      return yield* call.next(call.request, next);
    }
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    try {
      return yield* call.next(call.request, { ...next, signal });
    } catch (error) {
      if (deadline.aborted && !options.signal?.aborted) {
        throw new DlogError(call.method.path, Status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`);
      }
      throw error;
    }
  };
}

/**
 * LogService for the appender: its AppendStream requests are sent as they are. nice-grpc otherwise
 * rebuilds every request with `fromPartial` first, a copy of each record (with an empty Buffer for
 * its default): the appender's requests are complete, and that copy was its largest cost. Requests
 * are encoded in one buffer, answers decoded into DLSN objects that share their equal fields (append-codec.ts).
 */
const APPENDER_DEFINITION = {
  ...LogServiceDefinition,
  methods: {
    ...LogServiceDefinition.methods,
    appendStream: {
      ...LogServiceDefinition.methods.appendStream,
      requestType: { ...AppendRequest, fromPartial: undefined, encode: encodeAppendRequest },
      responseType: { ...AppendResponse, decode: decodeAppendAnswer },
    },
  },
} as unknown as typeof LogServiceDefinition;

/**
 * Connects to dlogd. The channel connects lazily, on the first call.
 *
 * @example
 * const client = createDlogClient({ address: "127.0.0.1:7070", token: process.env.DLOG_TOKEN });
 * await client.append("orders", ["a", "b"]);
 */
export function createDlogClient(options: DlogClientOptions): DlogClient {
  const channel = createChannel(options.address, credentialsFor(options.tls), channelOptionsFor(options));
  const factory = createClientFactory().use(callMiddleware(options.token, options.callTimeoutMs)).use(dlogErrorMiddleware);
  const logs: LogServiceClient = factory.create(LogServiceDefinition, channel);
  const appendLogs: LogServiceClient = factory.create(APPENDER_DEFINITION, channel);
  const readers: ReaderServiceClient = factory.create(ReaderServiceDefinition, channel);
  const sessionReaders: ReaderServiceClient = factory.create(FRAME_READER_DEFINITION, channel);
  /** What close() closes first: the readers and appenders still open. */
  const open = new Set<{ close(): Promise<unknown> }>();
  let closing: Promise<void> | undefined;

  const client: DlogClient = {
    logs,
    readers,
    channel,

    async append(log, records, callOptions) {
      const response = await logs.append({ log, records: toRecordInputs(records) }, callOptions);
      return response.dlsns.map((dlsn) => fromWireDlsn(dlsn));
    },

    appender(log, appenderOptions) {
      const appender = createAppender(appendLogs, log, appenderOptions);
      open.add(appender);
      void appender.closed.then(() => open.delete(appender));
      return appender;
    },

    async *read(log, readOptions = {}) {
      const responses = logs.read(
        {
          log,
          start: readOptions.from === undefined ? undefined : toWirePosition(readOptions.from),
          maxRecords: BigInt(readOptions.max ?? 0),
          follow: readOptions.follow ?? false,
          maxBatchRecords: readOptions.batchSize ?? 0,
        },
        readOptions.signal ? { signal: readOptions.signal } : {},
      );
      for await (const response of responses) {
        const frame = RecordFrame.of(response);
        for (let i = 0; i < frame.count; i++) yield new LogRecord(frame, i);
      }
    },

    reader(readerOptions) {
      const reader = new Reader(sessionReaders, readerOptions);
      open.add(reader);
      void reader.closed.then(() => open.delete(reader));
      return reader;
    },

    async createLog(log, callOptions) {
      return toLogInfo(await logs.createLog({ log }, callOptions));
    },

    async deleteLog(log, callOptions) {
      return (await logs.deleteLog({ log }, callOptions)).recordsDeleted;
    },

    async listLogs(prefix = "", callOptions) {
      return (await logs.listLogs({ prefix }, callOptions)).logs.map(toLogInfo);
    },

    async getLog(log, callOptions) {
      return toLogInfo(await logs.getLog({ log }, callOptions));
    },

    async truncate(log, before, { force, ...callOptions } = {}) {
      const result = await logs.truncate({ log, before: toWireDlsn(before), force: force ?? false }, callOptions);
      return { segmentsDeleted: result.segmentsDeleted, recordsDeleted: result.recordsDeleted, firstDlsn: fromWireDlsn(result.firstDlsn) };
    },

    async getPosition(log, readerId, callOptions) {
      return toReaderPosition(await readers.getPosition({ log, readerId }, callOptions));
    },

    async setPosition(log, readerId, at, { force, ...callOptions } = {}) {
      return toReaderPosition(await readers.setPosition({ log, readerId, position: toWirePosition(at), force: force ?? false }, callOptions));
    },

    async listReaders(log, callOptions) {
      return (await readers.listReaders({ log }, callOptions)).readers.map(toReaderPosition);
    },

    async deleteReader(log, readerId, { force, ...callOptions } = {}) {
      await readers.deleteReader({ log, readerId, force: force ?? false }, callOptions);
    },

    close() {
      closing ??= Promise.allSettled([...open].map((each) => each.close())).then(() => channel.close());
      return closing;
    },

    [Symbol.asyncDispose]() {
      return client.close();
    },
  };
  return client;
}
