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

/**
 * The contract's stable error reasons: the `reason` of the google.rpc.ErrorInfo
 * (domain `dlog.v1`) every refusal carries, so programs branch on it instead of
 * parsing messages. Adding one is fine; renaming or removing one breaks clients.
 * The README's error table lists each with its status code and metadata.
 */
export const ERROR_REASONS = [
  "INVALID_REQUEST", // a field is missing, malformed or out of its allowed range
  "INVALID_NAME", // a log name or reader id breaks the name rules
  "INVALID_DLSN", // a DLSN's fields or its 25-byte / base64 form are malformed
  "SESSION_PROTOCOL", // session messages out of order (open not first, open twice, ...)
  "DLSN_NOT_DELIVERED", // an ack or nack names a DLSN this session never delivered
  "LOG_NOT_FOUND",
  "LOG_EXISTS",
  "LOG_DELETED", // the log was deleted while a session was reading it
  "READER_NOT_FOUND",
  "READER_LIVE", // the reader has a live session (REJECT takeover, admin call without force)
  "READER_FENCED", // a newer session took the reader over
  "READER_REPOSITIONED", // an admin SetPosition{force} ended the session
  "READER_DELETED", // an admin DeleteReader{force} ended the session
  "TXID_OUT_OF_ORDER",
  "PRODUCER_SEQUENCE_GAP",
  "PRODUCER_SEQUENCE_REUSED",
  "PRODUCER_SEQUENCE_TOO_OLD",
  "POSITION_OUT_OF_RANGE", // a position or truncation point after the log's head
  "LIMIT_EXCEEDED", // a configured limit; metadata `limit` names it, `max` gives its value
  "DISK_FULL",
  "STORAGE_UNAVAILABLE", // storage failed; retry later
  "SHUTTING_DOWN",
  "UNAUTHENTICATED", // no token, or a token the server does not know
  "PERMISSION_DENIED", // the token lacks the right for this log or reader
  "INTERNAL",
  "SERVICE_NOT_FOUND", // grpc.health.v1: the health check names a service this server does not serve
] as const;

export type ErrorReason = (typeof ERROR_REASONS)[number];

/** The ErrorInfo domain of every dlog reason. */
export const ERROR_DOMAIN = "dlog.v1";

/** The reason an error carries when its raiser named none. */
const DEFAULT_REASON: Record<ErrorCode, ErrorReason> = {
  INVALID_ARGUMENT: "INVALID_REQUEST",
  NOT_FOUND: "LOG_NOT_FOUND",
  ALREADY_EXISTS: "LOG_EXISTS",
  FAILED_PRECONDITION: "INVALID_REQUEST",
  ABORTED: "READER_FENCED",
  OUT_OF_RANGE: "POSITION_OUT_OF_RANGE",
  RESOURCE_EXHAUSTED: "LIMIT_EXCEEDED",
  UNAUTHENTICATED: "UNAUTHENTICATED",
  PERMISSION_DENIED: "PERMISSION_DENIED",
  UNAVAILABLE: "STORAGE_UNAVAILABLE",
  INTERNAL: "INTERNAL",
};

export interface DlogErrorOptions {
  cause?: unknown;
  reason?: ErrorReason;
  /** What the error is about: e.g. `{ log, reader_id, dlsn, limit, max }`. Never secrets or server paths. */
  metadata?: Record<string, string>;
}

/** The one error type of dlog's core: a code and a reason a caller can branch on, and a message a person can act on. */
export class DlogError extends Error {
  readonly code: ErrorCode;
  readonly reason: ErrorReason;
  readonly metadata: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options?: DlogErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DlogError";
    this.code = code;
    this.reason = options?.reason ?? DEFAULT_REASON[code];
    this.metadata = options?.metadata ?? {};
  }
}

/** A log deleted under a caller (a reader, a waiter, an append in flight): NOT_FOUND, LOG_DELETED. */
export function logDeletedError(name: string): DlogError {
  return new DlogError("NOT_FOUND", `log "${name}" was deleted`, { reason: "LOG_DELETED", metadata: { log: name } });
}

export function isDlogError(error: unknown, code?: ErrorCode): error is DlogError {
  return error instanceof DlogError && (code === undefined || error.code === code);
}
