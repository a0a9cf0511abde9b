/**
 * A dlog cluster on this machine to try failover by hand — 3 nats-server nodes
 * (JetStream, logs replicated R3, every write fsynced) and 2 stateless dlogd gateways on the
 * same cluster, all on loopback, until Ctrl-C stops them. The nodes come from the same harness
 * the fault tests use (test/helpers/nats-cluster.ts), so what a user tries here is what is tested.
 *
 * Environment: DLOG_CLUSTER_GATEWAYS (default "127.0.0.1:7070,127.0.0.1:7071"), DLOG_CLUSTER_NATS_PORTS
 * (default "4222,4223,4224"), DLOG_CLUSTER_DIR (keep the stores there; default: a temp dir, removed
 * on exit), DLOG_CLUSTER_REPLICAS (default 3).
 *
 * @example node dist/scripts/cluster.js
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startNatsCluster } from "../test/helpers/nats-cluster.js";

const DLOGD = fileURLToPath(new URL("../../bin/dlogd.js", import.meta.url));
const DLOG = fileURLToPath(new URL("../../bin/dlog.js", import.meta.url));
const READY_TIMEOUT_MS = 30_000;

function list(name: string, fallback: string): string[] {
  return (process.env[name] || fallback)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

const gatewayAddresses = list("DLOG_CLUSTER_GATEWAYS", "127.0.0.1:7070,127.0.0.1:7071");
const natsPorts = list("DLOG_CLUSTER_NATS_PORTS", "4222,4223,4224").map(Number);
const replicas = process.env["DLOG_CLUSTER_REPLICAS"] || "3";
if (natsPorts.length !== 3 || !natsPorts.every((p) => Number.isInteger(p) && p > 0 && p < 65_536)) {
  throw new Error(`DLOG_CLUSTER_NATS_PORTS must be three ports, e.g. 4222,4223,4224 (got "${process.env["DLOG_CLUSTER_NATS_PORTS"]}")`);
}

/** Each line of a child's output, prefixed with its name, so the interleaved output can be followed. */
function relay(name: string, child: ChildProcess): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) process.stderr.write(`[${name}] ${line}\n`);
    });
  }
}

/** Spawns a gateway and resolves once it logs "dlogd listening". */
function startGateway(name: string, listen: string, storage: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [DLOGD, "--listen", listen, "--storage", storage, "--nats-replicas", replicas], { stdio: ["ignore", "pipe", "pipe"] });
  relay(name, child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not listen within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.stderr!.on("data", (chunk: string) => {
      if (chunk.includes('"msg":"dlogd listening"')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}, signal ${signal}) before listening`));
    });
  });
}

const dir = process.env["DLOG_CLUSTER_DIR"];
process.stderr.write(`starting 3 nats-server nodes on ${natsPorts.join(", ")} …\n`);
const cluster = await startNatsCluster({ clientPorts: natsPorts, ...(dir ? { dir } : {}) });
const gateways: ChildProcess[] = [];
let stopping = false;
async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    process.stderr.write("stopping the gateways and the nodes …\n");
    await Promise.all(
      gateways.map(
        (g) =>
          new Promise<void>((resolve) => {
            if (g.exitCode !== null || g.signalCode !== null) return resolve();
            g.once("exit", () => resolve());
            g.kill("SIGTERM");
          }),
      ),
    );
    await cluster.close();
  }
  process.exit(code);
}
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

try {
  for (const [i, listen] of gatewayAddresses.entries()) gateways.push(await startGateway(`gateway ${i}`, listen, cluster.url));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  await stopAll(1);
}

const pids = [
  ...cluster.nodes.map((n) => `  nats ${n.name}  ${n.address}  pid ${n.pid()}  store ${n.storeDir}`),
  ...gateways.map((g, i) => `  gateway ${i}  ${gatewayAddresses[i]}  pid ${g.pid}`),
];
process.stdout.write(
  [
    "",
    `dlog cluster up: 3 nats-server nodes (JetStream, R${replicas}, sync_interval always) and ${gateways.length} dlogd gateways.`,
    ...pids,
    "",
    "Point clients at either gateway, or at both:",
    `  node ${DLOG} --addr ${gatewayAddresses[0]} append --log demo hello world`,
    `  node ${DLOG} --addr ${gatewayAddresses[1] ?? gatewayAddresses[0]} tail --log demo --reader me`,
    `  TypeScript client: createDlogClient({ address: "ipv4:${gatewayAddresses.join(",")}" })  (gRPC fails over between them)`,
    `  a third gateway: node ${DLOGD} --listen 127.0.0.1:7072 --storage ${cluster.url} --nats-replicas ${replicas}`,
    "Kill any one process above (kill -9 PID) and watch the clients carry on. Ctrl-C stops everything.",
    "",
  ].join("\n"),
);

// A gateway that dies is reported, not restarted: that is the failure a user is trying out.
for (const [i, g] of gateways.entries()) {
  g.once("exit", (code, signal) => {
    if (!stopping) process.stderr.write(`gateway ${i} exited (code ${code}, signal ${signal}); the other gateway keeps serving\n`);
  });
}
