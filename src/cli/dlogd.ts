import { setLogger } from "@grpc/grpc-js";
import { loadServerConfig, serverHelp } from "../server/config.js";
import { DlogError } from "../errors.js";
import { createLogger } from "../server/logger.js";
import { startServer } from "../server/server.js";

/** Past --shutdown-timeout, how long the process waits for its own shutdown before it just exits. */
const BACKSTOP_MS = 2_000;

/** dlogd: the server. Exits non-zero with one line on stderr when it cannot start: 2 for a bad setting or file, 1 otherwise. */
async function main(): Promise<void> {
  // Installed first: Node's default for SIGHUP is to exit, also while the server is still starting.
  let onHangup = (): void => undefined;
  process.on("SIGHUP", () => onHangup());
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
  // grpc-js writes its own "E ..." lines to stderr (a failed bind among them): they go through our logger.
  const grpcLine = (...args: unknown[]): void => logger.debug({ detail: args.map(String).join(" ") }, "grpc-js");
  setLogger({ error: grpcLine, info: grpcLine, debug: grpcLine } as unknown as Console);
  let server;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    // One line, whatever failed: the stack is for --log-level debug.
    process.stderr.write(`dlogd: ${error instanceof Error ? error.message : String(error)}\n`);
    if (config.logLevel === "debug") logger.debug({ err: error }, "start-up failed");
    process.exit(error instanceof DlogError && error.code === "INVALID_ARGUMENT" ? 2 : 1);
  }
  logger.info(
    {
      address: server.address,
      metricsAddress: server.metricsAddress,
      // The data dir means nothing when logs live on NATS or in memory: name what serves them.
      storage: config.storage !== "" ? "nats" : config.inMemory ? "memory" : "leveldb",
      natsServers: config.storage !== "" ? config.natsServers : undefined,
      natsPrefix: config.storage !== "" ? config.natsPrefix : undefined,
      dataDir: config.inMemory || config.storage !== "" ? undefined : config.dataDir,
      inMemory: config.inMemory,
      fsync: config.fsync,
      ackFlushIntervalMs: config.ackFlushIntervalMs,
      ackFlushMax: config.ackFlushMax,
      logLevel: config.logLevel,
      // bin/dlogd.js started as a program adds its V8 heap flag; `node bin/dlogd.js` has none.
      nodeFlags: process.execArgv,
    },
    "dlogd listening",
  );
  // Every setting as it was resolved (flags, environment, defaults); paths, never secrets.
  logger.debug({ config: { ...config, help: undefined } }, "configuration");
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "dlogd stopping");
    // The shutdown bounds each of its steps; this is the backstop should one of them ignore it.
    // Exiting releases the LevelDB lock either way.
    setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown did not finish within --shutdown-timeout; exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs + BACKSTOP_MS).unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  // SIGHUP re-reads the tokens file; it never stops the server. A bad file keeps the tokens in force.
  onHangup = () => {
    if (config.authTokens === "") {
      logger.info("SIGHUP: no --auth-tokens file to reload");
      return;
    }
    try {
      const count = server.reloadTokens();
      logger.info({ file: config.authTokens, tokens: count }, "tokens reloaded");
    } catch (error) {
      logger.error({ error: (error as Error).message }, "tokens not reloaded; the previous tokens stay in force");
    }
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

void main();
