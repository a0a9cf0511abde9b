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
import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { DlogError } from "../errors.js";
import { SerialQueue } from "../util/serial-queue.js";
import { b64 } from "./kv-key.js";
import { AnswerWaiters } from "./nats-answer-waiters.js";
import { NatsBucket } from "./nats-bucket.js";
import { type JetStreamParts, type NatsStorageOptions, connectJetStream } from "./nats-connect.js";
import { entryOf } from "./nats-entry-id.js";
import { NatsEntryPublisher } from "./nats-entry-publisher.js";
import { NatsEntryReader } from "./nats-entry-reader.js";
import { KvWatches, WATCHDOG, type WatchRestart } from "./nats-kv-watch.js";
import { type LogView, encodeLog, storedLogOf, viewOf } from "./nats-log-view.js";
import { NatsPositions } from "./nats-positions.js";
import { isWrongLastSequence, retrying } from "./nats-retry.js";
import type {
  CommitBatch,
  EntryCursor,
  EntryWrite,
  LogChange,
  LogMeta,
  PositionWrite,
  ProducerSlotsKey,
  Storage,
  StoredLog,
  StoredPosition,
} from "./storage.js";

export type { NatsStorageOptions } from "./nats-connect.js";
export type { WatchRestart } from "./nats-kv-watch.js";

const NEXT_LOG_ID_KEY = "next-log-id";

export class NatsStorage implements Storage {
  private readonly nc: NatsConnection;
  private readonly jsm: JetStreamManager;
  private readonly meta: NatsBucket;
  private readonly stream: string;
  private readonly retry: { attemptMs: number; totalMs: number };
  private readonly logs = new Map<number, LogView>();
  private readonly entries: NatsEntryReader;
  private readonly publisher: NatsEntryPublisher;
  private readonly positions: NatsPositions;
  private readonly watches: KvWatches;
  /** When the connection to NATS was lost; undefined while connected. */
  private disconnectedAt: number | undefined;
  private connectionListener: ((connected: boolean) => void) | undefined;
  /** Commits, truncations and deletions of the entry stream take turns: each expects the subject's last sequence. */
  private readonly writes = new SerialQueue();
  /** The requests waiting for an answer that their stream's next leader election or a lost connection gives up. */
  private readonly answers = new AnswerWaiters();
  private readonly idAllocation = new SerialQueue();

  private constructor(parts: JetStreamParts & { prefix: string; watchdog: { checkMs: number; silentMs: number } }) {
    this.nc = parts.nc;
    this.jsm = parts.jsm;
    this.retry = parts.retry;
    this.stream = `${parts.prefix}_entries`;
    const bucket = (kv: typeof parts.meta, name: string): NatsBucket =>
      new NatsBucket({ kv, name: `${parts.prefix}_${name}`, jsm: parts.jsm, answers: this.answers, retry: parts.retry });
    this.meta = bucket(parts.meta, "meta");
    this.entries = new NatsEntryReader({
      jsm: parts.jsm,
      stream: this.stream,
      prefix: parts.prefix,
      direct: parts.direct,
      retry: parts.retry,
      answers: this.answers,
    });
    this.publisher = new NatsEntryPublisher({ js: parts.js, stream: this.stream, retry: parts.retry, answers: this.answers, entries: this.entries });
    this.watches = new KvWatches({ watchdog: parts.watchdog, disconnected: () => this.disconnectedAt !== undefined });
    this.positions = new NatsPositions({ bucket: bucket(parts.positions, "positions"), retry: parts.retry, watches: this.watches });
    void this.followConnection();
    this.answers.followElections(this.nc);
  }

  /** Connects, and creates the stream and buckets if they are missing (with `replicas`). */
  static async open(options: NatsStorageOptions): Promise<NatsStorage> {
    const parts = await connectJetStream(options);
    return new NatsStorage({ ...parts, prefix: options.prefix, watchdog: options.watchdog ?? WATCHDOG });
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
    this.watches.onRestarted(listener);
  }

