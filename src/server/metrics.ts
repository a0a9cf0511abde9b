import { labelNames, labelNamesWithCode, prometheusServerMiddleware } from "nice-grpc-prometheus";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { LogStore } from "../log/log-store.js";
import type { WrittenPosition } from "../positions/position-store.js";
import type { ReaderSessions } from "../sessions/reader-sessions.js";
import type { ResilientStorage, StorageHealth } from "../storage/resilient-storage.js";
import { type ReaderLag, ReaderLagTracker } from "./reader-lag.js";

/**
 * Which labels reader lag carries: `reader` one series per reader ({log, reader}) and the per-log
 * worst; `log` only the per-log worst ({log}); `none` one server-wide worst, no names at all.
 */
export type ReaderLabels = "reader" | "log" | "none";
export const READER_LABELS: readonly ReaderLabels[] = ["reader", "log", "none"];

/** One call's gRPC metrics, for a handler that is not nice-grpc middleware. */
export interface StreamCallMeter {
  received(): void;
  sent(): void;
  end(code: string): void;
}

/** What the server already counts; read at scrape time, so nothing is counted twice. */
export interface MetricSources {
  logs: LogStore;
  sessions: ReaderSessions;
  delivered: { readonly records: number };
  serving(): boolean;
  storageHealth(): StorageHealth;
  storageCounters: Readonly<ResilientStorage["counters"]>;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const COUNT_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

/**
 * dlogd's Prometheus metrics (prom-client), one registry per server: process and Node defaults,
 * gRPC calls per method (nice-grpc-prometheus), dlog's own counters, histograms and reader lag.
 * Only a server with `--metrics-listen` creates one; without it no hook is installed at all.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly readerLabels: ReaderLabels;
  private lag: ReaderLagTracker | undefined;
  private readonly appendSeconds = this.histogram(
    "dlog_append_duration_seconds",
    "Append requests (an Append call or one AppendStream message) from receipt to durable answer",
    LATENCY_BUCKETS,
  );
  private readonly batchSeconds = this.histogram(
    "dlog_append_batch_duration_seconds",
    "Group-committed append batches: the LevelDB write (and fsync)",
    LATENCY_BUCKETS,
  );
  private readonly batchRecords = this.histogram("dlog_append_batch_records", "Records per group-committed append batch", COUNT_BUCKETS);
  private readonly flushSeconds = this.histogram(
    "dlog_position_flush_duration_seconds",
    "Reader position flushes: one LevelDB batch, fsynced",
    LATENCY_BUCKETS,
  );
  private readonly flushPositions = this.histogram("dlog_position_flush_positions", "Reader positions per position flush", COUNT_BUCKETS);
  private readonly refusedCalls = new Counter({
    registers: [this.registry],
    name: "dlog_calls_refused_total",
    help: "Calls refused (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED, INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION), also those refused before a service saw them",
    labelNames: ["grpc_method", "grpc_code"],
  });

  constructor(readerLabels: ReaderLabels) {
    this.readerLabels = readerLabels;
    collectDefaultMetrics({ register: this.registry });
  }

  /** An append was answered (successfully) after `seconds`. */
  appended(seconds: number): void {
    this.appendSeconds.observe(seconds);
  }

  /** A call was refused (call-log.ts). */
  refused(method: string, code: string): void {
    this.refusedCalls.inc({ grpc_method: method, grpc_code: code });
  }

  /** The log store's group-commit hook. */
  committed(records: number, durationMs: number): void {
    this.batchRecords.observe(records);
    this.batchSeconds.observe(durationMs / 1000);
  }

  /** The position store's write hook. */
  positionsWritten(written: readonly WrittenPosition[], durationMs: number): void {
    this.flushPositions.observe(written.length);
    this.flushSeconds.observe(durationMs / 1000);
    this.lag?.written(written);
  }

