import { loadServerConfig, serverHelp } from "../server/config.js";
import { DlogError } from "../errors.js";
import { createLogger } from "../server/logger.js";
import { startServer } from "../server/server.js";

/** dlogd: the server. Exits non-zero with one line on stderr when it cannot start. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadServerConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`dlogd: ${(error as Error).message}\n`);
    process.exit(2);
  }
  if (config.help) {
    process.stdout.write(`${serverHelp()}\n`);
    return;
  }
  const logger = createLogger(config.logLevel);
  let server;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    const message = error instanceof DlogError ? error.message : (error as Error).stack ?? String(error);
    process.stderr.write(`dlogd: ${message}\n`);
    process.exit(1);
  }
  logger.info("dlogd listening", {
    address: server.address,
    metricsAddress: server.metricsAddress,
    dataDir: config.inMemory ? undefined : config.dataDir,
    inMemory: config.inMemory,
    fsync: config.fsync,
    ackFlushIntervalMs: config.ackFlushIntervalMs,
    ackFlushMax: config.ackFlushMax,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info("dlogd stopping", { signal });
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error("shutdown failed", { error: String(error) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

void main();
