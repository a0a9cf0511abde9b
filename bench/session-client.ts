/**
 * A thin driver over the ReaderService.Session call: open, read frames, ack, drain. Its records
 * frames are decoded as the TypeScript client's Reader decodes them (clients/typescript/src/record-frame.ts:
 * every record's fields read, its objects made only when asked for), not by the generated decoder.
 */
import { type Channel, createClient } from "nice-grpc";
import type { DLSN } from "../src/gen/dlog/v1/common.js";
import type { FlowLimits, RecordBatch, ReaderServiceClient, SessionRequest, SessionResponse } from "../src/gen/dlog/v1/reader.js";
import { MessageQueue } from "../clients/typescript/src/message-queue.js";
import { FRAME_READER_DEFINITION, RecordFrame } from "../clients/typescript/src/record-frame.js";

/** A ReaderService client whose Session decodes records frames into RecordFrames. */
export const frameReaders = (channel: Channel): ReaderServiceClient => createClient(FRAME_READER_DEFINITION, channel);

/** How many records a frame holds, without making them. */
export const recordCount = (batch: RecordBatch): number => (batch instanceof RecordFrame ? batch.count : batch.records.length);

/** The last record's DLSN (a frame is never empty when this is asked), without making the others. */
export function lastDlsn(batch: RecordBatch): DLSN {
  if (batch instanceof RecordFrame) return batch.wireDlsn(batch.count - 1);
  return batch.records[batch.records.length - 1]!.dlsn!;
}

export interface SessionHandle {
  /** Frames from the server; ends after Drained, throws the session's error status. */
  frames: AsyncIterator<SessionResponse>;
  ack(upTo: DLSN): void;
  drain(): void;
  /** Half-closes the request side and cancels the call if it is still open. */
  close(): void;
}

export const BENCH_FLOW: FlowLimits = { maxOutstandingRecords: 10_000, maxOutstandingBytes: 0n, maxBatchRecords: 1_000 };

/** Opens a session (FENCE takeover, stored position, EARLIEST fallback) and returns its frame iterator. */
export function openSession(readers: ReaderServiceClient, log: string, readerId: string, flow: FlowLimits = BENCH_FLOW): SessionHandle {
  const out = new MessageQueue<SessionRequest>();
  const abort = new AbortController();
  out.push({ kind: { $case: "open", value: { log, readerId, flow, resumePolicy: 0, takeover: 0, ackWaitMs: 0 } } });
  const frames = readers.session(out, { signal: abort.signal })[Symbol.asyncIterator]();
  return {
    frames,
    ack: (upTo) => out.push({ kind: { $case: "ack", value: { dlsns: [], upTo } } }),
    drain: () => out.push({ kind: { $case: "drain", value: {} } }),
    close: () => {
      out.end();
      abort.abort();
    },
  };
}
