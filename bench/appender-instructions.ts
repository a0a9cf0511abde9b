/**
 * Instructions per record of the bench's appender row (one 100 B record per `appender.append()`
 * call, bench/ts-client.ts), counted by valgrind's callgrind: exact and load-independent where
 * wall-clock rates on a shared machine are not, so builds compare in one run. A build is a
 * directory with `dist/` and `bin/` (a copy of a built worktree). Per build, two counts:
 *   - client: the client process under callgrind (warmed up first) against a native dlogd of this build;
 *   - dlogd: that build's dlogd under callgrind (warmed up first), fed by a native client of this build.
 * Each is the main thread (JavaScript, the event loop) and all threads (GC helpers, the JIT's
 * background compiles, LevelDB's writes on the thread pool).
 *
 *   node dist/bench/appender-instructions.js [--records 20000] [--only client|dlogd] /tmp/base .
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { spawnAppenderClient } from "./appender-side-by-side.js";
import { type Instructions, dumpInstructions, startCallgrindDlogd } from "./callgrind-dlogd.js";
import { startDlogd } from "./dlogd-process.js";

const run = promisify(execFile);
const THIS_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Client instructions per record: the client of `root` under callgrind, against a native dlogd. */
async function clientCount(root: string, records: number): Promise<Instructions> {
  const d = await startDlogd();
  const dir = await mkdtemp(join(tmpdir(), "dlog-appender-instructions-"));
  try {
    const wrapper = ["valgrind", "-q", "--tool=callgrind", `--callgrind-out-file=${join(dir, "callgrind.%p")}`, "--dump-line=no", "--separate-threads=yes"];
    const client = spawnAppenderClient(root, d.address, records, wrapper);
    try {
      await client.warm;
      // Two more runs to let the JIT settle on the measured path, then count one.
      for (let i = 0; i < 2; i++) await client.run();
      const pid = String(client.pid);
      await run("callgrind_control", ["--zero", pid]);
      const result = await client.run();
      const counts = await dumpInstructions(pid, dir);
      return { main: counts.main / result.records, all: counts.all / result.records };
    } finally {
      await client.finish();
    }
  } finally {
    await d.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** dlogd instructions per record: `root`'s dlogd under callgrind, fed by a native client of this build. */
async function serverCount(root: string, records: number): Promise<Instructions> {
  const server = await startCallgrindDlogd(join(root, "bin/dlogd.js"), { fsync: true });
  try {
    const client = spawnAppenderClient(THIS_ROOT, server.address, records);
    try {
      await client.warm;
      for (let i = 0; i < 2; i++) await client.run();
      await server.zero();
      const result = await client.run();
      const counts = await server.dump();
      return { main: counts.main / result.records, all: counts.all / result.records };
    } finally {
      await client.finish();
    }
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const at = args.indexOf(name);
    return at >= 0 ? args.splice(at, 2)[1] : undefined;
  };
  const records = Number(option("--records") ?? 20_000);
  const only = option("--only");
  if (only !== undefined && only !== "client" && only !== "dlogd") throw new Error("--only takes client or dlogd");
  const roots = args.map((root) => resolve(root));
  if (roots.length === 0) throw new Error("name at least one build directory");
  const rows: Array<{ root: string; client?: Instructions; dlogd?: Instructions }> = [];
  for (const root of roots) {
    rows.push({
      root,
      ...(only === "dlogd" ? {} : { client: await clientCount(root, records) }),
      ...(only === "client" ? {} : { dlogd: await serverCount(root, records) }),
    });
  }
  console.log(`appender row, instructions per record, main thread / all threads (${records} records of 100 B counted, fsync on)`);
  const cell = (c: Instructions | undefined, first: Instructions | undefined): string =>
    c === undefined ? "-" : `${Math.round(c.main)} / ${Math.round(c.all)}${first && first !== c ? ` (${(c.main / first.main).toFixed(3)}x main)` : ""}`;
  for (const row of rows) console.log(`${row.root}\tclient ${cell(row.client, rows[0]!.client)}\tdlogd ${cell(row.dlogd, rows[0]!.dlogd)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
