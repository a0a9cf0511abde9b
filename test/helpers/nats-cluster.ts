/**
 * A real NATS JetStream cluster on loopback for tests, the bench and `make cluster`: `size`
 * nats-server processes (3 by default) with JetStream on, routes to each other, each with its own
 * store dir and `sync_interval: always` (every write fsynced, as dlog's fsync-on default needs).
 * One node at a time can be killed (-9), stopped (SIGTERM), paused (SIGSTOP: to the others it is
 * partitioned away), resumed and restarted on the same ports and store; `waitForMetaLeader()` says
 * when the cluster serves JetStream again.
 *
 * @example
 * await using cluster = await startNatsCluster();
 * const leader = await cluster.streamLeader("DLOG");
 * await cluster.kill9(leader);
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { freePorts } from "./ports.js";
import { reapWithParent, removeWithParent } from "./reaper.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const READY_TIMEOUT_MS = 15_000;
const LEADER_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 50;
/** Kept per node for error messages; a chatty server must not grow the test's memory. */
const OUTPUT_TAIL = 20_000;

/** The pinned nats-server the Makefile builds into .tools/bin, else the one on PATH. */
export function natsServerBinary(): string {
  const built = join(REPO_ROOT, ".tools", "bin", "nats-server");
  return existsSync(built) ? built : "nats-server";
}

export type NodeState = "running" | "paused" | "down";

export interface NatsNode {
  readonly index: number;
  /** Its `server_name`, as JetStream names leaders and peers. */
  readonly name: string;
  /** HOST:PORT for clients. */
  readonly address: string;
  readonly clusterPort: number;
  /** HTTP monitoring (/jsz, /healthz). */
  readonly monitorPort: number;
  readonly storeDir: string;
  readonly state: NodeState;
  /** The tail of what the current (or last) process logged. */
  output(): string;
  /** The current process's id (undefined before the first start). */
  pid(): number | undefined;
}

export interface NatsClusterOptions {
  /** Nodes (default 3; 1 is a single JetStream server, no routes). */
  size?: number;
  /** `cluster.name` (default "dlog"). */
  name?: string;
  /** JetStream `sync_interval` (default "always": fsync each write before it is acknowledged). */
  syncInterval?: string;
  /** Client ports to listen on (default: free ports). */
  clientPorts?: number[];
  /** Parent of the store dirs, kept on close (default: a temp dir, removed on close). */
  dir?: string;
  /** Wait for a meta leader before resolving (default true). */
  waitForLeader?: boolean;
}

