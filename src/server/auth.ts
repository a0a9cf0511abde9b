import { readFileSync } from "node:fs";
import { type Metadata as GrpcMetadata, ResponderBuilder, ServerInterceptingCall, type ServerInterceptor, ServerListenerBuilder } from "@grpc/grpc-js";
import type { CallContext, ServerMiddlewareCall } from "nice-grpc";
import { DlogError } from "../errors.js";
import { type Right, type TokenRule, TokenSet } from "./tokens.js";
import { grpcStatusOf } from "./status.js";

export { TokenSet, type TokenRule } from "./tokens.js";

/** What each method needs on the log it names. Health and reflection are open: they reveal no data. */
const RIGHT_OF: Record<string, Right> = {
  "/dlog.v1.LogService/Append": "append",
  "/dlog.v1.LogService/AppendStream": "append",
  "/dlog.v1.LogService/Read": "read",
  "/dlog.v1.LogService/GetLog": "read",
  "/dlog.v1.LogService/ListLogs": "read",
  "/dlog.v1.LogService/CreateLog": "admin",
  "/dlog.v1.LogService/DeleteLog": "admin",
  "/dlog.v1.LogService/Truncate": "admin",
  "/dlog.v1.ReaderService/Session": "read",
  "/dlog.v1.ReaderService/GetPosition": "read",
  "/dlog.v1.ReaderService/ListReaders": "read",
  "/dlog.v1.ReaderService/SetPosition": "seek",
  "/dlog.v1.ReaderService/DeleteReader": "seek",
};

/** Set by the interceptor once the bearer token is known; whatever a client sends under this key is dropped. */
const AUTHENTICATED_KEY = "dlog-authenticated-token";

/** The name of the token a call authenticated with (never the token), from its metadata; undefined before or without authentication. */
export function tokenNameOf(metadata: GrpcMetadata): string | undefined {
  const [name] = metadata.get(AUTHENTICATED_KEY);
  return typeof name === "string" ? name : undefined;
}

/**
 * What the caller's token may do, handed to the services in the call context
 * (`accessOf`): ListLogs filters by it, sessions consult it before taking a
 * reader over, and limits count per token name.
 */
export interface Access {
  /** The token's name (never the token). */
  readonly token: string;
  mayRead(log: string): boolean;
  /** May this token end another live session of the reader (takeover FENCE)? */
  mayTakeOver(log: string, readerId: string): boolean;
}

/** The caller's access, when the server authenticates; undefined without --auth-tokens. */
export function accessOf(context: CallContext): Access | undefined {
  return (context as CallContext & { access?: Access }).access;
}

