import { setTimeout as sleep } from "node:timers/promises";
import type { DLSN } from "../dlsn.js";
import { DlogError, logDeletedError } from "../errors.js";
import type { LogStore } from "../log/log-store.js";
import type { StartPosition } from "../log/start-position.js";
import type { ReaderPosition } from "../positions/position-codec.js";
import { PositionStore, type WrittenPosition } from "../positions/position-store.js";
import { claimReader } from "../positions/reader-claim.js";
import { validateName } from "../names.js";
import type { Storage } from "../storage/storage.js";
import { KeyedQueue } from "../util/keyed-queue.js";
import { DEFAULT_FLOW, type FlowLimits, mergeFlow } from "./flow-limits.js";
import type { OutstandingBudget } from "./outstanding-budget.js";
import { GRANT_KEEP_MS, type ResumeGrant, ResumeGrants } from "./resume-grants.js";
import { checkNotBeyondHead, checkOpenPositions, positionFrom, requestedPositions, startPosition } from "./resume-position.js";
import { Session } from "./session.js";

export type ResumePolicy = "stored" | "client" | "max";
export type Takeover = "fence" | "reject";

export interface OpenRequest {
  log: string;
  readerId: string;
  fallback?: StartPosition | undefined;
  override?: StartPosition | undefined;
  /** The last record the client processed, by its own records. */
  clientCheckpoint?: DLSN | undefined;
  resumePolicy: ResumePolicy;
  flow: Partial<FlowLimits>;
  takeover: Takeover;
  ackWaitMs: number;
}

export interface ReaderInfo {
  log: string;
  readerId: string;
  floor: DLSN;
  holes: DLSN[];
  lag: bigint;
  live: boolean;
  epoch: bigint;
  updatedTimeMs: number;
  deliveredHigh: DLSN | undefined;
}

export interface ReaderSessionsOptions {
  logs: LogStore;
  storage: Storage;
  flushIntervalMs: number;
  flushMax: number;
  maxHoles: number;
  heartbeatMs: number;
  /** Server-wide budget of delivered, unacked bytes across sessions (--max-outstanding-bytes-total). */
  outstandingBudget?: OutstandingBudget;
  /** How long a resume grant waits for its reader's next session before it is given back. Default GRANT_KEEP_MS. */
  grantKeepMs?: number | undefined;
  /** On shutdown, how long sessions may take to ack what they were delivered before they end. Default 2000. */
  shutdownAckWaitMs?: number;
  onFlushError?(error: unknown): void;
  /** After each position write: the readers it wrote and how long it took (metrics). */
  onPositionsWritten?: ((written: readonly WrittenPosition[], durationMs: number) => void) | undefined;
}

const MAX_ACK_WAIT_MS = 24 * 3_600_000;
const DEFAULT_SHUTDOWN_ACK_WAIT_MS = 2_000;
const SHUTTING_DOWN = "server is shutting down; reconnect to resume from the durable position";

/**
 * Every reader's sessions: opening (with resume policy and takeover), the one-live-session rule,
 * shutdown, and reader admin. Positions are read and written through the `PositionStore`; this
 * class tells it when a session's position changed and hands each durable write to its session.
 */
export class ReaderSessions {
  readonly positions: PositionStore;
  private readonly options: ReaderSessionsOptions;
  private readonly logs: LogStore;
  private readonly live = new Map<string, Session>();
  /** Readers' next sessions reserved by their last ones' final writes; none on a store several gateways share (see `ResumeGrants`). */
  private readonly grants: ResumeGrants | undefined;
  /** Opens and admin calls of one reader run one at a time. */
  private readonly readerQueues = new KeyedQueue();
  private closed = false;
  /** Set once the final write started: sessions ending after it have nothing left to write. */
  private positionsClosed = false;
  readonly counters = { sessionsOpened: 0, sessionsFenced: 0, acks: 0 };

