import type { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import type { LogStore } from "../log/log-store.js";
import { SerialQueue } from "../util/serial-queue.js";
import type { StartPosition } from "../log/start-position.js";
import { type Flusher, createFlusher } from "../positions/flusher.js";
import { type ReaderPosition, decodePosition, encodePosition } from "../positions/position-codec.js";
import { validateName } from "../names.js";
import type { Storage } from "../storage/storage.js";
import { DEFAULT_FLOW, type FlowLimits, mergeFlow } from "./flow-limits.js";
import type { OutstandingBudget } from "./outstanding-budget.js";
import { type ResumeSource, Session } from "./session.js";

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
  onFlushError?(error: unknown): void;
}

interface PositionUpdate {
  logId: number;
  readerId: string;
  position: ReaderPosition;
}

const MAX_ACK_WAIT_MS = 24 * 3_600_000;
const SHUTTING_DOWN = "server is shutting down; reconnect to resume from the durable position";

/**
 * Every reader's sessions and positions: opening (with resume policy and
 * takeover), the one-live-session rule, the batching flusher, and reader admin.
 */
export class ReaderSessions {
  readonly flusher: Flusher<PositionUpdate>;
  private readonly options: ReaderSessionsOptions;
  private readonly logs: LogStore;
  private readonly storage: Storage;
  private readonly live = new Map<string, Session>();
  private readonly keyQueues = new Map<string, SerialQueue>();
  private readonly epochs = new Map<string, bigint>();
  private closed = false;
  readonly counters = { sessionsOpened: 0, sessionsFenced: 0, acks: 0 };

  constructor(options: ReaderSessionsOptions) {
    this.options = options;
    this.logs = options.logs;
    this.storage = options.storage;
    this.flusher = createFlusher<PositionUpdate>({
      intervalMs: options.flushIntervalMs,
      maxAcks: options.flushMax,
      write: (batch) =>
        this.storage.writePositions(
          batch.map((write) => {
            const { logId, readerId } = parseKey(write.key);
            return { logId, readerId, position: write.position ? encodePosition(write.position.position) : null };
          }),
          true,
        ),
      onFlushed: (written) => {
        for (const write of written) {
          const session = this.live.get(write.key);
          if (session && write.position && session.epoch === write.position.position.epoch) {
            session.durableChanged(write.position.position);
          }
        }
      },
      onError: (error) => options.onFlushError?.(error),
    });
  }

  get liveSessions(): number {
    return this.live.size;
  }

  /** Lag of every live session, for metrics. */
  liveLag(): Array<{ log: string; readerId: string; lag: bigint }> {
    return [...this.live.values()].map((session) => ({ log: session.log, readerId: session.readerId, lag: session.lag() }));
  }

  /** Opens a session: takes over (or refuses) a live one, picks the resume position, and makes a new position durable first. */
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
    const key = readerKey(logId, request.readerId);
    return this.queueFor(key).run(async () => {
      this.checkOpen();
      this.fenceLive(
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
      // A session that ended moments ago (fenced, failed, cancelled) may have its last acks still
      // waiting for the timer or in flight: they are made durable before the stored position is read.
      await this.flusher.flush();
      const stored = await this.stored(logId, request.readerId);
      const epoch = (this.epochs.get(key) ?? stored?.epoch ?? 0n) + 1n;
      this.epochs.set(key, epoch);
      const { position, source, changed, skipped } = await this.startPosition(request, stored, epoch);

      const snapshot = (): PositionUpdate => ({ logId, readerId: request.readerId, position: session.position() });
      const session: Session = new Session({
        log: request.log,
        readerId: request.readerId,
        epoch,
        start: position,
        opened: { source, logHead: this.logs.head(request.log).last, skippedByTruncation: skipped },
        flow,
        ackWaitMs: request.ackWaitMs,
        maxHoles: this.options.maxHoles,
        heartbeatMs: this.options.heartbeatMs,
        budget: this.options.outstandingBudget,
        logs: this.logs,
        onPositionChanged: (acks) => {
          this.flusher.markDirty(key, snapshot);
          if (acks > 0) {
            this.counters.acks += acks;
            this.flusher.noteAcks(acks);
          }
        },
        flush: () => this.flusher.flush(),
        onEnded: (ended) => {
          if (this.live.get(key) === ended) this.live.delete(key);
          // Whatever it acked is kept: one more write of its final state.
          this.flusher.markDirty(key, snapshot);
        },
      });
      this.live.set(key, session);
      this.counters.sessionsOpened++;
      if (changed) {
        // A new, overridden or skipped-ahead position is made durable before the client hears of it.
        this.flusher.markDirty(key, snapshot);
        await this.flusher.flush();
      }
      return session;
    });
  }

