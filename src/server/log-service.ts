import { performance } from "node:perf_hooks";
import type { CallContext } from "nice-grpc";
import { DlogError } from "../errors.js";
import type { LogStore, ProducerRef } from "../log/log-store.js";
import type { AppendRequest, AppendResponse, LogServiceImplementation, ReadRequest, ReadResponse } from "../gen/dlog/v1/log.js";
import { encodeAppendResponse } from "./append-response.js";
import { accessOf } from "./auth.js";
import { Channel } from "./channel.js";
import { fromWireDlsn, fromWirePosition, optionalWireDlsn, toWireLogInfo } from "./convert.js";
import { pageOf } from "./paging.js";
import { encodeReadResponse } from "./record-frames.js";
import { statusOf } from "./status.js";

const DEFAULT_READ_BATCH = 256;
const MAX_READ_BATCH = 10_000;
/** Payload bytes per Read response: with one record over it, still well under a default client's 4 MiB message limit. */
const READ_BATCH_BYTES = 1024 * 1024;
/** Appends of one AppendStream that may wait for their batch at once; past it the stream stops reading requests. */
const MAX_STREAM_IN_FLIGHT = 4096;

export interface LogServiceDeps {
  logs: LogStore;
  /** Most logs the server holds (--max-logs): creating one more, explicitly or by a first append, is refused. */
  maxLogs: number;
  /** An append was answered, after `seconds` (metrics; once per request, never per record). */
  onAppended?: ((seconds: number) => void) | undefined;
}

/** dlog.v1.LogService over the log store. */
export function createLogService({ logs, maxLogs, onAppended }: LogServiceDeps): LogServiceImplementation {
  const checkRoomFor = (log: string): void => {
    if (!logs.has(log) && logs.listLogs().length >= maxLogs) {
      throw new DlogError("RESOURCE_EXHAUSTED", `the server holds ${maxLogs} logs, its limit (--max-logs); delete one before creating "${log}"`, {
        reason: "LIMIT_EXCEEDED",
        metadata: { limit: "max_logs", max: String(maxLogs) },
      });
    }
  };

  async function append(request: AppendRequest): Promise<AppendResponse> {
    const started = onAppended && performance.now();
    checkRoomFor(request.log);
    const result = await logs.append(request.log, request.records, producerOf(request));
    if (started !== undefined) onAppended!((performance.now() - started) / 1000);
    // Pre-encoded (append-response.ts); the service definition passes it through as an AppendResponse.
    return encodeAppendResponse(result, request.requestId) as unknown as AppendResponse;
  }

  return {
    async createLog(request) {
      checkRoomFor(request.log);
      return toWireLogInfo(await logs.createLog(request.log));
    },

    async deleteLog(request) {
      return { recordsDeleted: await logs.deleteLog(request.log) };
    },

    async listLogs(request, context) {
      const access = accessOf(context);
      const visible = logs.listLogs(request.prefix).filter((info) => access?.mayRead(info.name) ?? true);
      const page = pageOf(visible, (info) => info.name, request);
      return { logs: page.items.map(toWireLogInfo), nextPageToken: page.nextPageToken };
    },

    async getLog(request) {
      return toWireLogInfo(logs.describe(request.log));
    },

    append,

    async *appendStream(requests: AsyncIterable<AppendRequest>, context: CallContext) {
      const answers = new Channel<Promise<AppendResponse>>(MAX_STREAM_IN_FLIGHT);
      // Shutdown waits for open calls: an idle stream is ended (UNAVAILABLE) once the store has
      // written the appends in flight, whose answers are still delivered first.
      const onClosed = (): void => answers.fail(new DlogError("UNAVAILABLE", "server is shutting down", { reason: "SHUTTING_DOWN" }));
      if (logs.closedSignal.aborted) onClosed();
      else logs.closedSignal.addEventListener("abort", onClosed, { once: true });
      const pump = (async () => {
        try {
          for await (const request of requests) {
            // Each append is answered on its own: a failure is reported in its response, the stream goes on.
            const answer = append(request).catch((error: unknown): AppendResponse => {
              if (!(error instanceof DlogError)) throw error;
              const failed = { code: statusOf(error), message: error.message, reason: error.reason, metadata: { ...error.metadata } };
              return { dlsns: [], txids: [], requestId: request.requestId, error: failed, duplicate: false };
            });
            answer.catch(() => undefined); // observed below, in order
            await answers.push(answer);
          }
          answers.close();
        } catch (error) {
          answers.fail(error);
        }
      })();
      try {
        for await (const answer of answers) yield await answer;
      } finally {
        logs.closedSignal.removeEventListener("abort", onClosed);
        answers.close();
        // Not awaited: the pump may be waiting for a request that never comes; it ends with the call.
        void pump.catch(() => undefined);
      }
    },

    async *read(request: ReadRequest, context: CallContext) {
      const start = fromWirePosition(request.start, "start") ?? { kind: "earliest" };
      const batch = request.maxBatchRecords === 0 ? DEFAULT_READ_BATCH : request.maxBatchRecords;
      if (batch > MAX_READ_BATCH) {
        throw new DlogError("INVALID_ARGUMENT", `max_batch_records must be at most ${MAX_READ_BATCH}, got ${batch}`, {
          reason: "LIMIT_EXCEEDED",
          metadata: { limit: "max_batch_records", max: String(MAX_READ_BATCH), value: String(batch) },
        });
      }
      if (request.maxRecords < 0n) {
        throw new DlogError("INVALID_ARGUMENT", `max_records must be >= 0 (0 = no limit), got ${request.maxRecords}`, {
          metadata: { field: "max_records", value: String(request.maxRecords) },
        });
      }
      const from = start.kind === "dlsn" ? start.dlsn : (await logs.resolveStart(request.log, start)).dlsn.next();
      const reader = logs.openReader(request.log, from);
      let remaining = request.maxRecords === 0n ? Number.POSITIVE_INFINITY : Number(request.maxRecords);
      try {
        while (remaining > 0) {
          const records = await reader.read(Math.min(batch, remaining), READ_BATCH_BYTES);
          if (records.length === 0) {
            if (!request.follow) return;
            await reader.waitForMore(context.signal);
            continue;
          }
          remaining -= records.length;
          // Pre-encoded (record-frames.ts); the service definition passes it through as a ReadResponse.
          yield encodeReadResponse(records) as unknown as ReadResponse;
        }
      } finally {
        await reader.close();
      }
    },

    async truncate(request) {
      const result = await logs.truncate(request.log, fromWireDlsn(request.before, "before"), { force: request.force });
      return {
        segmentsDeleted: BigInt(result.segmentsDeleted),
        recordsDeleted: result.recordsDeleted,
        firstDlsn: optionalWireDlsn(result.firstDlsn),
      };
    },
  };
}

/** The idempotent producer of an append, if it names one (producer_seq alone means nothing). */
function producerOf(request: AppendRequest): ProducerRef | undefined {
  if (request.producerId !== "") return { id: request.producerId, seq: request.producerSeq };
  if (request.producerSeq !== 0n) {
    throw new DlogError(
      "INVALID_ARGUMENT",
      `producer_seq ${request.producerSeq} was given without a producer_id; set both for an idempotent append, or neither`,
      {
        metadata: { field: "producer_id" },
      },
    );
  }
  return undefined;
}
