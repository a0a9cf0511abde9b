/** dlog append throughput through the generated LogService client. */
import type { AppendRequest, LogServiceClient } from "../src/gen/dlog/v1/log.js";
import { MessageQueue } from "../clients/typescript/src/message-queue.js";
import { deadline } from "./stats.js";

export interface AppendRun {
  log: string;
  /** Payload bytes per record. */
  size: number;
  /** Records in one Append request (one LevelDB entry). */
  recordsPerAppend: number;
  /** Append requests waiting for their answer at once. */
  inFlight: number;
  /** Append requests to make at most. */
  appends: number;
  timeoutMs: number;
  /** AppendStream only: the appends are a producer's, numbered 1, 2, 3, … (idempotent, as the client's appender sends them). */
  producerId?: string | undefined;
}

export interface AppendResult {
  records: number;
  appends: number;
  ms: number;
}

/**
 * Unary `Append` calls: `inFlight` workers, each awaiting its call before making the next
 * (Promise-based; with 1 worker this is one append at a time).
 */
export async function appendUnary(logs: LogServiceClient, run: AppendRun): Promise<AppendResult> {
  const request = requestOf(run);
  const expired = deadline(run.timeoutMs);
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < run.appends && !expired()) {
      started++;
      await logs.append(request);
      done++;
    }
  };
  await Promise.all(Array.from({ length: run.inFlight }, worker));
  return { appends: done, records: done * run.recordsPerAppend, ms: performance.now() - t0 };
}

/**
 * Pipelined appends on one `AppendStream`: keeps `inFlight` requests unanswered, sends the
 * next as each answer arrives; the clock stops at the last answer.
 */
export async function appendStream(logs: LogServiceClient, run: AppendRun): Promise<AppendResult> {
  const request = requestOf(run);
  const expired = deadline(run.timeoutMs);
  const out = new MessageQueue<AppendRequest>();
  let sent = 0;
  let answered = 0;
  let wakeProducer: (() => void) | undefined;
  let finished = false;
  const wake = (): void => {
    const w = wakeProducer;
    wakeProducer = undefined;
    w?.();
  };
  const t0 = performance.now();
  const consumer = (async () => {
    try {
      for await (const response of logs.appendStream(out)) {
        if (response.error) throw new Error(`append ${answered} failed: ${response.error.code} ${response.error.message}`);
        answered++;
        wake();
      }
    } finally {
      finished = true;
      wake();
    }
  })();
  try {
    while (sent < run.appends && !expired() && !finished) {
      if (sent - answered >= run.inFlight) {
        await new Promise<void>((resolve) => {
          wakeProducer = resolve;
        });
        continue;
      }
      sent++;
      out.push(run.producerId === undefined ? request : { ...request, producerId: run.producerId, producerSeq: BigInt(sent) });
    }
  } finally {
    out.end();
  }
  await consumer;
  if (answered < sent) throw new Error(`AppendStream ended after ${answered} of ${sent} answers`);
  return { appends: answered, records: answered * run.recordsPerAppend, ms: performance.now() - t0 };
}

function requestOf(run: AppendRun): AppendRequest {
  // One request object reused for every call: the client encodes it per call, we measure the server.
  const payload = Buffer.alloc(run.size, 0x61);
  return { log: run.log, records: Array.from({ length: run.recordsPerAppend }, () => ({ payload })), requestId: 0n, producerId: "", producerSeq: 0n };
}

/**
 * Unary `GetLog` calls (no storage write: the answer comes from memory) with `inFlight`
 * workers: what nice-grpc + grpc-js unary calls cost on this machine, the ceiling under unary appends.
 */
export async function getLogCalls(
  logs: LogServiceClient,
  log: string,
  inFlight: number,
  calls: number,
  timeoutMs: number,
): Promise<{ calls: number; ms: number }> {
  const expired = deadline(timeoutMs);
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < calls && !expired()) {
      started++;
      await logs.getLog({ log });
      done++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { calls: done, ms: performance.now() - t0 };
}
