import { mkdirSync } from "node:fs";
import type { MethodDefinition, ServerInterceptor, UntypedHandleCall } from "@grpc/grpc-js";
import { DlogError } from "../errors.js";
import { type ServerConfig, isLoopbackHost, parseListen } from "./config.js";
import { LogStore } from "../log/log-store.js";
import { applyRetention } from "../log/retention.js";
import { LevelStorage } from "../storage/level-storage.js";
import { NatsStorage } from "../storage/nats-storage.js";
import { LogServiceDefinition } from "../gen/dlog/v1/log.js";
import { ReaderServiceDefinition } from "../gen/dlog/v1/reader.js";
import { OutstandingBudget } from "../sessions/outstanding-budget.js";
import { ReaderSessions } from "../sessions/reader-sessions.js";
import { createReaderService } from "./reader-service.js";
import { createSessionHandler } from "./session-handler.js";
import { createGrpcServer } from "./grpc-server.js";
import { HealthDefinition } from "../gen/grpc/health/v1/health.js";
import { createHealthService } from "./health-service.js";
import { createLogService } from "./log-service.js";
import { type Logger, rateLimited } from "./logger.js";
import { TokenSet, authInterceptor, authMiddleware, loadTokens } from "./auth.js";
import { ServerMetrics } from "./metrics.js";
import { loadMetricsHttpFiles, serveMetrics } from "./metrics-http.js";
import { passEncoded } from "./record-frames.js";
import { addReflection } from "./reflection.js";
import { guardRequests, requestCountInterceptor, requestGuardMiddleware } from "./request-guard.js";
import { statusMiddleware } from "./status.js";
import { defaultMaxConnections, limitConnections, openFileLimit } from "./connection-limit.js";
import { ReaderQuota, readerQuotaSource } from "./reader-quota.js";
import { SessionLimits } from "./session-limits.js";
import { serverCredentials } from "./tls-files.js";
import { settlesBy, trackConnections } from "./shutdown.js";
import type { Storage } from "../storage/storage.js";
import { ResilientStorage, type StorageEvent, type StorageHealth } from "../storage/resilient-storage.js";
import { bindError } from "./startup-errors.js";
import { callLogInterceptor } from "./call-log.js";

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

/** Of --shutdown-timeout, what is kept for closing connections by force and the store after the graceful part. */
const FORCE_RESERVE_MS = 1_000;
/**
 * The part of --shutdown-timeout sessions get to ack what they were sent (2 s of the default
 * 10 s): the rest is for the final flush, the appends in flight and closing connections.
 */
const SHUTDOWN_ACK_SHARE = 0.2;
/** A retrying failure is logged at most this often. */
const REPEAT_LOG_MS = 10_000;

