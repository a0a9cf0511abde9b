import type { CallContext } from "nice-grpc";
import { DlogError, isDlogError } from "../errors.js";
import type { FlowLimits } from "../sessions/flow-limits.js";
import type { ReaderInfo, ReaderSessions, ResumePolicy as CoreResumePolicy, Takeover as CoreTakeover } from "../sessions/reader-sessions.js";
import type { ResumeSource as CoreResumeSource, OpenedInfo, Session, SessionFrame } from "../sessions/session.js";
import {
  type FlowLimits as WireFlowLimits,
  type Open,
  type ReaderInfo as WireReaderInfo,
  type ReaderServiceImplementation,
  ResumePolicy,
  ResumeSource,
  type SessionRequest,
  type SessionResponse,
  Takeover,
} from "../gen/dlog/v1/reader.js";
import { accessOf } from "./auth.js";
import type { Logger } from "./logger.js";
import { fromWireDlsn, fromWirePosition, optionalWireDlsn, toWireDlsn } from "./convert.js";
import { pageOf } from "./paging.js";
import type { ReaderQuota } from "./reader-quota.js";
import type { SessionLimits } from "./session-limits.js";
import { encodeRecordsFrame } from "./record-frames.js";

const RESUME_POLICY: Record<number, CoreResumePolicy> = {
  [ResumePolicy.RESUME_POLICY_UNSPECIFIED]: "stored",
  [ResumePolicy.RESUME_POLICY_STORED]: "stored",
  [ResumePolicy.RESUME_POLICY_CLIENT]: "client",
  [ResumePolicy.RESUME_POLICY_MAX]: "max",
};

const TAKEOVER: Record<number, CoreTakeover> = {
  [Takeover.TAKEOVER_UNSPECIFIED]: "fence",
  [Takeover.TAKEOVER_FENCE]: "fence",
  [Takeover.TAKEOVER_REJECT]: "reject",
};

const RESUME_SOURCE: Record<CoreResumeSource, ResumeSource> = {
  stored: ResumeSource.RESUME_SOURCE_STORED,
  fallback: ResumeSource.RESUME_SOURCE_FALLBACK,
  override: ResumeSource.RESUME_SOURCE_OVERRIDE,
  client: ResumeSource.RESUME_SOURCE_CLIENT,
};

export interface ReaderServiceDeps {
  sessions: ReaderSessions;
  /** Live-session limits (total, per connection, per token); none when absent. */
  limits?: SessionLimits;
  /** The bound on readers per log; none when absent. */
  quota?: ReaderQuota;
  onDelivered?: (records: number) => void;
  /** Session open, takeover, drain and end: one info line each, never one per record. */
  logger?: Logger;
}

