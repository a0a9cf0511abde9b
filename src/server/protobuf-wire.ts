/** Protobuf fields and varints written straight into a buffer, for the hand-written encoders (record-frames.ts, stored-records.ts, append-response.ts). */

/** Bytes of a varint of a non-negative safe integer. */
export function varintSize(value: number): number {
  if (value < 128) return 1;
  if (value < 16384) return 2;
  if (value < 2097152) return 3;
  if (value < 268435456) return 4;
  if (value < 34359738368) return 5;
  if (value < 4398046511104) return 6;
  if (value < 562949953421312) return 7;
  return 8; // below 2^53
}

export function bigVarintSize(value: bigint): number {
  if (value >= 0n && value < 128n) return 1;
  let unsigned = BigInt.asUintN(64, value); // negative int64: ten-byte two's complement varint
  let size = 1;
  while (unsigned >= 128n) {
    unsigned >>= 7n;
    size++;
  }
  return size;
}

export function writeVarint(out: Buffer, at: number, value: number): number {
  if (value < 128) {
    out[at] = value;
    return at + 1;
  }
  if (value >= 0x10000000) {
    // The low 28 bits as four 7-bit groups first, then the rest (below 2^25) as int32: no float
    // modulo, which is a library call (an append time is always this large, a txid often).
    const high = Math.floor(value / 0x10000000);
    let low = value - high * 0x10000000;
    out[at++] = (low & 127) | 128;
    low >>>= 7;
    out[at++] = (low & 127) | 128;
    low >>>= 7;
    out[at++] = (low & 127) | 128;
    low >>>= 7;
    out[at++] = low | 128;
    value = high;
  }
  while (value >= 128) {
    out[at++] = (value & 127) | 128;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

export function writeBigVarint(out: Buffer, at: number, value: bigint): number {
  // The common case in number arithmetic: slots, entry ids, small segments.
  if (value >= 0n && value <= 0x7fffffffn) return writeVarint(out, at, Number(value));
  let unsigned = BigInt.asUintN(64, value);
  while (unsigned >= 128n) {
    out[at++] = Number(unsigned & 127n) | 128;
    unsigned >>= 7n;
  }
  out[at++] = Number(unsigned);
  return at;
}

export const WIRE_VARINT = 0;
export const WIRE_LEN = 2;

export function tag(field: number, wireType: number): number {
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
export function asNumber(value: bigint): number {
  INT64[0] = value;
  const high = INT64_WORDS[HIGH_WORD]!;
  // Below 2^53: the high word below 2^21 (a negative value has its top bit set).
  return high < 0x200000 ? high * 0x100000000 + INT64_WORDS[LOW_WORD]! : Number.NaN;
}

/** Size of an int64 field (tag + varint); 0 when the value is 0 and so omitted. */
export function int64FieldSize(number: number, value: bigint): number {
  if (number === 0) return 0;
  return 1 + (Number.isNaN(number) ? bigVarintSize(value) : varintSize(number));
}

export function writeInt64Field(out: Buffer, at: number, field: number, number: number, value: bigint): number {
  if (number === 0) return at;
  out[at++] = tag(field, WIRE_VARINT);
  return Number.isNaN(number) ? writeBigVarint(out, at, value) : writeVarint(out, at, number);
}