  /** gRPC calls per method: created once, shared by the nice-grpc middleware and `streamCall`. */
  private readonly grpcCalls = {
    serverStartedMetric: new Counter({ registers: [this.registry], name: "grpc_server_started_total", help: "RPCs started on the server", labelNames }),
    serverHandledMetric: new Counter({
      registers: [this.registry],
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, by status code",
      labelNames: labelNamesWithCode,
    }),
    serverStreamMsgReceivedMetric: new Counter({
      registers: [this.registry],
      name: "grpc_server_msg_received_total",
      help: "Stream messages received by the server",
      labelNames,
    }),
    serverStreamMsgSentMetric: new Counter({
      registers: [this.registry],
      name: "grpc_server_msg_sent_total",
      help: "Stream messages sent by the server",
      labelNames,
    }),
    serverHandlingSecondsMetric: new Histogram({
      registers: [this.registry],
      name: "grpc_server_handling_seconds",
      help: "Time from the start of an RPC to its status (a session's whole life for Session)",
      labelNames: labelNamesWithCode,
      buckets: LATENCY_BUCKETS,
    }),
  };

  /**
   * gRPC server metrics per method: started, handled (with the status code), messages
   * received and sent on streams, and handling time. Outermost, so it sees the status
   * the client gets. Calls refused below nice-grpc (no token, a message over the size
   * limit) never reach it: they are in dlog_calls_refused_total.
   */
  grpcMiddleware(): ReturnType<typeof prometheusServerMiddleware> {
    return prometheusServerMiddleware(this.grpcCalls);
  }

  /**
   * The same metrics for a bidi call served without nice-grpc (the Session handler): counted in
   * at once; `end` (once) gives the status code's name (nice-grpc's Status, e.g. "OK", "CANCELLED").
   */
  streamCall(path: string): StreamCallMeter {
    const [service = "", method = ""] = path.split("/").slice(1);
    const labels = { grpc_type: "bidi_stream", grpc_service: service, grpc_method: method, grpc_path: path };
    const calls = this.grpcCalls;
    calls.serverStartedMetric.inc(labels);
    const stopTimer = calls.serverHandlingSecondsMetric.startTimer(labels);
    const received = calls.serverStreamMsgReceivedMetric.labels(labels);
    const sent = calls.serverStreamMsgSentMetric.labels(labels);
    let ended = false;
    return {
      received: () => received.inc(),
      sent: () => sent.inc(),
      end(code) {
        if (ended) return;
        ended = true;
        stopTimer({ grpc_code: code });
        calls.serverHandledMetric.inc({ ...labels, grpc_code: code });
      },
    };
  }

