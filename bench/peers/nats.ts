import { AckPolicy, StorageType, connect, type JetStreamClient, type NatsConnection } from "nats";
import { DEFAULT_RECORDS, DEFAULT_SIZE, DEFAULT_TIMEOUT_MS, deadline, rate, skipped, type Measurement, type PeerOptions } from "./measurement.js";
import { freePort, missingBinary, startServer, tempDir, which } from "./support.js";

export interface NatsOptions extends PeerOptions {
  /** Outstanding async publishes before waiting for their PubAcks. */
  publishWindow?: number;
  /** `max_messages` of each pull request made by `consume()`. */
  pullBatch?: number;
}

const STREAM = "BENCH";
const SUBJECT = "bench.records";

/** Names of the rows `natsJetStream` returns, in order. */
export const NATS_ROWS = {
  publish: "NATS JetStream publish (file storage)",
  consumeAck: "NATS JetStream consume + ack each message",
  consumeNoAck: "NATS JetStream consume, AckPolicy.None",
} as const;

async function publishAll(js: JetStreamClient, records: number, size: number, window: number, expired: () => boolean): Promise<number> {
  const payload = Buffer.alloc(size, 0x61);
  let sent = 0;
  while (sent < records && !expired()) {
    const n = Math.min(window, records - sent);
    const acks = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) acks[i] = js.publish(SUBJECT, payload);
    await Promise.all(acks);
    sent += n;
  }
  return sent;
}

/** Drains a durable pull consumer with `consume()`; acks each message unless the policy is None. */
async function consumeAll(
  nc: NatsConnection,
  js: JetStreamClient,
  durable: string,
  records: number,
  pullBatch: number,
  ack: boolean,
  expired: () => boolean,
  timeoutMs: number,
): Promise<{ count: number; ms: number }> {
  const consumer = await js.consumers.get(STREAM, durable);
  const t0 = performance.now();
  const messages = await consumer.consume({ max_messages: pullBatch });
  // The iterator never ends on its own; stop it at the deadline so the loop is bounded in time.
  const guard = setTimeout(() => messages.stop(), timeoutMs);
  let count = 0;
  try {
    for await (const m of messages) {
      if (ack) m.ack();
      if (++count >= records || expired()) break;
    }
  } finally {
    clearTimeout(guard);
    messages.stop();
  }
  // Acks are fire-and-forget publishes: flush so the server has them all before we stop the clock.
  await nc.flush();
  return { count, ms: performance.now() - t0 };
}

/**
 * Starts a private `nats-server -js` on a free loopback port with its store in a temp dir,
 * publishes `records` messages of `size` bytes to a file stream, then drains it through a durable
 * pull consumer acking each message (AckPolicy.Explicit) and through one with AckPolicy.None.
 * Returns the rows named in {@link NATS_ROWS}; all are skipped when nats-server is missing.
 * @example const [publish, consumeAck, noAck] = await natsJetStream({ records: 200_000, size: 100 })
 */
export async function natsJetStream(opts: NatsOptions = {}): Promise<Measurement[]> {
  const { records = DEFAULT_RECORDS, size = DEFAULT_SIZE, timeoutMs = DEFAULT_TIMEOUT_MS } = opts;
  const window = opts.publishWindow ?? 1_000;
  const pullBatch = opts.pullBatch ?? 1_000;
  const missing = await missingBinary("nats-server", "nats-server");
  if (missing !== undefined) {
    return [skipped(NATS_ROWS.publish, "msg/s", missing), skipped(NATS_ROWS.consumeAck, "msg/s", missing), skipped(NATS_ROWS.consumeNoAck, "msg/s", missing)];
  }
  const expired = deadline(timeoutMs);
  const dir = await tempDir("nats");
  let nc: NatsConnection | undefined;
  const port = await freePort();
  const server = await startServer((await which("nats-server"))!, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir.path], /Server is ready/).catch(
    async (err: unknown) => {
      await dir.remove();
      throw err;
    },
  );
  try {
    nc = await connect({ servers: `127.0.0.1:${port}`, reconnect: false });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: STREAM, subjects: [SUBJECT], storage: StorageType.File });
    await jsm.consumers.add(STREAM, { durable_name: "acker", ack_policy: AckPolicy.Explicit });
    await jsm.consumers.add(STREAM, { durable_name: "noack", ack_policy: AckPolicy.None });
    const js = nc.jetstream();

    const t0 = performance.now();
    const published = await publishAll(js, records, size, window, expired);
    const publishMs = performance.now() - t0;
    const rows = [rate(NATS_ROWS.publish, published, publishMs, "msg/s", `${size} B, async publish, ${window} PubAcks outstanding`, records)];

    const acked = await consumeAll(nc, js, "acker", published, pullBatch, true, expired, timeoutMs);
    const info = await jsm.consumers.info(STREAM, "acker");
    rows.push(
      rate(
        NATS_ROWS.consumeAck,
        acked.count,
        acked.ms,
        "msg/s",
        `${size} B, durable pull consume(max_messages ${pullBatch}), m.ack() per message (fire-and-forget) + flush; after: ack floor ${info.ack_floor.stream_seq}, pending acks ${info.num_ack_pending}`,
        published,
      ),
    );
    const free = await consumeAll(nc, js, "noack", published, pullBatch, false, expired, timeoutMs);
    rows.push(rate(NATS_ROWS.consumeNoAck, free.count, free.ms, "msg/s", `${size} B, durable pull consume(max_messages ${pullBatch}), no acks`, published));
    return rows;
  } finally {
    await nc?.close().catch(() => undefined);
    await server.stop();
    await dir.remove();
  }
}
