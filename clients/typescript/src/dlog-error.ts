import { type CallOptions, ClientError, type ClientMiddlewareCall, Status, composeClientMiddleware } from "nice-grpc";
import { ErrorInfo, RichClientError, errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { ERROR_DOMAIN, type ErrorReason } from "../../../src/errors.js";

export interface DlogErrorOptions {
  /** The contract's reason (ERROR_REASONS); "" when there is none. */
  reason?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** Raised by this client before anything was sent (bad input), not by the server. */
  local?: boolean | undefined;
  cause?: unknown;
}

/**
 * The one error type of this client: every failure it reports is a DlogError. It is nice-grpc's
 * ClientError (`code`, a `Status`; `details`, the server's message; `path`) plus the
 * google.rpc.ErrorInfo every dlogd refusal carries, so a program branches on `reason` instead of
 * parsing `details`. The root README lists every reason and its metadata keys.
 *
 * @example
 * try {
 *   await client.createLog("orders");
 * } catch (error) {
 *   if (!(error instanceof DlogError && error.reason === "LOG_EXISTS")) throw error;
 * }
 */
export class DlogError extends ClientError {
  /** A reason of ERROR_REASONS (a newer server may send one this client does not know); "" when the status carried none, as for failures grpc-js reports itself (no connection, a deadline, a message too large). */
  readonly reason: ErrorReason | (string & {});
  /** What the refusal is about, e.g. `{ log: "orders", limit: "max_records_per_append", max: "10000" }`. */
  readonly metadata: Readonly<Record<string, string>>;
  /** True when the client refused the input itself, before sending anything. */
  readonly local: boolean;

  constructor(path: string, code: Status, details: string, options: DlogErrorOptions = {}) {
    super(path, code, details);
    this.name = "DlogError";
    this.reason = options.reason ?? "";
    this.metadata = options.metadata ?? {};
    this.local = options.local ?? false;
    if (options.cause !== undefined) this.cause = options.cause;
  }

  /** `error` as a DlogError: itself, a nice-grpc ClientError with its code and details, anything else as UNKNOWN. */
  static from(error: unknown, path = ""): DlogError {
    if (error instanceof DlogError) return error;
    if (error instanceof ClientError) return new DlogError(error.path, error.code, error.details, { cause: error });
    return new DlogError(path, Status.UNKNOWN, error instanceof Error ? error.message : String(error), { cause: error });
  }

  /** A refusal of bad input by the client itself (INVALID_ARGUMENT, `local`). */
  static invalidArgument(what: string, details: string, reason: ErrorReason = "INVALID_REQUEST"): DlogError {
    return new DlogError(what, Status.INVALID_ARGUMENT, details, { reason, local: true });
  }
}

/** The dlog.v1 ErrorInfo among a status's details, if any. */
function dlogErrorInfo(details: readonly unknown[]): ErrorInfo | undefined {
  return details.find((detail): detail is ErrorInfo => (detail as ErrorInfo).$type === ErrorInfo.$type && (detail as ErrorInfo).domain === ERROR_DOMAIN);
}

async function* toDlogError<Request, Response>(
  call: ClientMiddlewareCall<Request, Response>,
  options: CallOptions,
): AsyncGenerator<Response, Response | void, undefined> {
  try {
    return yield* call.next(call.request, options);
  } catch (error) {
    if (!(error instanceof ClientError) || error instanceof DlogError) throw error;
    const info = error instanceof RichClientError ? dlogErrorInfo(error.extra) : undefined;
    throw new DlogError(error.path, error.code, error.details, info ? { reason: info.reason, metadata: { ...info.metadata } } : {});
  }
}

/** Client middleware: every ClientError of a call becomes a DlogError, decoded from `grpc-status-details-bin`. */
export const dlogErrorMiddleware = composeClientMiddleware(errorDetailsClientMiddleware, toDlogError);
