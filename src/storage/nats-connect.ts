import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { readFileSync } from "node:fs";
import { DlogError } from "../errors.js";
import { RETRY, retrying } from "./nats-retry.js";

export interface NatsStorageOptions {
  /** HOST:PORT of one or more servers of the cluster. */
  servers: string[];
  /** Names the stream, buckets and subjects: several dlog deployments can share a cluster. */
  prefix: string;
  /** Replicas of the stream and buckets when this gateway creates them (1 or 3). */
  replicas: number;
  /** A NATS credentials file (JWT + nkey seed). */
  credsFile?: string | undefined;
  tls?: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined } | undefined;
  /** Connection name shown by the server (`nats server report connections`). */
  name?: string | undefined;
  /** Per attempt, and in all, of an operation retried through a leader election. */
  retry?: { attemptMs: number; totalMs: number } | undefined;
  /** How often a KV watch is checked against the bucket, and how long it may lag before it is recreated. */
  watchdog?: { checkMs: number; silentMs: number } | undefined;
}

/**
 * A node that hangs (SIGSTOP, a partition that keeps the socket open) answers nothing but never
 * closes the connection: only missed pongs tell. The client's default (2 min, 2 out) left a gateway
 * on a hung node failing every call for 4-6 min while the other nodes served; with these it moves to
 * another node (learned from the cluster's INFO) after 8-12 s.
 */
const PING = { intervalMs: 4_000, maxOut: 2 };

/** What a gateway works with once connected: the connection, its JetStream handles, the two buckets. */
export interface JetStreamParts {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  meta: KV;
  positions: KV;
  retry: { attemptMs: number; totalMs: number };
  /** The stream answers direct gets (dlogd creates it so): cursors read in batches. */
  direct: boolean;
}

/** Connects, and creates the stream and buckets if they are missing (with `replicas`). */
export async function connectJetStream(options: NatsStorageOptions): Promise<JetStreamParts> {
  const retry = options.retry ?? RETRY;
  const connectOptions: NodeConnectionOptions = {
    servers: options.servers,
    name: options.name ?? "dlogd",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: retry.attemptMs,
    pingInterval: PING.intervalMs,
    maxPingOut: PING.maxOut,
  };
  if (options.credsFile) connectOptions.authenticator = credsAuthenticator(readFileSync(options.credsFile));
  if (options.tls) {
    connectOptions.tls = {
      ...(options.tls.caFile ? { caFile: options.tls.caFile } : {}),
      ...(options.tls.certFile ? { certFile: options.tls.certFile } : {}),
      ...(options.tls.keyFile ? { keyFile: options.tls.keyFile } : {}),
    };
  }
  let nc: NatsConnection;
  try {
    nc = await connect(connectOptions);
  } catch (error) {
    throw new DlogError("UNAVAILABLE", `cannot connect to NATS at ${options.servers.join(",")}: ${(error as Error).message}`, {
      reason: "STORAGE_UNAVAILABLE",
      cause: error,
    });
  }
  try {
    const jsm = await jetstreamManager(nc, { timeout: retry.attemptMs });
    const js = jetstream(nc, { timeout: retry.attemptMs });
    const stream = `${options.prefix}_entries`;
    const direct = await retrying(retry, async () => {
      try {
        return (await jsm.streams.info(stream)).config.allow_direct === true;
      } catch (error) {
        if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
        await jsm.streams.add({
          name: stream,
          subjects: [`${options.prefix}.e.>`],
          num_replicas: options.replicas,
          // Entries are deleted by truncation (purge) and DeleteLog only, never by limits.
          max_msgs: -1,
          max_bytes: -1,
          max_age: 0,
          // Cursors read in batches (direct gets); a lagging replica answers with less, never with other data.
          allow_direct: true,
        });
        return true;
      }
    });
    const kvm = new Kvm(js);
    const bucket = (name: string): Promise<KV> =>
      retrying(retry, () => kvm.create(`${options.prefix}_${name}`, { replicas: options.replicas, history: 1, timeout: retry.attemptMs }));
    const [meta, positions] = await Promise.all([bucket("meta"), bucket("positions")]);
    return { nc, js, jsm, meta, positions, retry, direct };
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw new DlogError("UNAVAILABLE", `cannot set up the JetStream stream and buckets (prefix "${options.prefix}"): ${(error as Error).message}`, {
      reason: "STORAGE_UNAVAILABLE",
      cause: error,
    });
  }
}
