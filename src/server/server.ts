import { mkdirSync } from "node:fs";
import type { ServerInterceptor } from "@grpc/grpc-js";
import { createServer } from "nice-grpc";
import { DlogError } from "../errors.js";
import { type ServerConfig, isLoopbackHost, parseListen } from "./config.js";
import { LogStore } from "../log/log-store.js";
import { applyRetention } from "../log/retention.js";
import { LevelStorage } from "../storage/level-storage.js";
import { LogServiceDefinition } from "../gen/dlog/v1/log.js";
import { ReaderServiceDefinition } from "../gen/dlog/v1/reader.js";
import { OutstandingBudget } from "../sessions/outstanding-budget.js";
import { ReaderSessions } from "../sessions/reader-sessions.js";
import { createReaderService } from "./reader-service.js";
import { HealthDefinition } from "../gen/grpc/health/v1/health.js";
import { createHealthService } from "./health-service.js";
import { createLogService } from "./log-service.js";
import type { Logger } from "./logger.js";
import { TokenSet, authInterceptor, authMiddleware, loadTokens } from "./auth.js";
import { Metrics } from "./metrics.js";
import { passEncoded } from "./record-frames.js";
import { addReflection } from "./reflection.js";
import { guardRequests, requestCountInterceptor, requestGuardMiddleware } from "./request-guard.js";
import { statusMiddleware } from "./status.js";
import { defaultMaxConnections, limitConnections, openFileLimit } from "./connection-limit.js";
import { SessionLimits } from "./session-limits.js";
import { serverCredentials } from "./tls-files.js";

export interface RunningServer {
  /** HOST:PORT actually bound (the port is real even when 0 was asked for). */
  address: string;
  /** Where /metrics is served, when enabled. */
  metricsAddress: string | undefined;
  logs: LogStore;
  sessions: ReaderSessions;
  /** Re-reads the tokens file (SIGHUP); a bad file keeps the tokens in force and throws why. Resolves to the number of tokens. */
  reloadTokens(): number;
  /** Stops taking calls, ends sessions after flushing, closes the store. Idempotent. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 5_000;

/** Opens the data dir (or an in-memory store) and serves every dlog service on `config.listen`. */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  // Everything a user can get wrong in the files is checked before the data dir is touched.
  const tokens = config.authTokens === "" ? undefined : new TokenSet(loadTokens(config.authTokens));
  const credentials = serverCredentials(config);
  const { host } = parseListen(config.listen);
  if (tokens && config.tlsCert === "" && !isLoopbackHost(host)) {
    logger.warn("bearer tokens travel in clear text: --auth-tokens without --tls-cert on a non-loopback address", { listen: config.listen });
  }
  const storage = config.inMemory ? await LevelStorage.inMemory() : await openDataDir(config.dataDir);
  const logs = await LogStore.open(storage, {
    sync: config.fsync,
    autoCreate: config.autoCreate,
    maxRecordBytes: config.maxRecordBytes,
    maxRecordsPerAppend: config.maxRecordsPerAppend,
    segmentMaxBytes: config.segmentMaxBytes,
    segmentMaxAgeMs: config.segmentMaxAgeMs,
    producers: { window: config.producerWindow, maxProducers: config.maxProducersPerLog },
  });

  let serving = true;
  let signalStopping!: () => void;
  const stopping = new Promise<void>((resolve) => {
    signalStopping = resolve;
  });

  // Innermost first: authentication sees the metadata before anything reads the message.
  const interceptors: ServerInterceptor[] = [...(tokens ? [authInterceptor(tokens)] : []), requestCountInterceptor()];
  const base = createServer({
    // Measured after decompression too (grpc-js stops inflating past it); bigger appends use AppendStream.
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": 64 * 1024 * 1024 + config.maxRecordBytes,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    ...(config.connectionIdleMs > 0 ? { "grpc.max_connection_idle_ms": config.connectionIdleMs } : {}),
    interceptors,
  } as Parameters<typeof createServer>[0])
    .use(statusMiddleware(logger))
    .use(requestGuardMiddleware());
  const server = tokens ? base.use(authMiddleware(tokens)) : base;
  const limits = { maxRecordsPerAppend: config.maxRecordsPerAppend, maxDlsnsPerAck: config.maxDlsnsPerAck };

  const sessions = new ReaderSessions({
    logs,
    storage,
    flushIntervalMs: config.ackFlushIntervalMs,
    flushMax: config.ackFlushMax,
    maxHoles: config.maxHoles,
    heartbeatMs: config.heartbeatMs,
    outstandingBudget: new OutstandingBudget(config.maxOutstandingBytesTotal),
    onFlushError: (error) => logger.error("position flush failed; retrying", { error: String(error) }),
  });

  const delivered = { records: 0 };
  server.add(guardRequests(completeResponses(LogServiceDefinition, ["read"]), limits), createLogService({ logs, maxLogs: config.maxLogs }));
  server.add(
    guardRequests(completeResponses(ReaderServiceDefinition, ["session"]), limits),
    createReaderService({ sessions, limits: new SessionLimits(config), onDelivered: (n) => (delivered.records += n) }),
  );
  const services = [LogServiceDefinition.fullName, ReaderServiceDefinition.fullName, HealthDefinition.fullName];
  server.add(guardRequests(HealthDefinition, limits), createHealthService({ services: new Set(services), isServing: () => serving, stopping }));
  addReflection(server, services);

