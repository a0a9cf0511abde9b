/** How dlog meets a person who types something wrong, asks for help, or names a server loosely. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { dlog, lines } from "../helpers/cli.js";
import { REPO_ROOT } from "../helpers/dlogd.js";
import { fixtureForFile } from "../helpers/fixture.js";

const fixture = fixtureForFile();

/** A usage error: exit 2, nothing on stdout, one line on stderr pointing at the right help. */
function assertUsage(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, "");
  assert.equal(lines(result.stderr).length, 1, `one line expected: ${result.stderr}`);
  assert.match(result.stderr, pattern);
}

test("each command has its own --help, on stdout with exit 0", { timeout: 30_000 }, async () => {
  const tail = await dlog(["tail", "--help"]);
  assert.equal(tail.code, 0);
  assert.match(tail.stdout, /^Usage: dlog tail \[options\]/);
  assert.match(tail.stdout, /--reader <id>/);
  assert.doesNotMatch(tail.stdout, /--before/, "another command's flags are not listed");
  const truncate = await dlog(["logs", "truncate", "--help"]);
  assert.match(truncate.stdout, /^Usage: dlog logs truncate \[options\] <log>/);
  assert.match(truncate.stdout, /--dry-run/);
  const global = await dlog(["--help"]);
  assert.match(global.stdout, /Exit codes: 0 ok, 1 refused .* 2 bad usage, 3 server unreachable, 4 /);
});

test("--version prints the package version", { timeout: 30_000 }, async () => {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  const result = await dlog(["--version"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `${version}\n`);
});

test("typos get a suggestion: commands, subcommands and flags", { timeout: 30_000 }, async () => {
  assertUsage(await dlog(["tial"]), /^dlog: unknown command 'tial' \(did you mean tail\?\); see dlog --help\n$/);
  assertUsage(await dlog(["logs", "describ", "x"]), /^dlog: unknown command 'describ' \(did you mean describe\?\); see dlog logs --help\n$/);
  assertUsage(await dlog(["tail", "--log", "x", "--reder", "r"]), /^dlog: unknown option '--reder' \(did you mean --reader\?\); see dlog tail --help\n$/);
});

test("flags belong to their command: append --max is an error", { timeout: 30_000 }, async () => {
  assertUsage(
    await dlog(["append", "--log", "x", "--max", "3", "a"], { address: fixture.server.address }),
    /^dlog: unknown option '--max'; see dlog append --help\n$/,
  );
  assertUsage(await dlog(["logs", "ls", "--reader", "r"], { address: fixture.server.address }), /unknown option '--reader'/);
});

test("missing and malformed values are usage errors naming the flag and what it takes", { timeout: 30_000 }, async () => {
  assertUsage(await dlog(["tail", "--log", "x"]), /required option '-r, --reader <id>' not specified; see dlog tail --help/);
  assertUsage(await dlog(["tail", "--log", "x", "--reader", "r", "--max", "0"]), /--max <count>' argument '0' is invalid: expected a whole number >= 1/);
  assertUsage(await dlog(["read", "--log", "x", "--from", "1/2"]), /--from <position>' argument '1\/2' is invalid/);
  assertUsage(await dlog(["--format", "xml", "logs", "ls"]), /'xml' is invalid. Allowed choices are text, json/);
  const bare = await dlog([]);
  assert.equal(bare.code, 2, "no command: the help, on stderr");
  assert.equal(bare.stdout, "");
  assert.match(bare.stderr, /^Usage: dlog /);
});

test("--timeout takes dlogd's duration syntax: 10s works, bare milliseconds are refused", { timeout: 30_000 }, async () => {
  const ok = await dlog(["--timeout", "10s", "logs", "ls"], { address: fixture.server.address });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^LOG\s+RECORDS/);
  assertUsage(
    await dlog(["--timeout", "10000", "logs", "ls"]),
    /'--timeout <duration>' argument '10000' is invalid: expected a duration such as 100ms, 10s, 5m or 1h/,
  );
});

test("--addr without a port dials 7070 and names the address it dialled; a bad address is a usage error", { timeout: 30_000 }, async () => {
  const result = await dlog(["--addr", "nohost", "--timeout", "5s", "logs", "ls"]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /^dlog: (cannot reach dlogd at nohost:7070: |dlogd at nohost:7070 did not answer in time)/);
  assertUsage(await dlog(["--addr", "127.0.0.1:notaport", "logs", "ls"]), /^dlog: --addr "127.0.0.1:notaport" is not HOST\[:PORT\]/);
  const port = fixture.server.address.split(":").at(-1);
  const fromEnv = await dlog(["logs", "ls"], { address: `127.0.0.1:${port}` });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
});