/** dlog.v1.ReaderService: the session stream and reader admin, over the session core. */
export function createReaderService({ sessions, limits, quota, onDelivered, logger }: ReaderServiceDeps): ReaderServiceImplementation {
  return {
    async *session(requests: AsyncIterable<SessionRequest>, context: CallContext) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done)
        throw new DlogError("INVALID_ARGUMENT", "the session stream ended before its first message; send open first", { reason: "SESSION_PROTOCOL" });
      const kind = first.value.kind;
      if (kind?.$case !== "open") {
        throw new DlogError("INVALID_ARGUMENT", `the first message of a session must be open, got ${kind?.$case ?? "an empty message"}`, {
          reason: "SESSION_PROTOCOL",
          metadata: { message: kind?.$case ?? "" },
        });
      }
      const open = toOpenRequest(kind.value);
      // Counted before anything is opened; counted out when the call ends, however it ends.
      const release = limits?.admit(context.peer, accessOf(context)?.token);
      let session: Session;
      try {
        await quota?.admit(open.log, open.readerId);
        session = await openAs(open, context);
      } catch (error) {
        release?.();
        throw error;
      }
      const lifecycle = logger && sessionLog(logger, session, context);
      // Runs beside the frame loop until the client half-closes or the call ends; it never throws.
      void pumpRequests(iterator, session, context, lifecycle);
      let last: SessionFrame["kind"] | undefined;
      let failure: unknown;
      try {
        for await (const frame of session.frames()) {
          if (frame.kind === "records") {
            onDelivered?.(frame.records.length);
            if (lifecycle) lifecycle.delivered += frame.records.length;
          } else if (frame.kind === "opened") {
            lifecycle?.opened(frame.opened);
          }
          last = frame.kind;
          yield toWireFrame(frame);
        }
      } catch (error) {
        failure = error;
        throw error;
      } finally {
        session.handleGone();
        release?.();
        // A cancelled call also ends the request stream, which drains the session: the client never hears of it.
        lifecycle?.ended(failure, last === "drained" && !context.signal.aborted);
      }
    },

    async getPosition(request) {
      return toWireReaderInfo(await sessions.getPosition(request.log, request.readerId));
    },

    async setPosition(request) {
      const start = fromWirePosition(request.position, "position");
      if (!start)
        throw new DlogError("INVALID_ARGUMENT", "position is required (boundary, dlsn, dlsn_bytes, txid or time_ms)", { metadata: { field: "position" } });
      await quota?.admit(request.log, request.readerId);
      return toWireReaderInfo(await sessions.setPosition(request.log, request.readerId, start, request.force));
    },

    async listReaders(request) {
      const readers = (await sessions.listReaders(request.log)).sort((a, b) => (a.readerId < b.readerId ? -1 : a.readerId > b.readerId ? 1 : 0));
      const page = pageOf(readers, (reader) => reader.readerId, request);
      return { readers: page.items.map(toWireReaderInfo), nextPageToken: page.nextPageToken };
    },

    async deleteReader(request) {
      await sessions.deleteReader(request.log, request.readerId, request.force);
      quota?.forget(request.log);
      return {};
    },
  };

  /**
   * Opens the session with the caller's rights: a token that may not take the reader over
   * (see auth.ts) opens it as TAKEOVER_REJECT, and a live session it meets is its refusal.
   * The one-live-session check stays inside the session core, so nothing races it.
   */
  async function openAs(open: ReturnType<typeof toOpenRequest>, context: CallContext): Promise<Session> {
    const access = accessOf(context);
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

  /** Feeds the client's messages into the session; ends it when the client half-closes (drain) or goes away. */
  async function pumpRequests(
    iterator: AsyncIterator<SessionRequest>,
    session: Session,
    context: CallContext,
    lifecycle: SessionLog | undefined,
  ): Promise<void> {
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) {
          // A half-close (e.g. grpcurl at the end of its input) finishes the session like a drain. A
          // cancelled call can look the same here, so it does not count as the client's word that it
          // acked all it processed (only a Drain message does).
          if (!context.signal.aborted) lifecycle?.draining(false);
          session.handleDrain({ explicit: false });
          return;
        }
        const kind = next.value.kind;
        switch (kind?.$case) {
          case "ack":
            session.handleAck(
              kind.value.dlsns.map((dlsn) => fromWireDlsn(dlsn, "ack.dlsns")),
              kind.value.upTo ? fromWireDlsn(kind.value.upTo, "ack.up_to") : undefined,
            );
            break;
          case "nack":
            session.handleNack(kind.value.dlsns.map((dlsn) => fromWireDlsn(dlsn, "nack.dlsns")));
            break;
          case "flow":
            session.handleFlow(toFlow(kind.value));
            break;
          case "drain":
            lifecycle?.draining(true);
            session.handleDrain({ explicit: true });
            break;
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
    } catch (error) {
      if (context.signal.aborted) session.handleGone();
      else session.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  function toOpenRequest(open: Open) {
    return {
      log: open.log,
      readerId: open.readerId,
      fallback: fromWirePosition(open.fallback, "open.fallback"),
      override: fromWirePosition(open.override, "open.override"),
      clientCheckpoint: open.clientCheckpoint ? fromWireDlsn(open.clientCheckpoint, "open.client_checkpoint") : undefined,
      resumePolicy:
        RESUME_POLICY[open.resumePolicy] ??
        invalid("open.resume_policy", `open.resume_policy ${open.resumePolicy} is not RESUME_POLICY_STORED, RESUME_POLICY_CLIENT or RESUME_POLICY_MAX`),
      flow: open.flow ? toFlow(open.flow) : {},
      takeover: TAKEOVER[open.takeover] ?? invalid("open.takeover", `open.takeover ${open.takeover} is not TAKEOVER_FENCE or TAKEOVER_REJECT`),
      ackWaitMs: open.ackWaitMs,
    };
  }

  function toWireReaderInfo(info: ReaderInfo): WireReaderInfo {
    return {
      log: info.log,
      readerId: info.readerId,
      floor: toWireDlsn(info.floor),
      holes: info.holes.map(toWireDlsn),
      lag: info.lag,
      live: info.live,
      epoch: info.epoch,
      updatedTimeMs: BigInt(info.updatedTimeMs),
      deliveredHigh: optionalWireDlsn(info.deliveredHigh),
    };
  }
}

/** What one session's log lines need; `delivered` is counted by the frame loop. */
interface SessionLog {
  delivered: number;
  opened(opened: OpenedInfo): void;
  draining(explicit: boolean): void;
  ended(failure: unknown, drained: boolean): void;
}

/**
 * One session's lifecycle at info, on a child logger that carries log, reader, session (the
 * epoch), peer and token: opened (with a takeover line when it fenced a live session), draining,
 * and exactly one end line — "session fenced" when a newer session or an admin call took the
 * reader, "session closed" otherwise (drained, cancelled, or the error).
 */
function sessionLog(logger: Logger, session: Session, context: CallContext): SessionLog {
  const token = accessOf(context)?.token;
  const log = logger.child({
    log: session.log,
    reader: session.readerId,
    session: String(session.epoch),
    peer: context.peer,
    ...(token === undefined ? {} : { token }),
  });
  const started = Date.now();
  let drainLogged = false;
  const state: SessionLog = {
    delivered: 0,
    opened(opened) {
      log.info({ source: opened.source, resumeAfter: opened.resumeAfter.toString(), logHead: opened.logHead?.toString() }, "session opened");
      if (opened.fencedEpoch !== undefined) log.info({ fencedSession: String(opened.fencedEpoch) }, "session took the reader over; its live session is fenced");
    },
    draining(explicit) {
      if (drainLogged) return;
      drainLogged = true;
      log.info({ explicit }, explicit ? "session draining (Drain)" : "session draining (client half-closed)");
    },
    ended(failure, drained) {
      const fields = { durationMs: Date.now() - started, delivered: state.delivered };
      const reason = isDlogError(failure) ? failure.reason : undefined;
      if (reason === "READER_FENCED" || reason === "READER_REPOSITIONED" || reason === "READER_DELETED") {
        log.info({ ...fields, reason }, "session fenced");
      } else if (failure === undefined) {
        log.info({ ...fields, end: drained ? "drained" : "cancelled" }, "session closed");
      } else {
        log.info(
          { ...fields, end: "failed", ...(isDlogError(failure) ? { code: failure.code, reason, error: failure.message } : { err: failure }) },
          "session closed",
        );
      }
    },
  };
  return state;
}

function invalid(field: string, message: string): never {
  throw new DlogError("INVALID_ARGUMENT", message, { metadata: { field } });
}

function toFlow(flow: WireFlowLimits): Partial<FlowLimits> {
  const bytes = flow.maxOutstandingBytes;
  return {
    maxOutstandingRecords: flow.maxOutstandingRecords,
    maxOutstandingBytes: bytes > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(bytes),
    maxBatchRecords: flow.maxBatchRecords,
  };
}

function toWireFlow(flow: FlowLimits): WireFlowLimits {
  return {
    maxOutstandingRecords: flow.maxOutstandingRecords,
    maxOutstandingBytes: BigInt(flow.maxOutstandingBytes),
    maxBatchRecords: flow.maxBatchRecords,
  };
}

function toWireFrame(frame: SessionFrame): SessionResponse {
  switch (frame.kind) {
    case "opened": {
      const opened = frame.opened;
      return {
        kind: {
          $case: "opened",
          value: {
            epoch: opened.epoch,
            resumeAfter: toWireDlsn(opened.resumeAfter),
            source: RESUME_SOURCE[opened.source],
            logHead: optionalWireDlsn(opened.logHead),
            skippedByTruncation: opened.skippedByTruncation,
            durableHoles: BigInt(opened.durableHoles),
            flow: toWireFlow(opened.flow),
            deliveredHigh: optionalWireDlsn(opened.deliveredHigh),
          },
        },
      };
    }
    case "records":
      // Pre-encoded (record-frames.ts); the service definition passes it through as a SessionResponse.
      return encodeRecordsFrame(frame.records, frame.attempts, frame.lag, frame.runs) as unknown as SessionResponse;
    case "status": {
      const status = frame.status;
      return {
        kind: {
          $case: "status",
          value: {
            durableFloor: toWireDlsn(status.durableFloor),
            ackedFloor: toWireDlsn(status.ackedFloor),
            deliveredHigh: optionalWireDlsn(status.deliveredHigh),
            outstandingRecords: BigInt(status.outstandingRecords),
            outstandingBytes: BigInt(status.outstandingBytes),
            holes: BigInt(status.holes),
            lag: status.lag,
            pausedReason: status.pausedReason,
            durableHoles: BigInt(status.durableHoles),
            acksDurable: BigInt(status.acksDurable),
            acksReceived: BigInt(status.acksReceived),
          },
        },
      };
    }
    case "drained":
      return {
        kind: {
          $case: "drained",
          value: { durableFloor: toWireDlsn(frame.durableFloor), durableHoles: BigInt(frame.durableHoles), acksDurable: BigInt(frame.acksDurable) },
        },
      };
  }
}
