/**
 * `dlog readers import`: a team moving from DistributedLog's at-least-once tutorial keeps
 * every reader's place. The store is written the way the tutorial writes it:
 * `offsetDB.put(readerId.getBytes(UTF_8), lastDLSN.serializeBytes())`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ClassicLevel } from "classic-level";
import { DlogError, DLSN, Status } from "../../clients/typescript/src/index.js";
import { type DlogOptions, dlog as runDlog, lines } from "../helpers/cli.js";
import { fixtureForFile } from "../helpers/fixture.js";

const fixture = fixtureForFile();

const dlog = (args: string[], options: DlogOptions = {}) => runDlog(args, { address: fixture.server.address, ...options });

/** The tutorial's offset store: reader id (UTF-8) → the 25-byte DLSN of the last record read. */
async function writeOffsetStore(path: string, offsets: Record<string, DLSN | Buffer>): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: "buffer", valueEncoding: "buffer", createIfMissing: true });
  for (const [readerId, value] of Object.entries(offsets)) {
    await db.put(Buffer.from(readerId, "utf8"), value instanceof DLSN ? value.serializeBytes() : value);
  }
  await db.close();
}

async function hasPosition(log: string, readerId: string): Promise<boolean> {
  try {
    await fixture.client.getPosition(log, readerId);
    return true;
  } catch (error) {
    if (error instanceof DlogError && error.code === Status.NOT_FOUND) return false;
    throw error;
  }
}

/** Five appends of two records: "1".."10", DLSNs over five entries. */
async function tenRecords(log: string): Promise<DLSN[]> {
  const dlsns: DLSN[] = [];
  for (let i = 1; i <= 10; i += 2) dlsns.push(...(await fixture.client.append(log, [String(i), String(i + 1)])));
  return dlsns;
}

test("import sets each reader so its next session starts with the stored record, as the tutorial resumed: none skipped", { timeout: 60_000 }, async () => {
  const dlsns = await tenRecords("imported");
  // A dlog reader of the same id already exists: the import replaces its position.
  await dlog(["tail", "--log", "imported", "--reader", "audit", "--max", "1"]);
  const store = join(fixture.dir, "offsets");
  await writeOffsetStore(store, { billing: dlsns[3]!, audit: dlsns[9]!, "re-reader": dlsns[0]! });

  const dry = await dlog(["readers", "import", "--offset-store", store, "--log", "imported", "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(lines(dry.stdout), [
    `audit: stored ${dlsns[9]} → next session starts at ${dlsns[9]} (replaces floor ${dlsns[0]})`,
    `billing: stored ${dlsns[3]} → next session starts at ${dlsns[3]}`,
    `re-reader: stored ${dlsns[0]} → next session starts at ${dlsns[0]}`,
  ]);
  assert.match(dry.stderr, /dry run: 3 readers of imported would be set from .*; nothing was changed/);
  assert.equal(await hasPosition("imported", "billing"), false, "a dry run sets nothing");

  const unconfirmed = await dlog(["readers", "import", "--offset-store", store, "--log", "imported"]);
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /readers import would set 3 readers of imported from .*, replacing the positions of 1 .*: add --yes/);

  const imported = await dlog(["readers", "import", "--offset-store", store, "--log", "imported", "--yes", "--format", "json"]);
  assert.equal(imported.code, 0, imported.stderr);
  assert.deepEqual(
    lines(imported.stdout)
      .map((line) => JSON.parse(line))
      .map((object) => [object.readerId, object.stored]),
    [
      ["audit", dlsns[9]!.toString()],
      ["billing", dlsns[3]!.toString()],
      ["re-reader", dlsns[0]!.toString()],
    ],
  );

  // billing read 1-4 under the tutorial (4 last): it goes on with 4 again, then 5-10 — what the tutorial's restart did.
  const billing = await dlog(["tail", "--log", "imported", "--reader", "billing", "--max", "7"]);
  assert.deepEqual(lines(billing.stdout), ["4", "5", "6", "7", "8", "9", "10"]);
  const audit = await dlog(["tail", "--log", "imported", "--reader", "audit", "--max", "1"]);
  assert.deepEqual(lines(audit.stdout), ["10"]);
  const rereader = await dlog(["tail", "--log", "imported", "--reader", "re-reader", "--max", "10"]);
  assert.deepEqual(lines(rereader.stdout), ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
  assert.match(rereader.stderr, /^resuming from the start \(stored position\)$/m, "a floor before the first record, in words");
});

test("a store with an entry that is not reader id → 25-byte DLSN imports nothing, naming the entry", { timeout: 60_000 }, async () => {
  const dlsns = await tenRecords("bad-store");
  const store = join(fixture.dir, "bad-offsets");
  await writeOffsetStore(store, { good: dlsns[2]!, short: Buffer.alloc(8), "not a name": dlsns[1]! });
  const result = await dlog(["readers", "import", "--offset-store", store, "--log", "bad-store", "--yes"]);
  assert.equal(result.code, 1, result.stderr);
  assert.equal(lines(result.stderr).length, 1);
  assert.match(
    result.stderr,
    /2 of 3 entries are not reader id → DLSN: .*"not a name": invalid reader_id.*"short": serialized DLSN must be 25 bytes.*nothing was imported/,
  );
  assert.equal(await hasPosition("bad-store", "good"), false);
});

test("import refuses a store in use and readers with a live session (unless --force), before setting any", { timeout: 60_000 }, async () => {
  const dlsns = await tenRecords("live-import");
  const store = join(fixture.dir, "live-offsets");
  await writeOffsetStore(store, { idle: dlsns[4]!, busy: dlsns[5]! });

  const open = new ClassicLevel(store);
  await open.open();
  const locked = await dlog(["readers", "import", "--offset-store", store, "--log", "live-import", "--yes"]);
  await open.close();
  assert.equal(locked.code, 2, locked.stderr);
  assert.match(locked.stderr, /is in use by another process/);

  const reader = fixture.client.reader({ log: "live-import", readerId: "busy" });
  await reader.ready();
  try {
    const refused = await dlog(["readers", "import", "--offset-store", store, "--log", "live-import", "--yes"]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /busy of live-import has a live session; stop them, or add --force .*nothing was imported/);
    assert.equal(await hasPosition("live-import", "idle"), false, "validated first: nothing set");
    const forced = await dlog(["readers", "import", "--offset-store", store, "--log", "live-import", "--yes", "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
  } finally {
    await reader.close().catch(() => undefined);
  }
  assert.equal((await fixture.client.getPosition("live-import", "idle")).floor?.toString(), dlsns[4]!.justBefore().toString(), "just before the stored record");
});
