/** A full disk (a 16 MiB tmpfs) and file-descriptor exhaustion, against a real dlogd: refused clearly, recovered without a restart. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { test } from "node:test";
import { Status } from "nice-grpc";
import { HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health.js";
import { type Clients, type Dlogd, dlogdExit, startDlogd, tempDir } from "../helpers/dlogd.js";
import { TestSession } from "../helpers/session.js";
import { type Refusal, connectWithDetails as connect, idleConnection, readLog, refusalOf, reportFigures, sleep, until } from "./harness.js";

const RECORD_BYTES = 32 * 1024;

/** A 16 MiB tmpfs of its own, unmounted by `cleanup()`. Without one these tests fail: they are never skipped. */
function smallDisk(): { path: string; cleanup: () => void } {
  const mountPoint = tempDir("dlog-tmpfs-");
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mountPoint.path], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    mountPoint.cleanup();
    throw new Error(`the disk-full tests need a 16 MiB tmpfs (mount as root): ${String(error)}`);
  }
  return {
    path: mountPoint.path,
    cleanup: () => {
      execFileSync("umount", ["-l", mountPoint.path]);
      mountPoint.cleanup();
    },
  };
}

/** Fills the filesystem of `dir` with a file until nothing is left; returns its path. */
function fillUp(dir: string): string {
  const path = `${dir}/ballast`;
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch {
    // ENOSPC: full. Then the last few bytes, smaller than a chunk.
    for (let size = 32 * 1024; size >= 512; size /= 2) {
      try {
        for (;;) writeSync(fd, chunk, 0, size);
      } catch {
        // next size down
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

/** Appends incompressible 32 KiB records until `refusals` appends were refused; returns what was answered and refused. */
async function appendUntilRefused(clients: Clients, log: string, refusals: number, prefix: string) {
  const answered: string[] = [];
  const refused: Refusal[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (refused.length < refusals) {
      const id = `${prefix}${next++}`;
      const payload = Buffer.concat([Buffer.from(`${id}:`), randomBytes(RECORD_BYTES)]);
      try {
        await clients.logs.append({ log, records: [{ payload }] });
        answered.push(id);
      } catch (error) {
        refused.push(refusalOf(error));
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { answered, refused };
}

const idOf = (text: string): string => text.slice(0, text.indexOf(":"));

test("a full disk: appends are refused with DISK_FULL, reads and sessions go on, DeleteLog and Truncate free space, appends resume without a restart", {
  timeout: 120_000,
}, async () => {
  const disk = smallDisk();
  const dataDir = `${disk.path}/data`;
  let server: Dlogd | undefined;
  let clients: Clients | undefined;
  try {
    // Half the disk: the reserve must hold what LevelDB rewrites in the compaction after a reopen.
    server = await startDlogd({ dataDir, args: ["--disk-reserve", "8MiB", "--segment-max-bytes", "1MiB", "--heartbeat", "200ms"] });
    clients = connect(server.address);
    for (let i = 0; i < 60; i++) {
      await clients.logs.append({ log: "junk", records: [{ payload: Buffer.concat([Buffer.from(`j${i}:`), randomBytes(RECORD_BYTES)]) }] });
    }
    await clients.logs.createLog({ log: "a" });
    const reader = await TestSession.open(clients, { log: "a", readerId: "early" });

    const filled = await appendUntilRefused(clients, "a", 20, "a");

    assert.ok(filled.answered.length > 50, `some appends fit first (${filled.answered.length})`);
    for (const refusal of filled.refused) {
      assert.equal(Status[refusal.code], "RESOURCE_EXHAUSTED", refusal.message);
      assert.equal(refusal.reason, "DISK_FULL");
      assert.ok(!refusal.message.includes(disk.path), `no server path in "${refusal.message}"`);
    }
    const health = await clients.health.check({});
    assert.equal(health.status, Serving.SERVING, "a full disk is not a broken server");
    // Reads and sessions go on: a session opened now gets records, its ack is kept.
    const late = await TestSession.open(clients, { log: "a", readerId: "late" });
    const got = await late.session.records(5);
    late.session.ackUpTo(got[got.length - 1]!.dlsn!);
    assert.ok((await reader.session.records(5)).length >= 5);

    // Space through the API: the deletions get the reserve's room (compacting the truncated log
    // rewrites what it keeps, so the big deletion goes first), then appends resume.
    const before = (await clients.logs.getLog({ log: "a" })).segments.at(-2)!.lastDlsn!;
    const truncated = await clients.logs.truncate({ log: "a", before });
    assert.ok(truncated.recordsDeleted > 0n);
    const deleted = await clients.logs.deleteLog({ log: "junk" });
    assert.equal(deleted.recordsDeleted, 60n);
    const resumedAt = Date.now();
    let resumed = false;
    while (!resumed && Date.now() - resumedAt < 15_000) {
      resumed = await clients.logs.append({ log: "a", records: [{ payload: Buffer.from("after:") }] }).then(
        () => true,
        () => false,
      );
      if (!resumed) await sleep(200);
    }
    assert.ok(resumed, `appends resume once space is freed:\n${server.output()}`);

    // Every answered append from the first one the truncation kept is there, once.
    const ids = (await readLog(clients, "a")).map((record) => idOf(record.id));
    assert.equal(new Set(ids).size, ids.length, "no record stored twice");
    const stored = new Set(ids);
    const firstKept = filled.answered.findIndex((id) => stored.has(id));
    assert.ok(firstKept >= 0, "the truncation kept the last segments");
    // Concurrent appends are answered out of order: those after the first kept one by number are checked.
    const cut = Number(filled.answered[firstKept]!.slice(1));
    const missing = filled.answered.filter((id) => Number(id.slice(1)) > cut + 8 && !stored.has(id));
    assert.deepEqual(missing, [], "no answered append after the truncation point is missing");
    const errorLines = server
      .output()
      .split("\n")
      .filter((line) => line.includes('"level":"error"'));
    assert.ok(errorLines.length <= 6, `errors logged a few times, not on every retry:\n${errorLines.join("\n")}`);
    reportFigures("disk-full", {
      disk_full_answered: filled.answered.length,
      disk_full_refused: filled.refused.length,
      disk_full_resume_ms: Date.now() - resumedAt,
      disk_full_error_lines: errorLines.length,
    });
    late.session.cancel();
    reader.session.cancel();
  } finally {
    clients?.close();
    await server?.stop();
    disk.cleanup();
  }
});

test("a restart on a full disk: with a reserve dlogd starts and refuses appends until space returns; without one it exits naming No space left on device", {
  timeout: 120_000,
}, async () => {
  const disk = smallDisk();
  const dataDir = `${disk.path}/data`;
  try {
    const first = await startDlogd({ process: true, dataDir, args: ["--disk-reserve", "4MiB"] });
    const firstClients = connect(first.address);
    await firstClients.logs.append({ log: "a", records: [{ payload: Buffer.from("kept:") }] });
    firstClients.close();
    await first.kill9();
    const ballast = fillUp(disk.path);

    const server = await startDlogd({ dataDir, args: ["--disk-reserve", "4MiB"] });
    const clients = connect(server.address);
    try {
      const refused = await clients.logs.append({ log: "a", records: [{ payload: Buffer.from("x:") }] }).then(
        () => undefined,
        (error: unknown) => refusalOf(error),
      );
      assert.equal(refused?.reason, "DISK_FULL", `appends are refused on a disk started full:\n${server.output()}`);
      assert.deepEqual(
        (await readLog(clients, "a")).map((record) => record.id),
        ["kept:"],
        "reads work",
      );
      unlinkSync(ballast);
      await until(
        () =>
          clients.logs.append({ log: "a", records: [{ payload: Buffer.from("later:") }] }).then(
            () => true,
            () => false,
          ),
        "appends to resume once space returns",
        15_000,
      );
    } finally {
      clients.close();
      await server.stop();
    }

    // No reserve, a disk with no room for LevelDB's recovery: one line with the real cause.
    rmSync(`${dataDir}/dlog-disk-reserve`, { force: true });
    const again = await startDlogd({ process: true, dataDir, args: ["--disk-reserve", "0"] });
    const againClients = connect(again.address);
    await againClients.logs.append({ log: "a", records: [{ payload: randomBytes(512 * 1024) }] });
    againClients.close();
    await again.kill9();
    fillUp(disk.path);
    const { code, stderr } = await dlogdExit(["--data-dir", dataDir, "--disk-reserve", "0"]);
    assert.notEqual(code, 0);
    assert.equal(stderr.trim().split("\n").length, 1, `one line: ${stderr}`);
    assert.match(stderr, /No space left on device/);
    assert.match(stderr, /disk is full/);
  } finally {
    disk.cleanup();
  }
});

test("file descriptors run out: writes fail with STORAGE_UNAVAILABLE, health turns NOT_SERVING past --storage-broken-after, and the server recovers by itself once they free up", {
  timeout: 120_000,
}, async () => {
  const dir = tempDir("dlog-fds-");
  const server = await startDlogd({ process: true, dataDir: dir.path, args: ["--storage-broken-after", "1s"] });
  const clients = connect(server.address);
  const idle: Array<Awaited<ReturnType<typeof idleConnection>>> = [];
  try {
    const answered: string[] = [];
    const append = async (id: string): Promise<Refusal | undefined> => {
      try {
        await clients.logs.append({
          log: "a",
          records: Array.from({ length: 256 }, (_, i) => ({ payload: Buffer.concat([Buffer.from(`${id}.${i}:`), randomBytes(4096)]) })),
        });
        answered.push(id);
        return undefined;
      } catch (error) {
        return refusalOf(error);
      }
    };
    await append("warm");
    // The server's own descriptors, then a little room: idle connections take the rest.
    const pid = server.child.pid!;
    const open = readdirSync(`/proc/${pid}/fd`).length;
    execFileSync("prlimit", ["--pid", String(pid), `--nofile=${open + 24}:${open + 24}`]);
    for (let i = 0; i < 40; i++) idle.push(await idleConnection(server.address));
    await sleep(200);

    // LevelDB needs a new file once its 4 MiB write buffer is full: that write fails.
    let refusal: Refusal | undefined;
    for (let i = 0; i < 40 && !refusal; i++) refusal = await append(`b${i}`);
    assert.ok(refusal, "a write failed for lack of file descriptors");
    assert.equal(Status[refusal.code], "UNAVAILABLE");
    assert.equal(refusal.reason, "STORAGE_UNAVAILABLE");
    assert.match(refusal.message, /too many open files/);
    assert.ok(!refusal.message.includes(dir.path), `no server path in "${refusal.message}"`);
    await until(async () => (await clients.health.check({})).status === Serving.NOT_SERVING, "health to turn NOT_SERVING", 10_000);

    for (const socket of idle.splice(0)) socket.destroy();
    await until(async () => (await clients.health.check({})).status === Serving.SERVING, "health to turn SERVING again", 15_000);
    assert.equal(await append("after"), undefined, "appends are taken again without a restart");

    const ids = new Set((await readLog(clients, "a")).map((record) => record.id.slice(0, record.id.indexOf("."))));
    for (const id of answered) assert.ok(ids.has(id), `answered append ${id} is stored`);
    const lines = server.output().split("\n");
    assert.equal(lines.filter((line) => line.includes("storage is broken")).length, 1, "broken is logged once");
    assert.equal(lines.filter((line) => line.includes("storage write failed")).length, 1, "the fault is logged once");
    reportFigures("fd-exhaustion", { fd_limit: open + 24, fd_answered_appends: answered.length });
  } finally {
    for (const socket of idle) socket.destroy();
    clients.close();
    await server.stop();
    dir.cleanup();
  }
});
