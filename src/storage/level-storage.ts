import type { AbstractIteratorOptions, AbstractLevel, AbstractSublevel } from "abstract-level";
import { type AdditionalIteratorOptions, ClassicLevel } from "classic-level";
import { MemoryLevel } from "memory-level";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DlogError } from "../errors.js";
import type {
  CommitBatch,
  EntryCursor,
  LogMeta,
  PositionWrite,
  ProducerSlotsKey,
  SegmentMeta,
  Storage,
  StoredEntry,
  StoredLog,
  StoredPosition,
} from "./storage.js";
import { classifyStorageError } from "./storage.js";
import { decodeJson, encodeJson } from "./json-codec.js";

type Bytes = Buffer;
/** classic-level on disk, memory-level for `--in-memory`: the same abstract-level API. */
type Db = AbstractLevel<string | Buffer | Uint8Array, Bytes, Bytes>;
type Sub = AbstractSublevel<Db, string | Buffer | Uint8Array, Bytes, Bytes>;

/**
 * `sublevel`'s prefix as the database stores it: the hot writes (commits, positions) build their
 * keys behind it in one buffer and put them on the database itself. A chained batch's put or del
 * with the `{ sublevel }` option costs abstract-level ~4 KB of heap per operation, and that
 * outlived scavenges (10x the young-generation allocation of the same puts with prefixed keys, and
 * 4.7 MB promoted per scavenge against none: classic-level 3.0, abstract-level 3.1 on Node 20). In
 * dlogd those were the promotions that grew the old generation under a tail of 2000 appends/s and
 * made its scavenges and mark-compacts long.
 */
function prefixOf(sublevel: Sub): Buffer {
  return sublevel.prefixKey(Buffer.alloc(0), "buffer");
}

/** A key of `size` bytes after `prefix`, the prefix copied in; the caller writes from `prefix.length`. */
function keyAfter(prefix: Buffer, size: number): Buffer {
  const key = Buffer.allocUnsafe(prefix.length + size);
  prefix.copy(key, 0);
  return key;
}

const LOG_ID_BYTES = 4;
/**
 * Bytes one cursor read (`nextv`) may bring, as much as a records frame carries (session.ts): at
 * classic-level's default, 16 KiB, a log of small entries (appends of single records, ~50 to an
 * entry) took five thread-pool round trips per 1000-record frame, each waited for in turn.
 */
const CURSOR_READ_BYTES = 1024 * 1024;
const NEXT_LOG_ID_KEY = Buffer.from("next-log-id");

/** Key of one entry: log id, segment, entry id — big-endian, so LevelDB order is DLSN order. After `prefix` when given. */
function entryKey(logId: number, segment: bigint, entry: bigint, prefix: Buffer = NO_PREFIX): Bytes {
  const key = keyAfter(prefix, LOG_ID_BYTES + 16);
  const at = prefix.length;
  key.writeUInt32BE(logId, at);
  key.writeBigUInt64BE(segment, at + 4);
  key.writeBigUInt64BE(entry, at + 12);
  return key;
}

const NO_PREFIX = Buffer.alloc(0);

function logPrefix(logId: number): Bytes {
  const key = Buffer.allocUnsafe(LOG_ID_BYTES);
  key.writeUInt32BE(logId, 0);
  return key;
}

/** The smallest key after every key of `logId`. */
function logPrefixEnd(logId: number): Bytes {
  return logPrefix(logId + 1);
}

function segmentKey(logId: number, segment: bigint, prefix: Buffer = NO_PREFIX): Bytes {
  const key = keyAfter(prefix, LOG_ID_BYTES + 8);
  key.writeUInt32BE(logId, prefix.length);
  key.writeBigUInt64BE(segment, prefix.length + 4);
  return key;
}

/** Key of a log's meta: its name. After `prefix` when given. */
function logKey(name: string, prefix: Buffer = NO_PREFIX): Bytes {
  const key = keyAfter(prefix, Buffer.byteLength(name, "utf8"));
  key.write(name, prefix.length, "utf8");
  return key;
}

