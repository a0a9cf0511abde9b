import { type CallOptions, ClientError, type ClientMiddlewareCall, type Status, composeClientMiddleware } from "nice-grpc";
import { ErrorInfo, RichClientError, errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { ERROR_DOMAIN, type ErrorReason } from "../../../src/errors.js";

/**
 * A call dlogd refused: nice-grpc's ClientError (`code`, `details`, `path`)
 * plus the google.rpc.ErrorInfo every dlogd refusal carries, so a program
 * branches on `reason` instead of parsing `details`. The README lists every
 * reason and its metadata keys.
 *
 * @example
 * try {
 *   await client.createLog("orders");
 * } catch (error) {
 *   if (!(error instanceof DlogClientError && error.reason === "LOG_EXISTS")) throw error;
 * }
 */
export class DlogClientError extends ClientError {
  /** A reason of ERROR_REASONS (a newer server may send one this client does not know); "" when the status carried none, as for refusals grpc-js makes itself (message too large, no connection). */
  readonly reason: ErrorReason | (string & {});
  /** What the refusal is about, e.g. `{ log: "orders", limit: "max_records_per_append", max: "10000" }`. */
  readonly metadata: Readonly<Record<string, string>>;

  constructor(path: string, code: Status, details: string, reason = "", metadata: Record<string, string> = {}) {
    super(path, code, details);
    this.name = "DlogClientError";
    this.reason = reason;
    this.metadata = metadata;
  }
}

/** The dlog.v1 ErrorInfo among a status's details, if any. */
function dlogErrorInfo(details: readonly unknown[]): ErrorInfo | undefined {
  return details.find((detail): detail is ErrorInfo => (detail as ErrorInfo).$type === ErrorInfo.$type && (detail as ErrorInfo).domain === ERROR_DOMAIN);
}

async function* toDlogClientError<Request, Response>(
  call: ClientMiddlewareCall<Request, Response>,
  options: CallOptions,
): AsyncGenerator<Response, Response | void, undefined> {
  try {
    return yield* call.next(call.request, options);
  } catch (error) {
    if (!(error instanceof ClientError) || error instanceof DlogClientError) throw error;
    const info = error instanceof RichClientError ? dlogErrorInfo(error.extra) : undefined;
    throw new DlogClientError(error.path, error.code, error.details, info?.reason, info ? { ...info.metadata } : undefined);
  }
}

/** Client middleware: every ClientError of a call becomes a DlogClientError, decoded from `grpc-status-details-bin`. */
export const dlogErrorMiddleware = composeClientMiddleware(errorDetailsClientMiddleware, toDlogClientError);
