/**
 * A quick side-by-side of dlogd on `--storage nats://` (one nats-server, R1, default sync) and on
 * LevelDB (fsync on and off), in one run: append 1000 records/append, then deliver + ack them all.
 * `node dist/bench/nats-storage-quick.js [RECORDS]` (default 100 000). The full JetStream section is
 * `make bench`'s.
 */
import { appendUnary } from "./append.js";
import { deliverAndAck } from "./deliver.js";
import { startDlogd } from "./dlogd-process.js";
import { freePort, startServer, tempDir, which } from "./peers/support.js";

const records = Number(process.argv[2] ?? 100_000);
const PER_APPEND = 1_000;
const natsBin = (await which("nats-server")) ?? new URL("../../.tools/bin/nats-server", import.meta.url).pathname;
const dir = await tempDir("nats-storage");
const port = await freePort();
const nats = await startServer(natsBin, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir.path], /Server is ready/);
const rows: string[] = ["| storage | append 1000 rec/append (records/s) | deliver + ack (records/s) |", "|---|---|---|"];
try {
  for (const [name, args] of [
    ["LevelDB (fsync)", []],
    ["LevelDB (--no-fsync)", ["--no-fsync"]],
    ["NATS JetStream R1", ["--storage", `nats://127.0.0.1:${port}`, "--nats-prefix", `q${Date.now()}`]],
    ["LevelDB (fsync), no entry cache", ["--entry-cache", "0"]],
    ["NATS JetStream R1, no entry cache", ["--entry-cache", "0", "--storage", `nats://127.0.0.1:${port}`, "--nats-prefix", `c${Date.now()}`]],
  ] as Array<[string, string[]]>) {
    const dlogd = await startDlogd({ args });
    try {
      const log = `bench-${Date.now()}`;
      await appendUnary(dlogd.logs, { log, size: 100, recordsPerAppend: PER_APPEND, inFlight: 1, appends: 20, timeoutMs: 30_000 }); // warm-up
      const append = await appendUnary(dlogd.logs, {
        log,
        size: 100,
        recordsPerAppend: PER_APPEND,
        inFlight: 4,
        appends: records / PER_APPEND,
        timeoutMs: 120_000,
      });
      const deliver = await deliverAndAck(dlogd.readers, log, "r", append.records + 20 * PER_APPEND, 120_000);
      rows.push(`| ${name} | ${Math.round(append.records / (append.ms / 1000))} | ${Math.round(deliver.records / (deliver.ms / 1000))} |`);
    } finally {
      await dlogd.stop();
    }
  }
} finally {
  await nats.stop();
  await dir.remove();
}
console.log(rows.join("\n"));
