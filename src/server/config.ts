import { parseArgs } from "node:util";
import { DlogError } from "../errors.js";
import { parseValue, SETTINGS } from "./settings.js";

/** The server's configuration: built once from flags and environment, validated, then read-only. */
export interface ServerConfig {
  listen: string;
  dataDir: string;
  /** Keep everything in memory (memory-level): nothing on disk, nothing survives the process. */
  inMemory: boolean;
  /** "" for the embedded LevelDB, or nats://HOST:PORT[,HOST:PORT...] for NATS JetStream (`storage/nats-storage.ts`). */
  storage: string;
  /** Parsed from `storage`: HOST:PORT of each NATS server (empty for LevelDB). */
  natsServers: string[];
  natsPrefix: string;
  natsReplicas: number;
  natsCreds: string;
  natsTlsCa: string;
  natsTlsCert: string;
  natsTlsKey: string;
  fsync: boolean;
  autoCreate: boolean;
  packAppends: boolean;
  maxRecordBytes: number;
  maxRecordsPerAppend: number;
  segmentMaxBytes: number;
  entryCacheBytes: number;
  segmentMaxAgeMs: number;
  producerWindow: number;
  maxProducersPerLog: number;
  ackFlushIntervalMs: number;
  ackFlushMax: number;
  maxHoles: number;
  heartbeatMs: number;
  shutdownTimeoutMs: number;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  diskReserveBytes: number;
  storageBrokenAfterMs: number;
  metricsListen: string;
  metricsReaderLabels: "reader" | "log" | "none";
  metricsTokenFile: string;
  metricsTlsCert: string;
  metricsTlsKey: string;
  retentionMaxAgeMs: number;
  retentionMaxBytes: number;
  tlsCert: string;
  tlsKey: string;
  tlsClientCa: string;
  authTokens: string;
  maxMessageBytes: number;
  maxDlsnsPerAck: number;
  maxConnections: number;
  connectionIdleMs: number;
  maxSessions: number;
  maxSessionsPerConnection: number;
  maxSessionsPerToken: number;
  maxOutstandingBytesTotal: number;
  maxLogs: number;
  maxReadersPerLog: number;
  logLevel: "debug" | "info" | "warn" | "error";
}

export function serverHelp(): string {
  const lines = SETTINGS.map(
    (s) => `  --${s.kind === "boolean" ? `[no-]${s.flag}` : `${s.flag} VALUE`}`.padEnd(34) + `${s.help} (env ${s.env}, default ${s.default})`,
  );
  return ["Usage: dlogd [options]", "", "Options:", ...lines, "  --help".padEnd(34) + "show this help"].join("\n");
}

/** Builds the config from argv and env; throws DlogError with a message naming the bad setting. */
export function loadServerConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServerConfig & { help: boolean } {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const s of SETTINGS) {
    options[s.flag] = { type: s.kind === "boolean" ? "boolean" : "string" };
    if (s.kind === "boolean") options[`no-${s.flag}`] = { type: "boolean" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new DlogError("INVALID_ARGUMENT", `${(error as Error).message}; see dlogd --help`);
  }
  const config: Record<string, unknown> = { help: values.help === true };
  const sources: Partial<Record<keyof ServerConfig, "flag" | "env" | "default">> = {};
  for (const s of SETTINGS) {
    let value: string | number | boolean;
    if (s.kind === "boolean" && values[`no-${s.flag}`] === true) {
      value = false;
      sources[s.key] = "flag";
    } else if (values[s.flag] !== undefined) {
      value = parseValue(s, String(values[s.flag]), `--${s.flag}`);
      sources[s.key] = "flag";
    } else if (env[s.env] !== undefined && env[s.env] !== "") {
      value = parseValue(s, env[s.env]!, s.env);
      sources[s.key] = "env";
    } else {
      value = parseValue(s, s.default, `default of --${s.flag}`);
      sources[s.key] = "default";
    }
    config[s.key] = value;
  }
  const result = config as unknown as ServerConfig & { help: boolean };
  // Both say where the data goes: refused unless one clearly wins (a flag over the environment).
  const dataDirFrom = sources.dataDir;
  if (result.inMemory && (dataDirFrom === "flag" || (dataDirFrom === "env" && sources.inMemory === "env"))) {
    const given = dataDirFrom === "flag" ? "--data-dir" : "DLOG_DATA_DIR";
    const memory = sources.inMemory === "flag" ? "--in-memory" : "DLOG_IN_MEMORY";
    throw new DlogError("INVALID_ARGUMENT", `${memory} keeps nothing on disk, so ${given} has no meaning with it; give one or the other`);
  }
  result.natsServers = parseStorage(result, sources);
  if (!["debug", "info", "warn", "error"].includes(result.logLevel)) {
    throw new DlogError("INVALID_ARGUMENT", `--log-level: "${result.logLevel}" is not valid; expected debug, info, warn or error`);
  }
  if (!["reader", "log", "none"].includes(result.metricsReaderLabels)) {
    throw new DlogError("INVALID_ARGUMENT", `--metrics-reader-labels: "${result.metricsReaderLabels}" is not valid; expected reader, log or none`);
  }
  parseListen(result.listen);
  // A bare port binds loopback: exposing metrics (which name logs and readers) takes an explicit host.
  if (/^\d+$/.test(result.metricsListen)) result.metricsListen = `127.0.0.1:${result.metricsListen}`;
  if (result.metricsListen !== "") parseListen(result.metricsListen, "--metrics-listen");
  for (const [flag, given] of [
    ["--metrics-token-file", result.metricsTokenFile],
    ["--metrics-tls-cert", result.metricsTlsCert],
    ["--metrics-tls-key", result.metricsTlsKey],
  ] as const) {
    if (given !== "" && result.metricsListen === "") throw new DlogError("INVALID_ARGUMENT", `${flag} has no effect without --metrics-listen`);
  }
  if ((result.metricsTlsCert === "") !== (result.metricsTlsKey === "")) {
    throw new DlogError("INVALID_ARGUMENT", "--metrics-tls-cert and --metrics-tls-key go together: give both to serve /metrics over HTTPS, or neither");
  }
  if ((result.tlsCert === "") !== (result.tlsKey === "")) {
    throw new DlogError("INVALID_ARGUMENT", "--tls-cert and --tls-key go together: give both to serve TLS, or neither");
  }
  if (result.maxRecordBytes >= result.maxMessageBytes) {
    throw new DlogError(
      "INVALID_ARGUMENT",
      `--max-record-bytes (${result.maxRecordBytes}) must be smaller than --max-message-bytes (${result.maxMessageBytes}), or no record of the largest size could be appended`,
    );
  }
  if (result.tlsClientCa !== "" && result.tlsCert === "") {
    throw new DlogError("INVALID_ARGUMENT", "--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key");
  }
  return result;
}

