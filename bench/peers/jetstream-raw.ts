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
