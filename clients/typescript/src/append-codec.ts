import { DLSN } from "../../../src/dlsn.js";
import { AppendError, type AppendRequest, AppendResponse } from "./gen/dlog/v1/log.js";

/**
 * Encodes an AppendRequest byte for byte as the generated `AppendRequest.encode` does, in one
 * buffer sized up front: the generated encoder forks a sub-writer per record, which for a request
 * of 1000 batched one-record calls was most of the appender's encoding time.
 */
export function encodeAppendRequest(message: AppendRequest): { finish(): Uint8Array } {
  const log = message.log === "" ? 0 : Buffer.byteLength(message.log, "utf8");
  const producer = message.producerId === "" ? 0 : Buffer.byteLength(message.producerId, "utf8");
  let total = 0;
  if (log > 0) total += 1 + sizeOfLength(log) + log;
  for (const record of message.records) {
    const size = recordSize(record);
    total += 1 + sizeOfLength(size) + size;
  }
  if (message.requestId !== 0n) total += 1 + sizeOfUint64(checkUint64(message.requestId, "requestId"));
  if (producer > 0) total += 1 + sizeOfLength(producer) + producer;
  if (message.producerSeq !== 0n) total += 1 + sizeOfUint64(checkUint64(message.producerSeq, "producerSeq"));
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  if (log > 0) {
    out[at++] = 0x0a;
    at = writeLength(out, at, log);
    at += out.write(message.log, at, "utf8");
  }
  for (const record of message.records) {
    out[at++] = 0x12;
    at = writeLength(out, at, recordSize(record));
    const payload = record.payload;
    if (payload.length !== 0) {
      out[at++] = 0x0a;
      at = writeLength(out, at, payload.length);
      out.set(payload, at);
      at += payload.length;
    }
    if (record.txid !== undefined) {
      out[at++] = 0x10;
      at = writeUint64(out, at, BigInt.asUintN(64, record.txid));
    }
  }
  if (message.requestId !== 0n) {
    out[at++] = 0x18;
    at = writeUint64(out, at, message.requestId);
  }
  if (producer > 0) {
    out[at++] = 0x22;
    at = writeLength(out, at, producer);
    at += out.write(message.producerId, at, "utf8");
  }
  if (message.producerSeq !== 0n) {
    out[at++] = 0x28;
    at = writeUint64(out, at, message.producerSeq);
  }
  return { finish: () => out };
}

function recordSize(record: AppendRequest["records"][number]): number {
  const payload = record.payload.length;
  let size = payload === 0 ? 0 : 1 + sizeOfLength(payload) + payload;
  if (record.txid !== undefined) {
    if (BigInt.asIntN(64, record.txid) !== record.txid) throw new Error("value provided for field message.txid of type int64 too large");
    size += 1 + sizeOfUint64(BigInt.asUintN(64, record.txid));
  }
  return size;
}

function checkUint64(value: bigint, field: string): bigint {
  if (BigInt.asUintN(64, value) !== value) throw new Error(`value provided for field message.${field} of type uint64 too large`);
  return value;
}

function sizeOfLength(length: number): number {
  return length < 0x80 ? 1 : length < 0x4000 ? 2 : length < 0x200000 ? 3 : length < 0x10000000 ? 4 : 5;
}

function sizeOfUint64(value: bigint): number {
  let size = 1;
  for (let v = value; v >= 0x80n; v >>= 7n) size++;
  return size;
}

function writeLength(out: Buffer, at: number, length: number): number {
  let v = length;
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** An unsigned 64-bit varint (an int64 is written as its two's complement, 10 bytes when negative). */
function writeUint64(out: Buffer, at: number, value: bigint): number {
  if (value <= 0x7fffffffn) return writeLength(out, at, Number(value));
  let v = value;
  while (v >= 0x80n) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}

/**
 * Decodes an AppendResponse as the generated `AppendResponse.decode` does, except that `dlsns`
 * holds DLSN objects (the appender's callers get them as they are) whose equal fields share one
 * bigint: an answer to 1000 batched calls has 1000 DLSNs of one segment and one entry and,
 * usually, 1000 equal txids. The generated decoder builds four bigints and two objects per record,
 * the largest part of the appender's own time. Anything this decoder does not expect (a field in
 * another wire type, a truncated message) is left to the generated decoder, which says what is wrong.
 */
export function decodeAppendAnswer(bytes: Uint8Array): AppendResponse {
  return fastDecode(bytes) ?? AppendResponse.decode(bytes);
}

/** Slot numbers as bigints, made once. */
const SMALL: readonly bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));

