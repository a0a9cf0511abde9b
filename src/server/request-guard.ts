/**
 * Requests are checked before and while they are decoded, so no message can make the
 * server allocate far beyond its size:
 * - grpc-js refuses a message over `--max-message-bytes` on the wire, and stops
 *   decompressing one once it grows past it (RESOURCE_EXHAUSTED naming the size);
 * - the repeated fields a client can fill with near-empty entries (records of an
 *   append, DLSNs of an ack or nack) are counted on the raw bytes before decoding;
 * - bytes that are not the method's message become INVALID_ARGUMENT naming the RPC,
 *   where grpc-js would answer INTERNAL "Error deserializing request".
 * A refused message is decoded into a `RefusedRequest`, which the middleware raises
 * where the service would have received it (for streams: as that message).
 */
import { decodeAppendRequest } from "./append-request.js";
import { type ServerInterceptor, ResponderBuilder, ServerInterceptingCall, type StatusObject, status as GrpcStatus } from "@grpc/grpc-js";
import type { CallContext, ServerMiddlewareCall } from "nice-grpc";
import { DlogError } from "../errors.js";

/** What a grpc-js responder is handed: a status whose metadata may be missing. */
type PartialStatusObject = Pick<StatusObject, "code" | "details"> & { metadata?: StatusObject["metadata"] | null | undefined };

export interface RequestLimits {
  maxRecordsPerAppend: number;
  maxDlsnsPerAck: number;
}

/** A request refused while it was decoded; the middleware raises its error where the service would have received it. */
export class RefusedRequest {
  readonly error: DlogError;
  constructor(error: DlogError) {
    this.error = error;
  }
}

interface MessageType {
  decode(input: Uint8Array, length?: number): unknown;
}

interface MethodDefinitions {
  fullName: string;
  methods: Record<string, { name: string; requestType: object }>;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

/**
 * Scans one message level of protobuf wire bytes, calling `visit(field, start, end)` for each
 * length-delimited field. Malformed bytes just stop the scan: the decoder names the problem.
 */
function scanLengthDelimited(bytes: Uint8Array, start: number, end: number, visit: (field: number, from: number, to: number) => void): void {
  let pos = start;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end || shift > 63) return -1;
      const byte = bytes[pos++]!;
      if (shift < 49) value += (byte & 0x7f) * 2 ** shift; // past 2^53 the value is too large for a length anyway
      if ((byte & 0x80) === 0) return value;
      shift += 7;
    }
  };
  let depth = 0; // inside groups, which are skipped
  while (pos < end) {
    const key = varint();
    if (key < 0) return;
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case WIRE_VARINT:
        if (varint() < 0) return;
        break;
      case WIRE_FIXED64:
        pos += 8;
        break;
      case WIRE_FIXED32:
        pos += 4;
        break;
      case WIRE_LEN: {
        const length = varint();
        if (length < 0 || pos + length > end) return;
        if (depth === 0) visit(field, pos, pos + length);
        pos += length;
        break;
      }
      case WIRE_START_GROUP:
        depth++;
        break;
      case WIRE_END_GROUP:
        if (depth === 0) return;
        depth--;
        break;
      default:
        return;
    }
  }
}

/** Occurrences of length-delimited `field` at the top level of the message. */
function countTopLevel(bytes: Uint8Array, field: number): number {
  let count = 0;
  scanLengthDelimited(bytes, 0, bytes.length, (f) => {
    if (f === field) count++;
  });
  return count;
}

/** The last top-level string `field` (e.g. the log an append names), when short enough to be a name. */
function shortString(bytes: Uint8Array, field: number): string | undefined {
  let value: string | undefined;
  scanLengthDelimited(bytes, 0, bytes.length, (f, from, to) => {
    if (f === field && to - from <= 200) value = Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString("utf8");
  });
  return value;
}

/** Occurrences of `inner` inside every top-level `outer` field (e.g. the DLSNs of a session's ack). */
function countNested(bytes: Uint8Array, outer: readonly number[], inner: number): number {
  let count = 0;
  scanLengthDelimited(bytes, 0, bytes.length, (f, from, to) => {
    if (!outer.includes(f)) return;
    scanLengthDelimited(bytes, from, to, (g) => {
      if (g === inner) count++;
    });
  });
  return count;
}