  private async startPosition(
    request: OpenRequest,
    stored: ReaderPosition | undefined,
    epoch: bigint,
  ): Promise<{ position: ReaderPosition; source: ResumeSource; changed: boolean; skipped: bigint }> {
    const fresh = (start: StartPosition): Promise<ReaderPosition> => this.positionFrom(request.log, start, epoch);
    let position: ReaderPosition;
    let source: ResumeSource;
    if (request.override) {
      position = await fresh(request.override);
      source = "override";
    } else {
      const client = request.clientCheckpoint ? await this.positionAt(request.log, request.clientCheckpoint, epoch) : undefined;
      if (request.resumePolicy === "client" && !client) {
        throw new DlogError("INVALID_ARGUMENT", "resume_policy CLIENT needs a client_checkpoint", { metadata: { field: "open.client_checkpoint" } });
      }
      if (client && (request.resumePolicy === "client" || (request.resumePolicy === "max" && (!stored || client.floor.isAfter(stored.floor))))) {
        // Stored holes above the client's floor are still acked records.
        const holes = request.resumePolicy === "max" && stored ? stored.holes.filter((h) => h.dlsn.isAfter(client.floor)) : [];
        position = { ...client, holes };
        source = "client";
      } else if (stored) {
        position = { ...stored, epoch };
        source = "stored";
      } else {
        position = await fresh(request.fallback ?? { kind: "earliest" });
        source = "fallback";
      }
    }
    let changed = source !== "stored";
    let skipped = 0n;
    const first = this.logs.first(request.log);
    if (first && position.floor.isBefore(first.dlsn) && position.floorSequenceId + 1n < first.sequenceId) {
      skipped = first.sequenceId - position.floorSequenceId - 1n;
      position = {
        ...position,
        floor: first.dlsn.justBefore(),
        floorSequenceId: first.sequenceId - 1n,
        holes: position.holes.filter((hole) => hole.dlsn.isAfter(first.dlsn)),
      };
      changed = true;
    }
    return { position, source, changed, skipped };
  }

  /** A position with no holes, just before the first record at or after `start`. */
  private async positionFrom(log: string, start: StartPosition, epoch: bigint): Promise<ReaderPosition> {
    const floor = await this.logs.resolveStart(log, start);
    return { floor: floor.dlsn, floorSequenceId: floor.sequenceId, holes: [], epoch, updatedTimeMs: Date.now() };
  }

  /** The position "everything up to and including `dlsn` is processed". */
  private async positionAt(log: string, dlsn: DLSN, epoch: bigint): Promise<ReaderPosition> {
    const record = await this.logs.firstRecordFrom(log, dlsn);
    const sequenceId = record
      ? record.dlsn.equals(dlsn)
        ? record.sequenceId
        : record.sequenceId - 1n
      : this.logs.head(log).nextSequenceId - 1n;
    return { floor: dlsn, floorSequenceId: sequenceId, holes: [], epoch, updatedTimeMs: Date.now() };
  }

  private async stored(logId: number, readerId: string): Promise<ReaderPosition | undefined> {
    const stored = await this.storage.getPosition(logId, readerId);
    return stored ? decodePosition(stored) : undefined;
  }

  // ---- reader admin ----------------------------------------------------------------------------

  async getPosition(log: string, readerId: string): Promise<ReaderInfo> {
    validateName("reader_id", readerId);
    const logId = this.logs.logId(log);
    const stored = await this.stored(logId, readerId);
    if (!stored) throw new DlogError("NOT_FOUND", `reader "${readerId}" of log "${log}" has no position`, { reason: "READER_NOT_FOUND", metadata: { log, reader_id: readerId } });
    return this.info(log, logId, readerId, stored);
  }

