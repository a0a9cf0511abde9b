/**
 * A few seconds of every code path before measuring: a fresh dlogd (and this client's
 * nice-grpc/protobuf code) runs unoptimised at first, and tail latency in particular
 * is several times worse in the first seconds of a process.
 */
import { appendStream, appendUnary } from "./append.js";
import { deliverAndAck } from "./deliver.js";
import type { Dlogd } from "./dlogd-process.js";
import { readThroughput } from "./read.js";
import { tailLatency } from "./tail-latency.js";

export async function warmUp(d: Dlogd, quick: boolean): Promise<number> {
  const t0 = performance.now();
  const ms = quick ? 700 : 1_500;
  // Fresh log names each time: a data dir may be warmed up more than once.
  const tag = `${Date.now().toString(36)}`;
  const log = (name: string): string => `warmup-${name}-${tag}`;
  await appendUnary(d.logs, { log: log("a"), size: 100, recordsPerAppend: 1, inFlight: 1, appends: 2_000, timeoutMs: ms });
  await appendUnary(d.logs, { log: log("a"), size: 1024, recordsPerAppend: 1, inFlight: 256, appends: 20_000, timeoutMs: ms });
  await appendStream(d.logs, { log: log("a"), size: 100, recordsPerAppend: 1, inFlight: 256, appends: 50_000, timeoutMs: ms });
  await appendStream(d.logs, { log: log("b"), size: 100, recordsPerAppend: 1_000, inFlight: 8, appends: quick ? 50 : 200, timeoutMs: ms * 2 });
  await readThroughput(d.logs, log("b"), 1_000, 1_000_000, ms);
  await deliverAndAck(d.readers, log("b"), "warmup", 1_000_000, ms);
  await tailLatency(d.logs, d.readers, { log: log("tail"), size: 100, ratePerSec: 2_000, durationMs: ms, warmup: 0 });
  return performance.now() - t0;
}
