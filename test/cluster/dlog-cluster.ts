/**
 * dlog as a cluster, for the fault tests: a 3-node NATS JetStream cluster (nats-cluster.ts) and
 * dlogd gateway processes on it (`--storage nats://… --nats-replicas 3`), each a real process so
 * it can be killed -9. Names of the JetStream assets the gateways use (default prefix "dlog";
 * the layout is described in src/storage/nats-storage.ts) are exported for tests that kill their
 * leaders or read them directly.
 */
import { type DlogdProcess, startDlogd } from "../helpers/dlogd.js";
import { type NatsCluster, type NatsClusterOptions, startNatsCluster } from "../helpers/nats-cluster.js";

/** The stream of every log's entries, one subject per log. */
export const ENTRIES_STREAM = "dlog_entries";
/** The KV bucket of reader positions (a stream named KV_<bucket>), key `<logId>.<base64url reader id>`. */
export const POSITIONS_BUCKET = "dlog_positions";
export const POSITIONS_STREAM = `KV_${POSITIONS_BUCKET}`;

export interface DlogCluster extends AsyncDisposable {
  nats: NatsCluster;
  gateways: DlogdProcess[];
  /**
   * One more gateway (added to `gateways`), told only about `nodes`: a fresh process connects to one
   * of them first (it learns the others from the cluster, so a running one drifts after a node fails).
   */
  startGateway(nodes: number[]): Promise<DlogdProcess>;
  close(): Promise<void>;
}

export interface DlogClusterOptions {
  /** Gateways to start (default 2). */
  gateways?: number;
  /** Which nodes gateway i is told about (default all): a gateway given one node connects to that one first. */
  nodesOf?: (gateway: number) => number[];
  /** More dlogd flags for every gateway. */
  args?: string[];
  nats?: NatsClusterOptions;
}

/** Starts the nodes, waits for a meta leader, then the gateways (one after another: the first creates the stream and buckets). */
export async function startDlogCluster(options: DlogClusterOptions = {}): Promise<DlogCluster> {
  const nats = await startNatsCluster(options.nats);
  const gateways: DlogdProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(gateways.map((g) => g.kill9()));
    await nats.close();
  };
  const startGateway = async (nodes: number[]): Promise<DlogdProcess> => {
    const storage = `nats://${nodes.map((n) => nats.nodes[n]!.address).join(",")}`;
    const gateway = await startDlogd({ process: true, args: ["--storage", storage, "--nats-replicas", "3", ...(options.args ?? [])] });
    gateways.push(gateway);
    return gateway;
  };
  try {
    for (let i = 0; i < (options.gateways ?? 2); i++) await startGateway(options.nodesOf?.(i) ?? nats.nodes.map((n) => n.index));
  } catch (error) {
    await close();
    throw error;
  }
  return { nats, gateways, startGateway, close, [Symbol.asyncDispose]: close };
}