/** Key of a reader's position or a producer's state: log id, then the reader or producer id. After `prefix` when given. */
function idKey(logId: number, id: string, prefix: Buffer = NO_PREFIX): Bytes {
  const key = keyAfter(prefix, LOG_ID_BYTES + Buffer.byteLength(id, "utf8"));
  key.writeUInt32BE(logId, prefix.length);
  key.write(id, prefix.length + LOG_ID_BYTES, "utf8");
  return key;
}

/** Log id, producer id (length-prefixed: ids vary in length), incarnation, first seq — big-endian. After `prefix` when given. */
function producerSlotsKey({ logId, producerId, incarnation }: ProducerSlotsKey, firstSeq: bigint, prefix: Buffer = NO_PREFIX): Bytes {
  const idBytes = Buffer.byteLength(producerId, "utf8");
  const key = keyAfter(prefix, LOG_ID_BYTES + 1 + idBytes + 16);
  let at = prefix.length;
  key.writeUInt32BE(logId, at);
  at += LOG_ID_BYTES;
  key[at] = idBytes;
  key.write(producerId, at + 1, "utf8");
  at += 1 + idBytes;
  key.writeBigUInt64BE(incarnation, at);
  key.writeBigUInt64BE(firstSeq, at + 8);
  return key;
}

/** Synced position writes waiting for the next commit, all resolved (or rejected) by the write that carries them. */
interface RidingPositions {
  writes: PositionWrite[];
  done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Why LevelDB did not open, in its own words: classic-level's "Database failed to open" wraps
 * the real cause, and when it does not, LevelDB's LOG file in the data dir has it.
 */
function openFailureReason(dir: string, error: unknown): string {
  const cause = (error as { cause?: { message?: string } }).cause?.message;
  if (cause) return cause;
  try {
    const lines = readFileSync(join(dir, "LOG"), "utf8").trimEnd().split("\n").slice(-20).reverse();
    const failure = lines.find((line) => /error|corruption/i.test(line));
    if (failure) return `${(error as Error).message} (LevelDB's LOG: ${failure.replace(/^\S+ \S+ /, "")})`;
  } catch {
    // No LOG to read: the message is all there is.
  }
  return (error as Error).message;
}

/**
 * The embedded store: one LevelDB (classic-level) per data dir, with sublevels
 * for logs, segments, entries and reader positions. `inMemory()` keeps the same
 * layout in memory-level instead: nothing on disk, nothing durable.
 */
export class LevelStorage implements Storage {
  private readonly db: Db;
  private readonly logs: Sub;
  private readonly segments: Sub;
  private readonly entries: Sub;
  private readonly floors: Sub;
  private readonly positionExtras: Sub;
  private readonly producers: Sub;
  private readonly producerSlots: Sub;
  private readonly meta: Sub;
  /** The prefixes of the sublevels commits and position writes write to (see `prefixOf`). */
  private readonly prefixes: Record<"entries" | "segments" | "logs" | "producers" | "producerSlots" | "floors" | "positionExtras", Buffer>;
  private idAllocation: Promise<unknown> = Promise.resolve();
  /** Synced commits being written now. */
  private commitsInFlight = 0;
  /** Synced position writes that came while a commit was being written: they go with the next commit (see `writePositions`). */
  private riding: RidingPositions | undefined;

  private constructor(db: Db) {
    this.db = db;
    const buffers = { keyEncoding: "buffer", valueEncoding: "buffer" } as const;
    this.logs = db.sublevel<Bytes, Bytes>("logs", buffers);
    this.segments = db.sublevel<Bytes, Bytes>("segments", buffers);
    this.entries = db.sublevel<Bytes, Bytes>("entries", buffers);
    this.floors = db.sublevel<Bytes, Bytes>("positions", buffers);
    this.positionExtras = db.sublevel<Bytes, Bytes>("position-extras", buffers);
    this.producers = db.sublevel<Bytes, Bytes>("producers", buffers);
    this.producerSlots = db.sublevel<Bytes, Bytes>("producer-slots", buffers);
    this.meta = db.sublevel<Bytes, Bytes>("meta", buffers);
    this.prefixes = {
      entries: prefixOf(this.entries),
      segments: prefixOf(this.segments),
      logs: prefixOf(this.logs),
      producers: prefixOf(this.producers),
      producerSlots: prefixOf(this.producerSlots),
      floors: prefixOf(this.floors),
      positionExtras: prefixOf(this.positionExtras),
    };
  }