export interface NatsCluster extends AsyncDisposable {
  readonly nodes: readonly NatsNode[];
  /** "nats://H:P,H:P,…": what `dlogd --storage` takes. */
  readonly url: string;
  /** The client addresses, HOST:PORT each. */
  readonly servers: string[];
  /** SIGKILL: the node gets no chance to write or hand over anything. */
  kill9(index: number): Promise<void>;
  /** Graceful stop (SIGTERM by default: leaderships are handed over); resolves once it has exited. */
  stop(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP: the process keeps its sockets but answers nothing, as if partitioned away. */
  pause(index: number): void;
  /** SIGCONT after `pause`. */
  resume(index: number): void;
  /** Starts a node that is down again, same ports and store; resolves once it serves clients. */
  restart(index: number): Promise<void>;
  /**
   * Resolves with the index of the JetStream meta leader once every running node names the same
   * leader and that leader is running and healthy.
   */
  waitForMetaLeader(timeoutMs?: number): Promise<number>;
  /** Index of the node leading `stream` (in the $G account), as the running nodes report it; waits for one. */
  streamLeader(stream: string, timeoutMs?: number): Promise<number>;
  /** Moves the leadership of `stream` to node `index` (a stepdown with that node preferred); resolves once it leads. */
  leadOn(stream: string, index: number, timeoutMs?: number): Promise<void>;
  /**
   * Resolves once every stream (KV buckets are streams too) has a running leader that counts all
   * its replicas current: after a restart, the node has caught up and another node may fail.
   */
  waitForCurrentStreams(timeoutMs?: number): Promise<void>;
  /** Stops every node and removes the store dirs it created. */
  close(): Promise<void>;
  /** The nodes (now and restarted) no longer keep this process alive: left running, they die with it. */
  unref(): void;
}

interface StreamDetail {
  name: string;
  config?: { num_replicas?: number };
  cluster?: { leader?: string; replicas?: Array<{ name: string; current: boolean }> };
}

/** The streams a node's /jsz reports (every account). */
async function streamDetails(node: Node): Promise<StreamDetail[] | undefined> {
  const view = await monitor(node, "/jsz?streams=true&config=true");
  if (view === undefined) return undefined;
  const accounts = (view.body as { account_details?: Array<{ stream_detail?: StreamDetail[] }> }).account_details ?? [];
  return accounts.flatMap((a) => a.stream_detail ?? []);
}

interface Node extends NatsNode {
  state: NodeState;
  child: ChildProcess | undefined;
  exited: Promise<void>;
  configFile: string;
  log: string;
}

function config(node: Node, clusterName: string, syncInterval: string, routes: string[]): string {
  const lines = [
    `server_name: ${node.name}`,
    `listen: ${node.address}`,
    `http: 127.0.0.1:${node.monitorPort}`,
    // A dlog entry is one message: up to dlogd's --max-message-bytes (4 MiB) plus headers; NATS's default is 1 MB.
    "max_payload: 8MB",
    `jetstream { store_dir: ${JSON.stringify(node.storeDir)}, sync_interval: ${syncInterval} }`,
  ];
  if (routes.length > 0) {
    lines.push(`cluster { name: ${clusterName}, listen: 127.0.0.1:${node.clusterPort}, routes: [${routes.map((r) => JSON.stringify(r)).join(", ")}] }`);
  }
  return `${lines.join("\n")}\n`;
}

/** The child and its pipes no longer keep the event loop alive (the pipes are still drained while it runs). */
function unrefChild(child: ChildProcess): void {
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** GET a monitoring endpoint; undefined when the node does not answer (down, paused, starting). */
async function monitor(node: Node, path: string): Promise<{ status: number; body: unknown } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${node.monitorPort}${path}`, { signal: AbortSignal.timeout(1_000) });
    return { status: response.status, body: await response.json() };
  } catch {
    return undefined;
  }
}

export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const clusterName = options.name ?? "dlog";
  const syncInterval = options.syncInterval ?? "always";
  if (options.clientPorts !== undefined && options.clientPorts.length !== size) {
    throw new Error(`clientPorts: ${options.clientPorts.length} given for ${size} nodes`);
  }
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "dlog-nats-"));
  const owned = options.dir === undefined;
  if (owned) removeWithParent(dir);
  let detached = false;
  const ports = await freePorts(size * (options.clientPorts === undefined ? 3 : 2));
  const take = (): number => ports.pop()!;
  const nodes: Node[] = [];
  for (let index = 0; index < size; index++) {
    const name = `n${index}`;
    const clientPort = options.clientPorts?.[index] ?? take();
    const storeDir = join(dir, name);
    mkdirSync(storeDir, { recursive: true });
    nodes.push({
      index,
      name,
      address: `127.0.0.1:${clientPort}`,
      clusterPort: take(),
      monitorPort: take(),
      storeDir,
      configFile: join(dir, `${name}.conf`),
      state: "down",
      child: undefined,
      exited: Promise.resolve(),
      log: "",
      output() {
        return this.log;
      },
      pid() {
        return this.child?.pid;
      },
    });
  }
  for (const node of nodes) {
    const routes = size === 1 ? [] : nodes.filter((n) => n !== node).map((n) => `nats-route://127.0.0.1:${n.clusterPort}`);
    writeFileSync(node.configFile, config(node, clusterName, syncInterval, routes));
  }

  const nodeAt = (index: number): Node => {
    const node = nodes[index];
    if (node === undefined) throw new Error(`no node ${index} (the cluster has ${size})`);
    return node;
  };