/** Opens the data dir (or an in-memory store) and serves every dlog service on `config.listen`. */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  // Everything a user can get wrong in the files is checked before the data dir is touched.
  const tokens = config.authTokens === "" ? undefined : new TokenSet(loadTokens(config.authTokens));
  const credentials = serverCredentials(config);
  const metricsFiles = config.metricsListen === "" ? undefined : loadMetricsHttpFiles(config);
  const { host } = parseListen(config.listen);
  if (tokens && config.tlsCert === "" && !isLoopbackHost(host)) {
    logger.warn({ listen: config.listen }, "bearer tokens travel in clear text: --auth-tokens without --tls-cert on a non-loopback address");
  }
  if (metricsFiles && !isLoopbackHost(parseListen(config.metricsListen, "--metrics-listen").host)) {
    if (!metricsFiles.token) {
      logger.warn(
        { metricsListen: config.metricsListen },
        "/metrics on a non-loopback address without --metrics-token-file: whoever reaches it reads log and reader names (see --metrics-reader-labels)",
      );
    } else if (!metricsFiles.tls) {
      logger.warn(
        { metricsListen: config.metricsListen },
        "the metrics token travels in clear text: --metrics-token-file without --metrics-tls-cert on a non-loopback address",
      );
    }
  }
  const healthListeners = new Set<() => void>();
  const {
    storage,
    health: storageHealth,
    counters: storageCounters,
  } = await openStorage(config, logger, () => {
    for (const listener of healthListeners) listener();
  });
  // Only with --metrics-listen: otherwise no hook below costs anything.
  const metrics = config.metricsListen === "" ? undefined : new ServerMetrics(config.metricsReaderLabels);
  const logs = await LogStore.open(storage, {
    sync: config.fsync,
    autoCreate: config.autoCreate,
    maxRecordBytes: config.maxRecordBytes,
    maxRecordsPerAppend: config.maxRecordsPerAppend,
    segmentMaxBytes: config.segmentMaxBytes,
    segmentMaxAgeMs: config.segmentMaxAgeMs,
    entryCacheBytes: config.entryCacheBytes,
    packAppends: config.packAppends,
    producers: { window: config.producerWindow, maxProducers: config.maxProducersPerLog },
    onCommitted: metrics && ((records, durationMs) => metrics.committed(records, durationMs)),
  });

  let serving = true;
  let signalStopping!: () => void;
  const stopping = new Promise<void>((resolve) => {
    signalStopping = resolve;
  });

  // Innermost first: authentication sees the metadata before anything reads the message; the call
  // log, innermost of all, sees every status sent, the authentication's refusals included.
  const callLog = callLogInterceptor({ logger, ...(metrics ? { onRefused: (method: string, code: string) => metrics.refused(method, code) } : {}) });
  const interceptors: ServerInterceptor[] = [callLog, ...(tokens ? [authInterceptor(tokens)] : []), requestCountInterceptor()];
  const grpcServer = createGrpcServer({
    // Measured after decompression too (grpc-js stops inflating past it); bigger appends use AppendStream.
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": 64 * 1024 * 1024 + config.maxRecordBytes,
    "grpc.keepalive_time_ms": config.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": config.keepaliveTimeoutMs,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    ...(config.connectionIdleMs > 0 ? { "grpc.max_connection_idle_ms": config.connectionIdleMs } : {}),
    interceptors,
  } as Parameters<typeof createGrpcServer>[0]);
  // Metrics outermost: they count the status the client gets.
  const base = (metrics ? grpcServer.use(metrics.grpcMiddleware()) : grpcServer).use(statusMiddleware(logger)).use(requestGuardMiddleware());
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
    shutdownAckWaitMs: config.shutdownTimeoutMs * SHUTDOWN_ACK_SHARE,
    onFlushError: (
      (log) => (error: unknown) =>
        log({ err: error }, "position flush failed; retrying")
    )(rateLimited(logger, "error", REPEAT_LOG_MS)),
    onPositionsWritten: metrics && ((written, durationMs) => metrics.positionsWritten(written, durationMs)),
  });

  const delivered = { records: 0 };
  server.add(
    guardRequests(completeResponses(LogServiceDefinition, ["read", "append", "appendStream"]), limits),
    createLogService({ logs, maxLogs: config.maxLogs, onAppended: metrics && ((seconds) => metrics.appended(seconds)) }),
  );
  const quota = new ReaderQuota(config.maxReadersPerLog, readerQuotaSource(sessions));
  const { session: sessionMethod, ...readerAdmin } = guardRequests(completeResponses(ReaderServiceDefinition, ["session"]), limits).methods;
  server.add({ ...ReaderServiceDefinition, methods: readerAdmin }, createReaderService({ sessions, quota }));
  // Session, the long-lived call, is served by a grpc-js handler of its own (session-handler.ts), with the same codec.
  grpcServer.addHandler(
    { session: grpcJsMethod(ReaderServiceDefinition.fullName, sessionMethod) },
    {
      session: createSessionHandler({
        sessions,
        quota,
        limits: new SessionLimits(config),
        onDelivered: (n) => (delivered.records += n),
        logger,
        ...(tokens ? { tokens } : {}),
        ...(metrics ? { metrics } : {}),
      }) as UntypedHandleCall,
    },
  );
  const services = [LogServiceDefinition.fullName, ReaderServiceDefinition.fullName, HealthDefinition.fullName];
  server.add(
    guardRequests(HealthDefinition, limits),
    createHealthService({
      services: new Set(services),
      // A broken store (reopening keeps failing) is NOT_SERVING: an orchestrator restarts or replaces the server.
      isServing: () => serving && !storageHealth().broken,
      stopping,
      onChange: (listener) => {
        healthListeners.add(listener);
        return () => healthListeners.delete(listener);
      },
    }),
  );
  addReflection(server, services);

  // Every accepted socket, for shutdown to end stalled ones (the limit below only counts them).
  const sockets = trackConnections();
  let port: number;
  try {
    port = await server.listen(config.listen, credentials);
  } catch (error) {
    sockets.close();
    await logs.close();
    await storage.close();
    throw bindError("listen", config.listen, error);
  }
  sockets.attach(port);
  const address = `${host}:${port}`;
  const fdLimit = openFileLimit();
  const maxConnections = config.maxConnections === 0 ? defaultMaxConnections(fdLimit) : config.maxConnections;
  const connections = limitConnections(port, maxConnections, logger);
  logger.info({ maxConnections, openFileLimit: fdLimit ?? "unknown" }, "connection limit");
  if (fdLimit !== undefined && maxConnections >= fdLimit) {
    logger.warn(
      { maxConnections, openFileLimit: fdLimit },
      "--max-connections is not below the open-file limit: idle connections could starve the store of file descriptors",
    );
  }
  metrics?.observe({ logs, sessions, delivered, serving: () => serving && !storageHealth().broken, storageHealth, storageCounters });
  const metricsServer =
    metrics === undefined
      ? undefined
      : await serveMetrics(config.metricsListen, metricsFiles!, metrics).catch(async (error: unknown) => {
          server.forceShutdown();
          connections.close();
          await sessions.close();
          await logs.close();
          await storage.close();
          throw bindError("metrics-listen", config.metricsListen, error);
        });

  const retention = startRetention(logs, config, logger);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // Everything below finishes by the deadline, stalled clients or not; the graceful part
      // gets all but FORCE_RESERVE_MS of it.
      const deadline = Date.now() + config.shutdownTimeoutMs;
      const forceAt = deadline - Math.min(FORCE_RESERVE_MS, config.shutdownTimeoutMs / 4);
      const failed = (step: string) => (error: unknown) => logger.error({ err: error }, `shutdown: ${step} failed`);
      serving = false;
      signalStopping();
      clearInterval(retention);
      // Sessions end first (UNAVAILABLE, positions flushed), then the log refuses new work and
      // wakes followers, so the gRPC server has no long call left to wait for.
      if (!(await settlesBy(sessions.close(), forceAt, failed("flushing positions")))) {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown: positions were not flushed within --shutdown-timeout");
      }
      await settlesBy(logs.close(), forceAt, failed("closing the log store"));
      // Done when every connection has closed (grpc-js may miss one that closed as shutdown began).
      // A client that stopped reading never lets its connection close: past forceAt it is cut.
      const graceful = Promise.race([server.shutdown(), sockets.drained()]);
      const closedInTime = await settlesBy(graceful, forceAt, failed("closing connections"));
      server.forceShutdown();
      const forced = sockets.destroyAll();
      if (!closedInTime) logger.warn({ connections: forced }, "shutdown: connections still open were closed by force");
      sockets.close();
      connections.close();
      await settlesBy(metricsServer?.close() ?? Promise.resolve(), deadline, failed("closing /metrics"));
      // Releases the LevelDB lock, so a replacement can start at once.
      await settlesBy(storage.close(), deadline, failed("closing storage"));
      logger.info({ address }, "dlogd stopped");
    })();
    return closing;
  };
  const reloadTokens = (): number => {
    if (!tokens) throw new DlogError("FAILED_PRECONDITION", "no --auth-tokens file to reload");
    tokens.replace(loadTokens(config.authTokens));
    return tokens.size;
  };
  return { address, metricsAddress: metricsServer?.address, logs, sessions, reloadTokens, close };
}

