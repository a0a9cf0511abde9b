import { Metadata as GrpcMetadata, type StatusObject } from "@grpc/grpc-js";
import { type CallContext, ServerError, composeServerMiddleware, type ServerMiddlewareCall, Status } from "nice-grpc";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Any, ErrorInfo, RichServerError, errorDetailsServerMiddleware } from "nice-grpc-error-details";
import { DlogError, ERROR_DOMAIN, type ErrorCode } from "../errors.js";
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

const CODE_OF = new Map<Status, ErrorCode>(Object.entries(STATUS_OF).map(([code, status]) => [status, code as ErrorCode]));

/** nice-grpc signals a cancelled call with an AbortError; it must pass through untouched. */
function isAbortError(error: unknown): boolean {
  return (error as Error | undefined)?.name === "AbortError";
}

/** The gRPC status code of a core error (AppendStream reports per-append failures with it). */
export function statusOf(error: DlogError): Status {
  return STATUS_OF[error.code];
}

/** The core's error as the gRPC status a client sees, with its google.rpc.ErrorInfo detail. */
export function toServerError(error: DlogError): RichServerError {
  const info = ErrorInfo.fromPartial({ reason: error.reason, domain: ERROR_DOMAIN, metadata: { ...error.metadata } });
  return new RichServerError(STATUS_OF[error.code], error.message, [info]);
}

/** The core's error as a grpc-js status, for refusals made below nice-grpc (interceptors). */
export function grpcStatusOf(error: DlogError): StatusObject {
  const code = STATUS_OF[error.code] as number;
  const info = ErrorInfo.fromPartial({ reason: error.reason, domain: ERROR_DOMAIN, metadata: { ...error.metadata } });
  const detail = Any.encode(Any.fromPartial({ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: ErrorInfo.encode(info).finish() })).finish();
  // google.rpc.Status {code = 1, message = 2, details = 3}: what errorDetailsServerMiddleware sends above nice-grpc.
  const status = new BinaryWriter().uint32(8).int32(code).uint32(18).string(error.message).uint32(26).bytes(detail).finish();
  const metadata = new GrpcMetadata();
  metadata.set("grpc-status-details-bin", Buffer.from(status));
  return { code, details: error.message, metadata };
}

/**
 * Maps every failure to a deliberate status with an ErrorInfo detail: DlogError
 * by its code and reason, anything unexpected to INTERNAL (logged) — never
 * grpc-js's bare UNKNOWN. Outermost, so refusals of later middleware (auth) and
 * errors thrown mid-stream carry the detail too: nice-grpc sends the call's
 * trailer, where errorDetailsServerMiddleware puts `grpc-status-details-bin`,
 * with every status, streaming calls included.
 */
export function statusMiddleware(logger: Logger) {
  async function* statusMapping<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    try {
      return yield* call.next(call.request, context);
    } catch (error) {
      if (error instanceof RichServerError || isAbortError(error)) throw error;
      if (error instanceof DlogError) throw toServerError(error);
      if (error instanceof ServerError) {
        // A bare ServerError (none of ours should raise one) still gets the default reason of its code.
        const code = CODE_OF.get(error.code);
        throw code === undefined ? error : toServerError(new DlogError(code, error.details));
      }
      throw toServerError(unexpected(error, logger, call.method.path));
    }
  }
  return composeServerMiddleware(errorDetailsServerMiddleware, statusMapping);
}

/** An error none of ours: logged, and INTERNAL to the client. */
function unexpected(error: unknown, logger: Logger, method: string): DlogError {
  logger.error({ method, err: error }, "unexpected error");
  return new DlogError("INTERNAL", `internal error: ${(error as Error)?.message ?? String(error)}`);
}

/**
 * What `statusMiddleware` sends for a failure, as a grpc-js status (with the ErrorInfo detail in
 * its metadata): for a handler served without nice-grpc (the Session handler).
 */
export function failureStatus(error: unknown, logger: Logger, method: string): StatusObject {
  if (error instanceof DlogError) return grpcStatusOf(error);
  if (error instanceof ServerError) {
    const code = CODE_OF.get(error.code);
    if (code !== undefined) return grpcStatusOf(new DlogError(code, error.details));
    return { code: error.code as number, details: error.details, metadata: new GrpcMetadata() };
  }
  return grpcStatusOf(unexpected(error, logger, method));
}
