import { type ServerDuplexStream, status as GrpcStatus } from "@grpc/grpc-js";
import { DlogError, isDlogError } from "../errors.js";
import type { ReaderSessions } from "../sessions/reader-sessions.js";
import type { Session, SessionFrame } from "../sessions/session.js";
import type { SessionRequest, SessionResponse } from "../gen/dlog/v1/reader.js";
import { type Access, type Authorization, type TokenSet, authorize, tokenNameOf } from "./auth.js";
import type { Logger } from "./logger.js";
import { fromWireDlsn } from "./convert.js";
import type { StreamCallMeter } from "./metrics.js";
import type { ReaderServiceDeps } from "./reader-service.js";
import { toFlow, toOpenRequest, toWireFrame } from "./reader-wire.js";
import { RefusedRequest } from "./request-guard.js";
import { type SessionLog, sessionLog } from "./session-log.js";
import type { SessionLimits } from "./session-limits.js";
import { failureStatus } from "./status.js";

export interface SessionHandlerDeps extends ReaderServiceDeps {
  /** Live-session limits (total, per connection, per token); none when absent. */
  limits?: SessionLimits;
  onDelivered?: (records: number) => void;
  /** Session open, takeover, drain and end: one info line each, never one per record; and unexpected errors. */
  logger: Logger;
  /** --auth-tokens: each call's token (named by the authentication interceptor) and its rights on what it names. */
  tokens?: TokenSet;
  /** gRPC call metrics, as nice-grpc-prometheus counts them for the other methods. */
  metrics?: { streamCall(path: string): StreamCallMeter };
}

const SESSION_PATH = "/dlog.v1.ReaderService/Session";

/**
 * dlog.v1.ReaderService/Session as a grpc-js handler: the stream's requests feed the session core,
 * its frames go out with backpressure. It does for this one method what nice-grpc's middleware does
 * for the others (status mapping with ErrorInfo, metrics, authorization of each message, refused
 * requests raised where they arrive), without an async generator per layer: an idle session is a
 * grpc-js stream, this call's state and the session. grpc-js's interceptors (authentication, the
 * call log) run as for every method.
 */
export function createSessionHandler(deps: SessionHandlerDeps): (call: ServerDuplexStream<unknown, SessionResponse>) => void {
  return (call) => new SessionCall(deps, call).start();
}

/** One Session call: where it stands and what it holds. */
class SessionCall {
  readonly #deps: SessionHandlerDeps;
  readonly #call: ServerDuplexStream<unknown, SessionResponse>;
  readonly #meter: StreamCallMeter | undefined;
  #authorization: Authorization | undefined;
  /** "first": waiting for open; "opening"; "open": requests go to the session; "closed": requests are ignored. */
  #requests: "first" | "opening" | "open" | "closed" = "first";
  #session: Session | undefined;
  #lifecycle: SessionLog | undefined;
  #cancelled = false;
  #finished = false;
  #wakeWriter: (() => void) | undefined;

  constructor(deps: SessionHandlerDeps, call: ServerDuplexStream<unknown, SessionResponse>) {
    this.#deps = deps;
    this.#call = call;
    this.#meter = deps.metrics?.streamCall(SESSION_PATH);
  }

  start(): void {
    const call = this.#call;
    call.on("cancelled", () => this.#onCancelled());
    if (call.cancelled) {
      this.#onCancelled();
      return;
    }
    try {
      this.#authorization = this.#deps.tokens && authorize(this.#deps.tokens, SESSION_PATH, tokenNameOf(call.metadata));
    } catch (error) {
      this.#finish(error);
      return;
    }
    // Paused mode: requests are taken only while the session can take them; meanwhile grpc-js stops reading.
    call.on("readable", () => this.#pull());
    call.on("end", () => this.#onHalfClose());
  }

  /** Takes the requests that arrived, in order, until one opens the session or fails it. */
  #pull(): void {
    while (this.#requests === "first" || this.#requests === "open") {
      const message: unknown = this.#call.read();
      if (message === null) return;
      this.#onMessage(message);
    }
  }

  get #access(): Access | undefined {
    return this.#authorization?.access;
  }

  #onMessage(message: unknown): void {
    this.#meter?.received();
    try {
      if (message instanceof RefusedRequest) throw message.error;
      this.#authorization?.check(message);
      if (this.#requests === "first") {
        // Nothing more is read until the session is open (grpc-js stops taking messages off the wire).
        this.#requests = "opening";
        void this.#open(message as SessionRequest);
      } else {
        this.#handle(message as SessionRequest);
      }
    } catch (error) {
      this.#requestFailed(error);
    }
  }

  /** A half-close (e.g. grpcurl at the end of its input) finishes the session like a drain. */
  #onHalfClose(): void {
    if (this.#requests === "first") {
      this.#requests = "closed";
      this.#finish(new DlogError("INVALID_ARGUMENT", "the session stream ended before its first message; send open first", { reason: "SESSION_PROTOCOL" }));
      return;
    }
    if (this.#requests !== "open") return;
    this.#requests = "closed";
    // A cancelled call can look the same, so it does not count as the client's word that it acked
    // all it processed (only a Drain message does).
    if (!this.#cancelled) this.#lifecycle?.draining(false);
    this.#session!.handleDrain({ explicit: false });
  }

  /** The client went away, or the deadline passed: grpc-js has answered already. An open session drains without sending. */
  #onCancelled(): void {
    this.#cancelled = true;
    const wake = this.#wakeWriter;
    this.#wakeWriter = undefined;
    wake?.();
    if (this.#requests === "first") {
      this.#requests = "closed";
      this.#finish(undefined);
    } else if (this.#requests === "open") {
      this.#requests = "closed";
      this.#session!.handleDrain({ explicit: false });
    }
  }

