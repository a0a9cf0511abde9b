/**
 * The Go, Python and Java clients' own benchmark programs, run against the bench's dlogd in the
 * same run as the TypeScript client: deliver + ack through each high-level reader (a fresh reader
 * catching up on the same pre-filled log) and one-record-per-call appends through each appender.
 * `make bench` installs their toolchains' pieces first (the Python venv and package, the Java
 * test classes); a client whose toolchain is missing comes back as an error row, not a crash.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { onCleanup } from "./cleanup.js";
import { tempDir } from "./peers/support.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** records/s of one client; undefined where that client has no such figure. */
export interface ClientFigures {
  client: string;
  deliverAck?: number | undefined;
  appender?: number | undefined;
  /** Other figures of the same program, by its own names. */
  extra: Record<string, number>;
  seconds: number;
}

export interface ClientBenchSpec {
  address: string;
  /** The pre-filled log every reader catches up on (fresh reader ids). */
  log: string;
  records: number;
  /** One-record appends per appender run. */
  appends: number;
  timeoutMs: number;
}

interface Output {
  stdout: string;
  seconds: number;
}

/** Runs a command to completion (SIGKILL at the deadline); rejects on a non-zero exit with its stderr tail. */
async function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Output> {
  const t0 = performance.now();
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DLOG_DLOGD: join(ROOT, "bin/dlogd.js") } });
  const stop = onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr = (stderr + c).slice(-4_000)));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (c) => resolve(c));
    });
    if (code !== 0)
      throw new Error(
        `${command} ${args.slice(0, 3).join(" ")}… exited ${code ?? `on ${child.signalCode}`}: ${stderr.trim().split("\n").slice(-3).join(" / ")}`,
      );
    return { stdout, seconds: (performance.now() - t0) / 1000 };
  } finally {
    clearTimeout(timer);
    await stop();
  }
}

const lastJsonLine = (stdout: string): unknown => {
  const line = stdout
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`no JSON line in the output: ${stdout.slice(-300)}`);
  return JSON.parse(line);
};

export async function goClient(spec: ClientBenchSpec): Promise<ClientFigures> {
  const tag = Date.now().toString(36);
  const out = await run(
    "go",
    [
      "run",
      "./cmd/dlogbench",
      "-addr",
      spec.address,
      "-json",
      "-log",
      spec.log,
      "-records",
      String(spec.records),
      "-reader",
      `go-${tag}`,
      "-singles",
      String(spec.appends),
      "-unpacked",
      String(Math.min(spec.appends, 20_000)),
    ],
    join(ROOT, "clients/go"),
    spec.timeoutMs,
  );
  const parsed = lastJsonLine(out.stdout) as { results: Array<{ name: string; records_per_sec: number }> };
  const by = (prefix: string): number | undefined => parsed.results.find((r) => r.name.startsWith(prefix))?.records_per_sec;
  return {
    client: "go",
    deliverAck: by("deliver + ack"),
    appender: by("append, 1 record per call, Appender linger"),
    extra: Object.fromEntries(parsed.results.map((r) => [r.name, r.records_per_sec])),
    seconds: out.seconds,
  };
}

export async function pythonClients(spec: ClientBenchSpec): Promise<ClientFigures[]> {
  const dir = await tempDir("python-bench");
  try {
    const json = join(dir.path, "out.json");
    const python = join(ROOT, ".tools/python/bin/python");
    const out = await run(
      python,
      [
        "bench/bench_client.py",
        "--address",
        spec.address,
        "--log",
        spec.log,
        "--records",
        String(spec.records),
        "--appends",
        String(spec.appends),
        "--no-typescript",
        "--json",
        json,
      ],
      join(ROOT, "clients/python"),
      spec.timeoutMs,
    );
    const parsed = JSON.parse(await readFile(json, "utf8")) as Record<string, Record<string, number | null>>;
    const pick = (figure: string, key: string): number | undefined => parsed[figure]?.[key] ?? undefined;
    return ["python_sync", "python_asyncio"].map((key) => ({
      client: key.replace("_", " "),
      deliverAck: pick("deliver_ack_1reader_100B", key),
      appender: pick("append_1record_appender_100B", key),
      extra: {},
      seconds: out.seconds,
    }));
  } finally {
    await dir.remove();
  }
}

export async function javaClient(spec: ClientBenchSpec): Promise<ClientFigures> {
  const args = `--address ${spec.address} --log ${spec.log} --records ${spec.records} --append-records ${spec.appends}`;
  const out = await run(
    "mvn",
    [
      "-B",
      "-q",
      `-Dmaven.repo.local=${join(ROOT, ".tools/m2")}`,
      "-f",
      "clients/java/pom.xml",
      "test-compile",
      "exec:java",
      "-Dexec.classpathScope=test",
      "-Dexec.mainClass=io.dlog.bench.JavaClientBench",
      `-Dexec.args=${args}`,
    ],
    ROOT,
    spec.timeoutMs,
  );
  const parsed = lastJsonLine(out.stdout) as { deliver_ack_1reader: number; append_1record_appender: number };
  return { client: "java", deliverAck: parsed.deliver_ack_1reader, appender: parsed.append_1record_appender, extra: {}, seconds: out.seconds };
}
