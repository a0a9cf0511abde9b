/**
 * `make reliability-report`: prints every figure the suite wrote (DLOG_RELIABILITY_OUT/*.json),
 * then one summary line, last. Exits 1 when a figure the summary needs is missing (its test failed
 * before reporting, or did not run).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) throw new Error("usage: report.js DLOG_RELIABILITY_OUT");
const figures = new Map<string, number | string>();
for (const file of readdirSync(dir)
  .filter((name) => name.endsWith(".json"))
  .sort()) {
  const group = file.slice(0, -".json".length);
  for (const [name, value] of Object.entries(JSON.parse(readFileSync(join(dir, file), "utf8")) as Record<string, number | string>)) {
    console.log(`${group}: ${name} = ${value}`);
    figures.set(name, value);
  }
}
// Figure names in the summary, from the test that reports each: crash-cycles, bad-inputs, load.
const SUMMARY = ["cycles", "records", "lost", "max_redelivered", "bound", "bad_inputs", "sessions"];
const missing = SUMMARY.filter((name) => !figures.has(name));
if (missing.length > 0) console.log(`missing figures (their test failed or did not run): ${missing.join(", ")}`);
console.log(`reliability: ${SUMMARY.map((name) => `${name}=${figures.get(name) ?? "?"}`).join(" ")}`);
if (missing.length > 0) process.exitCode = 1;
