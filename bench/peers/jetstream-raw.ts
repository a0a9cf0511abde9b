/**
 * Raw JetStream on a running cluster, with the client dlog's JetStream storage uses
 * (@nats-io/jetstream 3.x): the same bytes dlog stores, published and consumed with nothing of
 * dlog in between. One append of 1000 records is one message of 1000 × size bytes (dlog stores
 * an entry as one message); a single-record append is one message of `size` bytes.
 */
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { deadline, rate, type Measurement } from "./measurement.js";

export interface RawJetStreamSpec {
  /** Client addresses of the cluster, HOST:PORT each. */
  servers: string[];
  /** Stream replicas (1 or 3). */
  replicas: number;
  /** Payload bytes per record. */
  size: number;
  /** Messages of `recordsPerMessage` records to publish, then consume. */
  packedMessages: number;
  recordsPerMessage: number;
  /** PubAcks outstanding for the packed messages (dlog's pre-fill keeps 8 appends in flight). */
  packedWindow: number;
  /** Single-record messages to publish, `singlesWindow` PubAcks outstanding. */
  singles: number;
  singlesWindow: number;
  timeoutMs: number;
}

export interface RawJetStreamFigures {
  /** Records/s of the packed publish. */
  publishPacked: Measurement;
  /** Messages (= records)/s of the single-record publish. */
  publishSingles: Measurement;
  /** Records/s of a durable pull consumer over the packed messages, acking each message. */
  consumeAck: Measurement;
}

/**
 * Keeps `window` publishes unanswered, sends the next as each PubAck arrives (as AppendStream
 * keeps appends in flight); returns the messages acknowledged and the time to the last PubAck.
 */
async function publishWindowed(
  js: JetStreamClient,
  subject: string,
  payload: Uint8Array,
  count: number,
  window: number,
  expired: () => boolean,
): Promise<{ acked: number; ms: number }> {
  let sent = 0;
  let acked = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      while (sent < count && sent - acked < window && !expired()) {
        sent++;
        js.publish(subject, payload).then(() => {
          acked++;
          if (acked === sent && (sent === count || expired())) resolve();
          else next();
        }, reject);
      }
    };
    next();
  });
  return { acked, ms: performance.now() - t0 };
}

/** Creates stream `name` (subject `name.records`), measures both publishes and one acking consumer, deletes it. */
export async function rawJetStream(name: string, spec: RawJetStreamSpec): Promise<RawJetStreamFigures> {
  const nc: NatsConnection = await connect({ servers: spec.servers, name: `bench-raw-${name}` });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const packedSubject = `${name}.packed`;
    const singlesSubject = `${name}.singles`;
    await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: spec.replicas });
    const expired = deadline(spec.timeoutMs);
    const r = `R${spec.replicas}`;

    const packed = await publishWindowed(
      js,
      packedSubject,
      Buffer.alloc(spec.size * spec.recordsPerMessage, 0x61),
      spec.packedMessages,
      spec.packedWindow,
      expired,
    );
    const publishPacked = rate(
      `raw JetStream publish, ${spec.recordsPerMessage} records per message, ${r}`,
      packed.acked * spec.recordsPerMessage,
      packed.ms,
      "rec/s",
      `${packed.acked} messages of ${spec.size * spec.recordsPerMessage} B, ${spec.packedWindow} PubAcks outstanding`,
      spec.packedMessages * spec.recordsPerMessage,
    );
    const singles = await publishWindowed(js, singlesSubject, Buffer.alloc(spec.size, 0x61), spec.singles, spec.singlesWindow, expired);
    const publishSingles = rate(
      `raw JetStream publish, 1 record per message, ${r}`,
      singles.acked,
      singles.ms,
      "rec/s",
      `${singles.acked} messages of ${spec.size} B, ${spec.singlesWindow} PubAcks outstanding`,
      spec.singles,
    );

    await jsm.consumers.add(name, { durable_name: "reader", ack_policy: AckPolicy.Explicit, filter_subject: packedSubject });
    const consumer = await js.consumers.get(name, "reader");
    const t0 = performance.now();
    const messages = await consumer.consume({ max_messages: 64 });
    // The iterator never ends on its own: stop it at the deadline so the loop is bounded in time.
    const guard = setTimeout(() => messages.stop(), spec.timeoutMs);
    let consumed = 0;
    try {
      for await (const m of messages) {
        m.ack();
        if (++consumed >= packed.acked || expired()) break;
      }
    } finally {
      clearTimeout(guard);
      messages.stop();
    }
    // Acks are fire-and-forget publishes: flush so the server has them all before the clock stops.
    await nc.flush();
    const consumeMs = performance.now() - t0;
    const info = await jsm.consumers.info(name, "reader");
    const consumeAck = rate(
      `raw JetStream consume + ack, ${spec.recordsPerMessage} records per message, ${r}`,
      consumed * spec.recordsPerMessage,
      consumeMs,
      "rec/s",
      `durable pull consumer, consume(max_messages 64), m.ack() per message + flush; after: ack floor ${info.ack_floor.stream_seq}, pending acks ${info.num_ack_pending}`,
      packed.acked * spec.recordsPerMessage,
    );
    await jsm.streams.delete(name);
    return { publishPacked, publishSingles, consumeAck };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** A raw JetStream publisher timing a write outage, beside dlog's append probe in the same fault. */