  /** The values the server keeps anyway, read at each scrape. */
  observe(sources: MetricSources): void {
    const { logs, sessions, delivered, storageCounters } = sources;
    this.counter("dlog_append_batches_total", "Group-committed append batches (one fsync each unless --no-fsync)", () => logs.counters.commits);
    this.counter("dlog_records_appended_total", "Records appended", () => logs.counters.recordsAppended);
    this.counter("dlog_bytes_appended_total", "Bytes of stored entries appended", () => logs.counters.bytesAppended);
    this.counter("dlog_records_delivered_total", "Records sent to reader sessions, redeliveries included", () => delivered.records);
    this.counter("dlog_acks_total", "Records acked by reader sessions", () => sessions.counters.acks);
    this.counter("dlog_sessions_opened_total", "Reader sessions opened", () => sessions.counters.sessionsOpened);
    this.counter("dlog_sessions_fenced_total", "Reader sessions ended by a takeover or an admin call with force", () => sessions.counters.sessionsFenced);
    this.gauge("dlog_sessions_live", "Reader sessions live now", () => sessions.liveSessions);
    this.gauge("dlog_logs", "Logs the server holds", () => logs.listLogs().length);
    this.counter("dlog_entry_cache_hits_total", "Entry reads answered by the shared entry cache", () => logs.entryCacheCounters.hits);
    this.counter(
      "dlog_entry_cache_misses_total",
      "Entry reads the shared entry cache could not answer (read from storage)",
      () => logs.entryCacheCounters.misses,
    );
    this.counter(
      "dlog_entry_cache_evictions_total",
      "Entries dropped from the shared entry cache to stay within its bound",
      () => logs.entryCacheCounters.evictions,
    );
    this.gauge(
      "dlog_entry_cache_bytes",
      "Resident bytes the shared entry cache charges for the entries it holds (bounded by --entry-cache)",
      () => logs.entryCacheCounters.bytes,
    );
    this.counter("dlog_position_flushes_total", "Position batches written to LevelDB (one fsync each)", () => sessions.flusher.counters.flushes);
    this.counter("dlog_positions_written_total", "Reader positions written", () => sessions.flusher.counters.positionsWritten);
    this.counter("dlog_storage_errors_total", "Storage operations that failed (each failed write starts a reopen)", () => storageCounters.errors);
    this.counter("dlog_storage_reopens_total", "Times the database was reopened after a failed write", () => storageCounters.reopens);
    this.gauge("dlog_storage_writable", "1 while storage takes writes, 0 from a failed write until it is reopened", () =>
      sources.storageHealth().writable ? 1 : 0,
    );
    this.gauge("dlog_storage_disk_full", "1 while appends are refused for lack of disk space", () => (sources.storageHealth().diskFull ? 1 : 0));
    this.gauge("dlog_storage_broken", "1 while reopening the database keeps failing (health NOT_SERVING)", () => (sources.storageHealth().broken ? 1 : 0));
    this.gauge("dlog_health_serving", "1 while the gRPC health service answers SERVING, 0 when NOT_SERVING (shutting down, storage broken)", () =>
      sources.serving() ? 1 : 0,
    );
    this.observeReaderLag(logs, sessions);
  }

  /** Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private observeReaderLag(logs: LogStore, sessions: ReaderSessions): void {
    const tracker = new ReaderLagTracker(logs, sessions);
    this.lag = tracker;
    // prom-client collects all metrics of a scrape at once: they share one reading of the lags.
    let reading: Promise<ReaderLag[]> | undefined;
    const lags = (): Promise<ReaderLag[]> => (reading ??= tracker.collect().finally(() => (reading = undefined)));
    const registers = [this.registry];
    if (this.readerLabels === "reader") {
      new Gauge({
        registers,
        name: "dlog_reader_lag_records",
        help: "Records after each reader's acked floor not yet acked, whether a session is live or not",
        labelNames: ["log", "reader"],
        async collect() {
          const all = await lags();
          this.reset();
          for (const { log, readerId, lag } of all) this.set({ log, reader: readerId }, lag);
        },
      });
    }
    // Per log, or (`none`) one series for the whole server.
    const perLog = this.readerLabels !== "none";
    const aggregate = (name: string, help: string, of: (lags: number[]) => number): void => {
      new Gauge({
        registers,
        name,
        help: `${help} ${perLog ? "of each log" : "on the server"}`,
        labelNames: perLog ? ["log"] : [],
        async collect() {
          const all = await lags();
          this.reset();
          if (!perLog) {
            this.set(of(all.map(({ lag }) => lag)));
            return;
          }
          const grouped = new Map<string, number[]>();
          for (const { log, lag } of all) {
            const values = grouped.get(log);
            if (values) values.push(lag);
            else grouped.set(log, [lag]);
          }
          for (const [log, values] of grouped) this.set({ log }, of(values));
        },
      });
    };
    aggregate("dlog_reader_lag_max_records", "The largest reader lag", (values) => values.reduce((max, lag) => Math.max(max, lag), 0));
    aggregate("dlog_readers", "Readers (stored positions)", (values) => values.length);
  }

  private counter(name: string, help: string, read: () => number): void {
    new Counter({
      registers: [this.registry],
      name,
      help,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      registers: [this.registry],
      name,
      help,
      collect() {
        this.set(read());
      },
    });
  }

  private histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ registers: [this.registry], name, help, buckets });
  }
}