  /**
   * Opens (creating if needed, unless `createIfMissing` is false) the database in `dir`. Fails
   * with a clear message when another process holds it.
   */
  static async open(dir: string, options: { createIfMissing?: boolean } = {}): Promise<LevelStorage> {
    const db = new ClassicLevel<Bytes, Bytes>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
    try {
      await db.open({ createIfMissing: options.createIfMissing ?? true });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      if (cause?.code === "LEVEL_LOCKED") {
        throw new DlogError("FAILED_PRECONDITION", `data dir ${dir} is in use by another dlogd (LevelDB lock held); stop it or choose another --data-dir`, {
          cause: error,
        });
      }
      const reason = openFailureReason(dir, error);
      const full = classifyStorageError(reason) === "disk-full";
      throw new DlogError(
        full ? "RESOURCE_EXHAUSTED" : "INTERNAL",
        `cannot open LevelDB in ${dir}: ${reason}${full ? "; the disk is full: free space or grow the disk, then start dlogd again" : ""}`,
        { reason: full ? "DISK_FULL" : "INTERNAL", cause: error },
      );
    }
    return new LevelStorage(db);
  }

  /** A store in memory (memory-level): for tests; everything is gone when the process ends. */
  static async inMemory(): Promise<LevelStorage> {
    const db = new MemoryLevel<Bytes, Bytes>({ keyEncoding: "buffer", valueEncoding: "buffer" });
    await db.open();
    return new LevelStorage(db);
  }

  async loadLogs(): Promise<StoredLog[]> {
    const result: StoredLog[] = [];
    for await (const value of this.logs.values()) {
      const meta = decodeJson<LogMeta>(value);
      const range = { gte: logPrefix(meta.id), lt: logPrefixEnd(meta.id) };
      const segments: SegmentMeta[] = [];
      for await (const segment of this.segments.values(range)) segments.push(decodeJson<SegmentMeta>(segment));
      const producers: StoredLog["producers"] = [];
      for await (const [key, state] of this.producers.iterator(range)) {
        producers.push({ producerId: key.subarray(LOG_ID_BYTES).toString("utf8"), value: state });
      }
      result.push({ meta, segments, producers });
    }
    return result;
  }

  nextLogId(): Promise<number> {
    // Read, increment, write: concurrent callers take turns, or two new logs would share an id.
    const id = this.idAllocation.then(() => this.allocateLogId());
    this.idAllocation = id.catch(() => undefined);
    return id;
  }

  private async allocateLogId(): Promise<number> {
    const stored = await this.meta.get(NEXT_LOG_ID_KEY);
    const id = stored === undefined ? 1 : stored.readUInt32BE(0);
    const next = Buffer.allocUnsafe(4);
    next.writeUInt32BE(id + 1, 0);
    await this.db.batch().put(NEXT_LOG_ID_KEY, next, { sublevel: this.meta }).write({ sync: true });
    return id;
  }

