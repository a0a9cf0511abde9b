/**
 * dlog on NATS JetStream (`dlogd --storage nats://...`): the same `Storage` as LevelDB, on a
 * replicated engine several dlogd gateways can share.
 *
 * Layout, for a prefix P (default "dlog"):
 * - stream `P_entries`, subjects `P.e.>`: one subject per log, `P.e.<logId>`, one message per dlog
 *   entry (what one append wrote, encoded by log/entry-codec.ts; a record's slot is its index in
 *   it). The entry's (segment, entry) travels in the `Nats-Msg-Id` header, `<logId>.<segment>.<entry>`,
 *   so a publish the server already stored is answered as a duplicate, never stored twice. Entries of a
 *   log are published in DLSN order, so the subject's stream order is DLSN order: a DLSN is found by a
 *   binary search over stream sequences (no index to keep), and a cursor reads the subject onwards.
 * - KV bucket `P_meta`: `log.<logId>` holds the log's LogMeta, segments and producers as one JSON
 *   value, plus `tailSeq`, the stream sequence of its last committed entry. It is written with
 *   compare-and-set on its revision, and that write is the commit point: entries published before
 *   it but not covered by a committed `tailSeq` are never read (a cursor stops at `tailSeq`) and are
 *   deleted by the next load, as a failed LevelDB batch leaves nothing behind. `next-log-id` is the
 *   id counter (CAS); `slot.<logId>.<producer>.<incarnation>.<firstSeq>` holds producer slots.
 * - KV bucket `P_positions`: `<logId>.<reader>` per reader, CAS on the revision this gateway last
 *   read or wrote: a failed CAS means another gateway wrote the reader (took it over), reported as
 *   `PositionsFencedError`; the position store reads it again and decides by the sessions' epochs
 *   whether this gateway's session was fenced or is the newer one and writes again.
 * Reader ids and producer ids go into keys base64url-encoded (KV keys allow only [-/_=.a-zA-Z0-9]).
 *
 * Every publish carries `Nats-Expected-Last-Subject-Sequence`: a gateway whose view of the log is
 * stale (another gateway appended, or an orphan is left) is refused by the server before anything is
 * stored; its log store reloads and the next append goes on from the fresh state.
 *
 * Reads are never trusted for correctness (a KV get may be answered by a lagging replica): every
 * decision that matters is a CAS at the stream or bucket leader. Operations that are safe to repeat
 * are retried through a leader election (`RETRY`); a commit is not retried here: it fails, the log
 * store reloads (which retries) and the client's retry finds the log as it is. A write waiting for
 * its answer when its stream elects a new leader (JetStream's leader-elected advisory) or the
 * connection drops is given up and retried at once: a leader stopped gracefully hands over in tens
 * of ms but leaves what it had not answered unanswered, and its 2 s timeout was the whole outage.
 */
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions, RequestError } from "@nats-io/transport-node";
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type MsgRequest,
  type StoredMsg,
} from "@nats-io/jetstream";
import { type KV, type KvWatchEntry, Kvm } from "@nats-io/kv";
import { readFileSync } from "node:fs";
import { DlogError } from "../errors.js";
import { SerialQueue } from "../util/serial-queue.js";
import { decodeJson, encodeJson } from "./json-codec.js";
import {
  type CommitBatch,
  type EntryCursor,
  type EntryWrite,
  type LogMeta,
  type PositionWrite,
  type ProducerSlotsKey,
  type SegmentMeta,
  type Storage,
  type StoredEntry,
  type StoredLog,
  type StoredPosition,
  type LogChange,
  PositionsFencedError,
} from "./storage.js";

export interface NatsStorageOptions {
  /** HOST:PORT of one or more servers of the cluster. */
  servers: string[];
  /** Names the stream, buckets and subjects: several dlog deployments can share a cluster. */
  prefix: string;
  /** Replicas of the stream and buckets when this gateway creates them (1 or 3). */
  replicas: number;
  /** A NATS credentials file (JWT + nkey seed). */
  credsFile?: string | undefined;
  tls?: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined } | undefined;
  /** Connection name shown by the server (`nats server report connections`). */
  name?: string | undefined;
  /** Per attempt, and in all, of an operation retried through a leader election. */
  retry?: { attemptMs: number; totalMs: number } | undefined;
  /** How often a KV watch is checked against the bucket, and how long it may lag before it is recreated. */
  watchdog?: { checkMs: number; silentMs: number } | undefined;
}

/** A KV watch the watchdog found silent and recreated: it had delivered up to `seen`, the bucket holds `last`. */
export interface WatchRestart {
  watch: "logs" | "readers";
  seen: number;
  last: number;
  silentMs: number;
}

const RETRY = { attemptMs: 2_000, totalMs: 20_000 };
/**
 * A node that hangs (SIGSTOP, a partition that keeps the socket open) answers nothing but never
 * closes the connection: only missed pongs tell. The client's default (2 min, 2 out) left a gateway
 * on a hung node failing every call for 4-6 min while the other nodes served; with these it moves to
 * another node (learned from the cluster's INFO) after 8-12 s.
 */
const PING = { intervalMs: 4_000, maxOut: 2 };
/**
 * A KV watch (an ordered push consumer) can stay silent while its keys change and the connection is
 * up (a consumer left on a replica that stopped, as after a leader crash): nats.js recreates one only
 * when its heartbeats stop. A watch that lags the bucket leader's last message for its keys this long
 * is recreated after the last revision it delivered; a healthy one lags by milliseconds.
 */
const WATCHDOG = { checkMs: 2_000, silentMs: 6_000 };
/** A cursor's batch read stops past this many bytes (entries of 1000 records are ~100 KiB each). */
const READ_BATCH_BYTES = 8 * 1024 * 1024;
const NEXT_LOG_ID_KEY = "next-log-id";

/** What this gateway knows of a log: the committed value and its revision, and its subject's last stream sequence. */
interface LogView {
  /** Undefined until a commit or load brings one (the compliance suite writes entries of logs it never describes). */
  meta: LogMeta | undefined;
  segments: Map<bigint, SegmentMeta>;
  producers: Map<string, Buffer>;
  /** KV revision of `log.<id>`; 0: no value yet. */
  revision: number;
  /** Stream sequence of the last entry the committed value covers; cursors stop there. */
  tailSeq: number;
  /** The subject's last stream sequence as this gateway left it: what the next publish expects. */
  lastSeq: number;
  /** The value of this gateway's CAS write in flight: the watch must not take its echo for another gateway's. */
  pending?: Buffer | undefined;
  /** Another gateway deleted the log (and this one's log store took it in): nothing more is written to it. */
  gone?: boolean | undefined;
}

