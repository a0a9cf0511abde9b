// The TypeScript client's figures for bench_client.py, measured against the same dlogd in the same run.
//   node ts_client.mjs ADDRESS deliver LOG READER_ID COUNT   -> {"records": n, "seconds": s}
//   node ts_client.mjs ADDRESS append LOG COUNT PAYLOAD_BYTES -> {"records": n, "seconds": s}
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const { createDlogClient } = await import(`${root}dist/clients/typescript/src/index.js`);

const [address, mode, log, ...rest] = process.argv.slice(2);
const client = createDlogClient({ address });
const started = performance.now();
let records = 0;
if (mode === "deliver") {
  const [readerId, count] = [rest[0], Number(rest[1])];
  const reader = client.reader({ log, readerId, fallback: "earliest" });
  for await (const record of reader) {
    record.ack();
    if (++records >= count) break; // leaving the loop drains
  }
} else if (mode === "append") {
  const [count, size] = [Number(rest[0]), Number(rest[1])];
  const appender = client.appender(log);
  const payload = Buffer.alloc(size, 120);
  const answers = [];
  for (let i = 0; i < count; i++) {
    if (appender.inFlight >= 256) await appender.ready(); // one record per call, up to 256 pipelined
    answers.push(appender.append(payload));
  }
  await Promise.all(answers);
  await appender.close();
  records = count;
} else {
  throw new Error(`unknown mode ${mode}`);
}
const seconds = (performance.now() - started) / 1000;
client.close();
console.log(JSON.stringify({ records, seconds }));
