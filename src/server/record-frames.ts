/**
 * Hand-written protobuf encoding of the two messages that carry records in
 * bulk — `SessionResponse{records}` and `ReadResponse` — straight into one
 * buffer. ts-proto's generic encoder forks a writer per nested message and
 * range-checks every int64 through BigInt; on the delivery path that was the
 * largest cost after LevelDB itself. The bytes are identical to ts-proto's
 * (same field order, zero values omitted), which the unit test checks.
 */
import type { DecodedRecord, EntryRun } from "../log/entry-codec.js";
import { WIRE_LEN, WIRE_VARINT, asNumber, int64FieldSize, tag, writeBigVarint, writeInt64Field, writeVarint, varintSize } from "./protobuf-wire.js";
import { type Attempts, Measured, attemptOf, encodeEntryRecords, measureEntryRecords, writeEntryRecords } from "./stored-records.js";

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
/** The records of the frame being encoded, by their index in the frame. */
const frameMeasured = new Measured();
/** Per run of the frame being encoded: what `measureEntryRecords` said (scratch, emptied after each frame). */
const runBytes: number[] = [];
const runInPlace: boolean[] = [];

/** int64 fields per record, read once into numbers: segment, entry, slot, txid, sequence id. */
const INT64_FIELDS = 5;

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