export interface RawOutageProbe {
  /** Its stream (`name`), for placing its leader. */
  readonly stream: string;
  /** ms from `at` (performance.now()) to the answer of the first publish issued at or after it; undefined: none answered yet. */
  outageAfter(at: number): number | undefined;
  /** Stops publishing, waits for the answers still due, deletes the stream. */
  stop(): Promise<{ issued: number; answered: number; failed: number }>;
}

/** Per probe publish: when it went out and when its PubAck came (undefined: not yet, or it failed). */
interface RawPublish {
  issuedAt: number;
  answeredAt: number | undefined;
  failed: boolean;
}

/**
 * Creates an R`replicas` stream `name` and publishes one `size`-byte message to it every
 * `intervalMs`, each on its own (no publish waits for another), with a `Nats-Msg-Id` and a PubAck
 * timeout of `timeoutMs`. The connection retries like dlog's JetStream storage (every 250 ms, for ever).
 */
export async function startRawOutageProbe(
  servers: string[],
  name: string,
  options: { replicas: number; size: number; intervalMs: number; timeoutMs: number },
): Promise<RawOutageProbe> {
  const nc = await connect({ servers, name: `bench-raw-outage-${name}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: options.timeoutMs });
  const jsm = await jetstreamManager(nc, { timeout: options.timeoutMs });
  const js = jetstream(nc, { timeout: options.timeoutMs });
  await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: options.replicas });
  const payload = Buffer.alloc(options.size, 0x61);
  const publishes: RawPublish[] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const p: RawPublish = { issuedAt: performance.now(), answeredAt: undefined, failed: false };
    publishes.push(p);
    const done = js.publish(`${name}.probe`, payload, { msgID: `${name}-${publishes.length}`, timeout: options.timeoutMs }).then(
      () => void (p.answeredAt = performance.now()),
      () => void (p.failed = true),
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  }, options.intervalMs);
  return {
    stream: name,
    outageAfter(at) {
      const first = publishes.find((p) => p.issuedAt >= at && p.answeredAt !== undefined);
      return first === undefined ? undefined : first.answeredAt! - at;
    },
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      await jsm.streams.delete(name).catch(() => undefined);
      await nc.close().catch(() => undefined);
      return {
        issued: publishes.length,
        answered: publishes.filter((p) => p.answeredAt !== undefined).length,
        failed: publishes.filter((p) => p.failed).length,
      };
    },
  };
}
