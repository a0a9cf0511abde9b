import { isDlogError } from "../errors.js";
import type { OpenedInfo, Session } from "../sessions/session.js";
import type { Logger } from "./logger.js";

/** What one session's log lines need; `delivered` is counted by the frame loop. */
export interface SessionLog {
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
export function sessionLog(logger: Logger, session: Session, peer: string, token: string | undefined): SessionLog {
  const log = logger.child({
    log: session.log,
    reader: session.readerId,
    session: String(session.epoch),
    peer,
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