  constructor(options: ReaderSessionsOptions) {
    this.options = options;
    this.logs = options.logs;
    this.positions = new PositionStore({
      storage: options.storage,
      flushIntervalMs: options.flushIntervalMs,
      flushMax: options.flushMax,
      onError: (error) => options.onFlushError?.(error),
      onWritten: options.onPositionsWritten,
    });
    // One gateway owns a store it does not watch: nothing else writes its readers, so a grant holds until this process writes the reader.
    this.grants =
      options.storage.watchReaders === undefined ? new ResumeGrants(options.grantKeepMs ?? GRANT_KEEP_MS, (grant) => this.giveBack(grant)) : undefined;
    this.positions.onDurable((logId, readerId, written) => {
      const position = this.grants ? this.grants.durable(logId, readerId, written) : written;
      if (this.closed && position !== written) this.grants!.releaseAll(); // a final write that was on its way when shutdown began
      this.live.get(readerKey(logId, readerId))?.durableChanged(position);
    });
    // Another gateway wrote or deleted the reader (a replicated store): its session here is fenced at once.
    this.positions.onFenced((logId, readerId, upToEpoch, why) => {
      const session = this.live.get(readerKey(logId, readerId));
      if (!session || session.isEnded || session.epoch > upToEpoch) return;
      session.fence(why === "deleted" ? readerDeleted(session.log, readerId, "through another dlogd gateway") : why);
      this.counters.sessionsFenced++;
    });
    this.logs.onDelete((logId, name) => this.endLog(logId, name));
  }

  /** The position flusher's counters, for metrics. */
  get flusher(): Pick<PositionStore, "counters"> {
    return this.positions;
  }

  get liveSessions(): number {
    return this.live.size;
  }

  /** In-memory state that must follow live use, not history: for tests and metrics. */
  get sizes(): { live: number; readerQueues: number; dirtyPositions: number; grants: number } {
    return { live: this.live.size, readerQueues: this.readerQueues.size, dirtyPositions: this.positions.dirtyCount, grants: this.grants?.size ?? 0 };
  }

  /** Lag of every live session, for metrics. */
  liveLag(): Array<{ log: string; readerId: string; lag: bigint }> {
    return [...this.live.values()].map((session) => ({ log: session.log, readerId: session.readerId, lag: session.lag() }));
  }

