/**
 * One reader's catch-up (deliver + ack through ReaderService.Session, 100 B records, a log written
 * 1000 records per append) for two or more builds in one run:
 * `node dist/bench/deliver-side-by-side.js [--dist DIR]… [--rounds R] [--records N] [--cpu-prof-dir DIR]`.
 * One dlogd per dist (this build by default, or the dist/ of another checkout), each with its log
 * filled and read once to warm up; then in turns (order reversed every other round) a fresh reader
 * catches up on each side. Per round: the rate, and dlogd's and this client's CPU per record, which a
 * busy machine disturbs far less than the rate.
 */
import { parseArgs } from "node:util";
import { appendStream } from "./append.js";
import { deliverAndAck } from "./deliver.js";
import type * as DlogdProcess from "./dlogd-process.js";
import { importDlogdProcess } from "./other-build.js";
import { quantile } from "./stats.js";

const { values } = parseArgs({
  options: {
    dist: { type: "string", multiple: true },
    rounds: { type: "string", default: "6" },
    records: { type: "string", default: "1000000" },
    "cpu-prof-dir": { type: "string" },
  },
});

const RUN_TIMEOUT_MS = 300_000;
const LOG = "sbs-deliver";
const dists = values.dist ?? [new URL("..", import.meta.url).pathname];
const records = Number(values.records);

interface Side {
  label: string;
  d: DlogdProcess.Dlogd;
  rates: number[];
  dlogdUs: number[];
  clientUs: number[];
}

const sides: Side[] = [];
try {
  for (const [i, dist] of dists.entries()) {
    const mod = await importDlogdProcess(dist);
    const cpuProfDir = values["cpu-prof-dir"] === undefined ? undefined : `${values["cpu-prof-dir"]}/${i}`;
    const d = await mod.startDlogd(cpuProfDir === undefined ? {} : { cpuProfDir });
    sides.push({ label: dist, d, rates: [], dlogdUs: [], clientUs: [] });
    await appendStream(d.logs, { log: LOG, size: 100, recordsPerAppend: 1000, inFlight: 4, appends: Math.ceil(records / 1000), timeoutMs: RUN_TIMEOUT_MS });
    await deliverAndAck(d.readers, LOG, "warm", records, RUN_TIMEOUT_MS);
  }
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const cpu0 = await side.d.cpuSeconds();
      const client0 = process.cpuUsage();
      const result = await deliverAndAck(side.d.readers, LOG, `r${round}`, records, RUN_TIMEOUT_MS);
      const client = process.cpuUsage(client0);
      const dlogdUs = (((await side.d.cpuSeconds()) - cpu0) * 1e6) / result.records;
      const clientUs = (client.user + client.system) / result.records;
      const rate = (result.records * 1000) / result.deliverMs;
      side.rates.push(rate);
      side.dlogdUs.push(dlogdUs);
      side.clientUs.push(clientUs);
      console.log(`${side.label} round ${round}: ${(rate / 1e6).toFixed(3)} M rec/s, dlogd ${dlogdUs.toFixed(3)} µs/rec, client ${clientUs.toFixed(3)} µs/rec`);
    }
  }
  if (values["cpu-prof-dir"] !== undefined)
    console.log(
      `dlogd profiles in ${values["cpu-prof-dir"]}/<side>/ once stopped; the rounds ran in the monotonic window ${fromUs}-${Number(process.hrtime.bigint() / 1000n)} µs (cut to it with summariseProfileFile in bench/cpu-profile.ts)`,
    );
  console.log(`\nover ${values.rounds} rounds of ${records} records: best rate, median rate, median dlogd / client CPU per record`);
  const [first] = sides;
  for (const side of sides) {
    const best = Math.max(...side.rates);
    const median = quantile(side.rates, 0.5);
    const vs = side === first ? "" : `  (${(best / Math.max(...first!.rates)).toFixed(3)}x best, ${(median / quantile(first!.rates, 0.5)).toFixed(3)}x median)`;
    console.log(
      `${side.label}: best ${(best / 1e6).toFixed(3)} M, median ${(median / 1e6).toFixed(3)} M rec/s; dlogd ${quantile(side.dlogdUs, 0.5).toFixed(3)} µs, client ${quantile(side.clientUs, 0.5).toFixed(3)} µs${vs}`,
    );
  }
} finally {
  for (const side of sides) await side.d.stop();
}
