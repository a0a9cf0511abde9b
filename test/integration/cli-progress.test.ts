/** Progress where people wait: a count and rate on stderr, only when stderr is a terminal. */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createDlogClient, type DlogClient, DLSN } from "../../clients/typescript/src/index.js";
import { dlog, startDlogOnTerminal, waitFor } from "../helpers/cli.js";
import { type Dlogd, startDlogd, tempDir } from "../helpers/dlogd.js";

let server: Dlogd;
let client: DlogClient;
let dir: { path: string; cleanup: () => void };

before(async () => {
  dir = tempDir();
  server = await startDlogd({ dataDir: join(dir.path, "data") });
  client = createDlogClient({ address: server.address });
});

after(async () => {
  client.close();
  await server.stop();
  dir.cleanup();
});

const lines = (text: string): string[] => (text === "" ? [] : text.replace(/\n$/, "").split("\n"));

test("append from a slow stdin shows a rate on a terminal, then a final line; stdout keeps only the DLSNs", { timeout: 30_000 }, async () => {
  const stdoutFile = join(dir.path, "append.out");
  const go = join(dir.path, "append.go");
  // Two lines, then the third only once the progress is on the screen: a wait of any length, on any machine.
  const run = startDlogOnTerminal(["append", "--log", "progress-append"], {
    address: server.address,
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
  const result = await dlog(["append", "--log", "progress-quiet"], { address: server.address, input: `${"x\n".repeat(5000)}` });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(lines(result.stdout).length, 5000);
  assert.equal(result.stderr, "");
});

test("read --max and tail --max show 'n of N' on a terminal while they wait", { timeout: 30_000 }, async () => {
  await client.append("progress-read", ["a"]);
  for (const [args, total] of [
    [["read", "--log", "progress-read", "--follow", "--max", "3"], 3],
    [["tail", "--log", "progress-read", "--reader", "r", "--max", "4"], 4],
  ] as const) {
    const stdoutFile = join(dir.path, `${args[0]}.out`);
    const run = startDlogOnTerminal([...args], { address: server.address, stdoutFile });
    const have = (await client.getLog("progress-read")).recordCount;
    await waitFor(() => new RegExp(`read ${have} of ${total} records \\([\\d,]+/s\\)`).test(run.screen()), `${args[0]} progress`);
    await client.append("progress-read", Array.from({ length: total - Number(have) }, () => "more"));
    assert.equal(await run.exited, 0, run.screen());
    assert.match(run.screen(), new RegExp(`read ${total} records in \\d+\\.\\d s`));
    assert.equal(lines(readFileSync(stdoutFile, "utf8")).length, total);
  }
});