  /**
   * Opens a session: checks the whole request first, then takes over (or refuses) a live one,
   * picks the resume position, and makes it durable with the new epoch before the client hears of it.
   */
  async open(request: OpenRequest): Promise<Session> {
    validateName("log", request.log);
    validateName("reader_id", request.readerId);
    if (!Number.isSafeInteger(request.ackWaitMs) || request.ackWaitMs < 0 || request.ackWaitMs > MAX_ACK_WAIT_MS) {
      throw new DlogError("INVALID_ARGUMENT", `ack_wait_ms must be between 0 (never) and ${MAX_ACK_WAIT_MS}, got ${request.ackWaitMs}`, {
        reason: "LIMIT_EXCEEDED",
        metadata: { limit: "ack_wait_ms", max: String(MAX_ACK_WAIT_MS), value: String(request.ackWaitMs) },
      });
    }
    const flow = mergeFlow(DEFAULT_FLOW, request.flow);
    this.checkOpen();
    const logId = this.logs.logId(request.log);
    checkOpenPositions(this.logs, request);
    const requested = await requestedPositions(this.logs, request);
    const key = readerKey(logId, request.readerId);
    return this.readerQueues.run(key, async () => {
      this.checkOpen();
      const fenced = this.fenceLive(
        key,
        (current) =>
          request.takeover === "reject"
            ? new DlogError(
                "ALREADY_EXISTS",
                `reader "${request.readerId}" of log "${request.log}" has a live session (epoch ${current.epoch}); open with takeover TAKEOVER_FENCE to take it over`,
                { reason: "READER_LIVE", metadata: { log: request.log, reader_id: request.readerId, epoch: String(current.epoch) } },
              )
            : undefined,
        (current) =>
          new DlogError(
            "ABORTED",
            `fenced by a newer session of reader "${request.readerId}" (epoch ${current.epoch + 1n}); this session's later acks are refused`,
            { reason: "READER_FENCED", metadata: { log: request.log, reader_id: request.readerId, epoch: String(current.epoch + 1n) } },
          ),
      );
      // A durable grant says what is stored: no read (a thread hop) either.
      const reader = { log: request.log, logId, readerId: request.readerId, known: this.grants?.storedOf(logId, request.readerId) };
      const call = { action: "open", name: "the open", overwrite: request.takeover !== "reject" } as const;
      return claimReader(this.positions, reader, call, async (read) => {
        const stored = this.truthOf(logId, request.readerId, read);
        const epoch = (stored?.epoch ?? 0n) + 1n;
        const { position, source, skipped } = startPosition(this.logs, request, requested, stored, epoch);
        // A grant: this epoch and a first delivery reservation are on disk already, so nothing is written here.
        const grant = this.grants?.take(logId, request.readerId, read);
        this.grants?.drop(logId, request.readerId);
        /** Its epoch write landed: from then on it writes what it acks. */
        let claimed = false;
        const session: Session = new Session({
          log: request.log,
          readerId: request.readerId,
          epoch,
          start: position,
          reservedThrough: grant?.reserved.deliveredThrough,
          opened: { source, logHead: this.logs.head(request.log).last, skippedByTruncation: skipped, fencedEpoch: fenced?.epoch },
          flow,
          ackWaitMs: request.ackWaitMs,
          maxHoles: this.options.maxHoles,
          heartbeatMs: this.options.heartbeatMs,
          budget: this.options.outstandingBudget,
          logs: this.logs,
          positions: {
            changed: (acks) => {
              this.positionChanged(logId, session, acks);
              this.counters.acks += acks;
            },
            flush: () => this.positions.flush(),
          },
          onEnded: (ended) => {
            if (this.live.get(key) === ended) this.live.delete(key);
            // Whatever it acked is kept: one more write of its final state, unless its drain wrote it.
            if (claimed && !this.positionsClosed && !ended.finalStateDurable) this.positionChanged(logId, ended, 0);
          },
        });
        this.live.set(key, session);
        if (grant) {
          claimed = true;
          this.counters.sessionsOpened++;
          session.readAhead();
          return session;
        }
        // The epoch (and the first delivery reservation) is durable before the client hears of it
        // (a grant's was, by the last session's final write): epochs grow across restarts even for
        // a session that acks nothing. Written only over the position it started from: another
        // gateway's write since (the old session's last acks, a newer session) makes it read again
        // and start from there, so no durable ack is undone.
        const claiming = this.positions.claim(logId, request.readerId, () => this.snapshotOf(logId, session));
        // The first batch is taken from the entry cache, if there, while the write is on its way to
        // disk; the session sends nothing (Opened first) before it is durable.
        session.readAhead();
        let written: boolean;
        try {
          written = await claiming;
        } catch (error) {
          session.fail(error as Error);
          throw error;
        }
        if (written) {
          claimed = true;
          this.counters.sessionsOpened++;
          return session;
        }
        // Never handed out: it ends without a word or a write.
        session.fail(new DlogError("ABORTED", "superseded before it opened"));
        return undefined;
      });
    });
  }

  /** The session's position changed: written with the next flush, unless its log is gone by then. */
  private positionChanged(logId: number, session: Session, acks: number): void {
    this.positions.changed(logId, session.readerId, () => this.snapshotOf(logId, session), acks);
  }

  /**
   * What a write of the session's position stores: its position, or nothing once its log is gone.
   * The final write of a session that ends cleanly also reserves its reader's next session (a grant).
   */
  private snapshotOf(logId: number, session: Session): ReaderPosition | undefined {
    const log = session.log;
    if (!this.logs.has(log) || this.logs.logId(log) !== logId) return undefined;
    const position = session.position();
    if (!this.grants || this.closed || !session.endsCleanly) return position;
    return this.grants.reserve({ log, logId, readerId: session.readerId }, position, session.maxOutstandingRecords);
  }

