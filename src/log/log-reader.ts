import { DLSN } from "../dlsn.js";
import { logDeletedError } from "../errors.js";
import type { Storage, StoredEntry } from "../storage/storage.js";
import { type DecodedRecord, EntryBatch, EntryRecords, type EntryRun, entryFirstSequenceId, entryRecordCount } from "./entry-codec.js";
import { type CachedEntry, EntryCache } from "./entry-cache.js";

const READ_CHUNK_ENTRIES = 256;

/**
 * The slot after the last record a read takes from `fromSlot` on: records up to `limit`, stopping
 * after the one whose payload reaches `bytesRoom` (the first record always goes).
 */
function takenEnd(entry: EntryRecords, fromSlot: number, limit: number, bytesRoom: number): number {
  if (limit <= fromSlot || entry.payloadBytes(fromSlot, limit) < bytesRoom) return limit;
  // The least end in (fromSlot, limit] whose bytes reach the room: the bytes grow with the end.
  let lo = fromSlot + 1;
  let hi = limit;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entry.payloadBytes(fromSlot, mid) >= bytesRoom) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** What a reader needs to know about its log: its committed state, read each time (it changes under the reader). */
export interface ReadableLog {
  readonly name: string;
  readonly id: number;
  readonly deleted: boolean;
  /** Segments below this were truncated: their entries are invisible even if a crash left some behind. */
  readonly firstLiveSegment: bigint;
  /** Committed records ever appended: the sequence id the next committed record gets. */
  readonly nextSequenceId: bigint;
  /** Resolves once a record with sequence id >= `sequenceId` is committed. */
  waitForRecord(sequenceId: bigint, signal?: AbortSignal): Promise<void>;
}

/**
 * Reads committed records of one log in order. Keeps a LevelDB iterator open
 * while there is data and reopens it after reaching the end, since an
 * iterator only sees data committed before it was opened.
 */
export class LogReader {
  private readonly storage: Storage;
  private readonly log: ReadableLog;
  private cursor: ReturnType<Storage["openCursor"]> | undefined;
  private readonly cache: EntryCache;
  private readonly leaveCache: () => void;
  /** Entries read ahead, indexed only when reached (a cached entry already is). */
  private buffered: Array<CachedEntry | StoredEntry> = [];
  private bufferedIndex = 0;
  /** The first DLSN not yet returned (inclusive lower bound of what comes next). */
  private position: DLSN;
  /** Sequence id the next record is expected to have: what a waiter waits for. */
  private expectedSequenceId = 0n;
  /** Committed records when the cursor was opened: it sees at least these, so at its end nothing below is missing. */
  private snapshotNextSequenceId = 0n;
  /** Records per entry in the last chunk read: how many entries the next chunk takes to hold what is wanted. */
  private recordsPerEntry: number | undefined;
  /** Records the read in progress asked for: what the chunk read ahead is sized for. */
  private readRecords = 0;
  /**
   * The cursor's next chunk, asked for as soon as the last one came in: storage reads it (on
   * libuv's thread pool) while the records before it are encoded and sent, instead of the loop
   * waiting for each chunk in turn. One chunk at most, so a reader holds two chunks at most.
   */
  private ahead: Promise<StoredEntry[]> | undefined;

  /** Without a shared `cache`, the reader decodes every entry itself (a cache of size 0). */
  constructor(storage: Storage, log: ReadableLog, from: DLSN, cache: EntryCache = new EntryCache(0)) {
    this.storage = storage;
    this.log = log;
    this.position = from;
    this.cache = cache;
    this.leaveCache = cache.openReader(log.id);
  }

