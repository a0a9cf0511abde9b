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
 * `SessionResponse { records: RecordBatch { records, lag } }`. `runs`, when given, are the entries
 * the records are, in order (a log read's EntryRuns): first deliveries from entries kept for
 * several readers are then copied from the entries' records encoded once.
 */
export function encodeRecordsFrame(records: readonly DecodedRecord[], attempts: Attempts, lag: bigint, runs?: readonly EntryRun[]): EncodedMessage {
  const lagNumber = asNumber(lag);
  const shared = attempts === 1 && runs !== undefined ? sharedBytes(records, runs) : -1;
  const layout = shared >= 0 ? undefined : measure(records, attempts);
  const batchSize = (layout ? layout.total : shared) + int64FieldSize(lagNumber, lag);
  const out = Buffer.allocUnsafe(1 + varintSize(batchSize) + batchSize);
  let at = 0;
  out[at++] = tag(2, WIRE_LEN);
  at = writeVarint(out, at, batchSize);
  if (layout) {
    at = writeRecords(out, at, 1, records, attempts, layout);
  } else {
    for (const run of runs!) {
      const encoded = run.entry.encoded!;
      at += encoded.bytes.copy(out, at, encoded.offsets[run.from]!, encoded.offsets[run.to]!);
    }
  }
  at = writeInt64Field(out, at, 2, lagNumber, lag);
  return new EncodedMessage(out.subarray(0, at));
}

/**
 * Wire bytes of `records` as copies of their shared entries' records, encoding each entry once
 * (attempt 1); -1 when a run's entry is not shared (a lone reader's entries are encoded straight
 * into its frame: nobody else needs them) or the runs are not the records.
 */
function sharedBytes(records: readonly DecodedRecord[], runs: readonly EntryRun[]): number {
  let bytes = 0;
  let count = 0;
  for (const run of runs) {
    if (!run.entry.shared) return -1;
    count += run.to - run.from;
  }
  if (count !== records.length) return -1;
  for (const run of runs) {
    const encoded = (run.entry.encoded ??= encodeEntryRecords(run.entry.records));
    bytes += encoded.offsets[run.to]! - encoded.offsets[run.from]!;
  }
  return bytes;
}

/** An entry's records as repeated `RecordBatch.records` entries with attempt 1, and where each starts. */
function encodeEntryRecords(records: readonly DecodedRecord[]): NonNullable<EntryRecords["encoded"]> {
  const layout = measure(records, 1);
  const bytes = Buffer.allocUnsafe(layout.total);
  writeRecords(bytes, 0, 1, records, 1, layout);
  const offsets = new Uint32Array(records.length + 1);
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    offsets[i] = at;
    const recordSize = layout.sizes[2 * i + 1]!;
    at += 1 + varintSize(recordSize) + recordSize;
  }
  offsets[records.length] = at;
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
      return type.encode(message as never, writer as never);
    },
  } as T;
}
