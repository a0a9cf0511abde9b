/**
 * Records written as `RecordBatch.records` entries straight from an entry's stored bytes (entry-codec.ts):
 * no object per record, one copy of each payload. record-frames.ts puts them into frames.
 */
import type { EntryRecords } from "../log/entry-codec.js";
import { WIRE_LEN, WIRE_VARINT, asNumber, bigVarintSize, tag, varintSize, writeBigVarint, writeInt64Field, writeVarint } from "./protobuf-wire.js";

/** Delivery attempts: one for every record (1 on first delivery, 0 in stateless reads), or one per record. */
export type Attempts = number | readonly number[];

export function attemptOf(attempts: Attempts, i: number): number {
  return typeof attempts === "number" ? attempts : attempts[i]!;
}

/** The fields every record of an entry has alike, encoded once per run: the DLSN's segment and entry, and the append time. */
interface EntryConstants {
  /** Segment and entry fields of the DLSN message, then the append time field. */
  bytes: Buffer;
  dlsnPrefix: number;
  timeSize: number;
  /** The entry's first sequence id as a number, when every sequence id of the entry is a safe integer (else NaN). */
  firstSequence: number;
}

const constantsScratch = Buffer.alloc(64);
const constants: EntryConstants = { bytes: constantsScratch, dlsnPrefix: 0, timeSize: 0, firstSequence: 0 };

/** The entry's constant fields, in a scratch object (valid until the next call). */
function entryConstants(entry: EntryRecords): EntryConstants {
  const out = constantsScratch;
  let at = writeInt64Field(out, 0, 1, asNumber(entry.segment), entry.segment);
  at = writeInt64Field(out, at, 2, asNumber(entry.entry), entry.entry);
  constants.dlsnPrefix = at;
  const time = entry.appendTimeMs;
  if (time !== 0) {
    out[at++] = tag(3, WIRE_VARINT);
    at = time > 0 ? writeVarint(out, at, time) : writeBigVarint(out, at, BigInt(time));
  }
  constants.timeSize = at - constants.dlsnPrefix;
  const first = asNumber(entry.firstSequenceId);
  constants.firstSequence = first + entry.count <= Number.MAX_SAFE_INTEGER ? first : Number.NaN;
  return constants;
}

/** The big-endian u32 at `at`, read byte by byte: `readUInt32BE` checks its offset and bounds on every call. */
function u32At(value: Buffer, at: number): number {
  return ((value[at]! << 24) | (value[at + 1]! << 16) | (value[at + 2]! << 8) | value[at + 3]!) >>> 0;
}

/** The txid of the record whose header is at `header` as a number when below 2^53, else NaN (large, negative: the bigint path). */
function txidNumberAt(value: Buffer, header: number): number {
  const high = u32At(value, header);
  return high < 0x200000 ? high * 0x100000000 + u32At(value, header + 4) : Number.NaN;
}

function sequenceSize(entry: EntryRecords, firstSequence: number, slot: number): number {
  if (Number.isNaN(firstSequence)) return 1 + bigVarintSize(entry.firstSequenceId + BigInt(slot));
  const sequence = firstSequence + slot;
  return sequence === 0 ? 0 : 1 + varintSize(sequence);
}

/**
 * What `measureEntryRecords` found of each record, for `writeEntryRecords` to use instead of
 * reading and sizing every record again: its `Record` message size (without tag and length) and
 * its txid as a number (NaN: the bigint path), at the record's index in the frame (or the entry).
 */
export class Measured {
  sizes = new Int32Array(1024);
  txids = new Float64Array(1024);

  /** Room for `count` records. */
  fit(count: number): void {
    if (count <= this.sizes.length) return;
    const length = Math.max(count, 2 * this.sizes.length);
    const sizes = new Int32Array(length);
    sizes.set(this.sizes);
    const txids = new Float64Array(length);
    txids.set(this.txids);
    this.sizes = sizes;
    this.txids = txids;
  }
}

/** The records of an entry encoded once (`encodeEntryRecords`, which may run between a frame's measuring and writing). */
const entryMeasured = new Measured();

const measured = { bytes: 0, inPlace: false };

/**
 * Bytes the records in slots `from` up to `to` of `entry` take as `RecordBatch.records` entries
 * (attempts as in `writeEntryRecords`), and whether they can be written in place (see there):
 * when every prefix of them takes at least the bytes it takes stored. In a scratch object; each
 * record's size and txid go into `into` from `firstIndex` on.
 */
export function measureEntryRecords(entry: EntryRecords, from: number, to: number, attempts: Attempts, firstIndex: number, into: Measured): typeof measured {
  const c = entryConstants(entry);
  const stored = entry.offsets;
  const value = entry.value;
  into.fit(firstIndex + to - from);
  const sizes = into.sizes;
  const txids = into.txids;
  // Fields every record of the entry has alike: the DLSN message's tag, length and constant fields, the time.
  const fixed = 2 + c.dlsnPrefix + c.timeSize;
  let bytes = 0;
  let inPlace = true;
  for (let slot = from; slot < to; slot++) {
    const header = stored[slot]!;
    if (bytes < header - stored[from]!) inPlace = false;
    const attempt = attemptOf(attempts, firstIndex + slot - from);
    const payloadLength = stored[slot + 1]! - header - 12;
    const txid = txidNumberAt(value, header);
    const size =
      fixed +
      (slot === 0 ? 0 : 1 + varintSize(slot)) +
      (txid === 0 ? 0 : 1 + (Number.isNaN(txid) ? bigVarintSize(entry.txidAt(slot)) : varintSize(txid))) +
      (payloadLength === 0 ? 0 : 1 + varintSize(payloadLength) + payloadLength) +
      sequenceSize(entry, c.firstSequence, slot) +
      (attempt === 0 ? 0 : 1 + varintSize(attempt));
    const i = firstIndex + slot - from;
    sizes[i] = size;
    txids[i] = txid;
    bytes += 1 + varintSize(size) + size;
  }
  if (bytes < stored[to]! - stored[from]!) inPlace = false;
  measured.bytes = bytes;
  measured.inPlace = inPlace;
  return measured;
}