  async commit(batch: CommitBatch, sync: boolean): Promise<void> {
    // A chained batch: about 3x cheaper per operation than the array form on this hot path.
    const write = this.db.batch();
    // Positions waiting for a commit go in this one's batch, under its fsync; an unsynced commit makes nothing durable.
    const riding = sync ? this.riding : undefined;
    if (riding) {
      this.riding = undefined;
      this.putPositions(write, riding.writes);
    }
    for (const entry of batch.entries) {
      write.put(entryKey(entry.logId, entry.segment, entry.entry, this.prefixes.entries), entry.value);
    }
    for (const segment of batch.segments) {
      write.put(segmentKey(segment.logId, segment.segment, this.prefixes.segments), encodeJson(segment));
    }
    for (const deleted of batch.deletedSegments ?? []) {
      write.del(segmentKey(deleted.logId, deleted.segment, this.prefixes.segments));
    }
    for (const log of batch.logs) {
      write.put(logKey(log.name, this.prefixes.logs), encodeJson(log));
    }
    for (const producer of batch.producers ?? []) {
      const key = idKey(producer.logId, producer.producerId, this.prefixes.producers);
      if (producer.value === null) write.del(key);
      else write.put(key, producer.value);
    }
    for (const slots of batch.producerSlots ?? []) {
      write.put(producerSlotsKey(slots, slots.firstSeq, this.prefixes.producerSlots), slots.value);
    }
    if (sync) this.commitsInFlight++;
    try {
      await write.write({ sync });
    } catch (error) {
      riding?.reject(error);
      throw error;
    } finally {
      if (sync) {
        this.commitsInFlight--;
        this.writeRidingSoon();
      }
    }
    riding?.resolve();
  }

  openCursor(logId: number, segment: bigint, entry: bigint): EntryCursor {
    const options: AbstractIteratorOptions<Bytes, Bytes> & AdditionalIteratorOptions = {
      gte: entryKey(logId, segment, entry),
      lt: logPrefixEnd(logId),
      highWaterMarkBytes: CURSOR_READ_BYTES,
    };
    const iterator = this.entries.iterator(options);
    return {
      async next(max: number): Promise<StoredEntry[]> {
        const rows = await iterator.nextv(max);
        const out: StoredEntry[] = new Array(rows.length);
        for (let i = 0; i < rows.length; i++) {
          const [key, value] = rows[i]!;
          out[i] = { segment: key.readBigUInt64BE(4), entry: key.readBigUInt64BE(12), value };
        }
        return out;
      },
      close: () => iterator.close(),
    };
  }

  async deleteSegmentRange(logId: number, fromSegment: bigint, toSegment: bigint): Promise<void> {
    await this.entries.clear({ gte: entryKey(logId, fromSegment, 0n), lt: entryKey(logId, toSegment, 0n) });
  }

  /**
   * Compacts the entries of `logId` so the space of deleted ones is freed now: LevelDB otherwise
   * keeps deleted data until a compaction happens to reach it, which on a full disk (no writes)
   * is never. It rewrites the live data of the tables it touches, so it needs room for that.
   */
  async compact(logId: number): Promise<void> {
    if (!(this.db instanceof ClassicLevel)) return;
    const start = this.entries.prefixKey(logPrefix(logId), "buffer");
    const end = this.entries.prefixKey(logPrefixEnd(logId), "buffer");
    await this.db.compactRange(start, end, { keyEncoding: "buffer" });
  }

  async deleteLog(logId: number, name: string): Promise<void> {
    const range = { gte: logPrefix(logId), lt: logPrefixEnd(logId) };
    const batch = this.db.batch().del(logKey(name), { sublevel: this.logs });
    for await (const key of this.segments.keys(range)) batch.del(key, { sublevel: this.segments });
    for await (const key of this.producers.keys(range)) batch.del(key, { sublevel: this.producers });
    for await (const key of this.floors.keys(range)) {
      batch.del(key, { sublevel: this.floors });
      batch.del(key, { sublevel: this.positionExtras });
    }
    await batch.write({ sync: true });
    // Entries and dedupe slots go after the metadata: once the log is gone from `logs`, its id is
    // never reused, so leftovers are unreachable.
    await this.entries.clear(range);
    await this.producerSlots.clear(range);
  }

  async getProducerSlots(key: ProducerSlotsKey, seq: bigint): Promise<{ firstSeq: bigint; value: Buffer } | undefined> {
    const [row] = await this.producerSlots.iterator({ gte: producerSlotsKey(key, 0n), lte: producerSlotsKey(key, seq), reverse: true, limit: 1 }).all();
    if (!row) return undefined;
    return { firstSeq: row[0].readBigUInt64BE(row[0].length - 8), value: row[1] };
  }

