/** dlogd's settings table (flag, environment variable, default, help) and how one value is parsed; config.ts builds a ServerConfig from it. */
import { parseDuration } from "../duration.js";
import { DlogError } from "../errors.js";
import type { ServerConfig } from "./config.js";

export interface Setting {
  flag: string;
  env: string;
  kind: "string" | "boolean" | "size" | "duration" | "count";
  default: string;
  help: string;
  key: keyof ServerConfig;
  /** "0" is allowed: it turns the setting off, or picks the computed default the help names. */
  zeroMeansOff?: boolean;
}

/** Every setting once: flag, environment variable, default and help come from here. */
export const SETTINGS: Setting[] = [
  {
    key: "listen",
    flag: "listen",
    env: "DLOG_LISTEN",
    kind: "string",
    default: "127.0.0.1:7070",
    help: "HOST:PORT to serve gRPC on (port 0 picks a free one)",
  },
  { key: "dataDir", flag: "data-dir", env: "DLOG_DATA_DIR", kind: "string", default: "./data", help: "directory of the embedded LevelDB" },
  {
    key: "inMemory",
    flag: "in-memory",
    env: "DLOG_IN_MEMORY",
    kind: "boolean",
    default: "false",
    help: "keep logs and positions in memory only: nothing on disk, NOT durable (everything is lost when dlogd stops); for tests; not with --data-dir",
  },
  {
    key: "storage",
    flag: "storage",
    env: "DLOG_STORAGE",
    kind: "string",
    default: "",
    help: "where logs and positions live: empty for the embedded LevelDB in --data-dir, or nats://HOST:PORT[,HOST:PORT...] for NATS JetStream (several dlogd gateways may share it; see the README)",
  },
  {
    key: "natsPrefix",
    flag: "nats-prefix",
    env: "DLOG_NATS_PREFIX",
    kind: "string",
    default: "dlog",
    help: "with --storage nats://: names the stream (PREFIX_entries), buckets (PREFIX_meta, PREFIX_positions) and subjects (PREFIX.e.LOGID); letters, digits, - and _",
  },
  {
    key: "natsReplicas",
    flag: "nats-replicas",
    env: "DLOG_NATS_REPLICAS",
    kind: "count",
    default: "1",
    help: "with --storage nats://: replicas of the stream and buckets when dlogd creates them: 1, or 3 on a 3-node cluster",
  },
  {
    key: "natsCreds",
    flag: "nats-creds",
    env: "DLOG_NATS_CREDS",
    kind: "string",
    default: "",
    help: "with --storage nats://: a NATS credentials file (user JWT and nkey seed)",
  },
  {
    key: "natsTlsCa",
    flag: "nats-tls-ca",
    env: "DLOG_NATS_TLS_CA",
    kind: "string",
    default: "",
    help: "with --storage nats://: PEM CA bundle that signs the NATS servers' certificates (connects with TLS)",
  },
  {
    key: "natsTlsCert",
    flag: "nats-tls-cert",
    env: "DLOG_NATS_TLS_CERT",
    kind: "string",
    default: "",
    help: "with --storage nats://: PEM client certificate for NATS (with --nats-tls-key)",
  },
  {
    key: "natsTlsKey",
    flag: "nats-tls-key",
    env: "DLOG_NATS_TLS_KEY",
    kind: "string",
    default: "",
    help: "with --storage nats://: PEM private key of --nats-tls-cert",
  },
  {
    key: "fsync",
    flag: "fsync",
    env: "DLOG_FSYNC",
    kind: "boolean",
    default: "true",
    help: "fsync each group-committed append batch (--no-fsync trades power-loss safety for speed)",
  },
  {
    key: "autoCreate",
    flag: "auto-create",
    env: "DLOG_AUTO_CREATE",
    kind: "boolean",
    default: "true",
    help: "create a log on its first append (--no-auto-create: NOT_FOUND instead)",
  },
  {
    key: "packAppends",
    flag: "pack-appends",
    env: "DLOG_PACK_APPENDS",
    kind: "boolean",
    default: "true",
    help: "appends to one log that are group-committed together share one entry, in consecutive slots (fewer, larger entries: cheaper reads); --no-pack-appends: one entry per append",
  },
  { key: "maxRecordBytes", flag: "max-record-bytes", env: "DLOG_MAX_RECORD_BYTES", kind: "size", default: "1MiB", help: "largest record payload accepted" },
  {
    key: "maxRecordsPerAppend",
    flag: "max-records-per-append",
    env: "DLOG_MAX_RECORDS_PER_APPEND",
    kind: "count",
    default: "10000",
    help: "most records one append may carry",
  },
  {
    key: "segmentMaxBytes",
    flag: "segment-max-bytes",
    env: "DLOG_SEGMENT_MAX_BYTES",
    kind: "size",
    default: "64MiB",
    help: "roll to a new segment after this many payload bytes",
  },
  {
    key: "entryCacheBytes",
    flag: "entry-cache",
    env: "DLOG_ENTRY_CACHE",
    kind: "size",
    default: "32MiB",
    zeroMeansOff: true,
    help: "memory for recently written and read entries, kept decoded: readers of the same entries and readers at the head take them from there, and a reader's next session the entry its last one ended in (0: none)",
  },
  {
    key: "segmentMaxAgeMs",
    flag: "segment-max-age",
    env: "DLOG_SEGMENT_MAX_AGE",
    kind: "duration",
    default: "1h",
    help: "roll to a new segment once the open one is this old",
  },
  {
    key: "producerWindow",
    flag: "producer-window",
    env: "DLOG_PRODUCER_WINDOW",
    kind: "count",
    default: "1024",
    help: "idempotent appends remembered per producer and log: a retry older than this is refused (PRODUCER_SEQUENCE_TOO_OLD); keep clients' appends in flight below it",
  },
  {
    key: "maxProducersPerLog",
    flag: "max-producers-per-log",
    env: "DLOG_MAX_PRODUCERS_PER_LOG",
    kind: "count",
    default: "1000",
    help: "idempotent producers remembered per log; past it the least recently used is forgotten (its retries are no longer recognised)",
  },
  {
    key: "ackFlushIntervalMs",
    flag: "ack-flush-interval",
    env: "DLOG_ACK_FLUSH_INTERVAL",
    kind: "duration",
    default: "100ms",
    help: "write changed reader positions at least this often",
  },
  {
    key: "ackFlushMax",
    flag: "ack-flush-max",
    env: "DLOG_ACK_FLUSH_MAX",
    kind: "count",
    default: "1000",
    help: "write changed reader positions after this many acks, without waiting for the interval",
  },
  {
    key: "maxHoles",
    flag: "max-holes",
    env: "DLOG_MAX_HOLES",
    kind: "count",
    default: "10000",
    help: "acked records above a reader's floor kept before delivery pauses",
  },
  { key: "heartbeatMs", flag: "heartbeat", env: "DLOG_HEARTBEAT", kind: "duration", default: "5s", help: "status frame interval on an idle session" },
  {
    key: "shutdownTimeoutMs",
    flag: "shutdown-timeout",
    env: "DLOG_SHUTDOWN_TIMEOUT",
    kind: "duration",
    default: "10s",
    help: "longest a SIGTERM/SIGINT shutdown takes: positions are flushed first, then connections still open are closed by force",
  },
  {
    key: "keepaliveTimeMs",
    flag: "keepalive-time",
    env: "DLOG_KEEPALIVE_TIME",
    kind: "duration",
    default: "30s",
    help: "ping each client connection after this long without a frame from it",
  },
  {
    key: "keepaliveTimeoutMs",
    flag: "keepalive-timeout",
    env: "DLOG_KEEPALIVE_TIMEOUT",
    kind: "duration",
    default: "10s",
    help: "close a connection whose ping is not answered within this; its sessions end (a stalled client holds its session at most --keepalive-time plus this)",
  },
  {
    key: "diskReserveBytes",
    flag: "disk-reserve",
    env: "DLOG_DISK_RESERVE",
    kind: "size",
    default: "32MiB",
    zeroMeansOff: true,
    help: "space kept free in the data dir (a reserve file), released when the disk fills so LevelDB can reopen and compact and Truncate/DeleteLog can free space; it should hold one LevelDB compaction (0: none)",
  },
  {
    key: "storageBrokenAfterMs",
    flag: "storage-broken-after",
    env: "DLOG_STORAGE_BROKEN_AFTER",
    kind: "duration",
    default: "30s",
    help: "after a failed write the database is reopened with backoff; failing that for this long, health turns NOT_SERVING (it turns back when storage recovers); with --storage nats://: cut off from NATS this long",
  },
  {
    key: "metricsListen",
    flag: "metrics-listen",
    env: "DLOG_METRICS_LISTEN",
    kind: "string",
    default: "",
    help: "HOST:PORT (or a bare PORT, bound on 127.0.0.1) for Prometheus metrics at GET /metrics (empty: off)",
  },
  {
    key: "metricsReaderLabels",
    flag: "metrics-reader-labels",
    env: "DLOG_METRICS_READER_LABELS",
    kind: "string",
    default: "reader",
    help: "labels of reader lag metrics: reader (one series per reader), log (per log, the worst reader), none (one server-wide series; names no log or reader)",
  },
  {
    key: "metricsTokenFile",
    flag: "metrics-token-file",
    env: "DLOG_METRICS_TOKEN_FILE",
    kind: "string",
    default: "",
    help: "file holding a bearer token (one word, at least 16 characters) that /metrics requires (Authorization: Bearer ...; 401 otherwise)",
  },
  {
    key: "metricsTlsCert",
    flag: "metrics-tls-cert",
    env: "DLOG_METRICS_TLS_CERT",
    kind: "string",
    default: "",
    help: "PEM certificate chain: serve /metrics over HTTPS (with --metrics-tls-key)",
  },
  { key: "metricsTlsKey", flag: "metrics-tls-key", env: "DLOG_METRICS_TLS_KEY", kind: "string", default: "", help: "PEM private key of --metrics-tls-cert" },
  {
    key: "retentionMaxAgeMs",
    flag: "retention-max-age",
    env: "DLOG_RETENTION_MAX_AGE",
    kind: "duration",
    default: "0",
    zeroMeansOff: true,
    help: "drop closed segments older than this (0: keep forever)",
  },
  {
    key: "retentionMaxBytes",
    flag: "retention-max-bytes",
    env: "DLOG_RETENTION_MAX_BYTES",
    kind: "size",
    default: "0",
    zeroMeansOff: true,
    help: "drop a log's oldest closed segments past this many payload bytes (0: no limit)",
  },
  { key: "tlsCert", flag: "tls-cert", env: "DLOG_TLS_CERT", kind: "string", default: "", help: "PEM certificate chain: serve TLS (with --tls-key)" },
  { key: "tlsKey", flag: "tls-key", env: "DLOG_TLS_KEY", kind: "string", default: "", help: "PEM private key of --tls-cert" },
  {
    key: "tlsClientCa",
    flag: "tls-client-ca",
    env: "DLOG_TLS_CLIENT_CA",
    kind: "string",
    default: "",
    help: "PEM CA bundle: require client certificates signed by it (mutual TLS)",
  },
  {
    key: "authTokens",
    flag: "auth-tokens",
    env: "DLOG_AUTH_TOKENS",
    kind: "string",
    default: "",
    help: "JSON file of bearer tokens and their permissions (empty: no authentication)",
  },
  {
    key: "maxMessageBytes",
    flag: "max-message-bytes",
    env: "DLOG_MAX_MESSAGE_BYTES",
    kind: "size",
    default: "4MiB",
    help: "largest request message, measured after decompression (larger appends: AppendStream or several calls)",
  },
  {
    key: "maxDlsnsPerAck",
    flag: "max-dlsns-per-ack",
    env: "DLOG_MAX_DLSNS_PER_ACK",
    kind: "count",
    default: "100000",
    help: "most DLSNs one session ack or nack may carry",
  },
  {
    key: "maxConnections",
    flag: "max-connections",
    env: "DLOG_MAX_CONNECTIONS",
    kind: "count",
    default: "0",
    zeroMeansOff: true,
    help: "most open client connections; more are closed at once (0: half the open-file limit seen at start)",
  },
  {
    key: "connectionIdleMs",
    flag: "connection-idle-timeout",
    env: "DLOG_CONNECTION_IDLE_TIMEOUT",
    kind: "duration",
    default: "5m",
    zeroMeansOff: true,
    help: "close a connection that has had no call in flight for this long (0: never)",
  },
  { key: "maxSessions", flag: "max-sessions", env: "DLOG_MAX_SESSIONS", kind: "count", default: "10000", help: "most live reader sessions on the server" },
  {
    key: "maxSessionsPerConnection",
    flag: "max-sessions-per-connection",
    env: "DLOG_MAX_SESSIONS_PER_CONNECTION",
    kind: "count",
    default: "1000",
    help: "most live reader sessions on one connection",
  },
  {
    key: "maxSessionsPerToken",
    flag: "max-sessions-per-token",
    env: "DLOG_MAX_SESSIONS_PER_TOKEN",
    kind: "count",
    default: "10000",
    help: "most live reader sessions of one bearer token (with --auth-tokens)",
  },
  {
    key: "maxOutstandingBytesTotal",
    flag: "max-outstanding-bytes-total",
    env: "DLOG_MAX_OUTSTANDING_BYTES_TOTAL",
    kind: "size",
    default: "1GiB",
    help: "delivered, unacked payload bytes held for all sessions together; past it delivery pauses until acks free room",
  },
  {
    key: "maxLogs",
    flag: "max-logs",
    env: "DLOG_MAX_LOGS",
    kind: "count",
    default: "100000",
    help: "most logs the server holds; creating one more is refused",
  },
  {
    key: "maxReadersPerLog",
    flag: "max-readers-per-log",
    env: "DLOG_MAX_READERS_PER_LOG",
    kind: "count",
    default: "100000",
    help: "most readers one log may have; creating one more (session open or SetPosition) is refused",
  },
  { key: "logLevel", flag: "log-level", env: "DLOG_LOG_LEVEL", kind: "string", default: "info", help: "debug | info | warn | error" },
];

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

export function parseValue(setting: Setting, raw: string, source: string): string | number | boolean {
  if (setting.zeroMeansOff && raw.trim() === "0") return 0;
  const fail = (allowed: string): never => {
    throw new DlogError("INVALID_ARGUMENT", `${source}: "${raw}" is not valid; expected ${allowed}`);
  };
  switch (setting.kind) {
    case "string":
      return raw;
    case "boolean":
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      return fail("true or false");
    case "count": {
      if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) return fail("a whole number >= 1");
      return Number(raw);
    }
    case "size": {
      const match = /^(\d+)\s*([a-z]*)$/i.exec(raw);
      const unit = SIZE_UNITS[match?.[2]?.toLowerCase() ?? "x"];
      if (!match || unit === undefined || Number(match[1]) < 1) return fail("a size such as 1048576, 512KiB or 64MiB");
      return Number(match[1]) * unit;
    }
    case "duration":
      return parseDuration(raw, source);
  }
}
