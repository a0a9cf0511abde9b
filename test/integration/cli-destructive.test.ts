/** Destructive commands say what they would do, and act only with --yes or a "y" typed on a terminal. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DlogError, Status } from "../../clients/typescript/src/index.js";
import { type DlogOptions, dlog as runDlog, startDlogOnTerminal, waitFor, lines } from "../helpers/cli.js";
import { fixtureForFile } from "../helpers/fixture.js";

// Small segments: every 2-record append of ~100 bytes closes one, so truncation has whole segments to drop.
const fixture = fixtureForFile({ args: ["--segment-max-bytes", "100"] });

const dlog = (args: string[], options: DlogOptions = {}) => runDlog(args, { address: fixture.server.address, ...options });
const record = (n: number): string => `record-${String(n).padStart(3, "0")}-${"x".repeat(50)}`;

async function exists(log: string): Promise<boolean> {
  try {
    await fixture.client.getLog(log);
    return true;
  } catch (error) {
    if (error instanceof DlogError && error.code === Status.NOT_FOUND) return false;
    throw error;
  }
}

test("off a terminal, without --yes, every destructive command says what it would do, exits 2 and changes nothing", { timeout: 60_000 }, async () => {
  const dlsns = await fixture.client.append("d-refuse", [record(1), record(2)]);
  await dlog(["tail", "--log", "d-refuse", "--reader", "r", "--max", "1"]);
  const attempts: Array<[string[], RegExp]> = [
    [["logs", "delete", "d-refuse"], /would delete log d-refuse: 2 records in 1 segment, and 1 reader \(r\): add --yes/],
    [["logs", "truncate", "d-refuse", "--before", "9/0/0", "--force"], /would drop|drops 1 segment, 2 records .*: add --yes/],
    [["readers", "delete", "--log", "d-refuse", "--reader", "r"], new RegExp(`would delete reader r of d-refuse \\(floor ${dlsns[0]}, lag 1\\): add --yes`)],
    [
      ["readers", "seek", "--log", "d-refuse", "--reader", "r", "--to", "earliest"],
      new RegExp(`would move reader r of d-refuse from floor ${dlsns[0]} to earliest: add --yes`),
    ],
  ];
  for (const [args, pattern] of attempts) {
    const result = await dlog(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.equal(lines(result.stderr).length, 1, result.stderr);
    assert.match(result.stderr, pattern);
    assert.match(result.stderr, /stdin is not a terminal/);
  }
  assert.equal((await fixture.client.getLog("d-refuse")).recordCount, 2n, "nothing truncated or deleted");
  assert.equal((await fixture.client.getPosition("d-refuse", "r")).floor?.toString(), dlsns[0]!.toString(), "the reader did not move");
});

test("--yes does it: readers seek, readers delete, logs delete", { timeout: 60_000 }, async () => {
  await fixture.client.append("d-yes", [record(1), record(2)]);
  assert.equal((await dlog(["readers", "seek", "--log", "d-yes", "--reader", "r", "--to", "latest", "--yes"])).code, 0);
  assert.equal((await fixture.client.getPosition("d-yes", "r")).lag, 0n);
  assert.equal((await dlog(["readers", "delete", "--log", "d-yes", "--reader", "r", "--yes"])).code, 0);
  assert.equal((await fixture.client.listReaders("d-yes")).length, 0);
  const deleted = await dlog(["logs", "delete", "d-yes", "-y"]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(deleted.stdout, "deleted d-yes (2 records)\n");
  assert.equal(await exists("d-yes"), false);
});

test("logs truncate --dry-run prints the records it would drop and drops nothing", { timeout: 60_000 }, async () => {
  const dlsns = [];
  for (let i = 1; i <= 6; i += 2) dlsns.push(...(await fixture.client.append("d-dry", [record(i), record(i + 1)])));
  const info = await fixture.client.getLog("d-dry");
  assert.ok(info.segments.length >= 3, `small segments expected, got ${info.segments.length}`);
  const before = dlsns[4]!; // segments holding records 1-4 lie wholly before it
  const dry = await dlog(["logs", "truncate", "d-dry", "--before", before.toString(), "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(lines(dry.stdout), [record(1), record(2), record(3), record(4)]);
  assert.match(
    dry.stderr,
    new RegExp(`^dry run: truncating d-dry before ${before} drops 2 segments, 4 records \\(${dlsns[0]} to ${dlsns[3]}\\); nothing was dropped$`, "m"),
  );
  assert.equal((await fixture.client.getLog("d-dry")).recordCount, 6n);
  const json = await dlog(["logs", "truncate", "d-dry", "--before", before.toString(), "--dry-run", "--format", "json"]);
  assert.deepEqual(
    lines(json.stdout).map((line) => JSON.parse(line).dlsn),
    dlsns.slice(0, 4).map(String),
  );

  const done = await dlog(["logs", "truncate", "d-dry", "--before", before.toString(), "--yes"]);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, new RegExp(`truncated d-dry: 2 segments, 4 records deleted; first record now ${dlsns[4]}`));
});

test("logs truncate past the last record needs --force; with it, every record goes", { timeout: 60_000 }, async () => {
  const dlsns = await fixture.client.append("d-force", [record(1), record(2)]);
  const past = `${dlsns[1]!.segment + 5n}/0/0`;
  const refused = await dlog(["logs", "truncate", "d-force", "--before", past, "--yes"]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, new RegExp(`--before ${past} is past the last record of d-force \\(${dlsns[1]}\\).*add --force`));
  assert.equal((await fixture.client.getLog("d-force")).recordCount, 2n);
  const forced = await dlog(["logs", "truncate", "d-force", "--before", past, "--force", "--yes"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((await fixture.client.getLog("d-force")).recordCount, 0n);
});

test("on a terminal dlog asks; y goes ahead, anything else changes nothing (exit 1)", { timeout: 60_000 }, async () => {
  await fixture.client.append("d-ask", [record(1)]);
  const stdoutFile = join(fixture.dir, "ask.out");
  const no = startDlogOnTerminal(["logs", "delete", "d-ask"], { address: fixture.server.address, stdoutFile });
  await waitFor(() => /Go ahead\? \[y\/N\] /.test(no.screen()), "the question");
  assert.match(no.screen(), /logs delete would delete log d-ask: 1 record in 1 segment\. Go ahead\? \[y\/N\] /);
  no.type("n\r");
  assert.equal(await no.exited, 1, no.screen());
  assert.match(no.screen(), /dlog: not confirmed; nothing was changed/);
  assert.equal(await exists("d-ask"), true);

  const yes = startDlogOnTerminal(["logs", "delete", "d-ask"], { address: fixture.server.address, stdoutFile });
  await waitFor(() => /Go ahead\? \[y\/N\] /.test(yes.screen()), "the question");
  yes.type("y\r");
  assert.equal(await yes.exited, 0, yes.screen());
  assert.equal(readFileSync(stdoutFile, "utf8"), "deleted d-ask (1 record)\n");
  assert.equal(await exists("d-ask"), false);
});