/**
 * Writes the records in slots `from` up to `to` of `entry` as `RecordBatch.records` entries at
 * `at`, the i-th with attempt `attempts` (or `attempts[firstIndex + i]`), reading every field
 * from the stored bytes; `total` and `inPlace` are what `measureEntryRecords` said of them, and
 * `measuredAs` what it kept of each. `offsets`, when given, gets where each record starts
 * (relative to `at`).
 *
 * The payloads are copied with one copy of the stored run into the frame where its records go,
 * then each record, last first, is moved to its place (`copyWithin`, a memmove) and its fields
 * written around it: a copy per record of a sub-range of another buffer would make an object per
 * record (a view). That works when every record's fields take at least its 12 stored header
 * bytes, so that writing a record never reaches the stored bytes of those before it (the usual
 * case); otherwise each payload is copied on its own.
 */
export function writeEntryRecords(
  out: Buffer,
  at: number,
  entry: EntryRecords,
  { from, to }: { from: number; to: number },
  attempts: Attempts,
  firstIndex: number,
  total: number,
  inPlace: boolean,
  measuredAs: Measured,
  offsets: Uint32Array | undefined,
): number {
  const c = entryConstants(entry);
  const prefix = c.bytes;
  const dlsnPrefix = c.dlsnPrefix;
  const timeSize = c.timeSize;
  const value = entry.value;
  const stored = entry.offsets;
  const sizes = measuredAs.sizes;
  const txids = measuredAs.txids;
  const base = at;
  if (inPlace) value.copy(out, base, stored[from]!, stored[to]!);
  let end = base + total;
  for (let slot = to - 1; slot >= from; slot--) {
    const i = firstIndex + slot - from;
    const attempt = attemptOf(attempts, i);
    const size = sizes[i]!;
    const start = end - 1 - varintSize(size) - size;
    if (offsets) offsets[slot - from] = start - base;
    const header = stored[slot]!;
    const payloadLength = stored[slot + 1]! - header - 12;
    // The trailing fields, sequence id and attempt, go after the payload.
    const sequenceBytes = sequenceSize(entry, c.firstSequence, slot);
    const payloadAt = end - (attempt === 0 ? 0 : 1 + varintSize(attempt)) - sequenceBytes - payloadLength;
    if (payloadLength > 0) {
      if (inPlace) out.copyWithin(payloadAt, base + header + 12 - stored[from]!, base + header + 12 - stored[from]! + payloadLength);
      else value.copy(out, payloadAt, header + 12, header + 12 + payloadLength);
    }
    let w = start;
    out[w++] = tag(1, WIRE_LEN);
    w = writeVarint(out, w, size);
    out[w++] = tag(1, WIRE_LEN);
    out[w++] = dlsnPrefix + (slot === 0 ? 0 : 1 + varintSize(slot)); // at most 33: one byte
    for (let k = 0; k < dlsnPrefix; k++) out[w++] = prefix[k]!;
    if (slot !== 0) {
      out[w++] = tag(3, WIRE_VARINT);
      w = writeVarint(out, w, slot);
    }
    const txid = txids[i]!;
    if (txid !== 0) {
      out[w++] = tag(2, WIRE_VARINT);
      w = Number.isNaN(txid) ? writeBigVarint(out, w, entry.txidAt(slot)) : writeVarint(out, w, txid);
    }
    for (let k = dlsnPrefix; k < dlsnPrefix + timeSize; k++) out[w++] = prefix[k]!;
    if (payloadLength > 0) {
      out[w++] = tag(4, WIRE_LEN);
      w = writeVarint(out, w, payloadLength);
    }
    w += payloadLength;
    if (sequenceBytes !== 0) {
      out[w++] = tag(5, WIRE_VARINT);
      w = Number.isNaN(c.firstSequence) ? writeBigVarint(out, w, entry.firstSequenceId + BigInt(slot)) : writeVarint(out, w, c.firstSequence + slot);
    }
    if (attempt !== 0) {
      out[w++] = tag(6, WIRE_VARINT);
      w = writeVarint(out, w, attempt);
    }
    end = start;
  }
  if (offsets) offsets[to - from] = total;
  return base + total;
}

/** An entry's records as repeated `RecordBatch.records` entries with attempt 1, and where each starts. */
export function encodeEntryRecords(entry: EntryRecords): NonNullable<EntryRecords["encoded"]> {
  const { bytes: total, inPlace } = measureEntryRecords(entry, 0, entry.count, 1, 0, entryMeasured);
  const bytes = Buffer.allocUnsafe(total);
  const offsets = new Uint32Array(entry.count + 1);
  writeEntryRecords(bytes, 0, entry, { from: 0, to: entry.count }, 1, 0, total, inPlace, entryMeasured, offsets);
  return { bytes, offsets };
}
