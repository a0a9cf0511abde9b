/**
 * The README's backup procedure, followed as written ("### Backup and restore"): stop, tar the
 * data dir, restore into a new dir; a server on the restored dir has every record and position.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type Clients, type Dlogd, REPO_ROOT, connect, startDlogd, tempDir } from "../helpers/dlogd.js";
import { runProcess } from "../helpers/process.js";
import { TestSession, appendNumbered, dlsnKey, numberOf } from "../helpers/session.js";

/** The command lines of the section's sh blocks, without comments and `sudo`. */
function procedure(): string[] {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const section = /^### Backup and restore\n([\s\S]*?)(?=^##)/m.exec(readme)?.[1];
  assert.ok(section, 'README has a "### Backup and restore" section');
  const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1]!);
  assert.equal(blocks.length, 2, "a backup block and a restore block");
  return blocks
    .flatMap((block) => block.split("\n"))
    .map((line) =>
      line
        .replace(/#.*$/, "")
        .trim()
        .replace(/^sudo /, ""),
    )
    .filter((line) => line !== "");
}

async function logContents(clients: Clients, log: string): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of clients.logs.read({ log, maxRecords: 1_000 })) out.push(...batch.records.map((r) => `${dlsnKey(r.dlsn)}=${r.payload.toString()}`));
  return out;
}

test("the README's backup and restore: the restored server has every record and reader position", { timeout: 60_000 }, async () => {
  const dir = tempDir("dlog-backup-");
  const dataDir = join(dir.path, "lib", "dlog");
  const paths: Array<[string, string]> = [
    ["/var/lib/dlog.restored", join(dir.path, "lib", "dlog.restored")],
    ["/var/lib/dlog", dataDir],
    ["/backup/dlog.tar.gz", join(dir.path, "dlog.tar.gz")],
  ];
  let server: Dlogd | undefined = await startDlogd({ dataDir });
  try {
    let clients = connect(server.address);
    const dlsns = await appendNumbered(clients, "orders", 100, { batch: 10 });
    await appendNumbered(clients, "audit", 5);
    const { session } = await TestSession.open(clients, { log: "orders", readerId: "billing" });
    await session.records(50);
    session.ackUpTo(dlsns[39]!);
    session.ack([dlsns[44]!]); // a hole above the floor
    session.drain();
    await session.drained();
    const before = { orders: await logContents(clients, "orders"), audit: await logContents(clients, "audit") };
    clients.close();

    for (const line of procedure()) {
      if (line === "systemctl stop dlogd") {
        assert.equal(await server!.stop(), 0);
        server = undefined;
      } else if (line === "systemctl start dlogd") {
        server = await startDlogd({ dataDir });
      } else {
        const command = paths.reduce((text, [from, to]) => text.replaceAll(from, to), line);
        const run = await runProcess("bash", ["-c", command], { timeoutMs: 20_000 });
        assert.equal(run.code, 0, `${line}\n${run.stderr}`);
      }
    }
    await server?.stop();

    server = await startDlogd({ dataDir: paths[0]![1] });
    clients = connect(server.address);
    assert.deepEqual({ orders: await logContents(clients, "orders"), audit: await logContents(clients, "audit") }, before);
    const position = await clients.readers.getPosition({ log: "orders", readerId: "billing" });
    assert.equal(dlsnKey(position.floor), dlsnKey(dlsns[39]), "the acked floor came back");
    assert.deepEqual(position.holes.map(dlsnKey), [dlsnKey(dlsns[44])], "and the acked hole above it");
    const resumed = await TestSession.open(clients, { log: "orders", readerId: "billing" });
    const next = (await resumed.session.records(6)).slice(0, 6);
    assert.deepEqual(next.map(numberOf), [41, 42, 43, 44, 46, 47], "the reader resumes after its floor, skipping the hole");
    resumed.session.cancel();
    clients.close();
  } finally {
    await server?.stop();
    dir.cleanup();
  }
});