  async deleteProducerSlots(key: ProducerSlotsKey, belowSeq?: bigint): Promise<void> {
    const end = belowSeq === undefined ? producerSlotsKey({ ...key, incarnation: key.incarnation + 1n }, 0n) : producerSlotsKey(key, belowSeq);
    await this.producerSlots.clear({ gte: producerSlotsKey(key, 0n), lt: end });
  }

  async getPosition(logId: number, readerId: string): Promise<StoredPosition | undefined> {
    const key = idKey(logId, readerId);
    const storedFloor = await this.floors.get(key);
    if (storedFloor === undefined) return undefined;
    const storedExtra = await this.positionExtras.get(key);
    return { floor: storedFloor, extra: storedExtra ?? Buffer.alloc(0) };
  }

  async listPositions(logId: number): Promise<Array<{ readerId: string; position: StoredPosition }>> {
    const range = { gte: logPrefix(logId), lt: logPrefixEnd(logId) };
    // Two range scans, not a get per reader: both sublevels share the same keys.
    const extras = new Map<string, Buffer>();
    for await (const [key, extra] of this.positionExtras.iterator(range)) extras.set(key.toString("latin1"), extra);
    const out: Array<{ readerId: string; position: StoredPosition }> = [];
    for await (const [key, floor] of this.floors.iterator(range)) {
      const extra = extras.get(key.toString("latin1")) ?? Buffer.alloc(0);
      out.push({ readerId: key.subarray(LOG_ID_BYTES).toString("utf8"), position: { floor, extra } });
    }
    return out;
  }

  /**
   * A synced write while a synced commit is being written waits for the next commit and goes in
   * its batch (or, when no commit follows within a turn of the event loop, alone): LevelDB would
   * otherwise write and fsync it on its own between two commits, and the appends of the next
   * commit would wait for that fsync too. Resolves, as before, once the positions are fsynced.
   * Positions are never waited for otherwise, so they can pass only writes made while they wait.
   */
  writePositions(writes: PositionWrite[], sync: boolean): Promise<void> {
    if (writes.length === 0) return Promise.resolve();
    if (!sync || this.commitsInFlight === 0) return this.writePositionsNow(writes, sync);
    if (this.riding) {
      this.riding.writes.push(...writes);
      return this.riding.done;
    }
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.riding = { writes: [...writes], done, resolve, reject };
    return done;
  }

  private async writePositionsNow(writes: PositionWrite[], sync: boolean): Promise<void> {
    const batch = this.db.batch();
    this.putPositions(batch, writes);
    await batch.write({ sync });
  }

  private putPositions(batch: ReturnType<Db["batch"]>, writes: readonly PositionWrite[]): void {
    for (const write of writes) {
      const floorKey = idKey(write.logId, write.readerId, this.prefixes.floors);
      const extraKey = idKey(write.logId, write.readerId, this.prefixes.positionExtras);
      if (write.position === null) {
        batch.del(floorKey);
        batch.del(extraKey);
      } else {
        batch.put(floorKey, write.position.floor);
        batch.put(extraKey, write.position.extra);
      }
    }
  }

  /** After a commit: positions still waiting are written alone unless a commit takes them within this turn. */
  private writeRidingSoon(): void {
    if (!this.riding) return;
    setImmediate(() => {
      const riding = this.riding;
      if (!riding || this.commitsInFlight > 0) return;
      this.riding = undefined;
      this.writePositionsNow(riding.writes, true).then(riding.resolve, riding.reject);
    });
  }

  async close(): Promise<void> {
    // Positions still waiting for a commit are written first: their callers wait for them.
    const riding = this.riding;
    this.riding = undefined;
    if (riding) await this.writePositionsNow(riding.writes, true).then(riding.resolve, riding.reject);
    await this.db.close();
  }
}