/** `--storage` and the NATS settings that go with it: the servers' HOST:PORTs (none for LevelDB). */
function parseStorage(result: ServerConfig, sources: Partial<Record<keyof ServerConfig, "flag" | "env" | "default">>): string[] {
  const natsFlags = (["natsPrefix", "natsReplicas", "natsCreds", "natsTlsCa", "natsTlsCert", "natsTlsKey"] as const).filter((key) => sources[key] === "flag");
  if (result.storage === "") {
    if (natsFlags.length > 0) {
      const flag = SETTINGS.find((s) => s.key === natsFlags[0])!.flag;
      throw new DlogError("INVALID_ARGUMENT", `--${flag} has no effect without --storage nats://HOST:PORT`);
    }
    return [];
  }
  const match = /^nats:\/\/(.+)$/.exec(result.storage);
  if (!match)
    throw new DlogError(
      "INVALID_ARGUMENT",
      `--storage: "${result.storage}" is not valid; expected nats://HOST:PORT[,HOST:PORT...] (or leave it out for the embedded LevelDB)`,
    );
  const servers = match[1]!.split(",").map((server) => {
    parseListen(server, "--storage");
    return server;
  });
  if (result.inMemory || sources.dataDir === "flag") {
    throw new DlogError(
      "INVALID_ARGUMENT",
      `--storage nats:// keeps logs in NATS JetStream, so ${result.inMemory ? "--in-memory" : "--data-dir"} has no meaning with it; give one or the other`,
    );
  }
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(result.natsPrefix)) {
    throw new DlogError("INVALID_ARGUMENT", `--nats-prefix: "${result.natsPrefix}" is not valid; expected 1-32 letters, digits, - or _`);
  }
  if (result.natsReplicas !== 1 && result.natsReplicas !== 3) {
    throw new DlogError("INVALID_ARGUMENT", `--nats-replicas: ${result.natsReplicas} is not valid; expected 1 or 3`);
  }
  if ((result.natsTlsCert === "") !== (result.natsTlsKey === "")) {
    throw new DlogError("INVALID_ARGUMENT", "--nats-tls-cert and --nats-tls-key go together: give both for a NATS client certificate, or neither");
  }
  return servers;
}

/** Splits HOST:PORT (IPv6 in brackets). */
export function parseListen(listen: string, flag = "--listen"): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new DlogError("INVALID_ARGUMENT", `${flag}: "${listen}" is not HOST:PORT (e.g. 127.0.0.1:7070, [::1]:7070, 0.0.0.0:0)`);
  }
  return { host: match[1]!, port };
}

/** A loopback host (127.0.0.0/8, ::1, localhost): nothing sent to it leaves the machine. */
export function isLoopbackHost(host: string): boolean {
  return /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|::1|localhost)$/i.test(host);
}
