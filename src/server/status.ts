import { type CallContext, ServerError, type ServerMiddlewareCall, Status } from "nice-grpc";
import { DlogError, type ErrorCode } from "../errors.js";
import type { Logger } from "./logger.js";

const STATUS_OF: Record<ErrorCode, Status> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  ABORTED: Status.ABORTED,
  OUT_OF_RANGE: Status.OUT_OF_RANGE,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  UNAUTHENTICATED: Status.UNAUTHENTICATED,
  PERMISSION_DENIED: Status.PERMISSION_DENIED,
  UNAVAILABLE: Status.UNAVAILABLE,
  INTERNAL: Status.INTERNAL,
};

/** nice-grpc signals a cancelled call with an AbortError; it must pass through untouched. */
function isAbortError(error: unknown): boolean {
  return (error as Error | undefined)?.name === "AbortError";
}

/** The core's error as the gRPC status a client sees. */
export function toServerError(error: DlogError): ServerError {
  return new ServerError(STATUS_OF[error.code], error.message);
}

/**
 * Maps every failure to a deliberate status: DlogError by its code, anything
 * unexpected to INTERNAL (logged) — never grpc-js's bare UNKNOWN.
 */
export function statusMiddleware(logger: Logger) {
  return async function* statusMapping<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    try {
      return yield* call.next(call.request, context);
    } catch (error) {
      if (error instanceof ServerError || isAbortError(error)) throw error;
      if (error instanceof DlogError) throw toServerError(error);
      logger.error("unexpected error", { method: call.method.path, error: (error as Error)?.stack ?? String(error) });
      throw new ServerError(Status.INTERNAL, `internal error: ${(error as Error)?.message ?? String(error)}`);
    }
  };
}
