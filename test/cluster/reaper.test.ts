/**
 * The servers a test process starts die with it however it ends (test/helpers/reaper.ts): here a
 * child process starts a nats-server and a dlogd process through the test helpers and is then killed
 * -9, as a test runner ends a file that timed out, with no chance to run an exit hook.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const HELPERS = fileURLToPath(new URL("../helpers/", import.meta.url));

/** Gone, or a zombie waiting for a parent that is not there to reap it. */
function dead(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") === true;
  } catch {
    return true;
  }
}

test("a test process killed -9 takes the nats-server and dlogd processes it started with it, and their temp dir", { timeout: 60_000 }, async () => {
  const script = `
    import { startNatsCluster } from ${JSON.stringify(`${HELPERS}nats-cluster.js`)};
    import { startDlogd } from ${JSON.stringify(`${HELPERS}dlogd.js`)};
    const nats = await startNatsCluster({ size: 1 });
    const dlogd = await startDlogd({ process: true, args: ["--in-memory"] });
    console.log(JSON.stringify({ nats: nats.nodes[0].pid(), dlogd: dlogd.child.pid, dir: nats.nodes[0].storeDir }));
    setInterval(() => undefined, 1_000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  let started: { nats: number; dlogd: number; dir: string } | undefined;
  try {
    for (const deadline = Date.now() + 30_000; !stdout.includes("\n"); await new Promise((resolve) => setTimeout(resolve, 50))) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the child did not start its servers:\n${stderr}`);
    }
    started = JSON.parse(stdout) as { nats: number; dlogd: number; dir: string };
    assert.ok(!dead(started.nats) && !dead(started.dlogd) && existsSync(started.dir), `not running: ${stdout}`);

    child.kill("SIGKILL");
    await exited;
    // Invariant: nothing it started outlives it (bounded wait: the reaper acts when its pipe closes).
    const { nats, dlogd, dir } = started;
    for (const deadline = Date.now() + 10_000; !(dead(nats) && dead(dlogd) && !existsSync(dir)); ) {
      assert.ok(
        Date.now() < deadline,
        `still there 10 s after the kill: nats-server ${nats} ${dead(nats) ? "gone" : "running"}, dlogd ${dlogd} ${dead(dlogd) ? "gone" : "running"}, dir ${existsSync(dir) ? "kept" : "gone"}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    child.kill("SIGKILL");
    // A failed run must not leave them behind either.
    for (const pid of started ? [started.nats, started.dlogd] : []) if (!dead(pid)) process.kill(pid, "SIGKILL");
  }
});
