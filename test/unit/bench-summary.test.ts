import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import type { Latest } from "../../bench/latest-json.js";
import { BEGIN, END, LATEST_JSON, README, readmeSummary, withSummary } from "../../bench/summary.js";

const latest = async (): Promise<Latest> => JSON.parse(await readFile(LATEST_JSON, "utf8")) as Latest;

test("the README's performance table is the one bench/results/latest.json gives (regenerated, never typed)", async () => {
  const readme = await readFile(README, "utf8");
  assert.equal(withSummary(readme, readmeSummary(await latest())), readme, "run node dist/bench/summary.js after a bench run");
});

test("latest.json holds the figures the issue names, each peer object with dlog, nats, redis and limit", async () => {
  const l = await latest();
  for (const key of ["deliver_ack_1reader_100B", "append_1record_appender_100B", "append_256inflight_100B"] as const) {
    for (const side of ["dlog", "nats", "redis", "limit"] as const) assert.ok(side in l[key], `${key}.${side}`);
  }
  for (const key of ["tail_p99_ms", "resume_p99_ms", "position_writes_per_1000_acks", "idle_session_kib"] as const) assert.ok(key in l, key);
  assert.ok(l.machine.cpus > 0 && l.machine.cpu_model !== "", "the run names the machine");
  assert.ok(l.versions["node"], "and the versions");
});

test("a summary goes between the markers, and a README without them is refused", () => {
  const readme = `intro\n${BEGIN}\nold table\n${END}\noutro\n`;
  assert.equal(withSummary(readme, "new table"), `intro\n${BEGIN}\nnew table\n${END}\noutro\n`);
  assert.throws(() => withSummary("no markers here", "t"), /markers/);
});
