/**
 * Instructions dlogd executes per append, counted by valgrind's callgrind: exact and
 * load-independent where wall-clock rates on a shared machine are not, so two builds compare in
 * one run. dlogd runs under callgrind (with its metrics on, as in the bench), the client here
 * natively. Each workload runs five times over to warm the JIT, then counting is zeroed, it runs
 * again and the counts are dumped, per thread: the main thread (JavaScript, the event loop) and all
 * threads (with LevelDB's writes on the thread pool, GC and the JIT's background compiles):
 *   - unary Append of one 100 B record, 1 in flight (per call), next to unary GetLog (per call);
 *   - AppendStream requests of 1000 records each, with a producer id and seq as the client's appender
 *     sends them when it batches, and without (per record);
 *   - AppendStream requests of one record each, with a producer id and seq, 8 in flight (per append):
 *     what the appender sends when appends trickle in, and the idempotent dedupe's share of an append.
 *
 *   node dist/bench/append-instructions.js [--calls 300] [--fsync] bin/dlogd.js [other/bin/dlogd.js ...]
 */
import { resolve } from "node:path";
import { createChannel, createClient } from "nice-grpc";
import { LogServiceDefinition, type LogServiceClient } from "../src/gen/dlog/v1/log.js";
import { appendStream, appendUnary, getLogCalls } from "./append.js";
import { type Instructions, startCallgrindDlogd } from "./callgrind-dlogd.js";

const RUN_TIMEOUT_MS = 600_000;
let producerRuns = 0;

interface Workload {
  name: string;
  /** Runs the workload; the operations it counts. */
  run(logs: LogServiceClient, round: string): Promise<number>;
}

function workloads(calls: number): Workload[] {
  return [
    {
      name: "unary Append, 1 record, 1 in flight (per call)",
      run: async (logs, round) =>
        (await appendUnary(logs, { log: `unary-${round}`, size: 100, recordsPerAppend: 1, inFlight: 1, appends: calls, timeoutMs: RUN_TIMEOUT_MS })).appends,
    },
    {
      name: "unary GetLog, 1 in flight (per call)",
      run: async (logs) => (await getLogCalls(logs, "unary-warm", 1, calls, RUN_TIMEOUT_MS)).calls,
    },
    {
      name: "AppendStream, 1000 records per request with a producer id (the client's appender), 4 in flight (per record)",
      // A new producer each run: a run repeating seqs 1, 2, 3… would be answered as retries.
      run: (logs, round) => bulkStream(logs, `producer-${round}`, calls, `bench-${round}-${++producerRuns}`),
    },
    {
      name: "AppendStream, 1000 records per request, 4 in flight (per record)",
      run: (logs, round) => bulkStream(logs, `bulk-${round}`, calls, undefined),
    },
    {
      name: "AppendStream, 1 record per request with a producer id, 8 in flight (per append)",
      run: async (logs, round) => {
        const run = { log: `single-producer-${round}`, size: 100, recordsPerAppend: 1, inFlight: 8, appends: calls, timeoutMs: RUN_TIMEOUT_MS };
        return (await appendStream(logs, { ...run, producerId: `bench-single-${round}-${++producerRuns}` })).appends;
      },
    },
  ];
}

/** AppendStream requests of 1000 records of 100 B, 4 in flight; the records appended. */
async function bulkStream(logs: LogServiceClient, log: string, calls: number, producerId: string | undefined): Promise<number> {
  const run = { log, size: 100, recordsPerAppend: 1000, inFlight: 4, appends: Math.max(4, calls / 10), timeoutMs: RUN_TIMEOUT_MS, producerId };
  return (await appendStream(logs, run)).records;
}

async function measure(dlogd: string, calls: number, fsync: boolean): Promise<Map<string, Instructions>> {
  const server = await startCallgrindDlogd(dlogd, { fsync });
  const channel = createChannel(server.address);
  const counts = new Map<string, Instructions>();
  try {
    const logs = createClient(LogServiceDefinition, channel);
    await logs.createLog({ log: "unary-warm" });
    for (const workload of workloads(calls)) {
      for (let i = 0; i < 5; i++) await workload.run(logs, "warm");
      await server.zero();
      const ops = await workload.run(logs, "counted");
      const { main, all } = await server.dump();
      counts.set(workload.name, { main: main / ops, all: all / ops });
    }
    return counts;
  } finally {
    channel.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let calls = 300;
  const at = args.indexOf("--calls");
  if (at >= 0) {
    calls = Number(args.splice(at, 2)[1]);
    if (!Number.isSafeInteger(calls) || calls < 10) throw new Error("--calls takes an integer >= 10");
  }
  const fsyncAt = args.indexOf("--fsync");
  const fsync = fsyncAt >= 0;
  if (fsync) args.splice(fsyncAt, 1);
  if (args.length === 0) throw new Error("name at least one bin/dlogd.js");
  const results: Array<{ dlogd: string; counts: Map<string, Instructions> }> = [];
  for (const dlogd of args) results.push({ dlogd, counts: await measure(resolve(dlogd), calls, fsync) });
  console.log(`dlogd instructions per operation, main thread / all threads (${calls} calls per unary workload, fsync ${fsync ? "on" : "off"})`);
  const [first, ...rest] = results;
  for (const name of first!.counts.keys()) {
    const cells = results.map((r) => `${Math.round(r.counts.get(name)!.main)} / ${Math.round(r.counts.get(name)!.all)}`);
    const ratios = rest.map((r) => `${(r.counts.get(name)!.main / first!.counts.get(name)!.main).toFixed(3)}x main`);
    console.log(`${name}\t${cells.join("\t")}${ratios.length > 0 ? `\t(${ratios.join(", ")} of the first)` : ""}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