interface OpenedStorage {
  storage: Storage;
  health(): StorageHealth;
  counters: Readonly<ResilientStorage["counters"]>;
}

/**
 * The data dir's LevelDB behind ResilientStorage (reopened after a failed write, a disk reserve),
 * or an in-memory store as it is: reopening memory would lose it, and memory-level never fails a write.
 */
async function openStorage(config: ServerConfig, logger: Logger, onHealthChange: () => void): Promise<OpenedStorage> {
  if (config.natsServers.length > 0) {
    // NATS keeps itself available (replicas, elections) and the storage retries through an election; a gateway
    // cut off from NATS for --storage-broken-after reports NOT_SERVING, so clients go to one that is not.
    const storage = await NatsStorage.open({
      servers: config.natsServers,
      prefix: config.natsPrefix,
      replicas: config.natsReplicas,
      credsFile: config.natsCreds || undefined,
      tls:
        config.natsTlsCa || config.natsTlsCert
          ? { caFile: config.natsTlsCa || undefined, certFile: config.natsTlsCert || undefined, keyFile: config.natsTlsKey || undefined }
          : undefined,
    });
    logger.info({ servers: config.natsServers, prefix: config.natsPrefix, replicas: config.natsReplicas }, "storage: NATS JetStream");
    let brokenTimer: NodeJS.Timeout | undefined;
    storage.onConnectionChange((connected) => {
      clearTimeout(brokenTimer);
      if (connected) logger.info("storage: NATS connection is back");
      else logger.warn({ servers: config.natsServers }, "storage: NATS connection lost; reconnecting");
      onHealthChange();
      if (!connected) brokenTimer = setTimeout(onHealthChange, config.storageBrokenAfterMs + 10).unref();
    });
    storage.onWatchRestarted((restart) => logger.warn(restart, "storage: a NATS KV watch fell silent while its keys changed; recreated it"));
    const health = (): StorageHealth => {
      const down = storage.disconnectedForMs();
      return { writable: down === 0, diskFull: false, broken: down >= config.storageBrokenAfterMs };
    };
    return { storage, health, counters: { errors: 0, reopens: 0 } };
  }
  if (config.inMemory) {
    const healthy: StorageHealth = { writable: true, diskFull: false, broken: false };
    return { storage: await LevelStorage.inMemory(), health: () => healthy, counters: { errors: 0, reopens: 0 } };
  }
  const dir = config.dataDir;
  mkdirSync(dir, { recursive: true });
  const retrying = rateLimited(logger, "warn", REPEAT_LOG_MS);
  const faulted = rateLimited(logger, "error", REPEAT_LOG_MS);
  let opened = false;
  const storage = await ResilientStorage.open({
    // A reopen never creates: a data dir that vanished must not come back empty.
    open: async () => {
      const level = await LevelStorage.open(dir, { createIfMissing: !opened });
      opened = true;
      return level;
    },
    dir,
    reserveBytes: config.diskReserveBytes,
    brokenAfterMs: config.storageBrokenAfterMs,
    onEvent: (event) => logStorageEvent(logger, { retrying, faulted }, event),
    onHealthChange,
  });
  return { storage, health: () => storage.health, counters: storage.counters };
}