  let port: number;
  try {
    port = await server.listen(config.listen, credentials);
  } catch (error) {
    await logs.close();
    await storage.close();
    throw error;
  }
  const address = `${host}:${port}`;
  const fdLimit = openFileLimit();
  const maxConnections = config.maxConnections === 0 ? defaultMaxConnections(fdLimit) : config.maxConnections;
  const connections = limitConnections(port, maxConnections, logger);
  logger.info("connection limit", { maxConnections, openFileLimit: fdLimit ?? "unknown" });
  if (fdLimit !== undefined && maxConnections >= fdLimit) {
    logger.warn("--max-connections is not below the open-file limit: idle connections could starve the store of file descriptors", { maxConnections, openFileLimit: fdLimit });
  }
  const metrics = config.metricsListen === "" ? undefined : await defineMetrics(logs, sessions, delivered).listen(config.metricsListen);

  const retention = startRetention(logs, config, logger);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      serving = false;
      signalStopping();
      clearInterval(retention);
      // Sessions end first (UNAVAILABLE, positions flushed), then the log refuses new work and
      // wakes followers, so the gRPC server has no long call left to wait for.
      await sessions.close();
      await logs.close();
      const grace = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
      await server.shutdown();
      clearTimeout(grace);
      connections.close();
      await metrics?.close();
      await storage.close();
      logger.info("dlogd stopped", { address });
    })();
    return closing;
  };
  const reloadTokens = (): number => {
    if (!tokens) throw new DlogError("FAILED_PRECONDITION", "no --auth-tokens file to reload");
    tokens.replace(loadTokens(config.authTokens));
    return tokens.size;
  };
  return { address, metricsAddress: metrics?.address, logs, sessions, reloadTokens, close };
}

async function openDataDir(dir: string): Promise<LevelStorage> {
  mkdirSync(dir, { recursive: true });
  return LevelStorage.open(dir);
}

function defineMetrics(logs: LogStore, sessions: ReaderSessions, delivered: { records: number }): Metrics {
  const metrics = new Metrics();
  metrics.counter("dlog_append_batches_total", "Group-committed append batches (one fsync each unless --no-fsync)", () => logs.counters.commits);
  metrics.counter("dlog_records_appended_total", "Records appended", () => logs.counters.recordsAppended);
  metrics.counter("dlog_bytes_appended_total", "Bytes of stored entries appended", () => logs.counters.bytesAppended);
  metrics.counter("dlog_records_delivered_total", "Records sent to reader sessions, redeliveries included", () => delivered.records);
  metrics.counter("dlog_acks_total", "Records acked by reader sessions", () => sessions.counters.acks);
  metrics.counter("dlog_sessions_opened_total", "Reader sessions opened", () => sessions.counters.sessionsOpened);
  metrics.counter("dlog_sessions_fenced_total", "Reader sessions ended by a takeover", () => sessions.counters.sessionsFenced);
  metrics.gauge("dlog_sessions_live", "Reader sessions live now", () => sessions.liveSessions);
  metrics.counter("dlog_position_flushes_total", "Position batches written to LevelDB (one fsync each)", () => sessions.flusher.counters.flushes);
  metrics.counter("dlog_positions_written_total", "Reader positions written", () => sessions.flusher.counters.positionsWritten);
  metrics.gauge("dlog_position_flush_last_seconds", "Duration of the last position flush", () => sessions.flusher.counters.lastFlushDurationMs / 1000);
  metrics.gauge("dlog_reader_lag_records", "Records after each live reader's acked floor", () =>
    sessions.liveLag().map(({ log, readerId, lag }) => ({ labels: { log, reader: readerId }, value: Number(lag) })),
  );
  return metrics;
}

/** How often retention runs: often enough for an age limit, cheap either way (it reads metadata only). */
const RETENTION_CHECK_MS = 60_000;

function startRetention(logs: LogStore, config: ServerConfig, logger: Logger): NodeJS.Timeout | undefined {
  const policy = { maxAgeMs: config.retentionMaxAgeMs, maxBytes: config.retentionMaxBytes };
  if (policy.maxAgeMs === 0 && policy.maxBytes === 0) return undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    applyRetention(logs, policy)
      .then((dropped) => {
        if (dropped > 0n) logger.info("retention dropped records", { records: dropped });
      })
      .catch((error: unknown) => logger.warn("retention failed; will retry", { error: String(error) }))
      .finally(() => (running = false));
  }, Math.min(RETENTION_CHECK_MS, Math.max(1_000, Math.floor((policy.maxAgeMs || RETENTION_CHECK_MS) / 4))));
  timer.unref();
  return timer;
}

/**
 * The record streams answer with complete messages, some already encoded
 * (`record-frames.ts`): for them nice-grpc's deep copy through ts-proto's
 * `fromPartial` is skipped and pre-encoded bytes pass straight through.
 */
function completeResponses<D extends { methods: Record<string, { responseType: object }> }>(definition: D, methods: Array<keyof D["methods"] & string>): D {
  const copied: Record<string, { responseType: object }> = { ...definition.methods };
  for (const name of methods) {
    const method = copied[name]!;
    copied[name] = { ...method, responseType: passEncoded(method.responseType as Parameters<typeof passEncoded>[0]) };
  }
  return { ...definition, methods: copied };
}
