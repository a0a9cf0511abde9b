import { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";

/**
 * One stored entry holds the records of one or more appends to a log, group-committed together (group-commit.ts):
 *   u8 version | i64 append time ms | i64 first sequence id | u32 count |
 *   count × (i64 txid | u32 payload length | payload)
 * Records of an entry share its append time; slot i is the i-th record.
 */
const VERSION = 1;
const HEADER_BYTES = 1 + 8 + 8 + 4;
const RECORD_HEADER_BYTES = 8 + 4;

export interface EntryRecordInput {
  payload: Uint8Array;
  txid: bigint;
}

export interface DecodedRecord {
  dlsn: DLSN;
  txid: bigint;
  appendTimeMs: number;
  sequenceId: bigint;
  /** A view into the stored value: no copy. */
  payload: Buffer;
}

/**
 * One stored entry, indexed once (where each record starts in the stored bytes) and decoded into
 * record objects only when something asks for `records` (a stateless Read, a redelivery): a
 * session sends records as copies of the stored bytes (stored-records.ts, record-frames.ts) and tracks them by index
 * (ack-window.ts), so the delivery path makes no object per record. Shared (read-only) by every
 * reader of a cached entry (entry-cache.ts); when it is `shared`, the wire layer keeps its records
 * encoded here once, so each session that sends them copies bytes instead of encoding them again.
 */
export class EntryRecords {
  readonly segment: bigint;
  readonly entry: bigint;
  /** The stored value (see the format above). */
  readonly value: Buffer;
  readonly count: number;
  readonly appendTimeMs: number;
  readonly firstSequenceId: bigint;
  /** Where record i's header starts in `value`, for i up to the count (the last: the value's length). */
  readonly offsets: Uint32Array;
  readonly shared: boolean;
  /** The records' wire bytes back to back, record i at `offsets[i]` up to `offsets[i + 1]`. */
  encoded: { readonly bytes: Buffer; readonly offsets: Uint32Array } | undefined;
  #records: DecodedRecord[] | undefined;

  constructor(segment: bigint, entry: bigint, value: Buffer, shared: boolean) {
    if (value[0] !== VERSION) {
      throw new DlogError("INTERNAL", `entry ${segment}/${entry} has unknown format version ${value[0]}`);
    }
    this.segment = segment;
    this.entry = entry;
    this.value = value;
    this.shared = shared;
    this.encoded = undefined;
    this.appendTimeMs = Number(value.readBigInt64BE(1));
    this.firstSequenceId = entryFirstSequenceId(value);
    const count = value.readUInt32BE(17);
    this.count = count;
    // A damaged count must not size the index below: every record takes at least its header.
    if (HEADER_BYTES + count * RECORD_HEADER_BYTES > value.length) throw damaged(segment, entry, value, count);
    const offsets = new Uint32Array(count + 1);
    let at = HEADER_BYTES;
    for (let slot = 0; slot < count; slot++) {
      offsets[slot] = at;
      // The payload length, byte by byte: readUInt32BE checks its offset and bounds on every call.
      // Past the end it reads 0 (undefined << n), and the length check after the loop catches it.
      const length = ((value[at + 8]! << 24) | (value[at + 9]! << 16) | (value[at + 10]! << 8) | value[at + 11]!) >>> 0;
      at += RECORD_HEADER_BYTES + length;
    }
    if (at !== value.length) throw damaged(segment, entry, value, count);
    offsets[count] = at;
    this.offsets = offsets;
  }

  /** Payload bytes of the records in slots `from` up to `to` (exclusive). */
  payloadBytes(from: number, to: number): number {
    return this.offsets[to]! - this.offsets[from]! - RECORD_HEADER_BYTES * (to - from);
  }

  /** Where the payload of the record in `slot` starts in `value` (it ends where the next record starts). */
  payloadAt(slot: number): number {
    return this.offsets[slot]! + RECORD_HEADER_BYTES;
  }

  /** The txid of the record in `slot`, as stored (big-endian int64 at its header). */
  txidAt(slot: number): bigint {
    return this.value.readBigInt64BE(this.offsets[slot]!);
  }

  /** Every record of the entry as objects, decoded on first use and kept. */
  get records(): readonly DecodedRecord[] {
    if (this.#records === undefined) {
      const records: DecodedRecord[] = new Array<DecodedRecord>(this.count);
      // Records of one append mostly share their txid: one bigint for a run of equal ones.
      let txid = 0n;
      let txidHigh = -1;
      let txidLow = -1;
      for (let slot = 0; slot < this.count; slot++) {
        const at = this.offsets[slot]!;
        const high = this.value.readUInt32BE(at);
        const low = this.value.readUInt32BE(at + 4);
        if (high !== txidHigh || low !== txidLow) {
          txid = this.value.readBigInt64BE(at);
          txidHigh = high;
          txidLow = low;
        }
        records[slot] = this.#decode(slot, txid);
      }
      this.#records = records;
    }
    return this.#records;
  }

  /** The record in `slot` alone, as an object (the decoded one when all were decoded). */
  recordAt(slot: number): DecodedRecord {
    return this.#records?.[slot] ?? this.#decode(slot, this.txidAt(slot));
  }

  #decode(slot: number, txid: bigint): DecodedRecord {
    const slotId = slotBigint(slot);
    return {
      dlsn: new DLSN(this.segment, this.entry, slotId),
      txid,
      appendTimeMs: this.appendTimeMs,
      sequenceId: this.firstSequenceId + slotId,
      // A view into the stored value: no copy.
      payload: this.value.subarray(this.offsets[slot]! + RECORD_HEADER_BYTES, this.offsets[slot + 1]!),
    };
  }
}