/** Loads and checks the tokens file (see tokens.ts); throws DlogError naming the bad entry, never a token. */
export function loadTokens(path: string): TokenRule[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DlogError("INVALID_ARGUMENT", `--auth-tokens ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  return TokenSet.parse(text, `--auth-tokens ${path}`);
}

/**
 * Authentication, before the request is read: a grpc-js interceptor looks at the
 * metadata only, so a call without a known token is refused before its message
 * is received, decompressed or decoded — an unauthenticated peer cannot make the
 * server allocate for its request.
 */
export function authInterceptor(tokens: TokenSet): ServerInterceptor {
  return (method, call) => {
    const protectedMethod = method.path in RIGHT_OF;
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata: GrpcMetadata, next: (metadata: GrpcMetadata) => void) => {
        metadata.remove(AUTHENTICATED_KEY);
        if (!protectedMethod) return next(metadata);
        const [header] = metadata.get("authorization");
        const match = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
        if (!match) {
          call.sendStatus(
            grpcStatusOf(
              new DlogError("UNAUTHENTICATED", 'missing bearer token: send metadata "authorization: Bearer <token>"', { reason: "UNAUTHENTICATED" }),
            ),
          );
          return;
        }
        const rule = tokens.find(match[1]!);
        if (!rule) {
          call.sendStatus(grpcStatusOf(new DlogError("UNAUTHENTICATED", "unknown bearer token", { reason: "UNAUTHENTICATED" })));
          return;
        }
        metadata.set(AUTHENTICATED_KEY, rule.name);
        next(metadata);
      })
      .build();
    return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
  };
}

interface Named {
  log?: string | undefined;
  readerId?: string | undefined;
}

/** The log and reader a request names: unary requests, AppendStream messages and a session's open. */
export function namesOf(request: unknown): Named {
  const value = request as { log?: unknown; readerId?: unknown; kind?: { $case?: string; value?: Named } };
  const named = value?.kind?.$case === "open" ? (value.kind.value ?? {}) : (value as Named);
  return {
    log: typeof named?.log === "string" ? named.log : undefined,
    readerId: typeof named?.readerId === "string" ? named.readerId : undefined,
  };
}

/** A session open that re-positions the reader: an override, or a client checkpoint the policy may use. */
function movesReader(request: unknown): boolean {
  const value = request as { kind?: { $case?: string; value?: { override?: unknown; clientCheckpoint?: unknown; resumePolicy?: number } } };
  if (value?.kind?.$case !== "open") return false;
  const open = value.kind.value ?? {};
  const policy = open.resumePolicy ?? 0;
  // RESUME_POLICY_CLIENT = 2, RESUME_POLICY_MAX = 3: the checkpoint may become the position.
  return open.override !== undefined || (open.clientCheckpoint !== undefined && (policy === 2 || policy === 3));
}

function allows(rule: TokenRule, right: Right, log: string): boolean {
  const patterns = rule.allow[right];
  if (patterns.some((pattern) => pattern.test(log))) return true;
  return right === "seek" && rule.allow.admin.some((pattern) => pattern.test(log)); // admin includes seek
}

function accessFor(rule: TokenRule): Access {
  return {
    token: rule.name,
    mayRead: (log) => allows(rule, "read", log),
    mayTakeOver: (log, readerId) => allows(rule, "seek", log) || (rule.readersListed && rule.readers.some((pattern) => pattern.test(readerId))),
  };
}

/** A call's rights on a protected method: the token's Access, and the check each request must pass. */
export interface Authorization {
  readonly access: Access;
  /** Throws PERMISSION_DENIED when the request names a log or reader the token may not use this way. */
  check(request: unknown): void;
}

/**
 * Authorization, per request (streamed ones message by message): the right the
 * method needs on the log it names, the token's reader-id patterns, and `seek`
 * for a session open that re-positions its reader. `tokenName` is what the
 * interceptor found (`tokenNameOf`); undefined for a method open to all.
 */
export function authorize(tokens: TokenSet, path: string, tokenName: string | undefined): Authorization | undefined {
  const right = RIGHT_OF[path];
  if (right === undefined) return undefined;
  const rule = tokenName === undefined ? undefined : tokens.named(tokenName);
  if (!rule) throw new DlogError("UNAUTHENTICATED", "unknown bearer token (the tokens file was reloaded)", { reason: "UNAUTHENTICATED" });
  const check = (request: unknown): void => {
    const { log, readerId } = namesOf(request);
    if (log === undefined) return; // messages that name no log (acks, ListLogs) ride on what was checked
    const denied = (what: string): never => {
      throw new DlogError("PERMISSION_DENIED", `token "${rule.name}" may not ${what}`, {
        reason: "PERMISSION_DENIED",
        metadata: { log, action: right, ...(readerId === undefined ? {} : { reader_id: readerId }) },
      });
    };
    if (!allows(rule, right, log)) denied(`${right} log "${log}"`);
    if (readerId !== undefined && !rule.readers.some((pattern) => pattern.test(readerId))) {
      denied(`use reader "${readerId}" (its readers patterns do not match)`);
    }
    if (movesReader(request) && !allows(rule, "seek", log)) {
      denied(`re-position reader "${readerId ?? ""}" of log "${log}" (override or client checkpoint needs the seek right)`);
    }
  };
  return { access: accessFor(rule), check };
}

/** `authorize` as nice-grpc middleware: the token's Access goes on to the service in the call context. */
export function authMiddleware(tokens: TokenSet) {
  return async function* authorizeCall<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const authorization = authorize(tokens, call.method.path, context.metadata.get(AUTHENTICATED_KEY));
    if (authorization === undefined) return yield* call.next(call.request, context);
    const { check } = authorization;
    const next = { ...context, access: authorization.access };
    if (!call.requestStream) {
      check(call.request);
      return yield* call.next(call.request, next);
    }
    const requests = call.request as AsyncIterable<unknown>;
    async function* checked(): AsyncGenerator<unknown, void, undefined> {
      for await (const request of requests) {
        check(request);
        yield request;
      }
    }
    return yield* call.next(checked() as Request, next);
  };
}
