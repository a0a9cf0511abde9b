/** Versions of what the run measured: node, dlog's dependencies, the peer servers and the clients' toolchains. */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const ROOT = new URL("../../", import.meta.url);

/** The first line of `command args` matching `pattern` (its first group), or "not found". */
function versionOf(command: string, args: string[], pattern: RegExp): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 10_000 }, (error, stdout, stderr) => {
      const match = pattern.exec(`${stdout}\n${stderr}`);
      resolve(match?.[1] ?? (error ? "not found" : "unknown"));
    });
  });
}

async function packageVersion(name: string): Promise<string> {
  try {
    const json = JSON.parse(await readFile(fileURLToPath(new URL(`node_modules/${name}/package.json`, ROOT)), "utf8")) as { version: string };
    return json.version;
  } catch {
    return "not found";
  }
}

export async function versions(): Promise<Record<string, string>> {
  const dlog = JSON.parse(await readFile(fileURLToPath(new URL("package.json", ROOT)), "utf8")) as { version: string };
  const [grpc, level, niceGrpc, nats, ioredis, natsServer, redisServer, go, java, python] = await Promise.all([
    packageVersion("@grpc/grpc-js"),
    packageVersion("classic-level"),
    packageVersion("nice-grpc"),
    packageVersion("nats"),
    packageVersion("ioredis"),
    versionOf("nats-server", ["--version"], /v?(\d+\.\d+\.\d+)/),
    versionOf("redis-server", ["--version"], /v=(\d+\.\d+\.\d+)/),
    versionOf("go", ["version"], /go(\d+\.\d+(?:\.\d+)?)/),
    versionOf("java", ["-version"], /version "([^"]+)"/),
    versionOf(fileURLToPath(new URL(".tools/python/bin/python", ROOT)), ["--version"], /Python (\S+)/),
  ]);
  return {
    dlog: dlog.version,
    node: process.version,
    "@grpc/grpc-js": grpc,
    "classic-level": level,
    "nice-grpc": niceGrpc,
    "nats (js client)": nats,
    ioredis,
    "nats-server": natsServer,
    "redis-server": redisServer,
    go,
    java,
    python,
  };
}