/**
 * Records `from` up to `to` (exclusive) of one entry: what a read took from it. A read says so
 * instead of making an object per record.
 */
export interface EntryRun {
  readonly entry: EntryRecords;
  readonly from: number;
  readonly to: number;
}

/**
 * What one read took, as runs of consecutive slots of entries in log order: records addressed by
 * index (0 up to `length`), each made into an object only when asked (`recordAt`). What the ack
 * window keeps of a delivered batch (it compares DLSNs through `compareAt` without building any).
 */
export class EntryBatch {
  readonly runs: readonly EntryRun[];
  readonly length: number;
  /** Index of each run's first record, and the length last: which run an index falls in. */
  readonly #starts: Uint32Array;

  constructor(runs: readonly EntryRun[]) {
    this.runs = runs;
    const starts = new Uint32Array(runs.length + 1);
    let length = 0;
    for (let i = 0; i < runs.length; i++) {
      starts[i] = length;
      length += runs[i]!.to - runs[i]!.from;
    }
    starts[runs.length] = length;
    this.#starts = starts;
    this.length = length;
  }

  /** The run index `index` falls in. */
  #runOf(index: number): number {
    const starts = this.#starts;
    if (starts.length === 2) return 0;
    let lo = 0;
    let hi = starts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The entry and slot of the record at `index`. */
  entryRunAt(index: number): EntryRun {
    const r = this.#runOf(index);
    const run = this.runs[r]!;
    const slot = run.from + index - this.#starts[r]!;
    return { entry: run.entry, from: slot, to: slot + 1 };
  }

  /** The runs of records `from` up to `to` (exclusive). */
  slice(from: number, to: number): EntryRun[] {
    const out: EntryRun[] = [];
    for (let r = this.#runOf(from); r < this.runs.length && this.#starts[r]! < to; r++) {
      const run = this.runs[r]!;
      const start = this.#starts[r]!;
      out.push({ entry: run.entry, from: run.from + Math.max(0, from - start), to: run.from + Math.min(run.to - run.from, to - start) });
    }
    return out;
  }

  recordAt(index: number): DecodedRecord {
    const { entry, from } = this.entryRunAt(index);
    return entry.recordAt(from);
  }

  dlsnAt(index: number): DLSN {
    const { entry, from } = this.entryRunAt(index);
    return new DLSN(entry.segment, entry.entry, slotBigint(from));
  }

  sequenceIdAt(index: number): bigint {
    const { entry, from } = this.entryRunAt(index);
    return entry.firstSequenceId + slotBigint(from);
  }

  /** Payload bytes of the records `from` up to `to` (exclusive). */
  payloadBytes(from: number, to: number): number {
    if (to - from === 1) {
      const { entry, from: slot } = this.entryRunAt(from);
      return entry.payloadBytes(slot, slot + 1);
    }
    let bytes = 0;
    for (const run of this.slice(from, to)) bytes += run.entry.payloadBytes(run.from, run.to);
    return bytes;
  }

