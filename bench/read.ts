/** dlog `Read` throughput: a server stream over a pre-filled log, no reader state. */
import type { LogServiceClient } from "../src/gen/dlog/v1/log.js";

export interface ReadResult {
  records: number;
  messages: number;
  ms: number;
}

/** Reads `log` from the start to its end (no follow), `maxBatchRecords` per message; aborted at `timeoutMs`. */
export async function readThroughput(logs: LogServiceClient, log: string, maxBatchRecords: number, maxRecords: number, timeoutMs: number): Promise<ReadResult> {
  const abort = new AbortController();
  const guard = setTimeout(() => abort.abort(), timeoutMs);
  let records = 0;
  let messages = 0;
  const t0 = performance.now();
  try {
    for await (const response of logs.read({ log, maxBatchRecords, maxRecords: BigInt(maxRecords) }, { signal: abort.signal })) {
      records += response.records.length;
      messages++;
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    clearTimeout(guard);
  }
  return { records, messages, ms: performance.now() - t0 };
}