/** The KV value of one log. */
interface StoredLogValue {
  meta: LogMeta;
  segments: SegmentMeta[];
  producers: Array<{ producerId: string; value: string }>;
  tailSeq: number;
}

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64url");
const unb64 = (key: string): string => Buffer.from(key, "base64url").toString("utf8");

function viewOf(value: Uint8Array, revision: number, lastSeq: number): LogView {
  const stored = decodeJson<StoredLogValue>(value);
  return {
    meta: stored.meta,
    segments: new Map(stored.segments.map((s) => [s.segment, s])),
    producers: new Map(stored.producers.map((p) => [p.producerId, Buffer.from(p.value, "base64")])),
    revision,
    tailSeq: stored.tailSeq,
    lastSeq,
  };
}

function storedLogOf(view: LogView & { meta: LogMeta }): StoredLog {
  return {
    meta: view.meta,
    segments: [...view.segments.values()].sort((a, b) => compare(a.segment, 0n, b.segment, 0n)),
    producers: [...view.producers].map(([producerId, value]) => ({ producerId, value })),
  };
}

/** A DLSN's (segment, entry) ordered as one comparable pair. */
function compare(aSegment: bigint, aEntry: bigint, bSegment: bigint, bEntry: bigint): number {
  if (aSegment !== bSegment) return aSegment < bSegment ? -1 : 1;
  return aEntry === bEntry ? 0 : aEntry < bEntry ? -1 : 1;
}

/**
 * True for failures a retry may get past: no leader (no responders among them: nothing was stored),
 * no answer in time or a reconnect (the request may have been carried out: only what is safe to
 * repeat is retried, see `retrying`).
 */
function isTransient(error: unknown): boolean {
  if (error instanceof AnswerLostError || isNoResponders(error)) return true;
  if (error instanceof JetStreamApiError) return error.status === 503 || error.code === 10008;
  const e = error as { name?: string; message?: string; code?: string } | undefined;
  const text = `${e?.name ?? ""} ${e?.message ?? ""} ${e?.code ?? ""}`;
  return /timeout|no responders|503|disconnect|reconnect|connection closed|temporarily unavailable|leader/i.test(text);
}

/**
 * A publish no stream server took (nats.js reports it as "jetstream is not enabled"): between a
 * leader's hand-over and the next election nobody answers the stream's subjects. Nothing was stored.
 */
function isNoResponders(error: unknown): boolean {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause instanceof RequestError && cause.isNoResponders();
}

function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** A transient failure past the retries' deadline, as the client hears it: UNAVAILABLE, try again. */
function outOfTime(error: unknown, totalMs: number): DlogError {
  if (error instanceof DlogError) return error;
  return new DlogError("UNAVAILABLE", `NATS JetStream did not answer within ${totalMs} ms (no leader, or not connected); retry the call`, {
    reason: "STORAGE_UNAVAILABLE",
    cause: error,
  });
}

/**
 * Runs `op` until it succeeds, fails for good, or `totalMs` has passed; each attempt bounded by
 * `attemptMs` inside `op`. An attempt whose answer was lost may have been carried out, so `op` must be
 * safe to repeat: a read, a purge, a compare-and-set write (`casPut` tells its own landed attempt
 * from another gateway's write), or a put of a value no one else writes (producer slots). Out of time, the last failure is UNAVAILABLE (the client tries again), not
 * the client library's own error, which reached a reader as INTERNAL ("timeout", a node paused while
 * leading the entries stream on a loaded machine).
 */
async function retrying<T>(retry: { totalMs: number }, op: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + retry.totalMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (!isTransient(error)) throw error;
      if (Date.now() >= deadline) throw outOfTime(error, retry.totalMs);
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(error, attempt)));
    }
  }
}

/** Back-off before the next attempt: none after a request given up (the new leader or connection is there), else 100 ms doubling to 1 s. */
function retryDelayMs(error: unknown, attempt: number): number {
  return error instanceof AnswerLostError ? 0 : Math.min(100 * 2 ** attempt, 1_000);
}

/**
 * A request given up before its timeout because its answer will not come: its stream elected a new
 * leader meanwhile (a leader stopped gracefully hands over and leaves what it had not answered
 * unanswered), or the connection it went out on was lost. Transient: nothing was decided that a
 * retry (idempotent) cannot find.
 */
class AnswerLostError extends Error {
  constructor(why: string) {
    super(`${why} while a request waited for its answer; it is retried`);
    this.name = "AnswerLostError";
  }
}

/** A position as one KV value: the floor's length (2 bytes), the floor, the extra. */
function encodeStoredPosition(position: StoredPosition): Buffer {
  return Buffer.concat([Buffer.from([position.floor.length >> 8, position.floor.length & 0xff]), position.floor, position.extra]);
}

function decodeStoredPosition(value: Uint8Array): StoredPosition {
  const bytes = Buffer.from(value);
  const floorLength = bytes.readUInt16BE(0);
  return { floor: bytes.subarray(2, 2 + floorLength), extra: bytes.subarray(2 + floorLength) };
}

function entryMsgId(logId: number, segment: bigint, entry: bigint): string {
  return `${logId}.${segment}.${entry}`;
}

/** (segment, entry) of a stored entry message, from its `Nats-Msg-Id`. */
function entryOf(msg: StoredMsg): { segment: bigint; entry: bigint } {
  const id = msg.header?.get("Nats-Msg-Id") ?? "";
  const parts = id.split(".");
  if (parts.length !== 3) throw new DlogError("INTERNAL", `stream message ${msg.seq} on ${msg.subject} has no dlog entry id (Nats-Msg-Id "${id}")`);
  return { segment: BigInt(parts[1]!), entry: BigInt(parts[2]!) };
}

export class NatsStorage implements Storage {
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly meta: KV;
  private readonly positions: KV;
  private readonly prefix: string;
  private readonly stream: string;
  private readonly metaBucket: string;
  /** The stream answers direct gets (dlogd creates it so): cursors read in batches. */
  private readonly direct: boolean;
  private readonly positionsBucket: string;
  private readonly retry: { attemptMs: number; totalMs: number };
  private readonly logs = new Map<number, LogView>();
  /** KV revisions of the positions this gateway read or wrote: the CAS base of its next write. */
  private readonly positionRevisions = new Map<string, number>();
  /**
   * Position keys with a write in flight here, with the value it writes (null: a delete): the watch's
   * echo of it is this gateway's own write, not a takeover; any other write of the key is told.
   */
  private readonly positionWrites = new Map<string, Buffer | null>();
  private readonly watches = new Set<{ stop(): void }>();
  private readonly watchdog: { checkMs: number; silentMs: number };
  private watchRestartListener: ((restart: WatchRestart) => void) | undefined;
  /** KV watches the watchdog recreated. */
  watchRestarts = 0;
  private closing = false;
  /** When the connection to NATS was lost; undefined while connected. */
  private disconnectedAt: number | undefined;
  private connectionListener: ((connected: boolean) => void) | undefined;
  /** Commits, truncations and deletions of the entry stream take turns: each expects the subject's last sequence. */
  private readonly writes = new SerialQueue();
  /** Per stream, the requests waiting for an answer that its next leader election or a lost connection gives up (see `untilAnswerLost`). */
  private readonly answerWaiters = new Map<string, Set<(error: Error) => void>>();
  private readonly idAllocation = new SerialQueue();

