/** Runs every reference measurement once at moderate sizes and prints a Markdown table. */
import { batchPuts, isSkipped, natsJetStream, nextvScan, rawGrpcStream, redisStreams, singlePuts, type Measurement } from "./index.js";

const records = Number(process.env["BENCH_RECORDS"] ?? 200_000);
const size = Number(process.env["BENCH_SIZE"] ?? 100);

const steps: [string, () => Promise<Measurement | Measurement[]>][] = [
  ["level batch 100 B", () => batchPuts({ records, size })],
  ["level batch 1 KiB", () => batchPuts({ records, size: 1024 })],
  ["level nextv", () => nextvScan({ records, size })],
  ["level put", () => singlePuts({ ops: 50_000 })],
  ["level put sync", () => singlePuts({ ops: 2_000, sync: true })],
  ["grpc 1/msg", () => rawGrpcStream({ records, size, recordsPerMessage: 1 })],
  ["grpc 1/msg same process", () => rawGrpcStream({ records, size, recordsPerMessage: 1, server: "same-process" })],
  ["grpc 64/msg", () => rawGrpcStream({ records: records * 4, size, recordsPerMessage: 64 })],
  ["nats", () => natsJetStream({ records, size })],
  ["redis", () => redisStreams({ records, size })],
];

function format(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(0);
}

const rows: Measurement[] = [];
const t0 = performance.now();
for (const [label, run] of steps) {
  try {
    const result = await run();
    rows.push(...(Array.isArray(result) ? result : [result]));
  } catch (err) {
    rows.push({ name: label, value: Number.NaN, unit: "", detail: `error: ${err instanceof Error ? err.message : String(err)}` });
  }
}

console.log("| measurement | value | unit | detail |");
console.log("|---|---:|---|---|");
for (const m of rows) {
  const value = isSkipped(m) || Number.isNaN(m.value) ? "—" : format(m.value);
  console.log(`| ${m.name} | ${value} | ${m.unit} | ${(m.detail ?? "").replaceAll("|", "\\|")} |`);
}
console.log(`\n${rows.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s, Node ${process.version}`);