  async #open(first: SessionRequest): Promise<void> {
    let session: Session;
    let release: (() => void) | undefined;
    try {
      const kind = first.kind;
      if (kind?.$case !== "open") {
        throw new DlogError("INVALID_ARGUMENT", `the first message of a session must be open, got ${kind?.$case ?? "an empty message"}`, {
          reason: "SESSION_PROTOCOL",
          metadata: { message: kind?.$case ?? "" },
        });
      }
      const open = toOpenRequest(kind.value);
      // Counted before anything is opened; counted out when the call ends, however it ends.
      release = this.#deps.limits?.admit(this.#call.getPeer(), this.#access?.token);
      await this.#deps.quota?.admit(open.log, open.readerId);
      session = await openAs(this.#deps.sessions, open, this.#access);
    } catch (error) {
      release?.();
      this.#requests = "closed";
      this.#finish(error);
      return;
    }
    this.#session = session;
    const logger = this.#deps.logger;
    this.#lifecycle = sessionLog(logger, session, this.#call.getPeer(), this.#access?.token);
    if (this.#cancelled) {
      this.#requests = "closed";
      session.handleDrain({ explicit: false });
    } else {
      // What the client sent meanwhile is taken before the first frame, as if it had come then.
      this.#requests = "open";
      this.#pull();
    }
    await this.#deliver(session, release);
  }

  /** Sends the session's frames until it ends; then the status. */
  async #deliver(session: Session, release: (() => void) | undefined): Promise<void> {
    const lifecycle = this.#lifecycle;
    const onDelivered = this.#deps.onDelivered;
    let last: SessionFrame["kind"] | undefined;
    let failure: unknown;
    try {
      for await (const frame of session.frames()) {
        if (frame.kind === "records") {
          onDelivered?.(frame.count);
          if (lifecycle) lifecycle.delivered += frame.count;
        } else if (frame.kind === "opened") {
          lifecycle?.opened(frame.opened);
        }
        last = frame.kind;
        if (this.#cancelled) break;
        this.#meter?.sent();
        if (!this.#call.write(toWireFrame(frame))) await this.#writable();
      }
    } catch (error) {
      failure = error;
    } finally {
      session.handleGone();
      release?.();
      // A cancelled call also ends the request stream, which drains the session: the client never hears of it.
      lifecycle?.ended(failure, last === "drained" && !this.#cancelled);
    }
    this.#finish(failure);
  }

  /** Resolves when grpc-js takes writes again, or the call is cancelled. */
  #writable(): Promise<void> {
    if (this.#cancelled) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#wakeWriter = resolve;
      this.#call.once("drain", () => {
        this.#wakeWriter = undefined;
        resolve();
      });
    });
  }

  #handle(request: SessionRequest): void {
    const session = this.#session!;
    const kind = request.kind;
    switch (kind?.$case) {
      case "ack":
        session.handleAck(
          kind.value.dlsns.map((dlsn) => fromWireDlsn(dlsn, "ack.dlsns")),
          kind.value.upTo ? fromWireDlsn(kind.value.upTo, "ack.up_to") : undefined,
        );
        return;
      case "nack":
        session.handleNack(kind.value.dlsns.map((dlsn) => fromWireDlsn(dlsn, "nack.dlsns")));
        return;
      case "flow":
        session.handleFlow(toFlow(kind.value));
        return;
      case "drain":
        this.#lifecycle?.draining(true);
        session.handleDrain({ explicit: true });
        return;
      case "open":
        throw new DlogError("INVALID_ARGUMENT", "the session is already open; open is only valid as the first message", {
          reason: "SESSION_PROTOCOL",
          metadata: { message: "open" },
        });
      default:
        throw new DlogError("INVALID_ARGUMENT", "empty session message: set one of ack, nack, flow, drain", {
          reason: "SESSION_PROTOCOL",
          metadata: { message: "" },
        });
    }
  }

  /** A request the session cannot take: before the open it is the call's status, after it the session's failure. No more requests are read. */
  #requestFailed(error: unknown): void {
    const before = this.#requests === "first";
    this.#requests = "closed";
    if (before) this.#finish(error);
    else this.#session!.fail(error instanceof Error ? error : new Error(String(error)));
  }

  /** The call's status, once: OK, the failure mapped (status.ts), or nothing when grpc-js answered a cancel. */
  #finish(failure: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#cancelled) {
      this.#meter?.end("CANCELLED");
    } else if (failure === undefined) {
      this.#meter?.end("OK");
      this.#call.end();
    } else {
      const status = failureStatus(failure, this.#deps.logger, SESSION_PATH);
      this.#meter?.end(GrpcStatus[status.code] ?? String(status.code));
      this.#call.emit("error", status);
    }
  }
}

/**
 * Opens the session with the caller's rights: a token that may not take the reader over
 * (see auth.ts) opens it as TAKEOVER_REJECT, and a live session it meets is its refusal.
 * The one-live-session check stays inside the session core, so nothing races it.
 */
async function openAs(sessions: ReaderSessions, open: ReturnType<typeof toOpenRequest>, access: Access | undefined): Promise<Session> {
  const denied = open.takeover === "fence" && access !== undefined && !access.mayTakeOver(open.log, open.readerId);
  if (!denied) return sessions.open(open);
  try {
    return await sessions.open({ ...open, takeover: "reject" });
  } catch (error) {
    if (!isDlogError(error, "ALREADY_EXISTS")) throw error;
    throw new DlogError(
      "PERMISSION_DENIED",
      `token "${access.token}" may not take over reader "${open.readerId}" of log "${open.log}" from its live session: that needs the seek right on the log, or a "readers" pattern naming the reader`,
      { reason: "PERMISSION_DENIED", metadata: { log: open.log, reader_id: open.readerId } },
    );
  }
}
