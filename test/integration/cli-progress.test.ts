/** Progress where people wait: a count and rate on stderr, only when stderr is a terminal. */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DLSN } from "../../clients/typescript/src/index.js";
import { dlog, startDlogOnTerminal, waitFor, lines } from "../helpers/cli.js";
import { fixtureForFile } from "../helpers/fixture.js";

const fixture = fixtureForFile();

test("append from a slow stdin shows a rate on a terminal, then a final line; stdout keeps only the DLSNs", { timeout: 30_000 }, async () => {
  const stdoutFile = join(fixture.dir, "append.out");
  const go = join(fixture.dir, "append.go");
  // Two lines, then the third only once the progress is on the screen: a wait of any length, on any machine.
  const run = startDlogOnTerminal(["append", "--log", "progress-append"], {
    address: fixture.server.address,
    stdoutFile,
    pipeFrom: `(printf '1\\n2\\n'; for i in $(seq 300); do [ -e '${go}' ] && break; sleep 0.05; done; printf '3\\n')`,
  });
  await waitFor(() => /appended 2 records \([\d,]+\/s\)/.test(run.screen()), "the progress line");
  writeFileSync(go, "");
  assert.equal(await run.exited, 0, run.screen());
  assert.match(run.screen(), /appended 3 records in \d+\.\d s \([\d,]+\/s\)\r?\n/);
  const dlsns = lines(readFileSync(stdoutFile, "utf8")).map((line) => DLSN.parse(line));
  assert.equal(dlsns.length, 3);
});

test("off a terminal append prints no progress, however long it takes", { timeout: 30_000 }, async () => {
  const result = await dlog(["append", "--log", "progress-quiet"], { address: fixture.server.address, input: `${"x\n".repeat(5000)}` });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(lines(result.stdout).length, 5000);
  assert.equal(result.stderr, "");
});

test("read --max and tail --max show 'n of N' on a terminal while they wait", { timeout: 30_000 }, async () => {
  await fixture.client.append("progress-read", ["a"]);
  for (const [args, total] of [
    [["read", "--log", "progress-read", "--follow", "--max", "3"], 3],
    [["tail", "--log", "progress-read", "--reader", "r", "--max", "4"], 4],
  ] as const) {
    const stdoutFile = join(fixture.dir, `${args[0]}.out`);
    const run = startDlogOnTerminal([...args], { address: fixture.server.address, stdoutFile });
    const have = (await fixture.client.getLog("progress-read")).recordCount;
    await waitFor(() => new RegExp(`read ${have} of ${total} records \\([\\d,]+/s\\)`).test(run.screen()), `${args[0]} progress`);
    await fixture.client.append(
      "progress-read",
      Array.from({ length: total - Number(have) }, () => "more"),
    );
    assert.equal(await run.exited, 0, run.screen());
    assert.match(run.screen(), new RegExp(`read ${total} records in \\d+\\.\\d s`));
    assert.equal(lines(readFileSync(stdoutFile, "utf8")).length, total);
  }
});