/** Reads varints, remembering the last value of each field so that a repeat costs no new bigint. */
class Varints {
  at = 0;
  private readonly bytes: Uint8Array;
  private readonly end: number;
  lo = 0;
  hi = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.end = bytes.length;
  }

  /** Reads one varint into lo/hi (its low and high 32 bits); false when it runs past the end or past 10 bytes. */
  next(): boolean {
    const bytes = this.bytes;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    let at = this.at;
    for (let i = 0; i < 10; i++) {
      if (at >= this.end) return false;
      const b = bytes[at++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      shift += 7;
      if (b < 0x80) {
        this.at = at;
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return true;
      }
    }
    return false;
  }

  /** A length or tag: a varint below 2^31; -1 when it is not one. */
  small(): number {
    if (!this.next() || this.hi !== 0 || this.lo > 0x7fffffff) return -1;
    return this.lo;
  }
}

/** The bigint of a signed int64 read into lo/hi, reusing `last` when it is the same value. */
class Int64Field {
  private lo = -1;
  private hi = -1;
  private value = 0n;

  of(v: Varints): bigint {
    if (v.lo === this.lo && v.hi === this.hi) return this.value;
    this.lo = v.lo;
    this.hi = v.hi;
    this.value = v.hi === 0 && v.lo < SMALL.length ? SMALL[v.lo]! : BigInt.asIntN(64, (BigInt(v.hi) << 32n) | BigInt(v.lo));
    return this.value;
  }
}

function fastDecode(bytes: Uint8Array): AppendResponse | undefined {
  const v = new Varints(bytes);
  const segment = new Int64Field();
  const entry = new Int64Field();
  const slot = new Int64Field();
  const txid = new Int64Field();
  const message: AppendResponse = { dlsns: [], txids: [], requestId: 0n, error: undefined, duplicate: false };
  while (v.at < bytes.length) {
    const tag = v.small();
    if (tag === 10) {
      const length = v.small();
      const end = v.at + length;
      if (length < 0 || end > bytes.length) return undefined;
      let s = 0n;
      let e = 0n;
      let n = 0n;
      while (v.at < end) {
        const field = v.small();
        if (!v.next() || v.at > end) return undefined;
        if (field === 8) s = segment.of(v);
        else if (field === 16) e = entry.of(v);
        else if (field === 24) n = slot.of(v);
        else if ((field & 7) !== 0) return undefined;
      }
      message.dlsns.push(new DLSN(s, e, n));
    } else if (tag === 18) {
      const length = v.small();
      const end = v.at + length;
      if (length < 0 || end > bytes.length) return undefined;
      while (v.at < end) {
        if (!v.next() || v.at > end) return undefined;
        message.txids.push(txid.of(v));
      }
    } else if (tag === 16) {
      if (!v.next()) return undefined;
      message.txids.push(txid.of(v));
    } else if (tag === 24) {
      if (!v.next()) return undefined;
      message.requestId = (BigInt(v.hi) << 32n) | BigInt(v.lo);
    } else if (tag === 34) {
      const length = v.small();
      const end = v.at + length;
      if (length < 0 || end > bytes.length) return undefined;
      message.error = AppendError.decode(bytes.subarray(v.at, end));
      v.at = end;
    } else if (tag === 40) {
      if (!v.next()) return undefined;
      message.duplicate = v.lo !== 0 || v.hi !== 0;
    } else if (tag > 0 && (tag & 7) === 0) {
      if (!v.next()) return undefined; // an unknown varint field
    } else if (tag > 0 && (tag & 7) === 2) {
      const length = v.small();
      if (length < 0 || v.at + length > bytes.length) return undefined;
      v.at += length; // an unknown length-delimited field
    } else {
      return undefined;
    }
  }
  return message;
}
