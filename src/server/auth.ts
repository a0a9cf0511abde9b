import { readFileSync } from "node:fs";
import { timingSafeEqual } from "node:crypto";
import type { CallContext, ServerMiddlewareCall } from "nice-grpc";
import { DlogError } from "../errors.js";

export type Action = "append" | "read" | "admin";

interface TokenRule {
  name: string;
  token: Buffer;
  /** Per action, log-name patterns (`*` matches any run of characters). */
  allow: Record<Action, RegExp[]>;
}

/** What each method needs. Health and reflection are open: they reveal no data. */
const ACTION_OF: Record<string, Action> = {
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
  "/dlog.v1.ReaderService/SetPosition": "admin",
  "/dlog.v1.ReaderService/DeleteReader": "admin",
};

/**
 * Loads the tokens file:
 * `{"tokens": [{"name": "ci", "token": "s3cret", "allow": {"append": ["orders-*"], "read": ["*"], "admin": []}}]}`
 */
export function loadTokens(path: string): TokenRule[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new DlogError("INVALID_ARGUMENT", `--auth-tokens ${path}: cannot read it as JSON (${(error as Error).message})`);
  }
  const tokens = (parsed as { tokens?: unknown }).tokens;
  if (!Array.isArray(tokens) || tokens.length === 0) {
    throw new DlogError("INVALID_ARGUMENT", `--auth-tokens ${path}: expected {"tokens": [{"name", "token", "allow": {"append"|"read"|"admin": [patterns]}}]}`);
  }
  return tokens.map((entry: { name?: unknown; token?: unknown; allow?: Record<string, unknown> }, i) => {
    if (typeof entry.token !== "string" || entry.token.length < 8) {
      throw new DlogError("INVALID_ARGUMENT", `--auth-tokens ${path}: tokens[${i}].token must be a string of at least 8 characters`);
    }
    const allow = { append: [], read: [], admin: [] } as Record<Action, RegExp[]>;
    for (const [action, patterns] of Object.entries(entry.allow ?? {})) {
      if (!(action in allow) || !Array.isArray(patterns) || !patterns.every((p) => typeof p === "string")) {
        throw new DlogError("INVALID_ARGUMENT", `--auth-tokens ${path}: tokens[${i}].allow.${action} must be one of append/read/admin with a list of log patterns`);
      }
      allow[action as Action] = (patterns as string[]).map(globToRegExp);
    }
    return { name: typeof entry.name === "string" ? entry.name : `token ${i}`, token: Buffer.from(entry.token), allow };
  });
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&")).join(".*")}$`);
}

function findToken(rules: TokenRule[], presented: string): TokenRule | undefined {
  const candidate = Buffer.from(presented);
  // Compare against every rule in constant time per rule, so timing does not reveal a prefix.
  let found: TokenRule | undefined;
  for (const rule of rules) {
    if (rule.token.length === candidate.length && timingSafeEqual(rule.token, candidate)) found = rule;
  }
  return found;
}

function logOf(request: unknown): string | undefined {
  const value = request as { log?: unknown; kind?: { $case?: string; value?: { log?: unknown } } };
  if (typeof value?.log === "string") return value.log;
  if (value?.kind?.$case === "open" && typeof value.kind.value?.log === "string") return value.kind.value.log;
  return undefined;
}

/**
 * Bearer-token authentication with per-token permissions on log-name patterns.
 * Checks every request that names a log — streamed ones too, message by message.
 */
export function authMiddleware(rules: TokenRule[]) {
  return async function* authenticate<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const action = ACTION_OF[call.method.path];
    if (action === undefined) return yield* call.next(call.request, context);
    const header = context.metadata.get("authorization");
    const match = typeof header === "string" ? /^Bearer\s+(.+)$/i.exec(header) : null;
    if (!match) {
      throw new DlogError("UNAUTHENTICATED", "missing bearer token: send metadata \"authorization: Bearer <token>\"");
    }
    const rule = findToken(rules, match[1]!.trim());
    if (!rule) throw new DlogError("UNAUTHENTICATED", "unknown bearer token");
    const check = (request: unknown): void => {
      const log = logOf(request);
      if (log === undefined) return; // messages that name no log (acks, ListLogs) ride on what was checked
      if (!rule.allow[action].some((pattern) => pattern.test(log))) {
        throw new DlogError("PERMISSION_DENIED", `token "${rule.name}" may not ${action} log "${log}"`, { metadata: { log, action } });
      }
    };
    if (!call.requestStream) {
      check(call.request);
      if (call.method.path === "/dlog.v1.LogService/ListLogs") {
        const result = (yield* call.next(call.request, context)) as { logs?: Array<{ log: string }> } | undefined;
        if (result?.logs) result.logs = result.logs.filter((info) => rule.allow.read.some((p) => p.test(info.log)));
        return result as Response;
      }
      return yield* call.next(call.request, context);
    }
    const requests = call.request as AsyncIterable<unknown>;
    async function* checked(): AsyncGenerator<unknown, void, undefined> {
      for await (const request of requests) {
        check(request);
        yield request;
      }
    }
    return yield* call.next(checked() as Request, context);
  };
}