  /** The reader as it truly stands: a grant's reservation, read back, is not what earlier sessions sent. */
  private truthOf(logId: number, readerId: string, stored: ReaderPosition | undefined): ReaderPosition | undefined {
    return this.grants ? this.grants.truthOf(logId, readerId, stored) : stored;
  }

  /** A grant unused (or shutdown): its reservation is given back, so nothing that was never sent stays marked. */
  private giveBack(grant: ResumeGrant): void {
    if (this.positionsClosed) return;
    const { log, logId, readerId, released } = grant;
    this.positions.changed(logId, readerId, () => (this.logs.has(log) && this.logs.logId(log) === logId ? released : undefined));
  }

  // ---- reader admin ----------------------------------------------------------------------------

  async getPosition(log: string, readerId: string): Promise<ReaderInfo> {
    validateName("reader_id", readerId);
    const logId = this.logs.logId(log);
    const stored = await this.positions.get(logId, readerId);
    if (!stored)
      throw new DlogError("NOT_FOUND", `reader "${readerId}" of log "${log}" has no position`, {
        reason: "READER_NOT_FOUND",
        metadata: { log, reader_id: readerId },
      });
    return this.info(log, logId, readerId, stored);
  }

  async setPosition(log: string, readerId: string, start: StartPosition, force: boolean): Promise<ReaderInfo> {
    validateName("reader_id", readerId);
    const logId = this.logs.logId(log);
    if (start.kind === "dlsn") checkNotBeyondHead(this.logs, log, start.dlsn, "position", "start");
    const key = readerKey(logId, readerId);
    return this.readerQueues.run(key, async () => {
      this.fenceLive(
        key,
        (current) => (force ? undefined : liveRefusal(log, readerId, current, "set its position")),
        () =>
          new DlogError(
            "ABORTED",
            `reader "${readerId}" of log "${log}" was re-positioned by an admin call (SetPosition with force); reconnect to resume from its new position`,
            { reason: "READER_REPOSITIONED", metadata: { log, reader_id: readerId } },
          ),
      );
      const call = { action: "set its position", name: "SetPosition", overwrite: force } as const;
      return claimReader(this.positions, { log, logId, readerId }, call, async (read) => {
        const stored = this.truthOf(logId, readerId, read);
        this.grants?.drop(logId, readerId);
        const position: ReaderPosition = {
          ...(await positionFrom(this.logs, log, start, stored?.epoch ?? 0n)),
          deliveredHigh: stored?.deliveredHigh,
          deliveredThrough: stored?.deliveredThrough ?? -1n,
        };
        // Written only over what was read: a session through another gateway that wrote the reader
        // meanwhile is live there (refused without force), or is written over (with force).
        if (await this.positions.claim(logId, readerId, () => position)) return this.info(log, logId, readerId, position);
        return undefined;
      });
    });
  }

  async deleteReader(log: string, readerId: string, force: boolean): Promise<void> {
    validateName("reader_id", readerId);
    const logId = this.logs.logId(log);
    const key = readerKey(logId, readerId);
    await this.readerQueues.run(key, async () => {
      const hadLive = this.live.has(key);
      this.fenceLive(
        key,
        (current) => (force ? undefined : liveRefusal(log, readerId, current, "delete it")),
        () => readerDeleted(log, readerId, "by an admin call (DeleteReader with force)"),
      );
      if (!hadLive && !(await this.positions.get(logId, readerId))) {
        throw new DlogError("NOT_FOUND", `reader "${readerId}" of log "${log}" does not exist`, {
          reason: "READER_NOT_FOUND",
          metadata: { log, reader_id: readerId },
        });
      }
      this.grants?.drop(logId, readerId);
      this.positions.delete(logId, readerId);
      await this.positions.flush();
    });
  }

  async listReaders(log: string): Promise<ReaderInfo[]> {
    const logId = this.logs.logId(log);
    const stored = await this.positions.list(logId);
    return stored.map(({ readerId, position }) => this.info(log, logId, readerId, position));
  }

