/**
 * Hand-written protobuf encoding of the two messages that carry records in
 * bulk — `SessionResponse{records}` and `ReadResponse` — straight into one
 * buffer. ts-proto's generic encoder forks a writer per nested message and
 * range-checks every int64 through BigInt; on the delivery path that was the
 * largest cost after LevelDB itself. The bytes are identical to ts-proto's
 * (same field order, zero values omitted), which the unit test checks.
 */
import type { DecodedRecord, EntryRecords, EntryRun } from "../log/entry-codec.js";
import { bigVarintSize, varintSize, writeBigVarint, writeVarint } from "./varint.js";

/** A response already encoded: the service definition's encoder passes it through untouched. */
export class EncodedMessage {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

/**
 * A records frame encoded only when grpc-js serializes it, into a buffer reused frame after frame:
 * grpc-js copies what its serializer returns into its own framed message at once (in the same
 * synchronous step), so a frame costs one allocation (grpc-js's) instead of two. The bytes given
 * to `finish` are valid only until the next frame is encoded: only a serializer that copies them
 * at once may see this message (the Session method's, server.ts).
 */
export class LazyRecordsFrame {
  readonly runs: readonly EntryRun[];
  readonly attempts: Attempts;
  readonly lag: bigint;
  constructor(runs: readonly EntryRun[], attempts: Attempts, lag: bigint) {
    this.runs = runs;
    this.attempts = attempts;
    this.lag = lag;
  }
}

/** Frames up to this size are encoded into the shared scratch buffer; a larger one gets its own. */
const SCRATCH_MAX_BYTES = 4 * 1024 * 1024;
let scratch = Buffer.alloc(0);

/** Delivery attempts: one for every record (1 on first delivery, 0 in stateless reads), or one per record. */
export type Attempts = number | readonly number[];

function attemptOf(attempts: Attempts, i: number): number {
  return typeof attempts === "number" ? attempts : attempts[i]!;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
/** int64 fields per record, read once into numbers: segment, entry, slot, txid, sequence id. */
const INT64_FIELDS = 5;

function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

// BigInt to number through a typed array: stored and read back in a few instructions, where Number(bigint)
// calls into the runtime (~2.5x the instructions, five times per record).
const INT64 = new BigInt64Array(1);
const INT64_WORDS = new Uint32Array(INT64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LOW_WORD = LITTLE_ENDIAN ? 0 : 1;
const HIGH_WORD = 1 - LOW_WORD;

/** The int64 `value` as a number when it is a non-negative safe integer (the usual case), else NaN: take the BigInt path. */
function asNumber(value: bigint): number {
  INT64[0] = value;
  const high = INT64_WORDS[HIGH_WORD]!;
  // Below 2^53: the high word below 2^21 (a negative value has its top bit set).
  return high < 0x200000 ? high * 0x100000000 + INT64_WORDS[LOW_WORD]! : Number.NaN;
}

/** Size of an int64 field (tag + varint); 0 when the value is 0 and so omitted. */
function int64FieldSize(number: number, value: bigint): number {
  if (number === 0) return 0;
  return 1 + (Number.isNaN(number) ? bigVarintSize(value) : varintSize(number));
}

function writeInt64Field(out: Buffer, at: number, field: number, number: number, value: bigint): number {
  if (number === 0) return at;
  out[at++] = tag(field, WIRE_VARINT);
  return Number.isNaN(number) ? writeBigVarint(out, at, value) : writeVarint(out, at, number);
}

/** Per-record layout computed once by `measure` and used by `writeRecords`. */
interface Layout {
  /** INT64_FIELDS numbers per record (NaN: use the bigint). */
  numbers: Float64Array;
  /** Per record: DLSN message size, Record message size. */
  sizes: Int32Array;
  /** Bytes all records take as repeated-field entries. */
  total: number;
}

function measure(records: readonly DecodedRecord[], attempts: Attempts): Layout {
  const numbers = new Float64Array(records.length * INT64_FIELDS);
  const sizes = new Int32Array(records.length * 2);
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const attempt = attemptOf(attempts, i);
    const n = i * INT64_FIELDS;
    numbers[n] = asNumber(record.dlsn.segment);
    numbers[n + 1] = asNumber(record.dlsn.entry);
    numbers[n + 2] = asNumber(record.dlsn.slot);
    numbers[n + 3] = asNumber(record.txid);
    numbers[n + 4] = asNumber(record.sequenceId);
    const dlsnSize =
      int64FieldSize(numbers[n]!, record.dlsn.segment) + int64FieldSize(numbers[n + 1]!, record.dlsn.entry) + int64FieldSize(numbers[n + 2]!, record.dlsn.slot);
    const payloadLength = record.payload.length;
    const time = record.appendTimeMs;
    const recordSize =
      1 +
      varintSize(dlsnSize) +
      dlsnSize +
      int64FieldSize(numbers[n + 3]!, record.txid) +
      (time === 0 ? 0 : 1 + (time > 0 ? varintSize(time) : 10)) +
      (payloadLength === 0 ? 0 : 1 + varintSize(payloadLength) + payloadLength) +
      int64FieldSize(numbers[n + 4]!, record.sequenceId) +
      (attempt === 0 ? 0 : 1 + varintSize(attempt));
    sizes[2 * i] = dlsnSize;
    sizes[2 * i + 1] = recordSize;
    total += 1 + varintSize(recordSize) + recordSize;
  }
  return { numbers, sizes, total };
}

/** Writes the records as entries of repeated field `field`. */
function writeRecords(out: Buffer, at: number, field: number, records: readonly DecodedRecord[], attempts: Attempts, layout: Layout): number {
  const { numbers, sizes } = layout;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const attempt = attemptOf(attempts, i);
    const n = i * INT64_FIELDS;
    out[at++] = tag(field, WIRE_LEN);
    at = writeVarint(out, at, sizes[2 * i + 1]!);
    out[at++] = tag(1, WIRE_LEN);
    at = writeVarint(out, at, sizes[2 * i]!);
    at = writeInt64Field(out, at, 1, numbers[n]!, record.dlsn.segment);
    at = writeInt64Field(out, at, 2, numbers[n + 1]!, record.dlsn.entry);
    at = writeInt64Field(out, at, 3, numbers[n + 2]!, record.dlsn.slot);
    at = writeInt64Field(out, at, 2, numbers[n + 3]!, record.txid);
    const time = record.appendTimeMs;
    if (time !== 0) {
      out[at++] = tag(3, WIRE_VARINT);
      at = time > 0 ? writeVarint(out, at, time) : writeBigVarint(out, at, BigInt(time));
    }
    const payload = record.payload;
    if (payload.length > 0) {
      out[at++] = tag(4, WIRE_LEN);
      at = writeVarint(out, at, payload.length);
      out.set(payload, at);
      at += payload.length;
    }
    at = writeInt64Field(out, at, 5, numbers[n + 4]!, record.sequenceId);
    if (attempt !== 0) {
      out[at++] = tag(6, WIRE_VARINT);
      at = writeVarint(out, at, attempt);
    }
  }
  return at;
}

/**
 * `SessionResponse { records: RecordBatch { records, lag } }` of the records `runs` name, in
 * order, written straight from the entries' stored bytes: no object per record, one copy of each
 * payload. First deliveries from entries kept for several readers (`shared`) are copies of the
 * entries' records encoded once instead.
 */
export function encodeRecordsFrame(runs: readonly EntryRun[], attempts: Attempts, lag: bigint): EncodedMessage {
  return new EncodedMessage(encodeRecords(runs, attempts, lag, false));
}

/** The bytes of a records frame; with `reuse`, in the scratch buffer when they fit (see LazyRecordsFrame). */
function encodeRecords(runs: readonly EntryRun[], attempts: Attempts, lag: bigint, reuse: boolean): Buffer {
  const lagNumber = asNumber(lag);
  let batchSize = int64FieldSize(lagNumber, lag);
  let index = 0;
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]!;
    const entry = run.entry;
    if (attempts === 1 && entry.shared) {
      const encoded = (entry.encoded ??= encodeEntryRecords(entry));
      batchSize += encoded.offsets[run.to]! - encoded.offsets[run.from]!;
    } else {
      const { bytes, inPlace } = measureEntryRecords(entry, run.from, run.to, attempts, index, frameMeasured);
      runBytes[r] = bytes;
      runInPlace[r] = inPlace;
      batchSize += bytes;
    }
    index += run.to - run.from;
  }
  const frameSize = 1 + varintSize(batchSize) + batchSize;
  let out: Buffer;
  if (reuse && frameSize <= SCRATCH_MAX_BYTES) {
    if (scratch.length < frameSize) scratch = Buffer.allocUnsafe(Math.min(SCRATCH_MAX_BYTES, Math.max(frameSize, 2 * scratch.length)));
    out = scratch.subarray(0, frameSize);
  } else {
    out = Buffer.allocUnsafe(frameSize);
  }
  out[0] = tag(2, WIRE_LEN);
  let at = writeVarint(out, 1, batchSize);
  index = 0;
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]!;
    const entry = run.entry;
    if (attempts === 1 && entry.shared) {
      const encoded = entry.encoded!;
      at += encoded.bytes.copy(out, at, encoded.offsets[run.from]!, encoded.offsets[run.to]!);
    } else {
      at = writeEntryRecords(out, at, entry, run, attempts, index, runBytes[r]!, runInPlace[r]!, frameMeasured, undefined);
    }
    index += run.to - run.from;
  }
  runBytes.length = 0;
  runInPlace.length = 0;
  writeInt64Field(out, at, 2, lagNumber, lag);
  return out;
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
class Measured {
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

/** The records of the frame being encoded, by their index in the frame. */
const frameMeasured = new Measured();
/** The records of an entry encoded once (`encodeEntryRecords`, which may run between a frame's measuring and writing). */
const entryMeasured = new Measured();

const measured = { bytes: 0, inPlace: false };
/** Per run of the frame being encoded: what `measureEntryRecords` said (scratch, emptied after each frame). */
const runBytes: number[] = [];
const runInPlace: boolean[] = [];

/**
 * Bytes the records in slots `from` up to `to` of `entry` take as `RecordBatch.records` entries
 * (attempts as in `writeEntryRecords`), and whether they can be written in place (see there):
 * when every prefix of them takes at least the bytes it takes stored. In a scratch object; each
 * record's size and txid go into `into` from `firstIndex` on.
 */
function measureEntryRecords(entry: EntryRecords, from: number, to: number, attempts: Attempts, firstIndex: number, into: Measured): typeof measured {
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
    const attempt = typeof attempts === "number" ? attempts : attempts[firstIndex + slot - from]!;
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
function writeEntryRecords(
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
    const attempt = typeof attempts === "number" ? attempts : attempts[i]!;
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
function encodeEntryRecords(entry: EntryRecords): NonNullable<EntryRecords["encoded"]> {
  const { bytes: total, inPlace } = measureEntryRecords(entry, 0, entry.count, 1, 0, entryMeasured);
  const bytes = Buffer.allocUnsafe(total);
  const offsets = new Uint32Array(entry.count + 1);
  writeEntryRecords(bytes, 0, entry, { from: 0, to: entry.count }, 1, 0, total, inPlace, entryMeasured, offsets);
  return { bytes, offsets };
}

/** `ReadResponse { records }`. */
export function encodeReadResponse(records: readonly DecodedRecord[]): EncodedMessage {
  const layout = measure(records, 0);
  const out = Buffer.allocUnsafe(layout.total);
  const end = writeRecords(out, 0, 1, records, 0, layout);
  return new EncodedMessage(out.subarray(0, end));
}

/**
 * A message type whose `encode` passes `EncodedMessage`s through and leaves
 * everything else to the generated encoder.
 */
export function passEncoded<T extends { encode(message: never, writer?: never): { finish(): Uint8Array } }>(type: T): T {
  return {
    ...type,
    fromPartial: undefined,
    encode(message: unknown, writer?: unknown) {
      if (message instanceof EncodedMessage) return { finish: () => message.bytes };
      if (message instanceof LazyRecordsFrame) return { finish: () => encodeRecords(message.runs, message.attempts, message.lag, true) };
      return type.encode(message as never, writer as never);
    },
  } as T;
}