  private constructor(parts: {
    nc: NatsConnection;
    js: JetStreamClient;
    jsm: JetStreamManager;
    meta: KV;
    positions: KV;
    prefix: string;
    retry: NatsStorage["retry"];
    direct: boolean;
    watchdog: NatsStorage["watchdog"];
  }) {
    this.nc = parts.nc;
    this.js = parts.js;
    this.jsm = parts.jsm;
    this.meta = parts.meta;
    this.positions = parts.positions;
    this.prefix = parts.prefix;
    this.stream = `${parts.prefix}_entries`;
    this.metaBucket = `${parts.prefix}_meta`;
    this.direct = parts.direct;
    void this.followConnection();
    this.followElections();
    this.positionsBucket = `${parts.prefix}_positions`;
    this.retry = parts.retry;
    this.watchdog = parts.watchdog;
  }

  /** Connects, and creates the stream and buckets if they are missing (with `replicas`). */
  static async open(options: NatsStorageOptions): Promise<NatsStorage> {
    const retry = options.retry ?? RETRY;
    const connectOptions: NodeConnectionOptions = {
      servers: options.servers,
      name: options.name ?? "dlogd",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: retry.attemptMs,
      pingInterval: PING.intervalMs,
      maxPingOut: PING.maxOut,
    };
    if (options.credsFile) connectOptions.authenticator = credsAuthenticator(readFileSync(options.credsFile));
    if (options.tls) {
      connectOptions.tls = {
        ...(options.tls.caFile ? { caFile: options.tls.caFile } : {}),
        ...(options.tls.certFile ? { certFile: options.tls.certFile } : {}),
        ...(options.tls.keyFile ? { keyFile: options.tls.keyFile } : {}),
      };
    }
    let nc: NatsConnection;
    try {
      nc = await connect(connectOptions);
    } catch (error) {
      throw new DlogError("UNAVAILABLE", `cannot connect to NATS at ${options.servers.join(",")}: ${(error as Error).message}`, {
        reason: "STORAGE_UNAVAILABLE",
        cause: error,
      });
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: retry.attemptMs });
      const js = jetstream(nc, { timeout: retry.attemptMs });
      const stream = `${options.prefix}_entries`;
      const direct = await retrying(retry, async () => {
        try {
          return (await jsm.streams.info(stream)).config.allow_direct === true;
        } catch (error) {
          if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
          await jsm.streams.add({
            name: stream,
            subjects: [`${options.prefix}.e.>`],
            num_replicas: options.replicas,
            // Entries are deleted by truncation (purge) and DeleteLog only, never by limits.
            max_msgs: -1,
            max_bytes: -1,
            max_age: 0,
            // Cursors read in batches (direct gets); a lagging replica answers with less, never with other data.
            allow_direct: true,
          });
          return true;
        }
      });
      const kvm = new Kvm(js);
      const bucket = (name: string): Promise<KV> =>
        retrying(retry, () => kvm.create(`${options.prefix}_${name}`, { replicas: options.replicas, history: 1, timeout: retry.attemptMs }));
      const [meta, positions] = await Promise.all([bucket("meta"), bucket("positions")]);
      return new NatsStorage({ nc, js, jsm, meta, positions, prefix: options.prefix, retry, direct, watchdog: options.watchdog ?? WATCHDOG });
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw new DlogError("UNAVAILABLE", `cannot set up the JetStream stream and buckets (prefix "${options.prefix}"): ${(error as Error).message}`, {
        reason: "STORAGE_UNAVAILABLE",
        cause: error,
      });
    }
  }

  /** Milliseconds since the connection to NATS was lost (the client reconnects by itself); 0 while connected. */
  disconnectedForMs(now = Date.now()): number {
    return this.disconnectedAt === undefined ? 0 : now - this.disconnectedAt;
  }

  /** Registers the one listener told when the connection to NATS is lost and when it is back. */
  onConnectionChange(listener: (connected: boolean) => void): void {
    this.connectionListener = listener;
  }

  /** Registers the one listener told when the watchdog recreates a KV watch that fell silent. */
  onWatchRestarted(listener: (restart: WatchRestart) => void): void {
    this.watchRestartListener = listener;
  }

  private async followConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === "disconnect" && this.disconnectedAt === undefined) {
        this.disconnectedAt = Date.now();
        this.giveUpWaiting(undefined, "the connection to NATS was lost");
        this.connectionListener?.(false);
      } else if (status.type === "reconnect") {
        this.disconnectedAt = undefined;
        // What went out as the old connection closed (or before the new one was up) may get no answer.
        this.giveUpWaiting(undefined, "the connection to NATS was re-established");
        this.connectionListener?.(true);
      }
    }
  }

  /** Follows JetStream's leader-elected advisories (published by the new leader): each gives up the requests waiting on that stream. */
  private followElections(): void {
    const prefix = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.";
    this.nc.subscribe(`${prefix}*`, {
      callback: (error, msg) => {
        if (error) return; // e.g. not permitted to subscribe: requests then wait for their timeout
        const stream = msg.subject.slice(prefix.length);
        this.giveUpWaiting(stream, `stream ${stream} elected a new leader`);
      },
    });
  }

  /** Resolves at `stream`'s next leader election (or a lost connection), or after `ms`. */
  private async electionOrDelay(stream: string, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    // An election ends the wait early (as an AnswerLostError).
    await this.untilAnswerLost(stream, elapsed).catch(() => undefined);
    clearTimeout(timer);
  }

  /** The stream behind a KV bucket of this storage. */
  private bucketStream(kv: KV): string {
    return `KV_${kv === this.meta ? this.metaBucket : this.positionsBucket}`;
  }

  /** Gives up the requests waiting on `stream` (every stream: undefined). */
  private giveUpWaiting(stream: string | undefined, why: string): void {
    const sets = stream === undefined ? [...this.answerWaiters.values()] : [this.answerWaiters.get(stream) ?? new Set()];
    for (const waiters of sets) for (const giveUp of waiters) giveUp(new AnswerLostError(why));
  }

  /**
   * `request`'s answer, or an `AnswerLostError` as soon as `stream` elects a new leader or the
   * connection is lost first: the retry goes at once instead of after the request's timeout.
   */
  private async untilAnswerLost<T>(stream: string, request: Promise<T>): Promise<T> {
    let giveUp: ((error: Error) => void) | undefined;
    const lost = new Promise<never>((_, reject) => (giveUp = reject));
    let waiters = this.answerWaiters.get(stream);
    if (!waiters) this.answerWaiters.set(stream, (waiters = new Set()));
    waiters.add(giveUp!);
    try {
      return await Promise.race([request, lost]);
    } finally {
      waiters.delete(giveUp!);
      if (waiters.size === 0) this.answerWaiters.delete(stream);
      // A request given up still settles later (its answer or its timeout): nothing waits for it.
      request.catch(() => undefined);
    }
  }

  private subject(logId: number): string {
    return `${this.prefix}.e.${logId}`;
  }

  /**
   * A KV key's last entry as the bucket's stream leader has it. `kv.get` is a direct get, which a
   * lagging replica may answer: a reader's position read there would resume a session from an old
   * floor and fail its first CAS; what a CAS is based on is read here.
   */
  private async leaderGet(kv: KV, key: string): Promise<{ operation: string; revision: number; value: Uint8Array; string(): string } | null> {
    const bucket = kv === this.meta ? this.metaBucket : this.positionsBucket;
    const stream = this.bucketStream(kv);
    const msg = await this.untilAnswerLost(stream, this.jsm.streams.getMessage(stream, { last_by_subj: `$KV.${bucket}.${key}` }));
    if (!msg) return null;
    const value = msg.data;
    return { operation: msg.header?.get("KV-Operation") || "PUT", revision: msg.seq, value, string: () => Buffer.from(value).toString("utf8") };
  }

  // ---- logs ------------------------------------------------------------------------------------

  async loadLogs(): Promise<StoredLog[]> {
    const keys = await this.listKeys(this.meta, "log.*");
    this.logs.clear();
    const result: StoredLog[] = [];
    for (const key of keys) {
      const view = await this.readLog(Number(key.slice(4)));
      if (!view?.meta) continue;
      await this.removeOrphans(view);
      result.push(storedLogOf({ ...view, meta: view.meta }));
    }
    return result.sort((a, b) => (a.meta.name < b.meta.name ? -1 : a.meta.name > b.meta.name ? 1 : 0));
  }

  /** The log's committed value and its subject's last sequence, read now (undefined: no log with that id). */
  private async readLog(logId: number): Promise<LogView | undefined> {
    const entry = await retrying(this.retry, () => this.leaderGet(this.meta, `log.${logId}`));
    if (entry?.operation !== "PUT") return undefined;
    const view = viewOf(entry.value, entry.revision, await this.lastSeqOf(logId));
    this.logs.set(logId, view);
    return view;
  }

  /** The subject's last stream sequence, asked of the stream leader; 0: the subject holds nothing. */
  private async lastSeqOf(logId: number): Promise<number> {
    const last = await retrying(this.retry, () =>
      this.untilAnswerLost(this.stream, this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(logId) })),
    );
    return last?.seq ?? 0;
  }

  /**
   * Entries published after the committed tail (a commit whose KV write failed, or a gateway that
   * died between the two): deleted, after the log's value has recorded a `lastSegment` above
   * theirs. That CAS write also fences a gateway still committing them, and no later append reuses
   * their DLSNs (a new segment starts above `lastSegment`), so no new entry can be mistaken for one
   * of them by the stream's duplicate window.
   */
  private async removeOrphans(view: LogView): Promise<void> {
    if (!view.meta || view.lastSeq <= view.tailSeq) return;
    const subject = this.subject(view.meta.id);
    const orphans: Array<{ seq: number; segment: bigint }> = [];
    for (let seq = view.tailSeq + 1; seq <= view.lastSeq; ) {
      const msg = await this.nextMessage(subject, seq);
      if (!msg || msg.seq > view.lastSeq) break;
      orphans.push({ seq: msg.seq, segment: entryOf(msg).segment });
      seq = msg.seq + 1;
    }
    let highest = view.meta.lastSegment;
    for (const orphan of orphans) if (orphan.segment > highest) highest = orphan.segment;
    if (highest > view.meta.lastSegment) {
      const meta = { ...view.meta, lastSegment: highest };
      view.revision = await this.putLog(view, this.encodeLog(meta, view.segments, view.producers, view.tailSeq));
      view.meta = meta;
    }
    for (const orphan of orphans) {
      await retrying(this.retry, async () => {
        try {
          await this.jsm.streams.deleteMessage(this.stream, orphan.seq, false);
        } catch (error) {
          if (!(error instanceof JetStreamApiError && /not found/i.test(error.message))) throw error;
        }
      });
    }
    view.lastSeq = await this.lastSeqOf(view.meta.id);
  }

  nextLogId(): Promise<number> {
    return this.idAllocation.run(async () => {
      // CAS on the counter: two gateways creating logs at once never get the same id; the loser reads it again.
      for (let attempt = 0; attempt < 100; attempt++) {
        const current = await retrying(this.retry, () => this.leaderGet(this.meta, NEXT_LOG_ID_KEY));
        const stored = current?.operation === "PUT" ? current : undefined;
        const id = stored ? Number(stored.string()) : 1;
        try {
          // Another gateway allocating `id` writes the same value: an id whose answer was lost is skipped (ids are never reused), never taken twice.
          await this.casPut(this.meta, NEXT_LOG_ID_KEY, Buffer.from(String(id + 1)), stored?.revision ?? 0, { unique: false });
          return id;
        } catch (error) {
          if (!isWrongLastSequence(error)) throw error;
        }
      }
      throw new DlogError("UNAVAILABLE", "could not allocate a log id: other gateways keep taking them; retry", { reason: "STORAGE_UNAVAILABLE" });
    });
  }

  private view(logId: number): LogView {
    let view = this.logs.get(logId);
    if (!view) {
      view = { meta: undefined, segments: new Map(), producers: new Map(), revision: 0, tailSeq: 0, lastSeq: -1 };
      this.logs.set(logId, view);
    }
    return view;
  }

  private encodeLog(meta: LogMeta, segments: Map<bigint, SegmentMeta>, producers: Map<string, Buffer>, tailSeq: number): Buffer {
    const value: StoredLogValue = {
      meta,
      segments: [...segments.values()],
      producers: [...producers].map(([producerId, v]) => ({ producerId, value: v.toString("base64") })),
      tailSeq,
    };
    return encodeJson(value);
  }

  /** CAS-writes the log's value over `view.revision`; the new revision. A failed CAS: another gateway wrote the log. */
  private async putLog(view: LogView, value: Buffer): Promise<number> {
    const key = `log.${view.meta!.id}`;
    const real = this.logs.get(view.meta!.id);
    if (real) real.pending = value;
    try {
      return await this.casPut(this.meta, key, value, view.revision);
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
      // The view stays as last committed (cursors stay bounded by its tail) until a load replaces it.
      throw new DlogError("UNAVAILABLE", `log "${view.meta!.name}" was changed by another dlogd gateway; its state is reloaded, retry the call`, {
        reason: "STORAGE_UNAVAILABLE",
        cause: error,
      });
    } finally {
      if (real) real.pending = undefined;
    }
  }

  /**
   * A create (revision 0) or compare-and-set update, retried through an election. A retry whose
   * CAS fails may have lost only the answer of the attempt before: the value stored says which,
   * unless another gateway may write the same value (`unique: false`): the CAS failure stands.
   */
  private async casPut(kv: KV, key: string, value: Buffer, revision: number, { unique = true } = {}): Promise<number> {
    let mayHaveLanded = false;
    return retrying(this.retry, async () => {
      try {
        return await this.untilAnswerLost(this.bucketStream(kv), revision === 0 ? kv.create(key, value) : kv.update(key, value, revision));
      } catch (error) {
        if (mayHaveLanded && unique && isWrongLastSequence(error)) {
          const now = await this.leaderGet(kv, key);
          if (now && now.operation === "PUT" && Buffer.from(now.value).equals(value)) return now.revision;
        }
        // Answered "no responders", the attempt reached no server.
        mayHaveLanded ||= !isNoResponders(error);
        throw error;
      }
    });
  }

  // ---- commit ----------------------------------------------------------------------------------

  commit(batch: CommitBatch, _sync: boolean): Promise<void> {
    // `sync` is the server's: nats-server's `sync_interval: always` fsyncs every write (see README).
    return this.writes.run(() => this.commitNow(batch));
  }

  private async commitNow(batch: CommitBatch): Promise<void> {
    const byLog = new Map<number, EntryWrite[]>();
    for (const entry of batch.entries) {
      let list = byLog.get(entry.logId);
      if (!list) byLog.set(entry.logId, (list = []));
      list.push(entry);
    }
    const tails = new Map<number, number>();
    await Promise.all([...byLog].map(async ([logId, entries]) => tails.set(logId, await this.publish(logId, entries))));
    await Promise.all(
      (batch.producerSlots ?? []).map((slots) =>
        retrying(this.retry, () => this.untilAnswerLost(this.bucketStream(this.meta), this.meta.put(this.slotKey(slots, slots.firstSeq), slots.value))),
      ),
    );
    await Promise.all(
      [...this.changedLogs(batch, tails)].map((change) =>
        this.commitLog(change).catch((error: unknown) => {
          // Its entries are published but not committed: the subject's last sequence is not the tail.
          change.view.lastSeq = -1;
          throw error;
        }),
      ),
    );
  }

  /**
   * Publishes one log's entries, pipelined, in DLSN order; the first expects the subject's last
   * sequence as this gateway knows it. Resolves with the last entry's stream sequence. Through a
   * leader election (no answer, no responders) it goes on from what the stream holds: the entries
   * that landed are found after the expected sequence, and the rest is published after them.
   */
  private async publish(logId: number, entries: EntryWrite[]): Promise<number> {
    const view = this.view(logId);
    if (view.lastSeq < 0) {
      const last = await this.lastSeqOf(logId);
      // Entries after the committed tail are an unfinished append's (a gateway that died between its
      // publishes and its commit): published after, they would fall inside this commit's range.
      if (view.meta && last > view.tailSeq) {
        throw new DlogError("UNAVAILABLE", "the log holds the entries of an unfinished append; they are removed as its state is reloaded, retry the call", {
          reason: "STORAGE_UNAVAILABLE",
        });
      }
      view.lastSeq = last;
    }
    const base = view.lastSeq;
    // Some may be stored whatever happens next: the subject's last sequence is known again at the end.
    view.lastSeq = -1;
    const subject = this.subject(logId);
    const deadline = Date.now() + this.retry.totalMs;
    let landed: number[] = [];
    for (let attempt = 0; ; attempt++) {
      const expected = landed.length === 0 ? base : landed[landed.length - 1]!;
      try {
        const acks = await this.untilAnswerLost(
          this.stream,
          Promise.all(
            entries.slice(landed.length).map((entry, i) => {
              const msgID = entryMsgId(logId, entry.segment, entry.entry);
              const options = i === 0 ? { msgID, expect: { lastSubjectSequence: expected } } : { msgID };
              return this.js.publish(subject, entry.value, { ...options, timeout: this.retry.attemptMs });
            }),
          ),
        );
        let previous = expected;
        for (const ack of acks) {
          // A first attempt's duplicate would be an earlier, different entry under the same DLSN; an
          // order other than DLSN order would break every cursor. Neither may pass as committed.
          if ((ack.duplicate && attempt === 0) || ack.seq <= previous) {
            throw new DlogError(
              "INTERNAL",
              `log ${logId}: the stream stored an entry out of order or as a duplicate (seq ${ack.seq}); the append is not committed`,
            );
          }
          previous = ack.seq;
        }
        view.lastSeq = previous;
        return previous;
      } catch (error) {
        if (isWrongLastSequence(error) && attempt === 0) {
          throw new DlogError(
            "UNAVAILABLE",
            "the log was appended to by another dlogd gateway (or holds an unfinished append); its state is reloaded, retry the call",
            {
              reason: "STORAGE_UNAVAILABLE",
              cause: error,
            },
          );
        }
        // A later attempt's wrong sequence: an entry of the last attempt landed after the look below.
        if (!(isTransient(error) || isWrongLastSequence(error))) throw error;
        if (Date.now() >= deadline) throw isTransient(error) ? outOfTime(error, this.retry.totalMs) : error;
        if (isNoResponders(error)) await this.electionOrDelay(this.stream, retryDelayMs(error, attempt));
        else await new Promise((resolve) => setTimeout(resolve, retryDelayMs(error, attempt)));
        landed = await this.landedPrefix(logId, base, entries);
      }
    }
  }

  /** Stream sequences of the entries, a prefix of `entries`, stored after `base`; anything else there is another gateway's. */
  private async landedPrefix(logId: number, base: number, entries: EntryWrite[]): Promise<number[]> {
    const subject = this.subject(logId);
    const seqs: number[] = [];
    for (let seq = base + 1; seqs.length < entries.length; ) {
      const msg = await this.nextMessage(subject, seq);
      if (!msg) break;
      const entry = entries[seqs.length]!;
      if (msg.header?.get("Nats-Msg-Id") !== entryMsgId(logId, entry.segment, entry.entry)) {
        throw new DlogError("UNAVAILABLE", "the log was appended to by another dlogd gateway; its state is reloaded, retry the call", {
          reason: "STORAGE_UNAVAILABLE",
        });
      }
      seqs.push(msg.seq);
      seq = msg.seq + 1;
    }
    return seqs;
  }

  /** Every log whose value this batch changes, with what changes. */
  private *changedLogs(
    batch: CommitBatch,
    tails: Map<number, number>,
  ): Iterable<{ view: LogView; meta: LogMeta | undefined; batch: CommitBatch; tail: number | undefined }> {
    const ids = new Set<number>([
      ...batch.logs.map((l) => l.id),
      ...batch.segments.map((s) => s.logId),
      ...(batch.deletedSegments ?? []).map((s) => s.logId),
      ...(batch.producers ?? []).map((p) => p.logId),
      ...tails.keys(),
    ]);
    for (const id of ids) yield { view: this.view(id), meta: batch.logs.find((l) => l.id === id), batch, tail: tails.get(id) };
  }

  private async commitLog({
    view,
    meta,
    batch,
    tail,
  }: {
    view: LogView;
    meta: LogMeta | undefined;
    batch: CommitBatch;
    tail: number | undefined;
  }): Promise<void> {
    if (view.gone) throw new DlogError("NOT_FOUND", `log "${view.meta?.name}" was deleted through another dlogd gateway`, { reason: "LOG_DELETED" });
    const id = meta?.id ?? view.meta?.id;
    const segments = new Map(view.segments);
    for (const s of batch.segments) if (s.logId === id) segments.set(s.segment, s);
    for (const d of batch.deletedSegments ?? []) if (d.logId === id) segments.delete(d.segment);
    const producers = new Map(view.producers);
    for (const p of batch.producers ?? []) {
      if (p.logId !== id) continue;
      if (p.value === null) producers.delete(p.producerId);
      else producers.set(p.producerId, p.value);
    }
    const nextMeta = meta ?? view.meta;
    const tailSeq = tail ?? view.tailSeq;
    if (nextMeta && view.revision === 0) await this.claimName(nextMeta);
    if (nextMeta) {
      const draft = { ...view, meta: nextMeta };
      view.revision = await this.putLog(draft, this.encodeLog(nextMeta, segments, producers, tailSeq));
      view.meta = nextMeta;
    }
    // Without a value (entries of a log never described) there is nothing to commit but the entries.
    view.segments = segments;
    view.producers = producers;
    view.tailSeq = tailSeq;
  }

  /** A new log's name, taken by CAS: two gateways creating the same name at once make one log, not two. */
  private async claimName(meta: LogMeta): Promise<void> {
    const key = `name.${b64(meta.name)}`;
    try {
      await this.casPut(this.meta, key, Buffer.from(String(meta.id)), 0);
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
      const owner = await retrying(this.retry, () => this.leaderGet(this.meta, key));
      if (owner?.operation === "PUT" && owner.string() === String(meta.id)) return;
      throw new DlogError("UNAVAILABLE", `log "${meta.name}" was just created by another dlogd gateway; retry the call`, {
        reason: "STORAGE_UNAVAILABLE",
        cause: error,
      });
    }
  }

  // ---- watches (several gateways) -------------------------------------------------------------

  /**
   * Follows every log's value (a KV watch, from the bucket leader): a revision above this
   * gateway's view that is not its own write in flight is another gateway's commit.
   */
  watchLogs(listener: (change: LogChange) => void): void {
    this.follow("logs", this.meta, "log.*", false, async (entry) => {
      const logId = Number(entry.key.slice(4));
      const view = this.logs.get(logId);
      // What a CAS is based on changes only in adopt(): a commit the log store derived from the
      // state it had must not be written over the other gateway's.
      if (entry.operation !== "PUT") {
        if (!view?.meta || view.gone) return;
        listener({ kind: "deleted", logId, adopt: () => void (view.gone = true) });
        return;
      }
      if (view && (entry.revision <= view.revision || view.pending?.equals(entry.value))) return;
      const fresh = viewOf(entry.value, entry.revision, -1);
      listener({
        kind: "changed",
        log: storedLogOf({ ...fresh, meta: fresh.meta! }),
        adopt: () => {
          const current = this.logs.get(logId);
          if (!current || current.revision < fresh.revision) this.logs.set(logId, fresh);
        },
      });
    });
  }

  /**
   * Follows every reader's key: a write or a DeleteReader (a KV delete) by another gateway of a
   * reader this one read or wrote (a revision above the one it knows, not its own write in flight)
   * is told, with the value or null. DeleteLog purges its readers' keys instead: `watchLogs` tells it.
   */
  watchReaders(listener: (logId: number, readerId: string, position: StoredPosition | null) => void): void {
    this.follow("readers", this.positions, ">", true, async (entry) => {
      const known = this.positionRevisions.get(entry.key);
      if (entry.operation === "PURGE" || known === undefined || entry.revision <= known || this.isOwnEcho(entry)) return;
      const dot = entry.key.indexOf(".");
      listener(Number(entry.key.slice(0, dot)), unb64(entry.key.slice(dot + 1)), entry.operation === "PUT" ? decodeStoredPosition(entry.value) : null);
    });
  }

  /** The watch's echo of this gateway's write in flight (its value, or its delete). */
  private isOwnEcho(entry: KvWatchEntry): boolean {
    if (!this.positionWrites.has(entry.key)) return false;
    const writing = this.positionWrites.get(entry.key);
    return writing === null || writing === undefined ? entry.operation === "DEL" : entry.operation === "PUT" && writing.equals(entry.value);
  }

  /**
   * Runs `handle` for each entry of a KV watch of `key` until close: from the current values on, or
   * with `fromNow` from the bucket's last message on. A watch that ends early, or that the watchdog
   * finds silent, is started again after the last revision it delivered, so no change is skipped.
   */
  private follow(name: WatchRestart["watch"], kv: KV, key: string, fromNow: boolean, handle: (entry: KvWatchEntry) => Promise<void>): void {
    const subject = `$KV.${this.bucketOf(kv)}.${key}`;
    const run = async (): Promise<void> => {
      let seen: number | undefined;
      while (!this.closing) {
        try {
          if (seen === undefined && fromNow) seen = await this.lastRevision(subject);
          const watch = await kv.watch(seen === undefined ? { key } : { key, resumeFromRevision: seen + 1 });
          this.watches.add(watch);
          const dog = this.watchWatch(
            name,
            subject,
            () => seen ?? 0,
            () => watch.stop(),
          );
          try {
            for await (const entry of watch) {
              if (entry.revision > (seen ?? 0)) seen = entry.revision;
              await handle(entry);
            }
          } finally {
            clearInterval(dog);
            this.watches.delete(watch);
          }
        } catch {
          // Not connected or no leader: the loop starts it again.
        }
        if (!this.closing) await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    void run();
  }

  /**
   * The watchdog of one watch: every `checkMs`, the bucket leader's last message for the watch's
   * keys; a revision the watch has not delivered for `silentMs` (no progress towards it meanwhile)
   * stops the watch, and `follow` starts it again. Not checked while disconnected (nothing flows).
   */
  private watchWatch(name: WatchRestart["watch"], subject: string, seen: () => number, stop: () => void): NodeJS.Timeout {
    let behind: { seen: number; since: number } | undefined;
    let checking = false;
    const timer = setInterval(() => {
      if (checking || this.closing || this.disconnectedAt !== undefined) return;
      checking = true;
      this.lastRevision(subject)
        .then((last) => {
          const now = Date.now();
          if (last <= seen()) behind = undefined;
          else if (behind === undefined || seen() > behind.seen) behind = { seen: seen(), since: now };
          else if (now - behind.since >= this.watchdog.silentMs) {
            this.watchRestarts++;
            this.watchRestartListener?.({ watch: name, seen: seen(), last, silentMs: now - behind.since });
            behind = undefined;
            stop();
          }
        })
        // No leader or no answer now: the next check asks again.
        .catch(() => undefined)
        .finally(() => {
          checking = false;
        });
    }, this.watchdog.checkMs);
    timer.unref();
    return timer;
  }

  /** The stream sequence of the bucket's last message on `subject` (wildcards allowed), from the stream leader; 0: none. */
  private async lastRevision(subject: string): Promise<number> {
    const bucket = subject.split(".")[1]!;
    const last = await this.jsm.streams.getMessage(`KV_${bucket}`, { last_by_subj: subject });
    return last?.seq ?? 0;
  }

  // ---- reads -----------------------------------------------------------------------------------

  /** The first message on `subject` at or after stream sequence `seq`, from the stream leader. */
  private nextMessage(subject: string, seq: number): Promise<StoredMsg | null> {
    // The server takes next_by_subj in a plain (leader-answered) get; the client's type names only seq and last_by_subj.
    const query = { seq, next_by_subj: subject } as unknown as MsgRequest;
    return retrying(this.retry, () => this.untilAnswerLost(this.stream, this.jsm.streams.getMessage(this.stream, query)));
  }

  /**
   * The first message of the log at or after (segment, entry), up to stream sequence `upTo`: a
   * binary search over stream sequences, since a subject's messages are in DLSN order.
   */
  private async seek(logId: number, segment: bigint, entry: bigint, upTo: number): Promise<StoredMsg | null> {
    const subject = this.subject(logId);
    const first = await this.nextMessage(subject, 1);
    if (!first || first.seq > upTo) return null;
    const atOrAfter = (msg: StoredMsg): boolean => {
      const at = entryOf(msg);
      return compare(at.segment, at.entry, segment, entry) >= 0;
    };
    if (atOrAfter(first)) return first;
    // lo: a sequence whose next message is before the target; hi: one whose next message is at or after it (or none).
    let lo = first.seq;
    let hi = upTo + 1;
    let found: StoredMsg | null = null;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const msg = await this.nextMessage(subject, mid);
      if (!msg || msg.seq > upTo || atOrAfter(msg)) {
        hi = mid;
        found = msg && msg.seq <= upTo ? msg : null;
      } else {
        lo = msg.seq;
      }
    }
    return found;
  }

  openCursor(logId: number, segment: bigint, entry: bigint): EntryCursor {
    const subject = this.subject(logId);
    let next: number | undefined;
    let upTo = 0;
    let done = false;
    return {
      next: async (max: number): Promise<StoredEntry[]> => {
        if (done) return [];
        if (next === undefined) {
          // The committed tail when the cursor starts: entries above it are not committed (yet).
          const view = this.logs.get(logId);
          upTo = view?.meta ? view.tailSeq : Number.MAX_SAFE_INTEGER;
          const first = await this.seek(logId, segment, entry, upTo);
          if (!first) {
            done = true;
            return [];
          }
          next = first.seq;
        }
        const out: StoredEntry[] = [];
        for (const msg of await this.readFrom(subject, next, max)) {
          if (msg.seq > upTo) break;
          out.push({ ...entryOf(msg), value: Buffer.from(msg.data) });
          next = msg.seq + 1;
        }
        if (out.length === 0) done = true;
        return out;
      },
      close: async () => {
        done = true;
      },
    };
  }

  /**
   * Up to `max` messages of `subject` from stream sequence `seq` on: one direct batch get (any
   * replica may answer; one that lags answers with fewer, as replicas apply the stream in order),
   * or message by message from the leader on a stream made without direct gets.
   */
  private async readFrom(subject: string, seq: number, max: number): Promise<StoredMsg[]> {
    const out: StoredMsg[] = [];
    if (!this.direct) {
      for (
        let msg = await this.nextMessage(subject, seq);
        msg && out.length < max;
        msg = out.length < max ? await this.nextMessage(subject, msg.seq + 1) : null
      )
        out.push(msg);
      return out;
    }
    return retrying(this.retry, async () => {
      out.length = 0;
      try {
        for await (const msg of await this.jsm.direct.getBatch(this.stream, { seq, next_by_subj: subject, batch: max, max_bytes: READ_BATCH_BYTES }))
          out.push(msg);
      } catch (error) {
        if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.NoMessageFound) && !/no message found|not found/i.test(String(error)))
          throw error;
      }
      return out;
    });
  }

  // ---- truncation and deletion -----------------------------------------------------------------

  /** Purges the log's subject below the first entry of `toSegment`: everything before it goes, which below `fromSegment` is gone already. */
  deleteSegmentRange(logId: number, _fromSegment: bigint, toSegment: bigint): Promise<void> {
    return this.writes.run(async () => {
      const view = this.view(logId);
      const upTo = view.meta ? view.tailSeq : Number.MAX_SAFE_INTEGER;
      const keep = await this.seek(logId, toSegment, 0n, upTo);
      const filter = this.subject(logId);
      await retrying(this.retry, () =>
        this.untilAnswerLost(
          this.stream,
          keep ? this.jsm.streams.purge(this.stream, { filter, seq: keep.seq }) : this.jsm.streams.purge(this.stream, { filter }),
        ),
      );
      view.lastSeq = -1;
    });
  }

  deleteLog(logId: number, name: string): Promise<void> {
    return this.writes.run(async () => {
      const view = this.logs.get(logId) ?? (await this.readLog(logId));
      // The CAS delete of the value is the commit point: a gateway still appending to the log is refused after it.
      if (view && view.revision > 0) {
        try {
          await retrying(this.retry, () => this.meta.delete(`log.${logId}`, { previousSeq: view.revision }));
        } catch (error) {
          if (!isWrongLastSequence(error)) throw error;
          this.logs.delete(logId);
          throw new DlogError("UNAVAILABLE", `log "${name}" was changed by another dlogd gateway; retry the call`, {
            reason: "STORAGE_UNAVAILABLE",
            cause: error,
          });
        }
      }
      this.logs.delete(logId);
      // The rest is unreachable once the value is gone (log ids are never reused): removed after it.
      await retrying(this.retry, () => this.jsm.streams.purge(this.stream, { filter: this.subject(logId) }));
      await this.purgeKeys(this.meta, `log.${logId}`);
      await this.purgeKeys(this.meta, `name.${b64(name)}`);
      await this.eraseKeys(`slot.${logId}.>`);
      await this.purgeKeys(this.positions, `${logId}.*`);
      for (const key of this.positionRevisions.keys()) if (key.startsWith(`${logId}.`)) this.positionRevisions.delete(key);
    });
  }

  private bucketOf(kv: KV): string {
    return kv === this.meta ? this.metaBucket : this.positionsBucket;
  }

  /**
   * The keys matching `filter` with a message in the bucket, a deleted one's marker included (its
   * reader skips it): one stream info request, where `kv.keys()` makes a consumer each call.
   */
  private async listKeys(kv: KV, filter: string): Promise<string[]> {
    const bucket = this.bucketOf(kv);
    const prefix = `$KV.${bucket}.`;
    const info = await retrying(this.retry, () => this.jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` }));
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  }

  /** Deletes the keys with a marker other gateways' watches see (log values, readers). */
  private async purgeKeys(kv: KV, filter: string): Promise<void> {
    for (const key of await this.listKeys(kv, filter)) await retrying(this.retry, () => kv.purge(key));
  }

  /** Removes the keys' messages outright, markers and all: for keys no watch follows (producer slots). */
  private async eraseKeys(filter: string): Promise<void> {
    const stream = `KV_${this.metaBucket}`;
    await retrying(this.retry, () => this.untilAnswerLost(stream, this.jsm.streams.purge(stream, { filter: `$KV.${this.metaBucket}.${filter}` })));
  }

  // ---- producer slots --------------------------------------------------------------------------

  private slotKey({ logId, producerId, incarnation }: ProducerSlotsKey, firstSeq: bigint): string {
    return `slot.${logId}.${b64(producerId)}.${incarnation}.${firstSeq}`;
  }

  private async slotKeys(key: ProducerSlotsKey): Promise<Array<{ key: string; firstSeq: bigint }>> {
    const prefix = this.slotKey(key, 0n).replace(/\.0$/, "");
    const keys = await this.listKeys(this.meta, `${prefix}.*`);
    return keys.map((k) => ({ key: k, firstSeq: BigInt(k.slice(prefix.length + 1)) }));
  }

  async getProducerSlots(key: ProducerSlotsKey, seq: bigint): Promise<{ firstSeq: bigint; value: Buffer } | undefined> {
    const candidates = (await this.slotKeys(key)).filter((k) => k.firstSeq <= seq).sort((a, b) => (a.firstSeq > b.firstSeq ? -1 : 1));
    for (const best of candidates) {
      const entry = await retrying(this.retry, () => this.leaderGet(this.meta, best.key));
      if (entry?.operation === "PUT") return { firstSeq: best.firstSeq, value: Buffer.from(entry.value) };
    }
    return undefined;
  }

  async deleteProducerSlots(key: ProducerSlotsKey, belowSeq?: bigint): Promise<void> {
    for (const k of await this.slotKeys(key)) if (belowSeq === undefined || k.firstSeq < belowSeq) await this.eraseKeys(k.key);
  }

  // ---- positions -------------------------------------------------------------------------------

  private positionKey(logId: number, readerId: string): string {
    return `${logId}.${b64(readerId)}`;
  }

  async getPosition(logId: number, readerId: string): Promise<StoredPosition | undefined> {
    return this.readPosition(this.positionKey(logId, readerId));
  }

  private async readPosition(key: string): Promise<StoredPosition | undefined> {
    const entry = await retrying(this.retry, () => this.leaderGet(this.positions, key));
    if (!entry) return undefined;
    this.positionRevisions.set(key, entry.revision);
    if (entry.operation !== "PUT") return undefined;
    return decodeStoredPosition(entry.value);
  }

  async listPositions(logId: number): Promise<Array<{ readerId: string; position: StoredPosition }>> {
    const out: Array<{ readerId: string; position: StoredPosition }> = [];
    for (const key of await this.listKeys(this.positions, `${logId}.*`)) {
      const position = await this.readPosition(key);
      if (position) out.push({ readerId: unb64(key.slice(key.indexOf(".") + 1)), position });
    }
    return out;
  }

  /**
   * Each write a CAS over the revision this gateway last saw; a reader it never saw is created (a
   * CAS on its absence: of two gateways that read it absent, one writes it). Every write is tried;
   * those another gateway got to first are refused together in one `PositionsFencedError`.
   */
  async writePositions(writes: PositionWrite[], _sync: boolean): Promise<void> {
    const results = await Promise.allSettled(writes.map((write) => this.writePosition(write)));
    const fenced: Array<{ logId: number; readerId: string }> = [];
    let failed: unknown;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      if (isWrongLastSequence(result.reason)) fenced.push({ logId: writes[i]!.logId, readerId: writes[i]!.readerId });
      else failed ??= result.reason;
    });
    if (failed !== undefined) throw failed;
    if (fenced.length > 0) throw new PositionsFencedError(fenced);
  }

  private async writePosition({ logId, readerId, position }: PositionWrite): Promise<void> {
    const key = this.positionKey(logId, readerId);
    // A put of a reader never seen here is a create: read now, another gateway's write since the caller's read would be its base.
    if (position === null && !this.positionRevisions.has(key)) await this.readPosition(key);
    const revision = this.positionRevisions.get(key) ?? 0;
    const value = position === null ? null : encodeStoredPosition(position);
    this.positionWrites.set(key, value);
    try {
      if (value === null) {
        if (revision === 0) return;
        await retrying(this.retry, () => this.positions.delete(key, { previousSeq: revision }));
        this.positionRevisions.delete(key);
        return;
      }
      this.positionRevisions.set(key, await this.casPut(this.positions, key, value, revision));
    } finally {
      this.positionWrites.delete(key);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const watch of this.watches) watch.stop();
    await this.writes.run(async () => undefined);
    await this.nc.drain().catch(() => this.nc.close());
  }
}
