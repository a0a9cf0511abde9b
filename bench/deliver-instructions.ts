/**
 * Instructions dlogd executes per delivered + acked record, counted by valgrind's callgrind:
 * exact and load-independent where wall-clock rates on a shared machine are not, so two builds
 * compare in one run record for record. dlogd runs under callgrind, the clients here natively;
 * the log is filled and read once to warm up, then counting is zeroed, one fresh reader catches
 * up (then `--readers` fresh readers at once), and the counts are dumped: the main thread's (JavaScript and
 * the event loop: what delivery itself costs) and all threads' (LevelDB's pool, GC and JIT threads too; noisier).
 *
 *   node dist/bench/deliver-instructions.js [--records 20000] [--readers 8] [--size 100] bin/dlogd.js [other/bin/dlogd.js ...]
 */
import { resolve } from "node:path";
import { createClient } from "nice-grpc";
import { LogServiceDefinition } from "../src/gen/dlog/v1/log.js";
import { ReaderServiceDefinition } from "../src/gen/dlog/v1/reader.js";
import { appendStream } from "./append.js";
import { type Instructions, startCallgrindDlogd } from "./callgrind-dlogd.js";
import { deliverAndAck, deliverAndAckMany } from "./deliver.js";
import { benchChannel } from "./dlogd-process.js";

const RUN_TIMEOUT_MS = 600_000;

interface Counts {
  dlogd: string;
  /** Per record: main thread, all threads. */
  oneReader: Instructions;
  manyReaders: Instructions;
}

function perRecord(counts: Instructions, records: number): Instructions {
  return { main: counts.main / records, all: counts.all / records };
}

async function measure(dlogd: string, records: number, readers: number, size: number): Promise<Counts> {
  const server = await startCallgrindDlogd(dlogd, { fsync: false });
  const channel = benchChannel(server.address);
  try {
    const logs = createClient(LogServiceDefinition, channel);
    const sessions = createClient(ReaderServiceDefinition, channel);
    const log = "instructions";
    await appendStream(logs, { log, size, recordsPerAppend: 1000, inFlight: 4, appends: Math.ceil(records / 1000), timeoutMs: RUN_TIMEOUT_MS });
    // Warm-up: the JIT compiles the delivery path on the first pass over the log.
    await deliverAndAck(sessions, log, "warm-0", records, RUN_TIMEOUT_MS);
    await deliverAndAckMany(sessions, log, "warm-many", readers, records, RUN_TIMEOUT_MS);
    await server.zero();
    const one = await deliverAndAck(sessions, log, "one", records, RUN_TIMEOUT_MS);
    const oneReader = perRecord(await server.dump(), one.records);
    await server.zero();
    const many = await deliverAndAckMany(sessions, log, "many", readers, records, RUN_TIMEOUT_MS);
    const manyReaders = perRecord(await server.dump(), many.records);
    return { dlogd, oneReader, manyReaders };
  } finally {
    channel.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: number): number => {
    const at = args.indexOf(`--${name}`);
    if (at < 0) return fallback;
    const value = Number(args.splice(at, 2)[1]);
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} takes a positive integer`);
    return value;
  };
  const records = option("records", 20_000);
  const readers = option("readers", 8);
  const size = option("size", 100);
  if (args.length === 0) throw new Error("name at least one bin/dlogd.js");
  const results: Counts[] = [];
  for (const dlogd of args) results.push(await measure(resolve(dlogd), records, readers, size));
  console.log(`instructions per delivered + acked record (${records} records of ${size} B; ${readers} readers: per record of all readers)`);
  const both = (c: Instructions): string => `main ${Math.round(c.main)}, all threads ${Math.round(c.all)}`;
  for (const r of results) console.log(`${r.dlogd}\t1 reader: ${both(r.oneReader)}\t${readers} readers: ${both(r.manyReaders)}`);
  const [first, ...rest] = results;
  const ratio = (a: Instructions, b: Instructions): string => `main ${(a.main / b.main).toFixed(3)}x, all ${(a.all / b.all).toFixed(3)}x`;
  for (const r of rest) {
    console.log(
      `${r.dlogd} vs ${first!.dlogd}: 1 reader ${ratio(r.oneReader, first!.oneReader)}; ${readers} readers ${ratio(r.manyReaders, first!.manyReaders)}`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