/**
 * One line per change of the store's state; faults and retries rate-limited (a disk too full for
 * LevelDB to compact faults again after each reopen). Server logs may name paths; client messages never do.
 */
function logStorageEvent(logger: Logger, limited: Record<"retrying" | "faulted", ReturnType<typeof rateLimited>>, event: StorageEvent): void {
  switch (event.kind) {
    case "fault":
      limited.faulted({ err: event.error, fault: event.fault }, "storage write failed; writes are refused while the database is reopened");
      return;
    case "retry":
      limited.retrying({ err: event.error, attempt: event.attempt }, "storage still unavailable; retrying");
      return;
    case "broken":
      logger.error({ err: event.error, downMs: event.downMs }, "storage is broken: reopening the database keeps failing; health is NOT_SERVING");
      return;
    case "recovered":
      logger.info({ downMs: event.downMs, attempts: event.attempts }, "storage recovered; writes are taken again");
      return;
    case "disk-full":
      logger.error(
        { freeBytes: event.freeBytes, reserveReleased: event.reserveReleased },
        "disk full: appends are refused until space returns (Truncate/DeleteLog free space)",
      );
      return;
    case "space-returned":
      logger.info({ freeBytes: event.freeBytes, reserveHeld: event.reserveHeld }, "disk space returned; appends are taken again");
      return;
    case "no-reserve":
      logger.warn(
        { freeBytes: event.freeBytes, reserveBytes: event.reserveBytes },
        "no room for the disk reserve (--disk-reserve); a full disk may need more space before dlogd recovers",
      );
      return;
  }
}

/** How often retention runs: often enough for an age limit, cheap either way (it reads metadata only). */
const RETENTION_CHECK_MS = 60_000;

function startRetention(logs: LogStore, config: ServerConfig, logger: Logger): NodeJS.Timeout | undefined {
  const policy = { maxAgeMs: config.retentionMaxAgeMs, maxBytes: config.retentionMaxBytes };
  if (policy.maxAgeMs === 0 && policy.maxBytes === 0) return undefined;
  let running = false;
  const timer = setInterval(
    () => {
      if (running) return;
      running = true;
      applyRetention(logs, policy)
        .then((dropped) => {
          if (dropped > 0n) logger.info({ records: dropped }, "retention dropped records");
        })
        .catch((error: unknown) => logger.warn({ err: error }, "retention failed; will retry"))
        .finally(() => (running = false));
    },
    Math.min(RETENTION_CHECK_MS, Math.max(1_000, Math.floor((policy.maxAgeMs || RETENTION_CHECK_MS) / 4))),
  );
  timer.unref();
  return timer;
}

/**
 * The record streams and the appends answer with complete messages, some already encoded
 * (`record-frames.ts`, `append-response.ts`): for them nice-grpc's deep copy through ts-proto's
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

/** A ts-proto method as grpc-js serves it, with the codec nice-grpc would give it (encode after fromPartial, when the type has one). */
function grpcJsMethod(
  serviceName: string,
  method: { name: string; requestType: object; responseType: object; requestStream: boolean; responseStream: boolean },
): MethodDefinition<unknown, unknown> {
  type Codec = { encode(message: unknown): { finish(): Uint8Array }; decode(input: Uint8Array): unknown; fromPartial?: (value: unknown) => unknown };
  const request = method.requestType as Codec;
  const response = method.responseType as Codec;
  // A view of the encoded bytes, not a copy (Buffer.from of a Uint8Array copies): grpc-js copies them once more into its framed message.
  const encode = (type: Codec) => (value: unknown) => {
    const bytes = type.encode(type.fromPartial ? type.fromPartial(value) : value).finish();
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  return {
    path: `/${serviceName}/${method.name}`,
    requestStream: method.requestStream,
    responseStream: method.responseStream,
    requestSerialize: encode(request),
    requestDeserialize: (bytes) => request.decode(bytes),
    responseSerialize: encode(response),
    responseDeserialize: (bytes) => response.decode(bytes),
  };
}