/** As the log store's own check: a request too big for a limit is the client's mistake. `what` has # for the limit. */
function limitExceeded(rpc: string, what: string, count: number, limit: string, max: number, flag: string, log?: string): DlogError {
  return new DlogError("INVALID_ARGUMENT", `${rpc}: ${what.replace("#", String(max))} (${flag}), got ${count}`, {
    reason: "LIMIT_EXCEEDED",
    metadata: { ...(log === undefined ? {} : { log }), limit, max: String(max), value: String(count) },
  });
}

/** Counts checked before decoding, per method path. */
function countCheck(path: string, limits: RequestLimits): ((bytes: Uint8Array, rpc: string) => DlogError | undefined) | undefined {
  switch (path) {
    case "/dlog.v1.LogService/Append":
    case "/dlog.v1.LogService/AppendStream":
      return (bytes, rpc) => {
        const records = countTopLevel(bytes, 2); // AppendRequest.records
        return records > limits.maxRecordsPerAppend
          ? limitExceeded(
              rpc,
              "an append may hold at most # records",
              records,
              "max_records_per_append",
              limits.maxRecordsPerAppend,
              "--max-records-per-append",
              shortString(bytes, 1),
            )
          : undefined;
      };
    case "/dlog.v1.ReaderService/Session":
      return (bytes, rpc) => {
        const dlsns = countNested(bytes, [2, 3], 1); // SessionRequest.ack / .nack → dlsns
        return dlsns > limits.maxDlsnsPerAck
          ? limitExceeded(rpc, "an ack or nack may carry at most # DLSNs", dlsns, "max_dlsns_per_ack", limits.maxDlsnsPerAck, "--max-dlsns-per-ack")
          : undefined;
      };
    default:
      return undefined;
  }
}

/**
 * The service definition with every request decoder guarded: counts checked first, and a
 * failure returned as a RefusedRequest instead of thrown into grpc-js.
 */
export function guardRequests<D extends MethodDefinitions>(definition: D, limits: RequestLimits): D {
  const methods: Record<string, { name: string; requestType: object }> = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    const type = method.requestType as MessageType;
    const rpc = method.name;
    const path = `/${definition.fullName}/${method.name}`;
    const check = countCheck(path, limits);
    // Appends have a decoder of their own that does not copy payloads (append-request.ts).
    const decodeType =
      path === "/dlog.v1.LogService/Append" || path === "/dlog.v1.LogService/AppendStream" ? decodeAppendRequest : (input: Uint8Array) => type.decode(input);
    const decode = (input: Uint8Array): unknown => {
      const refused = check?.(input, rpc);
      if (refused) return new RefusedRequest(refused);
      try {
        return decodeType(input);
      } catch (error) {
        return new RefusedRequest(
          new DlogError("INVALID_ARGUMENT", `${rpc}: the request bytes are not a valid ${rpc} request message (${(error as Error).message})`, {
            reason: "INVALID_REQUEST",
          }),
        );
      }
    };
    methods[key] = { ...method, requestType: { ...type, decode } };
  }
  return { ...definition, methods };
}

/** Raises a RefusedRequest where the service would have received it. */
export function requestGuardMiddleware() {
  return async function* guard<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    if (!call.requestStream) {
      if (call.request instanceof RefusedRequest) throw call.request.error;
      return yield* call.next(call.request, context);
    }
    const requests = call.request as AsyncIterable<unknown>;
    async function* guarded(): AsyncGenerator<unknown, void, undefined> {
      for await (const request of requests) {
        if (request instanceof RefusedRequest) throw request.error;
        yield request;
      }
    }
    return yield* call.next(guarded() as Request, context);
  };
}

/**
 * grpc-js answers a unary or server-streaming call without exactly one request message
 * with UNIMPLEMENTED "...for server streaming method": it is the client's mistake, so
 * INVALID_ARGUMENT, naming the RPC.
 */
export function requestCountInterceptor(): ServerInterceptor {
  return (method, call) => {
    if (method.requestStream) return new ServerInterceptingCall(call);
    const rpc = method.path.slice(method.path.lastIndexOf("/") + 1);
    const responder = new ResponderBuilder()
      .withSendStatus((status: PartialStatusObject, next: (status: PartialStatusObject) => void) => {
        if (status.code === GrpcStatus.UNIMPLEMENTED && /^Received (no|a second) request message/.test(status.details ?? "")) {
          const none = (status.details ?? "").startsWith("Received no");
          next({
            ...status,
            code: GrpcStatus.INVALID_ARGUMENT,
            details: `${rpc}: ${none ? "the call ended without its request message" : "the call sent a second request message"}; ${rpc} takes exactly one`,
          });
          return;
        }
        next(status);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}
