import { Redis } from "ioredis";
import { DEFAULT_RECORDS, DEFAULT_SIZE, DEFAULT_TIMEOUT_MS, deadline, rate, skipped, type Measurement, type PeerOptions } from "./measurement.js";
import { freePort, missingBinary, startServer, tempDir, which } from "./support.js";

export interface RedisOptions extends PeerOptions {
  /** Entries per pipeline (XADD) and COUNT per XREADGROUP. */
  batch?: number;
  /** Cap for the slow row that awaits each XACK in turn. */
  awaitedAcks?: number;
}

const KEY = "bench";

/** Names of the rows `redisStreams` returns, in order. */
export const REDIS_ROWS = {
  xadd: "Redis Streams XADD, pipelined",
  ackPerBatch: "Redis Streams XREADGROUP + one XACK per batch",
  ackPerMessagePipelined: "Redis Streams XREADGROUP + XACK per message, pipelined",
  ackPerMessageAwaited: "Redis Streams XREADGROUP + XACK per message, awaited",
} as const;

type ReadReply = [key: Buffer, entries: [id: Buffer, fields: Buffer[]][]][] | null;

type AckMode = "batch" | "pipelined" | "awaited";

/** Reads the group from the start in COUNT `batch` and acks as `mode` says; returns entries acked. */
async function drainGroup(
  redis: Redis,
  group: string,
  limit: number,
  batch: number,
  mode: AckMode,
  expired: () => boolean,
): Promise<{ count: number; ms: number; pending: number }> {
  await redis.xgroup("CREATE", KEY, group, "0");
  let count = 0;
  const t0 = performance.now();
  while (count < limit && !expired()) {
    const want = Math.min(batch, limit - count);
    const reply = (await redis.callBuffer("XREADGROUP", "GROUP", group, "c1", "COUNT", want, "STREAMS", KEY, ">")) as ReadReply;
    const entries = reply?.[0]?.[1];
    if (entries === undefined || entries.length === 0) break;
    const ids = entries.map((e) => e[0]);
    if (mode === "batch") {
      await redis.xack(KEY, group, ...ids);
    } else if (mode === "pipelined") {
      const p = redis.pipeline();
      for (const id of ids) p.xack(KEY, group, id);
      await p.exec();
    } else {
      for (const id of ids) await redis.xack(KEY, group, id);
    }
    count += ids.length;
  }
  const ms = performance.now() - t0;
  const summary = (await redis.xpending(KEY, group)) as [number, ...unknown[]];
  return { count, ms, pending: summary[0] };
}

/**
 * Starts a private `redis-server` (AOF on, fsync every second, no RDB) on a free loopback port
 * with its dir in a temp dir, XADDs `records` entries of `size` bytes in pipelines, then drains
 * the stream with three consumer groups that differ only in how they XACK.
 * Returns the rows named in {@link REDIS_ROWS}; all are skipped when redis-server is missing.
 * @example const [xadd, perBatch, perMessage, awaited] = await redisStreams({ records: 200_000, size: 100 })
 */
export async function redisStreams(opts: RedisOptions = {}): Promise<Measurement[]> {
  const { records = DEFAULT_RECORDS, size = DEFAULT_SIZE, timeoutMs = DEFAULT_TIMEOUT_MS } = opts;
  const batch = opts.batch ?? 1_000;
  const awaitedAcks = Math.min(records, opts.awaitedAcks ?? 20_000);
  const missing = await missingBinary("redis-server", "redis-server");
  if (missing !== undefined) return Object.values(REDIS_ROWS).map((name) => skipped(name, "msg/s", missing));

  const expired = deadline(timeoutMs);
  const dir = await tempDir("redis");
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", dir.path, "--save", ""];
  const server = await startServer((await which("redis-server"))!, args, /Ready to accept connections/).catch(async (err: unknown) => {
    await dir.remove();
    throw err;
  });
  // RESP2 pins the reply shapes parsed below (ioredis 6 defaults to RESP3).
  const redis = new Redis({ host: "127.0.0.1", port, protocol: 2, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    const payload = Buffer.alloc(size, 0x61);
    let added = 0;
    const t0 = performance.now();
    while (added < records && !expired()) {
      const n = Math.min(batch, records - added);
      const p = redis.pipeline();
      for (let i = 0; i < n; i++) p.xadd(KEY, "*", "d", payload);
      await p.exec();
      added += n;
    }
    const addMs = performance.now() - t0;
    const rows = [rate(REDIS_ROWS.xadd, added, addMs, "msg/s", `${size} B, ${batch} XADD per pipeline`, records)];

    const cases: [string, AckMode, number, string][] = [
      [REDIS_ROWS.ackPerBatch, "batch", added, `COUNT ${batch}, one XACK of ${batch} ids`],
      [REDIS_ROWS.ackPerMessagePipelined, "pipelined", added, `COUNT ${batch}, ${batch} single-id XACKs in one pipeline`],
      [
        REDIS_ROWS.ackPerMessageAwaited,
        "awaited",
        Math.min(added, awaitedAcks),
        `COUNT ${batch}, each single-id XACK awaited before the next (one round trip each)`,
      ],
    ];
    for (const [name, mode, limit, detail] of cases) {
      const r = await drainGroup(redis, `g-${mode}`, limit, batch, mode, expired);
      rows.push(rate(name, r.count, r.ms, "msg/s", `${size} B, ${detail}; after: ${r.pending} pending`, limit));
    }
    return rows;
  } finally {
    redis.disconnect();
    await server.stop();
    await dir.remove();
  }
}