  /** Negative, zero or positive as the record at `index` sorts before, at or after `dlsn`. */
  compareAt(index: number, dlsn: DLSN): number {
    const r = this.#runOf(index);
    const run = this.runs[r]!;
    return compareSlot(run.entry, run.from + index - this.#starts[r]!, dlsn);
  }

  /**
   * From index `from` on: with `after`, the first index whose record is after `dlsn` (the length
   * when none is); without, the index of the record with that DLSN, or -1.
   */
  search(dlsn: DLSN, after: boolean, from: number): number {
    let r = this.#runOf(from);
    // The runs are in log order: skip those wholly before the DLSN's entry, then place it in its run.
    for (; r < this.runs.length; r++) {
      const run = this.runs[r]!;
      const entry = run.entry;
      const start = Math.max(this.#starts[r]!, from);
      const order =
        entry.segment !== dlsn.segment ? (entry.segment < dlsn.segment ? -1 : 1) : entry.entry !== dlsn.entry ? (entry.entry < dlsn.entry ? -1 : 1) : 0;
      if (order > 0) return after ? start : -1;
      if (order < 0) continue;
      const firstSlot = run.from + start - this.#starts[r]!;
      const slot = dlsn.slot;
      if (slot < BigInt(firstSlot)) return after ? start : -1;
      if (slot >= BigInt(run.to)) {
        if (!after) return -1;
        continue;
      }
      const index = start + Number(slot) - firstSlot;
      return after ? index + 1 : index;
    }
    return after ? this.length : -1;
  }
}

/** DLSN order of the record in `slot` of `entry` against `dlsn`, without building a DLSN. */
function compareSlot(entry: EntryRecords, slot: number, dlsn: DLSN): number {
  if (entry.segment !== dlsn.segment) return entry.segment < dlsn.segment ? -1 : 1;
  if (entry.entry !== dlsn.entry) return entry.entry < dlsn.entry ? -1 : 1;
  const other = dlsn.slot;
  // Slots are small: compare as numbers when the DLSN's is (it may be anything a client sent).
  if (other >= 0n && other <= 0xffffffffn) {
    const n = Number(other);
    return slot < n ? -1 : slot > n ? 1 : 0;
  }
  return other < 0n ? 1 : -1;
}

export function encodeEntry(records: readonly EntryRecordInput[], appendTimeMs: number, firstSequenceId: bigint): Buffer {
  let size = HEADER_BYTES;
  for (const record of records) size += RECORD_HEADER_BYTES + record.payload.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = VERSION;
  out.writeBigInt64BE(BigInt(appendTimeMs), 1);
  out.writeBigInt64BE(firstSequenceId, 9);
  out.writeUInt32BE(records.length, 17);
  let at = HEADER_BYTES;
  for (const record of records) {
    out.writeBigInt64BE(record.txid, at);
    out.writeUInt32BE(record.payload.length, at + 8);
    out.set(record.payload, at + RECORD_HEADER_BYTES);
    at += RECORD_HEADER_BYTES + record.payload.length;
  }
  return out;
}

function damaged(segment: bigint, entry: bigint, value: Buffer, count: number): DlogError {
  return new DlogError("INTERNAL", `entry ${segment}/${entry} is damaged: its ${value.length} bytes do not hold the ${count} records its header counts`);
}

/** Sequence id of an encoded entry's first record, without indexing it. */
export function entryFirstSequenceId(value: Buffer): bigint {
  return value.readBigInt64BE(9);
}

/** Number of records in an encoded entry, without decoding them. */
export function entryRecordCount(value: Buffer): number {
  return value.readUInt32BE(17);
}

/** Slot numbers as bigints, made once: every decoded record needs one. */
const SLOT_BIGINTS: bigint[] = [];
const SLOT_BIGINTS_MAX = 4096;

function slotBigint(slot: number): bigint {
  if (slot >= SLOT_BIGINTS_MAX) return BigInt(slot);
  for (let i = SLOT_BIGINTS.length; i <= slot; i++) SLOT_BIGINTS.push(BigInt(i));
  return SLOT_BIGINTS[slot]!;
}
