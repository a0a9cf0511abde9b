import { EntryRecords, entryFirstSequenceId, entryRecordCount } from "./entry-codec.js";

/** An entry's records, indexed once; shared (read-only) by every reader that reads the entry. */
export type CachedEntry = EntryRecords;

/**
 * Rough resident cost of one decoded record besides its payload (the record object, its DLSN and
 * bigints, the payload's Buffer view, its offset), so the bound tracks memory rather than payload
 * bytes alone. Sessions never decode (EntryRecords), a stateless Read does: the bound assumes it.
 */
const RECORD_OVERHEAD_BYTES = 320;
/** Per record, the wire header a kept entry's encoded copy (EntryRecords.encoded) adds to its payload. */
const ENCODED_OVERHEAD_BYTES = 40;

/**
 * Recently written and recently read entries of every log, indexed once (EntryRecords). Readers of
 * the same entries (several readers on one log, a tailing reader after the commit that woke it)
 * take them from here instead of reading and indexing the stored bytes again, and sessions their
 * records encoded once; a reader at
 * the head never needs a LevelDB iterator for what was just committed. Entries are immutable
 * once committed, so an entry found here is always right; what is not here is read from storage.
 * Bounded by an estimate of resident bytes; the oldest entries leave first.
 *
 * Only logs with open readers are cached, and entries read from storage only while the log has
 * more than one: a lone reader's entries die young, while kept ones would stay for no other
 * reader's benefit. For the same reason a commit to a log with one reader is only handed over:
 * kept until that reader takes it, then dropped. Kept, every tailed commit would outlive a
 * scavenge and be promoted (the heap grew ~4 MB/s under a 2000 appends/s tail, and the copying
 * made scavenges of 5-8 ms and mark-compacts of 8-18 ms, the stalls behind the tail's p99).
 * One exception: the entry an ended session's reader would resume in (`keepResumeEntry`), so
 * that its next session (a reconnect, a takeover) starts without a cursor.
 */
export class EntryCache {
  private readonly maxBytes: number;
  /** Insertion order is eviction order. */
  private readonly entries = new Map<string, Slot>();
  private bytes = 0;
  /** Open readers by log id. */
  private readonly readers = new Map<number, number>();
  readonly counters = { hits: 0, misses: 0, evictions: 0 };

  get stats(): Readonly<EntryCache["counters"]> & { readonly bytes: number } {
    return { ...this.counters, bytes: this.bytes };
  }

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Counts a reader of `logId` until the returned function is called (once). */
  openReader(logId: number): () => void {
    this.readers.set(logId, (this.readers.get(logId) ?? 0) + 1);
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      const left = (this.readers.get(logId) ?? 1) - 1;
      if (left > 0) this.readers.set(logId, left);
      else this.readers.delete(logId);
    };
  }

  /** Readers of `logId` share what one of them reads from storage: it is kept here while the log has more than one. */
  sharedBy(logId: number): boolean {
    return this.maxBytes > 0 && (this.readers.get(logId) ?? 0) > 1;
  }

  /** The sequence id of a kept entry's first record, or undefined: a look that takes nothing (no hit counted, no hand-off). */
  firstSequenceIdOf(logId: number, segment: bigint, entry: bigint): bigint | undefined {
    const slot = this.entries.get(key(logId, segment, entry));
    return slot && entryFirstSequenceId(slot.value);
  }

  get(logId: number, segment: bigint, entry: bigint): CachedEntry | undefined {
    const k = key(logId, segment, entry);
    const hit = this.entries.get(k);
    if (!hit) return undefined;
    this.counters.hits++;
    // A second reader came since the put: the entry is kept for both after all.
    if (hit.handOff && (this.readers.get(logId) ?? 0) > 1) hit.handOff = false;
    if (hit.handOff) {
      this.entries.delete(k);
      this.bytes -= hit.bytes;
      return new EntryRecords(hit.segment, hit.entry, hit.value, false);
    }
    return indexedSlot(hit);
  }

  /** The entry from the cache, or indexed from `value` (and kept while the log has several readers). */
  indexed(logId: number, segment: bigint, entry: bigint, value: Buffer): CachedEntry {
    const hit = this.get(logId, segment, entry);
    if (hit) return hit;
    this.counters.misses++;
    if (this.sharedBy(logId)) return indexedSlot(this.keep(key(logId, segment, entry), segment, entry, value));
    return new EntryRecords(segment, entry, value, false);
  }

  /**
   * A just-committed entry, so that the readers it wakes find it here (indexed when first read);
   * with one reader, only until that reader takes it.
   */
  put(logId: number, segment: bigint, entry: bigint, value: Buffer): void {
    const readers = this.readers.get(logId) ?? 0;
    if (readers > 0) this.keepEntry(logId, segment, entry, value, readers === 1);
  }

  /** The entry an ended session's reader stood in, kept whether or not the log has readers: its next session starts there. */
  keepResumeEntry(logId: number, segment: bigint, entry: bigint, value: Buffer): void {
    this.keepEntry(logId, segment, entry, value, false);
  }

  private keepEntry(logId: number, segment: bigint, entry: bigint, value: Buffer, handOff: boolean): void {
    if (this.maxBytes <= 0) return;
    const k = key(logId, segment, entry);
    const kept = this.entries.get(k);
    if (kept === undefined) this.keep(k, segment, entry, value, handOff);
    else if (!handOff) kept.handOff = false;
  }

  /** Drops every entry of a log (deleted). Truncated segments need nothing: readers skip them by segment. */
  forgetLog(logId: number): void {
    const prefix = `${logId}:`;
    for (const [k, e] of this.entries) {
      if (!k.startsWith(prefix)) continue;
      this.entries.delete(k);
      this.bytes -= e.bytes;
    }
  }

  private keep(k: string, segment: bigint, entry: bigint, value: Buffer, handOff = false): Slot {
    const cached: Slot = { segment, entry, value, indexed: undefined, bytes: keptEntryBytes(value), handOff };
    this.entries.set(k, cached);
    this.bytes += cached.bytes;
    for (const [oldest, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= e.bytes;
      this.counters.evictions++;
    }
    return cached;
  }
}

/** A kept entry: its stored bytes, indexed when first read. */
interface Slot {
  segment: bigint;
  entry: bigint;
  value: Buffer;
  indexed: EntryRecords | undefined;
  bytes: number;
  /** Put for the log's lone reader: dropped once read (see `put`). */
  handOff: boolean;
}

/** What keeping the stored entry `value` costs the cache's bound: decoded, and soon encoded as well (about its payload bytes again). */
export function keptEntryBytes(value: Buffer): number {
  return 2 * value.length + entryRecordCount(value) * (RECORD_OVERHEAD_BYTES + ENCODED_OVERHEAD_BYTES);
}

function indexedSlot(slot: Slot): EntryRecords {
  // Kept for every reader of the log: worth keeping encoded too (EntryRecords.encoded).
  slot.indexed ??= new EntryRecords(slot.segment, slot.entry, slot.value, true);
  return slot.indexed;
}

function key(logId: number, segment: bigint, entry: bigint): string {
  return `${logId}:${segment}:${entry}`;
}
