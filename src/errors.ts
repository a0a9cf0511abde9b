/**
 * Stable failure codes the core raises. They are named after gRPC status codes
 * because that is what a caller ends up seeing, but the core never imports gRPC:
 * `server/status.ts` maps them, in one place.
 */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "RESOURCE_EXHAUSTED"
  | "UNAUTHENTICATED"
  | "PERMISSION_DENIED"
  | "UNAVAILABLE"
  | "INTERNAL";

/** The one error type of dlog's core: a code a caller can branch on, and a message a person can act on. */
export class DlogError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DlogError";
    this.code = code;
  }
}

export function isDlogError(error: unknown, code?: ErrorCode): error is DlogError {
  return error instanceof DlogError && (code === undefined || error.code === code);
}