  /** Up to `maxRecords` records, stopping once their payloads reach `maxBytes` (at least one record); empty at the end of the log. */
  async read(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<DecodedRecord[]> {
    const { runs } = await this.readBatch(maxRecords, maxBytes);
    // One run (the usual read): a builtin copy of the entry's records rather than a push each.
    if (runs.length === 1) return runs[0]!.entry.records.slice(runs[0]!.from, runs[0]!.to);
    const out: DecodedRecord[] = [];
    for (const run of runs) for (let slot = run.from; slot < run.to; slot++) out.push(run.entry.records[slot]!);
    return out;
  }

  /** What `read` reads, as the runs of entries it took: no object per record (see EntryBatch). */
  async readBatch(maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<EntryBatch> {
    if (this.log.deleted) throw logDeletedError(this.log.name);
    this.readRecords = maxRecords;
    const runs: EntryRun[] = [];
    let taken = 0;
    let bytes = 0;
    while (taken < maxRecords && bytes < maxBytes) {
      if (this.bufferedIndex >= this.buffered.length) {
        if (!(await this.fill(maxRecords - taken))) break;
      }
      const stored = this.entryAt(this.bufferedIndex);
      const count = stored.count;
      // A position past the entry's last slot (a resume there) takes nothing of it.
      const fromSlot =
        stored.segment === this.position.segment && stored.entry === this.position.entry && this.position.slot > 0n
          ? Math.min(Number(this.position.slot), count)
          : 0;
      const endSlot = takenEnd(stored, fromSlot, Math.min(count, fromSlot + maxRecords - taken), maxBytes - bytes);
      bytes += stored.payloadBytes(fromSlot, endSlot);
      if (endSlot > fromSlot) {
        taken += endSlot - fromSlot;
        this.expectedSequenceId = stored.firstSequenceId + BigInt(endSlot);
        runs.push({ entry: stored, from: fromSlot, to: endSlot });
      }
      if (endSlot >= count) {
        this.bufferedIndex++;
        this.position = new DLSN(stored.segment, stored.entry + 1n, 0n);
      } else {
        this.position = new DLSN(stored.segment, stored.entry, BigInt(endSlot));
      }
    }
    if (taken === 0 && this.snapshotNextSequenceId > this.expectedSequenceId) this.expectedSequenceId = this.snapshotNextSequenceId;
    return new EntryBatch(runs);
  }

  /**
   * Takes the entries the next `read` starts from (up to `maxRecords` records) from the entry
   * cache, without taking a record: a session's first batch is ready when its open's write is
   * durable. Never from storage: a cursor read beside that write (fsync) held the write up (see
   * Session.readAhead). True when the cache had them. `firstSequenceId`, the sequence id of the
   * record the reader starts at, finds the next entry for a position just past an entry's last
   * record. Not to be called while a `read` is in flight.
   */
  readAhead(maxRecords: number, firstSequenceId?: bigint): boolean {
    if (this.log.deleted || this.cursor || this.bufferedIndex < this.buffered.length) return false;
    this.buffered = [];
    this.bufferedIndex = 0;
    if (this.fillFromCache(maxRecords)) return true;
    // A resume after an entry's last record points past its end (slot = count): the record it
    // starts at is the next entry's first, which its sequence id proves.
    const { segment, entry, slot } = this.position;
    // A look that takes nothing: a get here would count a hit, and hand a lone reader's fresh commit over, before the fill takes it.
    if (slot === 0n || firstSequenceId === undefined || this.cache.firstSequenceIdOf(this.log.id, segment, entry + 1n) !== firstSequenceId) return false;
    this.position = new DLSN(segment, entry + 1n, 0n);
    return this.fillFromCache(maxRecords);
  }

  /**
   * The reader's session ended: the entry its next session starts in stays in the entry cache, so a
   * reconnect or a takeover finds its first batch in memory. `resumeIn`: the entry of the session's
   * first unacked record; without one, the entry this reader stands in (everything sent was acked).
   */
  keepResumeEntry(resumeIn?: EntryRecords): void {
    const entry = resumeIn ?? this.buffered[this.bufferedIndex];
    if (entry === undefined || this.log.deleted) return;
    this.cache.keepResumeEntry(this.log.id, entry.segment, entry.entry, entry.value);
  }

  /** Resolves when a record after the last one read is committed. */
  waitForMore(signal?: AbortSignal): Promise<void> {
    return this.log.waitForRecord(this.expectedSequenceId, signal);
  }

  /** Where the next read starts (inclusive). */
  get nextPosition(): DLSN {
    return this.position;
  }

  /** The buffered entry at `index`, indexed (through the cache, which keeps it when other readers may want it). */
  private entryAt(index: number): CachedEntry {
    const entry = this.buffered[index]!;
    if (entry instanceof EntryRecords) return entry;
    const indexed = this.cache.indexed(this.log.id, entry.segment, entry.entry, entry.value);
    this.buffered[index] = indexed;
    return indexed;
  }

  private async fill(wanted: number): Promise<boolean> {
    this.buffered = [];
    this.bufferedIndex = 0;
    if (!this.cursor) {
      // Everything committed has been read (a lower bound says so): no cursor needed to find nothing.
      if (this.expectedSequenceId >= this.log.nextSequenceId) return false;
      if (this.fillFromCache(wanted)) return true;
    } else if (this.fillFromCache(wanted)) {
      // Another reader just read these entries: take them from the cache rather than from storage
      // again; a new cursor starts after them when the cache runs out.
      const cursor = this.cursor;
      this.cursor = undefined;
      this.ahead = undefined; // read for nothing; the close waits for it
      await cursor.close();
      return true;
    }
    if (!this.cursor) {
      const firstLive = this.log.firstLiveSegment;
      let { segment, entry } = this.position;
      if (segment < firstLive) {
        segment = firstLive;
        entry = 0n;
        this.position = new DLSN(segment, 0n, 0n);
      }
      if (entry < 0n) {
        entry = 0n;
        this.position = new DLSN(segment, 0n, 0n);
      }
      if (segment < 0n) segment = 0n;
      this.snapshotNextSequenceId = this.log.nextSequenceId;
      this.cursor = this.storage.openCursor(this.log.id, segment, entry);
    }
    // A local: close() may run while next() is pending and clear the field.
    const cursor = this.cursor;
    // Entries hold 1 to thousands of records: a chunk sized in entries for `wanted` records could
    // decode a thousand times more than asked. The first chunk takes one entry to find out, and
    // only a reader that comes back for more reads ahead (one that wants a record reads one entry).
    const readsAhead = this.recordsPerEntry !== undefined;
    const read = this.ahead ?? cursor.next(this.chunkFor(wanted));
    this.ahead = undefined;
    const entries = await read;
    if (entries.length === 0) {
      if (this.cursor === cursor) this.cursor = undefined;
      await cursor.close();
      return false;
    }
    const firstLive = this.log.firstLiveSegment;
    let records = 0;
    for (const e of entries) {
      if (e.segment < firstLive) continue;
      records += entryRecordCount(e.value);
      this.buffered.push(e);
    }
    if (this.buffered.length === 0) return this.fill(wanted);
    this.recordsPerEntry = records / this.buffered.length;
    const last = entries[entries.length - 1]!;
    // Only while the cursor surely has more: its snapshot holds every record committed before it
    // opened, so a chunk ending below those is not its last (a reader at the head asks no more).
    // And only for a lone reader: readers of one log take what one of them read from the cache,
    // which would leave their own chunks read ahead for nothing.
    const more = entryFirstSequenceId(last.value) + BigInt(entryRecordCount(last.value)) < this.snapshotNextSequenceId;
    if (readsAhead && more && this.cursor === cursor && !this.cache.sharedBy(this.log.id)) {
      const ahead = cursor.next(this.chunkFor(this.readRecords));
      ahead.catch(() => undefined); // a failure is the next fill's, or nobody's once the cursor is dropped
      this.ahead = ahead;
    }
    return true;
  }

  /** Entries a chunk takes to hold `wanted` records (one while the records per entry are unknown). */
  private chunkFor(wanted: number): number {
    return this.recordsPerEntry === undefined ? 1 : Math.min(READ_CHUNK_ENTRIES, Math.max(1, Math.ceil(wanted / this.recordsPerEntry)));
  }

  /**
   * Between cursors (at the start, or at the head after the last one ran out): the entries from
   * the position on that the cache holds, consecutive within the segment. A miss leaves the read
   * to a cursor, which also finds the next segment's entries.
   */
  private fillFromCache(wanted: number): boolean {
    let { segment, entry } = this.position;
    if (segment < this.log.firstLiveSegment || entry < 0n) return false;
    const id = this.log.id;
    let records = 0;
    while (records < wanted && this.buffered.length < READ_CHUNK_ENTRIES) {
      const hit = this.cache.get(id, segment, entry);
      if (!hit) break;
      this.buffered.push(hit);
      records += hit.count;
      entry++;
    }
    return this.buffered.length > 0;
  }

  async close(): Promise<void> {
    this.leaveCache();
    const cursor = this.cursor;
    this.cursor = undefined;
    this.ahead = undefined;
    await cursor?.close();
  }
}