  /** KV watches the watchdog recreated. */
  get watchRestarts(): number {
    return this.watches.restarts;
  }

  private async followConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === "disconnect" && this.disconnectedAt === undefined) {
        this.disconnectedAt = Date.now();
        this.answers.giveUpWaiting(undefined, "the connection to NATS was lost");
        this.connectionListener?.(false);
      } else if (status.type === "reconnect") {
        this.disconnectedAt = undefined;
        // What went out as the old connection closed (or before the new one was up) may get no answer.
        this.answers.giveUpWaiting(undefined, "the connection to NATS was re-established");
        this.connectionListener?.(true);
      }
    }
  }

  // ---- logs ------------------------------------------------------------------------------------

  async loadLogs(): Promise<StoredLog[]> {
    const keys = await this.meta.listKeys("log.*");
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
    const entry = await retrying(this.retry, () => this.meta.leaderGet(`log.${logId}`));
    if (entry?.operation !== "PUT") return undefined;
    const view = viewOf(entry.value, entry.revision, await this.entries.lastSeqOf(logId));
    this.logs.set(logId, view);
    return view;
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
    const subject = this.entries.subject(view.meta.id);
    const orphans: Array<{ seq: number; segment: bigint }> = [];
    for (let seq = view.tailSeq + 1; seq <= view.lastSeq; ) {
      const msg = await this.entries.nextMessage(subject, seq);
      if (!msg || msg.seq > view.lastSeq) break;
      orphans.push({ seq: msg.seq, segment: entryOf(msg).segment });
      seq = msg.seq + 1;
    }
    let highest = view.meta.lastSegment;
    for (const orphan of orphans) if (orphan.segment > highest) highest = orphan.segment;
    if (highest > view.meta.lastSegment) {
      const meta = { ...view.meta, lastSegment: highest };
      view.revision = await this.putLog(view, encodeLog(meta, view.segments, view.producers, view.tailSeq));
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
    view.lastSeq = await this.entries.lastSeqOf(view.meta.id);
  }

  nextLogId(): Promise<number> {
    return this.idAllocation.run(async () => {
      // CAS on the counter: two gateways creating logs at once never get the same id; the loser reads it again.
      for (let attempt = 0; attempt < 100; attempt++) {
        const current = await retrying(this.retry, () => this.meta.leaderGet(NEXT_LOG_ID_KEY));
        const stored = current?.operation === "PUT" ? current : undefined;
        const id = stored ? Number(stored.string()) : 1;
        try {
          // Another gateway allocating `id` writes the same value: an id whose answer was lost is skipped (ids are never reused), never taken twice.
          await this.meta.casPut(NEXT_LOG_ID_KEY, Buffer.from(String(id + 1)), stored?.revision ?? 0, { unique: false });
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

  /** CAS-writes the log's value over `view.revision`; the new revision. A failed CAS: another gateway wrote the log. */
  private async putLog(view: LogView, value: Buffer): Promise<number> {
    const key = `log.${view.meta!.id}`;
    const real = this.logs.get(view.meta!.id);
    if (real) real.pending = value;
    try {
      return await this.meta.casPut(key, value, view.revision);
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
    await Promise.all([...byLog].map(async ([logId, entries]) => tails.set(logId, await this.publisher.publish(logId, this.view(logId), entries))));
    await Promise.all(
      (batch.producerSlots ?? []).map((slots) =>
        retrying(this.retry, () => this.answers.untilAnswerLost(this.meta.stream, this.meta.kv.put(this.slotKey(slots, slots.firstSeq), slots.value))),
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
      view.revision = await this.putLog(draft, encodeLog(nextMeta, segments, producers, tailSeq));
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
      await this.meta.casPut(key, Buffer.from(String(meta.id)), 0);
    } catch (error) {
      if (!isWrongLastSequence(error)) throw error;
      const owner = await retrying(this.retry, () => this.meta.leaderGet(key));
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
    this.watches.follow("logs", this.meta, "log.*", false, async (entry) => {
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

  // ---- reads -----------------------------------------------------------------------------------

  openCursor(logId: number, segment: bigint, entry: bigint): EntryCursor {
    // The committed tail when the cursor starts: entries above it are not committed (yet).
    return this.entries.openCursor(logId, segment, entry, () => {
      const view = this.logs.get(logId);
      return view?.meta ? view.tailSeq : Number.MAX_SAFE_INTEGER;
    });
  }

  // ---- truncation and deletion -----------------------------------------------------------------

  /** Purges the log's subject below the first entry of `toSegment`: everything before it goes, which below `fromSegment` is gone already. */
  deleteSegmentRange(logId: number, _fromSegment: bigint, toSegment: bigint): Promise<void> {
    return this.writes.run(async () => {
      const view = this.view(logId);
      const upTo = view.meta ? view.tailSeq : Number.MAX_SAFE_INTEGER;
      const keep = await this.entries.seek(logId, toSegment, 0n, upTo);
      const filter = this.entries.subject(logId);
      await retrying(this.retry, () =>
        this.answers.untilAnswerLost(
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
          await retrying(this.retry, () => this.meta.kv.delete(`log.${logId}`, { previousSeq: view.revision }));
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
      await retrying(this.retry, () => this.jsm.streams.purge(this.stream, { filter: this.entries.subject(logId) }));
      await this.meta.purgeKeys(`log.${logId}`);
      await this.meta.purgeKeys(`name.${b64(name)}`);
      await this.meta.eraseKeys(`slot.${logId}.>`);
      await this.positions.forgetLog(logId);
    });
  }

  // ---- producer slots --------------------------------------------------------------------------

  private slotKey({ logId, producerId, incarnation }: ProducerSlotsKey, firstSeq: bigint): string {
    return `slot.${logId}.${b64(producerId)}.${incarnation}.${firstSeq}`;
  }

  private async slotKeys(key: ProducerSlotsKey): Promise<Array<{ key: string; firstSeq: bigint }>> {
    const prefix = this.slotKey(key, 0n).replace(/\.0$/, "");
    const keys = await this.meta.listKeys(`${prefix}.*`);
    return keys.map((k) => ({ key: k, firstSeq: BigInt(k.slice(prefix.length + 1)) }));
  }

  async getProducerSlots(key: ProducerSlotsKey, seq: bigint): Promise<{ firstSeq: bigint; value: Buffer } | undefined> {
    const candidates = (await this.slotKeys(key)).filter((k) => k.firstSeq <= seq).sort((a, b) => (a.firstSeq > b.firstSeq ? -1 : 1));
    for (const best of candidates) {
      const entry = await retrying(this.retry, () => this.meta.leaderGet(best.key));
      if (entry?.operation === "PUT") return { firstSeq: best.firstSeq, value: Buffer.from(entry.value) };
    }
    return undefined;
  }

  async deleteProducerSlots(key: ProducerSlotsKey, belowSeq?: bigint): Promise<void> {
    for (const k of await this.slotKeys(key)) if (belowSeq === undefined || k.firstSeq < belowSeq) await this.meta.eraseKeys(k.key);
  }

  // ---- positions -------------------------------------------------------------------------------

  getPosition(logId: number, readerId: string): Promise<StoredPosition | undefined> {
    return this.positions.getPosition(logId, readerId);
  }

  listPositions(logId: number): Promise<Array<{ readerId: string; position: StoredPosition }>> {
    return this.positions.listPositions(logId);
  }

  writePositions(writes: PositionWrite[], _sync: boolean): Promise<void> {
    return this.positions.writePositions(writes);
  }

  watchReaders(listener: (logId: number, readerId: string, position: StoredPosition | null) => void): void {
    this.positions.watchReaders(listener);
  }

  async close(): Promise<void> {
    this.watches.stop();
    await this.writes.run(async () => undefined);
    await this.nc.drain().catch(() => this.nc.close());
  }
}
