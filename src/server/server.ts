import { mkdirSync } from "node:fs";
import { createServer } from "nice-grpc";
import type { ServerConfig } from "../config.js";
import { LogStore } from "../log/log-store.js";
import { LevelStorage } from "../storage/level-storage.js";
import { LogServiceDefinition } from "../gen/dlog/v1/log.js";
import { HealthDefinition } from "../gen/grpc/health/v1/health.js";
import { createHealthService } from "./health-service.js";
import { createLogService } from "./log-service.js";
import type { Logger } from "./logger.js";
import { addReflection } from "./reflection.js";
import { statusMiddleware } from "./status.js";

export interface RunningServer {
  /** HOST:PORT actually bound (the port is real even when 0 was asked for). */
  address: string;
  logs: LogStore;
  /** Stops taking calls, ends sessions after flushing, closes the store. Idempotent. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 5_000;

/** Opens the data dir and serves every dlog service on `config.listen`. */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true });
  const storage = await LevelStorage.open(config.dataDir);
  const logs = await LogStore.open(storage, {
    sync: config.fsync,
    autoCreate: config.autoCreate,
    maxRecordBytes: config.maxRecordBytes,
    maxRecordsPerAppend: config.maxRecordsPerAppend,
    segmentMaxBytes: config.segmentMaxBytes,
    segmentMaxAgeMs: config.segmentMaxAgeMs,
  });

  let serving = true;
  let signalStopping!: () => void;
  const stopping = new Promise<void>((resolve) => {
    signalStopping = resolve;
  });

  const server = createServer({
    // Appends may carry many records of up to maxRecordBytes; the record limit is enforced (and named) by the store.
    "grpc.max_receive_message_length": 64 * 1024 * 1024 + config.maxRecordBytes,
    "grpc.max_send_message_length": 64 * 1024 * 1024 + config.maxRecordBytes,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
  }).use(statusMiddleware(logger));

  server.add(LogServiceDefinition, createLogService({ logs }));
  const services = [LogServiceDefinition.fullName, HealthDefinition.fullName];
  server.add(HealthDefinition, createHealthService({ services: new Set(services), isServing: () => serving, stopping }));
  addReflection(server, services);

  const { host } = parseHost(config.listen);
  let port: number;
  try {
    port = await server.listen(config.listen);
  } catch (error) {
    await logs.close();
    await storage.close();
    throw error;
  }
  const address = `${host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      serving = false;
      signalStopping();
      const grace = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
      await server.shutdown();
      clearTimeout(grace);
      await logs.close();
      await storage.close();
      logger.info("dlogd stopped", { address });
    })();
    return closing;
  };
  return { address, logs, close };
}

function parseHost(listen: string): { host: string } {
  return { host: listen.slice(0, listen.lastIndexOf(":")) };
}
