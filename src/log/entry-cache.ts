import { type DecodedRecord, type EntryRecords, decodeEntryInto, entryRecordCount } from "./entry-codec.js";

/** An entry's records, decoded once; shared (read-only) by every reader that reads the entry. */
export interface CachedEntry extends EntryRecords {
  readonly segment: bigint;
  readonly entry: bigint;
  /** Payload bytes of the records before slot i, for i up to the count: a read finds where its byte bound falls without visiting each record. */
  readonly payloadEnds: Float64Array;
}

/**
 * Rough resident cost of one decoded record besides its payload (the record object, its DLSN and
 * bigints, the payload's Buffer view, its payloadEnds slot), so the bound tracks memory rather than payload bytes alone.
 */
const RECORD_OVERHEAD_BYTES = 320;
/** Per record, the wire header a kept entry's encoded copy (EntryRecords.encoded) adds to its payload. */
const ENCODED_OVERHEAD_BYTES = 40;

/**
 * Recently written and recently read entries of every log, decoded once. Readers of the same
 * entries (several readers on one log, a tailing reader after the commit that woke it) take the
 * decoded records from here instead of reading and decoding the stored bytes again; a reader at
 * the head never needs a LevelDB iterator for what was just committed. Entries are immutable
 * once committed, so an entry found here is always right; what is not here is read from storage.
 * Bounded by an estimate of resident bytes; the oldest entries leave first.
 *
 * Only logs with open readers are cached, and entries read from storage only while the log has
 * more than one: a lone reader's decoded records die young, which costs the GC next to nothing,
 * while kept ones would survive into the old generation for no other reader's benefit.
 */
export class EntryCache {
  private readonly maxBytes: number;
  /** Insertion order is eviction order. */
  private readonly entries = new Map<string, Slot>();
  private bytes = 0;
  /** Open readers by log id. */
  private readonly readers = new Map<number, number>();
  readonly counters = { hits: 0, misses: 0, evictions: 0 };

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

  get(logId: number, segment: bigint, entry: bigint): CachedEntry | undefined {
    const hit = this.entries.get(key(logId, segment, entry));
    if (hit) this.counters.hits++;
    return hit && decodedSlot(hit);
  }

  /** The entry's records from the cache, or decoded from `value` and kept. */
  decoded(logId: number, segment: bigint, entry: bigint, value: Buffer): CachedEntry {
    const hit = this.get(logId, segment, entry);
    if (hit) return hit;
    this.counters.misses++;
    const slot = (this.readers.get(logId) ?? 0) > 1 ? this.keep(key(logId, segment, entry), segment, entry, value) : newSlot(segment, entry, value, false);
    return decodedSlot(slot);
  }

  /** A just-committed entry, so that the readers it wakes find it here (decoded when first read). */
  put(logId: number, segment: bigint, entry: bigint, value: Buffer): void {
    if (!this.readers.has(logId)) return;
    const k = key(logId, segment, entry);
    if (!this.entries.has(k)) this.keep(k, segment, entry, value);
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

  private keep(k: string, segment: bigint, entry: bigint, value: Buffer): Slot {
    if (this.maxBytes <= 0) return newSlot(segment, entry, value, false);
    const cached = newSlot(segment, entry, value, true);
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

interface Slot {
  segment: bigint;
  entry: bigint;
  value: Buffer;
  records: DecodedRecord[] | undefined;
  payloadEnds: Float64Array | undefined;
  /** Kept in the cache for other readers: worth keeping encoded too (EntryRecords). */
  shared: boolean;
  encoded: EntryRecords["encoded"];
  bytes: number;
}

/** What keeping the stored entry `value` costs the cache's bound: decoded, and soon encoded as well (about its payload bytes again). */
export function keptEntryBytes(value: Buffer): number {
  return 2 * value.length + entryRecordCount(value) * (RECORD_OVERHEAD_BYTES + ENCODED_OVERHEAD_BYTES);
}

function newSlot(segment: bigint, entry: bigint, value: Buffer, shared: boolean): Slot {
  return { segment, entry, value, records: undefined, payloadEnds: undefined, shared, encoded: undefined, bytes: keptEntryBytes(value) };
}

function decodedSlot(slot: Slot): CachedEntry {
  if (slot.records === undefined) {
    const records: DecodedRecord[] = [];
    slot.records = records;
    decodeEntryInto(records, slot.segment, slot.entry, slot.value, 0, entryRecordCount(slot.value));
    const payloadEnds = new Float64Array(records.length + 1);
    for (let i = 0; i < records.length; i++) payloadEnds[i + 1] = payloadEnds[i]! + records[i]!.payload.length;
    slot.payloadEnds = payloadEnds;
  }
  return slot as CachedEntry;
}

function key(logId: number, segment: bigint, entry: bigint): string {
  return `${logId}:${segment}:${entry}`;
}