  async setPosition(log: string, readerId: string, start: StartPosition, force: boolean): Promise<ReaderInfo> {
    validateName("reader_id", readerId);
    const logId = this.logs.logId(log);
    const key = readerKey(logId, readerId);
    return this.queueFor(key).run(async () => {
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
      const epoch = this.epochs.get(key) ?? (await this.stored(logId, readerId))?.epoch ?? 0n;
      const position = await this.positionFrom(log, start, epoch);
      // Replaces a fenced session's last dirty state: one write.
      this.flusher.markDirty(key, () => ({ logId, readerId, position }));
      await this.flusher.flush();
      return this.info(log, logId, readerId, position);
    });
  }

  async deleteReader(log: string, readerId: string, force: boolean): Promise<void> {
    validateName("reader_id", readerId);
    const logId = this.logs.logId(log);
    const key = readerKey(logId, readerId);
    await this.queueFor(key).run(async () => {
      const hadLive = this.live.has(key);
      this.fenceLive(
        key,
        (current) => (force ? undefined : liveRefusal(log, readerId, current, "delete it")),
        () =>
          new DlogError(
            "ABORTED",
            `reader "${readerId}" of log "${log}" was deleted by an admin call (DeleteReader with force); its position is gone`,
            { reason: "READER_DELETED", metadata: { log, reader_id: readerId } },
          ),
      );
      if (!hadLive && !(await this.stored(logId, readerId))) {
        throw new DlogError("NOT_FOUND", `reader "${readerId}" of log "${log}" does not exist`, { reason: "READER_NOT_FOUND", metadata: { log, reader_id: readerId } });
      }
      this.flusher.markDirty(key, () => null);
      await this.flusher.flush();
      this.epochs.delete(key);
    });
  }

  async listReaders(log: string): Promise<ReaderInfo[]> {
    const logId = this.logs.logId(log);
    const stored = await this.storage.listPositions(logId);
    return stored.map(({ readerId, position }) => this.info(log, logId, readerId, decodePosition(position)));
  }

  /**
   * Ends the live session of `key` with `ending` (ABORTED; its acks are kept and written by the
   * next flush), unless `refusal` gives the error the caller should get instead.
   */
  private fenceLive(key: string, refusal: (current: Session) => DlogError | undefined, ending: (current: Session) => DlogError): void {
    const current = this.live.get(key);
    if (!current || current.isEnded) return;
    const refused = refusal(current);
    if (refused) throw refused;
    current.fence(ending(current));
    this.counters.sessionsFenced++;
  }

  private info(log: string, logId: number, readerId: string, position: ReaderPosition): ReaderInfo {
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
    };
  }

  private queueFor(key: string): SerialQueue {
    let queue = this.keyQueues.get(key);
    if (!queue) {
      queue = new SerialQueue();
      this.keyQueues.set(key, queue);
    }
    return queue;
  }

  private checkOpen(): void {
    if (this.closed) throw new DlogError("UNAVAILABLE", SHUTTING_DOWN, { reason: "SHUTTING_DOWN" });
  }

  /** Ends every session (UNAVAILABLE, so clients reconnect elsewhere or later) and writes every position. */
  async close(): Promise<void> {
    this.closed = true;
    for (const session of [...this.live.values()]) {
      session.fail(new DlogError("UNAVAILABLE", SHUTTING_DOWN, { reason: "SHUTTING_DOWN" }));
    }
    await this.flusher.close();
  }
}

function liveRefusal(log: string, readerId: string, current: Session, action: string): DlogError {
  return new DlogError(
    "FAILED_PRECONDITION",
    `reader "${readerId}" of log "${log}" has a live session (epoch ${current.epoch}); pass force to end it and ${action}`,
    { reason: "READER_LIVE", metadata: { log, reader_id: readerId, epoch: String(current.epoch) } },
  );
}

/** Reader ids cannot contain "/", so the key splits unambiguously. */
function readerKey(logId: number, readerId: string): string {
  return `${logId}/${readerId}`;
}

function parseKey(key: string): { logId: number; readerId: string } {
  const slash = key.indexOf("/");
  return { logId: Number(key.slice(0, slash)), readerId: key.slice(slash + 1) };
}