  /**
   * Ends the live session of `key` with `ending` (ABORTED; its acks are kept and written by the
   * next flush), unless `refusal` gives the error the caller should get instead. Returns the session it ended.
   */
  private fenceLive(key: string, refusal: (current: Session) => DlogError | undefined, ending: (current: Session) => DlogError): Session | undefined {
    const current = this.live.get(key);
    if (!current || current.isEnded) return undefined;
    const refused = refusal(current);
    if (refused) throw refused;
    current.fence(ending(current));
    this.counters.sessionsFenced++;
    return current;
  }

  /** A log is being deleted: its sessions end first (NOT_FOUND), and none of its positions is written again. */
  private async endLog(logId: number, name: string): Promise<void> {
    const gone = logDeletedError(name);
    for (const [key, session] of [...this.live]) {
      if (key.startsWith(`${logId}/`)) session.fail(gone);
    }
    await this.positions.forgetLog(logId);
    this.grants?.dropLog(logId);
  }

  private info(log: string, logId: number, readerId: string, read: ReaderPosition): ReaderInfo {
    const position = this.truthOf(logId, readerId, read)!;
    const lag = this.logs.head(log).nextSequenceId - position.floorSequenceId - 1n - BigInt(position.holes.length);
    const session = this.live.get(readerKey(logId, readerId));
    return {
      log,
      readerId,
      floor: position.floor,
      holes: position.holes.map((hole) => hole.dlsn),
      lag: lag > 0n ? lag : 0n,
      live: session !== undefined && !session.isEnded,
      epoch: position.epoch,
      updatedTimeMs: position.updatedTimeMs,
      deliveredHigh: position.deliveredHigh,
    };
  }

  private checkOpen(): void {
    if (this.closed) throw new DlogError("UNAVAILABLE", SHUTTING_DOWN, { reason: "SHUTTING_DOWN" });
  }

  /**
   * Shutdown: no session delivers anything more; each gets a bounded time to ack what it was
   * delivered (a client that acks loses nothing to the restart), then every session ends
   * (UNAVAILABLE, so clients reconnect) and every position is written.
   */
  async close(): Promise<void> {
    this.closed = true;
    const sessions = [...this.live.values()];
    const waitMs = this.options.shutdownAckWaitMs ?? DEFAULT_SHUTDOWN_ACK_WAIT_MS;
    const abort = new AbortController();
    // What was acked before the shutdown is made durable at once, whatever the wait below costs.
    const acked = this.positions.flush().catch(() => undefined);
    await Promise.race([
      Promise.all(sessions.map((session) => session.beginShutdown())),
      sleep(waitMs, undefined, { signal: abort.signal, ref: false }).catch(() => undefined),
    ]);
    abort.abort();
    await acked;
    for (const session of [...this.live.values()]) {
      session.fail(new DlogError("UNAVAILABLE", SHUTTING_DOWN, { reason: "SHUTTING_DOWN" }));
    }
    this.grants?.releaseAll();
    this.positionsClosed = true;
    await this.positions.close();
  }
}

/** Ends a live session whose reader was deleted (`how`: by whom or where). */
function readerDeleted(log: string, readerId: string, how: string): DlogError {
  return new DlogError("ABORTED", `reader "${readerId}" of log "${log}" was deleted ${how}; its position is gone`, {
    reason: "READER_DELETED",
    metadata: { log, reader_id: readerId },
  });
}

function liveRefusal(log: string, readerId: string, current: Session, action: string): DlogError {
  return new DlogError(
    "FAILED_PRECONDITION",
    `reader "${readerId}" of log "${log}" has a live session (epoch ${current.epoch}); pass force to end it and ${action}`,
    { reason: "READER_LIVE", metadata: { log, reader_id: readerId, epoch: String(current.epoch) } },
  );
}

/** Reader ids cannot contain "/", so the key is unambiguous. */
function readerKey(logId: number, readerId: string): string {
  return `${logId}/${readerId}`;
}
