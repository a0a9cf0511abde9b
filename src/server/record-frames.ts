/**
 * Hand-written protobuf encoding of the two messages that carry records in
 * bulk — `SessionResponse{records}` and `ReadResponse` — straight into one
 * buffer. ts-proto's generic encoder forks a writer per nested message and
 * range-checks every int64 through BigInt; on the delivery path that was the
 * largest cost after LevelDB itself. The bytes are identical to ts-proto's
 * (same field order, zero values omitted), which the unit test checks.
 */
import type { DecodedRecord } from "../log/entry-codec.js";

/** A response already encoded: the service definition's encoder passes it through untouched. */
export class EncodedMessage {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

export interface RecordDelivery {
  record: DecodedRecord;
  /** 0 in stateless reads (omitted on the wire). */
  attempt: number;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Bytes of an int64 field's varint: non-negative safe integers take the number path, the rest BigInt's. */
function int64Size(value: bigint): number {
  if (value >= 0n && value <= 9007199254740991n) return varintSize(Number(value));
  return value < 0n ? 10 : bigVarintSize(value);
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function bigVarintSize(value: bigint): number {
  let size = 1;
  while (value >= 128n) {
    value >>= 7n;
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 128) {
    out[at++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

function writeInt64(out: Buffer, at: number, value: bigint): number {
  if (value >= 0n && value <= 9007199254740991n) return writeVarint(out, at, Number(value));
  let unsigned = BigInt.asUintN(64, value); // negative int64: ten-byte two's complement varint
  while (unsigned >= 128n) {
    out[at++] = Number(unsigned & 127n) | 128;
    unsigned >>= 7n;
  }
  out[at++] = Number(unsigned);
  return at;
}

/** Size of an optional int64 field (tag + varint); 0 when the value is 0 and so omitted. */
function int64FieldSize(value: bigint): number {
  return value === 0n ? 0 : 1 + int64Size(value);
}

function dlsnBodySize(record: DecodedRecord): number {
  return int64FieldSize(record.segment) + int64FieldSize(record.entry) + int64FieldSize(record.slot);
}

function recordBodySize(delivery: RecordDelivery, dlsnSize: number): number {
  const { record, attempt } = delivery;
  const payloadLength = record.payload.length;
  return (
    1 + varintSize(dlsnSize) + dlsnSize +
    int64FieldSize(record.txid) +
    int64FieldSize(BigInt(record.appendTimeMs)) +
    (payloadLength === 0 ? 0 : 1 + varintSize(payloadLength) + payloadLength) +
    int64FieldSize(record.sequenceId) +
    (attempt === 0 ? 0 : 1 + varintSize(attempt))
  );
}

function writeInt64Field(out: Buffer, at: number, field: number, value: bigint): number {
  if (value === 0n) return at;
  out[at++] = tag(field, WIRE_VARINT);
  return writeInt64(out, at, value);
}

/** Writes `Record` messages as field `field` entries; `sizes` holds [dlsn size, record size] per record. */
function writeRecords(out: Buffer, at: number, field: number, deliveries: readonly RecordDelivery[], sizes: Int32Array): number {
  for (let i = 0; i < deliveries.length; i++) {
    const { record, attempt } = deliveries[i]!;
    const dlsnSize = sizes[2 * i]!;
    out[at++] = tag(field, WIRE_LEN);
    at = writeVarint(out, at, sizes[2 * i + 1]!);
    out[at++] = tag(1, WIRE_LEN);
    at = writeVarint(out, at, dlsnSize);
    at = writeInt64Field(out, at, 1, record.segment);
    at = writeInt64Field(out, at, 2, record.entry);
    at = writeInt64Field(out, at, 3, record.slot);
    at = writeInt64Field(out, at, 2, record.txid);
    at = writeInt64Field(out, at, 3, BigInt(record.appendTimeMs));
    const payload = record.payload;
    if (payload.length > 0) {
      out[at++] = tag(4, WIRE_LEN);
      at = writeVarint(out, at, payload.length);
      out.set(payload, at);
      at += payload.length;
    }
    at = writeInt64Field(out, at, 5, record.sequenceId);
    if (attempt !== 0) {
      out[at++] = tag(6, WIRE_VARINT);
      at = writeVarint(out, at, attempt);
    }
  }
  return at;
}

/** Sizes every record; returns the bytes all of them take as `field` entries. */
function measure(deliveries: readonly RecordDelivery[], sizes: Int32Array): number {
  let total = 0;
  for (let i = 0; i < deliveries.length; i++) {
    const delivery = deliveries[i]!;
    const dlsnSize = dlsnBodySize(delivery.record);
    const recordSize = recordBodySize(delivery, dlsnSize);
    sizes[2 * i] = dlsnSize;
    sizes[2 * i + 1] = recordSize;
    total += 1 + varintSize(recordSize) + recordSize;
  }
  return total;
}

/** `SessionResponse { records: RecordBatch { records, lag } }`. */
export function encodeRecordsFrame(deliveries: readonly RecordDelivery[], lag: bigint): EncodedMessage {
  const sizes = new Int32Array(deliveries.length * 2);
  const batchSize = measure(deliveries, sizes) + int64FieldSize(lag);
  const out = Buffer.allocUnsafe(1 + varintSize(batchSize) + batchSize);
  let at = 0;
  out[at++] = tag(2, WIRE_LEN);
  at = writeVarint(out, at, batchSize);
  at = writeRecords(out, at, 1, deliveries, sizes);
  at = writeInt64Field(out, at, 2, lag);
  return new EncodedMessage(out.subarray(0, at));
}

/** `ReadResponse { records }`. */
export function encodeReadResponse(records: readonly DecodedRecord[]): EncodedMessage {
  const deliveries = records.map((record) => ({ record, attempt: 0 }));
  const sizes = new Int32Array(deliveries.length * 2);
  const out = Buffer.allocUnsafe(measure(deliveries, sizes));
  const end = writeRecords(out, 0, 1, deliveries, sizes);
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

