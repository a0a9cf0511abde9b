import { performance } from "node:perf_hooks";
import {
  type Metadata as GrpcMetadata,
  ResponderBuilder,
  ServerInterceptingCall,
  type ServerInterceptor,
  ServerListenerBuilder,
  type StatusObject,
  status as GrpcStatus,
} from "@grpc/grpc-js";
import { namesOf, tokenNameOf } from "./auth.js";
import { type Logger, rateLimited } from "./logger.js";
import { RefusedRequest } from "./request-guard.js";

/** Statuses that mean the server said no to the caller (auth, rights, limits, validation): logged at warn. */
const REFUSALS = new Set<number>([
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.OUT_OF_RANGE,
  GrpcStatus.FAILED_PRECONDITION,
]);

/** A refusal of one kind (method, code, token) is logged at most this often; the next line counts the rest. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

export interface CallLogOptions {
  logger: Logger;
  /** Every refusal, not rate-limited (dlog_calls_refused_total). */
  onRefused?(method: string, code: string): void;
  intervalMs?: number;
}

/**
 * How each call ended, seen from the innermost interceptor — so it sees the refusals of the
 * authentication interceptor and of nice-grpc alike: refused calls at warn, rate-limited per
 * method, status code and token, with the token's name (never the token), peer, method and the
 * log the request named; every other call at debug. Costs nothing per message but a check until
 * the log's name is known, and one line per refusal kind per interval.
 */
export function callLogInterceptor({ logger, onRefused, intervalMs = REFUSAL_LOG_INTERVAL_MS }: CallLogOptions): ServerInterceptor {
  const refused = rateLimited(logger, "warn", intervalMs);
  return (method, call) => {
    const started = performance.now();
    let metadata: GrpcMetadata | undefined;
    let log: string | undefined;
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((received: GrpcMetadata, next: (metadata: GrpcMetadata) => void) => {
        // Kept, not read: the authentication interceptor (further out) names the token in it.
        metadata = received;
        next(received);
      })
      .withOnReceiveMessage((message: unknown, next: (message: unknown) => void) => {
        if (log === undefined) log = logOf(message);
        next(message);
      })
      .build();
    const responder = new ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status: Pick<StatusObject, "code" | "details">, next: (status: never) => void) => {
        const isRefusal = REFUSALS.has(status.code);
        if (isRefusal || logger.isLevelEnabled("debug")) {
          const code = GrpcStatus[status.code] ?? String(status.code);
          const token = metadata && tokenNameOf(metadata);
          const fields = {
            method: method.path,
            code,
            peer: call.getPeer(),
            ...(token === undefined ? {} : { token }),
            ...(log === undefined ? {} : { log }),
            ...(status.code === GrpcStatus.OK ? {} : { error: status.details }),
            durationMs: Math.round((performance.now() - started) * 1000) / 1000,
          };
          if (isRefusal) {
            onRefused?.(method.path.slice(method.path.lastIndexOf("/") + 1), code);
            refused(fields, "call refused", `${code} ${method.path} ${token ?? ""}`);
          } else {
            logger.debug(fields, "call ended");
          }
        }
        next(status as never);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}

/** The log a request names; for a request refused while decoding, the log its refusal names. */
function logOf(message: unknown): string | undefined {
  if (message instanceof RefusedRequest) return message.error.metadata.log;
  return namesOf(message).log;
}