  /** Spawns the node's server and resolves once it listens for clients. */
  const launch = (node: Node): Promise<void> => {
    const child = spawn(natsServerBinary(), ["-c", node.configFile], { stdio: ["ignore", "pipe", "pipe"] });
    reapWithParent(child);
    if (detached) unrefChild(child);
    node.child = child;
    node.log = "";
    node.state = "running";
    node.exited = new Promise((resolve) =>
      child.once("exit", () => {
        if (node.child === child) node.state = "down";
        resolve();
      }),
    );
    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => fail(`not ready after ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
      const fail = (why: string): void => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`nats-server ${node.name}: ${why}\n${node.log.slice(-2_000)}`));
      };
      const onData = (chunk: Buffer): void => {
        node.log = (node.log + chunk.toString()).slice(-OUTPUT_TAIL);
        if (!ready && node.log.includes("Server is ready")) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
      };
      // Both pipes are drained for the process's life, so a chatty server never blocks on a full pipe.
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("error", (error) => fail(error.message));
      child.once("exit", (code, signal) => fail(`exited (code ${code}, signal ${signal})`));
    });
  };

  const signal = async (node: Node, sig: NodeJS.Signals): Promise<void> => {
    const child = node.child;
    if (child === undefined || node.state === "down") return;
    // A stopped process only acts on SIGTERM once continued.
    if (node.state === "paused" && sig !== "SIGKILL") child.kill("SIGCONT");
    child.kill(sig);
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await node.exited;
    clearTimeout(timer);
  };

  const running = (): Node[] => nodes.filter((n) => n.state === "running");

  const cluster: NatsCluster = {
    nodes,
    url: `nats://${nodes.map((n) => n.address).join(",")}`,
    servers: nodes.map((n) => n.address),
    kill9: (index) => signal(nodeAt(index), "SIGKILL"),
    stop: (index, sig = "SIGTERM") => signal(nodeAt(index), sig),
    pause(index) {
      const node = nodeAt(index);
      if (node.state !== "running") throw new Error(`node ${index} is ${node.state}, not running`);
      node.child!.kill("SIGSTOP");
      node.state = "paused";
    },
    resume(index) {
      const node = nodeAt(index);
      if (node.state !== "paused") throw new Error(`node ${index} is ${node.state}, not paused`);
      node.child!.kill("SIGCONT");
      node.state = "running";
    },
    async restart(index) {
      const node = nodeAt(index);
      if (node.state !== "down") throw new Error(`node ${index} is ${node.state}; stop or kill it first`);
      await launch(node);
    },
    async waitForMetaLeader(timeoutMs = LEADER_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      let seen = "";
      while (Date.now() < deadline) {
        const up = running();
        // A single server has no meta group: it serves JetStream once healthy.
        if (size === 1 && up.length === 1 && (await monitor(up[0]!, "/healthz"))?.status === 200) return 0;
        const views = await Promise.all(up.map((n) => monitor(n, "/jsz")));
        const leaders = views.map((v) => (v?.body as { meta_cluster?: { leader?: string } } | undefined)?.meta_cluster?.leader ?? "");
        seen = leaders.join(",");
        const leader = up.find((n) => n.name === leaders[0]);
        if (leader !== undefined && leaders.every((l) => l === leader.name)) {
          const health = await monitor(leader, "/healthz");
          if (health?.status === 200) return leader.index;
        }
        await sleep(POLL_MS);
      }
      throw new Error(`no JetStream meta leader within ${timeoutMs} ms (running nodes name: "${seen}")`);
    },
    async streamLeader(stream, timeoutMs = LEADER_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        for (const node of running()) {
          const detail = (await streamDetails(node))?.find((s) => s.name === stream);
          // A single server reports no cluster: it leads everything it holds.
          if (detail !== undefined && size === 1) return 0;
          const leader = running().find((n) => n.name === detail?.cluster?.leader);
          if (leader !== undefined) return leader.index;
        }
        await sleep(POLL_MS);
      }
      throw new Error(`no running node leads stream ${stream} within ${timeoutMs} ms`);
    },
    async leadOn(stream, index, timeoutMs = LEADER_TIMEOUT_MS) {
      const target = nodeAt(index);
      const deadline = Date.now() + timeoutMs;
      const nc = await connect({ servers: running().map((n) => n.address), timeout: 2_000 });
      try {
        while ((await cluster.streamLeader(stream, Math.max(0, deadline - Date.now()))) !== index) {
          if (Date.now() > deadline) throw new Error(`stream ${stream} not led by ${target.name} within ${timeoutMs} ms`);
          // Answered by the current leader; an error (a leader moving, the preferred one catching up) is tried again.
          await nc
            .request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, JSON.stringify({ placement: { preferred: target.name } }), { timeout: 2_000 })
            .catch(() => undefined);
          await sleep(250);
        }
      } finally {
        await nc.close();
      }
    },
    async waitForCurrentStreams(timeoutMs = LEADER_TIMEOUT_MS) {
      // One server has no replicas to wait for.
      if (size === 1) return void (await cluster.waitForMetaLeader(timeoutMs));
      const deadline = Date.now() + timeoutMs;
      let behind: string[] = [];
      while (Date.now() < deadline) {
        const up = running();
        const views = await Promise.all(up.map(streamDetails));
        const names = new Set(views.flatMap((v) => (v ?? []).map((s) => s.name)));
        behind = [...names].filter((name) => {
          const led = views.some((v, i) => {
            const s = v?.find((d) => d.name === name && d.cluster?.leader === up[i]!.name);
            const replicas = s?.cluster?.replicas ?? [];
            return s !== undefined && replicas.length === (s.config?.num_replicas ?? 1) - 1 && replicas.every((r) => r.current);
          });
          return !led;
        });
        if (views.every((v) => v !== undefined) && behind.length === 0) return;
        await sleep(POLL_MS);
      }
      throw new Error(`streams not led with every replica current within ${timeoutMs} ms: ${behind.join(", ")}`);
    },
    async close() {
      await Promise.all(nodes.map((n) => signal(n, n.state === "paused" ? "SIGKILL" : "SIGTERM")));
      if (owned) rmSync(dir, { recursive: true, force: true });
    },
    unref() {
      detached = true;
      for (const node of nodes) if (node.child) unrefChild(node.child);
    },
    [Symbol.asyncDispose]() {
      return cluster.close();
    },
  };

  try {
    await Promise.all(nodes.map(launch));
    if (options.waitForLeader ?? true) await cluster.waitForMetaLeader();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}
