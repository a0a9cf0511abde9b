import { DLSN } from "../../../src/dlsn.js";
import { AppendError, type AppendRequest, AppendResponse } from "./gen/dlog/v1/log.js";

/**
 * Encodes an AppendRequest byte for byte as the generated `AppendRequest.encode` does, in one
 * buffer sized up front: the generated encoder forks a sub-writer per record, which for a request
 * of 1000 batched one-record calls was most of the appender's encoding time.
 */
export function encodeAppendRequest(message: AppendRequest | EncodedAppendRequest): { finish(): Uint8Array } {
  if (message instanceof EncodedAppendRequest) return message;
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

/** An AppendRequest the appender encoded itself (RequestEncoder): sent as it is. */
export class EncodedAppendRequest {
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  finish(): Uint8Array {
    return this.bytes;
  }
}

/** The records of one request, encoded as AppendRequest's `records` fields, with room before them for its other fields. */
export interface EncodedRecords {
  buffer: Buffer;
  /** Where the room for the other fields begins; the records start `headerRoom` bytes later. */
  start: number;
  end: number;
  /** Sent once: the bytes before the records are the request's other fields, no longer room to write in. */
  sent: boolean;
}

/** Most bytes a request's records take before they move to a slab of their own size. */
const MIN_SLAB_BYTES = 16 * 1024;
const MAX_SLAB_BYTES = 1024 * 1024;
/** A record's framing at most: its tag and length, the payload's tag and length, a txid's tag and 10-byte varint. */
const RECORD_FRAMING_BYTES = 1 + 5 + 1 + 5 + 1 + 10;
/** A request id's or producer seq's tag and varint. */
const UINT64_FIELD_BYTES = 1 + 10;

/**
 * Encodes records into requests as they are appended, straight into large buffers (slabs) shared
 * by consecutive requests, so that a one-record append() costs no objects of its own for its
 * record: each request's records are contiguous, preceded by room for the fields written when it
 * is sent (log, request id, producer id and seq). The bytes are those of `encodeAppendRequest`
 * with the records last instead of second (protobuf readers take fields in any order).
 */
export class RequestEncoder {
  private readonly logField: Buffer;
  private readonly producerField: Buffer;
  private readonly headerRoom: number;
  private slab: Buffer = Buffer.alloc(0);
  private at = 0;

  constructor(log: string, producerId: string | undefined) {
    this.logField = stringField(0x0a, log);
    this.producerField = stringField(0x22, producerId ?? "");
    this.headerRoom = this.logField.length + this.producerField.length + 2 * UINT64_FIELD_BYTES;
  }

  /** An empty request, to add records to. */
  open(): EncodedRecords {
    this.reserve(undefined, this.headerRoom);
    const records: EncodedRecords = { buffer: this.slab, start: this.at, end: this.at + this.headerRoom, sent: false };
    this.at = records.end;
    return records;
  }

  /**
   * Throws (writing nothing) when the txid is not an int64, as the generated encoder does. Only
   * the request opened last may take records: its bytes end where the slab's free space begins.
   */
  add(records: EncodedRecords, payload: Uint8Array | string, txid: bigint | undefined): void {
    if (records.end !== this.at || records.sent) throw new Error("RequestEncoder: only the request opened last, not yet sent, takes records");
    if (txid !== undefined && BigInt.asIntN(64, txid) !== txid) throw new RangeError("value provided for field message.txid of type int64 too large");
    const length = typeof payload === "string" ? Buffer.byteLength(payload, "utf8") : payload.length;
    this.reserve(records, RECORD_FRAMING_BYTES + length);
    const out = this.slab;
    let at = records.end;
    out[at++] = 0x12;
    let size = length === 0 ? 0 : 1 + sizeOfLength(length) + length;
    const unsignedTxid = txid === undefined ? 0n : BigInt.asUintN(64, txid);
    if (txid !== undefined) size += 1 + sizeOfUint64(unsignedTxid);
    at = writeLength(out, at, size);
    if (length !== 0) {
      out[at++] = 0x0a;
      at = writeLength(out, at, length);
      if (typeof payload === "string") out.write(payload, at, "utf8");
      else out.set(payload, at);
      at += length;
    }
    if (txid !== undefined) {
      out[at++] = 0x10;
      at = writeUint64(out, at, unsignedTxid);
    }
    records.end = at;
    this.at = at;
  }

  /**
   * The request of these records: its other fields are written into the room before them the first
   * time (the bytes are then handed to the stream, so never written again); a resend is a copy.
   */
  request(records: EncodedRecords, requestId: bigint, producerSeq: bigint): EncodedAppendRequest {
    const header =
      this.logField.length +
      (requestId === 0n ? 0 : 1 + sizeOfUint64(checkUint64(requestId, "requestId"))) +
      this.producerField.length +
      (producerSeq === 0n ? 0 : 1 + sizeOfUint64(checkUint64(producerSeq, "producerSeq")));
    const recordsAt = records.start + this.headerRoom;
    let out: Buffer;
    let at: number;
    if (!records.sent) {
      records.sent = true;
      out = records.buffer;
      at = recordsAt - header;
    } else {
      out = Buffer.allocUnsafe(header + records.end - recordsAt);
      at = 0;
      records.buffer.copy(out, header, recordsAt, records.end);
    }
    const from = at;
    at += this.logField.copy(out, at);
    if (requestId !== 0n) {
      out[at++] = 0x18;
      at = writeUint64(out, at, requestId);
    }
    at += this.producerField.copy(out, at);
    if (producerSeq !== 0n) {
      out[at++] = 0x28;
      at = writeUint64(out, at, producerSeq);
    }
    return new EncodedAppendRequest(out.subarray(from, from + header + records.end - recordsAt));
  }

  /** Room for `bytes` more after `records` (or for a new request): a fresh slab, the records moved into it, when the slab is full. */
  private reserve(records: EncodedRecords | undefined, bytes: number): void {
    if (this.at + bytes <= this.slab.length) return;
    const kept = records === undefined ? 0 : records.end - records.start;
    const size = Math.max(Math.min(MAX_SLAB_BYTES, 2 * this.slab.length), MIN_SLAB_BYTES, 2 * (kept + bytes));
    const slab = Buffer.allocUnsafe(size);
    if (records !== undefined) {
      records.buffer.copy(slab, 0, records.start, records.end);
      records.buffer = slab;
      records.start = 0;
      records.end = kept;
    }
    this.slab = slab;
    this.at = kept;
  }
}

/** A string field's tag, length and UTF-8 bytes; empty when the string is (proto3 leaves it out). */
function stringField(tag: number, value: string): Buffer {
  if (value === "") return Buffer.alloc(0);
  const length = Buffer.byteLength(value, "utf8");
  const out = Buffer.allocUnsafe(1 + sizeOfLength(length) + length);
  out[0] = tag;
  const at = writeLength(out, 1, length);
  out.write(value, at, "utf8");
  return out;
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
 * Decodes an AppendResponse as the generated `AppendResponse.decode` does, into an AppendAnswer
 * that keeps its DLSNs as runs of consecutive slots (an answer to 1000 batched calls is one run)
 * and builds each DLSN object only when asked for it, and its txids only when read: the
 * appender's callers each get their own DLSN, and none the txids. The generated decoder builds
 * four bigints and two objects per record, the largest part of the appender's own time. Anything
 * this decoder does not expect (a field in another wire type, a truncated message) is left to the
 * generated decoder, which says what is wrong.
 */
export function decodeAppendAnswer(bytes: Uint8Array): AppendAnswer {
  return fastDecode(bytes) ?? AppendAnswer.of(AppendResponse.decode(bytes));
}

/** Slot numbers as bigints, made once. */
const SMALL: readonly bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));

function slotOf(slot: number): bigint {
  return slot < SMALL.length ? SMALL[slot]! : BigInt(slot);
}

/** Slots from 0 to this are counted as numbers within a run. */
const MAX_RUN_SLOT = 0x7fffffff;

/** An AppendResponse whose DLSNs are runs of consecutive slots, made into DLSN objects one by one (`at`) or all at once (`dlsns`). */
export class AppendAnswer implements AppendResponse {
  requestId = 0n;
  error: AppendError | undefined = undefined;
  duplicate = false;
  /** DLSNs the answer holds. */
  count = 0;
  // One element per run: its segment, entry, first slot (a bigint, and a number when within 0..MAX_RUN_SLOT, else -1) and length.
  private readonly runSegments: bigint[] = [];
  private readonly runEntries: bigint[] = [];
  private readonly runSlots: bigint[] = [];
  private readonly runSlotNumbers: number[] = [];
  private readonly runLengths: number[] = [];
  /** The run `at` read last and the index of its first DLSN: callers read in order. */
  private cursorRun = 0;
  private cursorFirst = 0;
  /** Where the txids are in the answer's bytes: [from, to) pairs of varints. */
  private txidBytes: Uint8Array | undefined;
  private readonly txidRanges: number[] = [];
  private txidList: bigint[] | undefined;
  private dlsnList: DLSN[] | undefined;

  /** An answer decoded by the generated decoder. */
  static of(response: AppendResponse): AppendAnswer {
    const answer = new AppendAnswer();
    for (const dlsn of response.dlsns)
      answer.push(dlsn.segment, dlsn.entry, dlsn.slot, dlsn.slot >= 0n && dlsn.slot <= BigInt(MAX_RUN_SLOT) ? Number(dlsn.slot) : -1);
    answer.txidList = response.txids;
    answer.requestId = response.requestId;
    answer.error = response.error;
    answer.duplicate = response.duplicate;
    return answer;
  }

  /** Adds a DLSN (`slotNumber`: its slot as a number, -1 when outside 0..MAX_RUN_SLOT). */
  push(segment: bigint, entry: bigint, slot: bigint, slotNumber: number): void {
    const last = this.runLengths.length - 1;
    if (
      last >= 0 &&
      slotNumber >= 0 &&
      this.runSlotNumbers[last]! >= 0 &&
      this.runSlotNumbers[last]! + this.runLengths[last]! === slotNumber &&
      this.runSegments[last] === segment &&
      this.runEntries[last] === entry
    ) {
      this.runLengths[last]!++;
    } else {
      this.runSegments.push(segment);
      this.runEntries.push(entry);
      this.runSlots.push(slot);
      this.runSlotNumbers.push(slotNumber);
      this.runLengths.push(1);
    }
    this.count++;
  }

  /** The `index`th DLSN, a new object; cheapest read in order. */
  at(index: number): DLSN {
    if (index < 0 || index >= this.count) throw new RangeError(`DLSN ${index} of an answer of ${this.count}`);
    if (index < this.cursorFirst) {
      this.cursorRun = 0;
      this.cursorFirst = 0;
    }
    while (index >= this.cursorFirst + this.runLengths[this.cursorRun]!) this.cursorFirst += this.runLengths[this.cursorRun++]!;
    const run = this.cursorRun;
    const offset = index - this.cursorFirst;
    return new DLSN(this.runSegments[run]!, this.runEntries[run]!, offset === 0 ? this.runSlots[run]! : slotOf(this.runSlotNumbers[run]! + offset));
  }

  get dlsns(): DLSN[] {
    if (this.dlsnList === undefined) {
      const list: DLSN[] = [];
      for (let i = 0; i < this.count; i++) list.push(this.at(i));
      this.dlsnList = list;
    }
    return this.dlsnList;
  }

  get txids(): bigint[] {
    if (this.txidList === undefined) this.txidList = this.decodeTxids();
    return this.txidList;
  }

  /** Records where the txids are, to decode them if they are read. */
  txidsAt(bytes: Uint8Array, from: number, to: number): void {
    this.txidBytes = bytes;
    this.txidRanges.push(from, to);
  }

  private decodeTxids(): bigint[] {
    const bytes = this.txidBytes;
    const txids: bigint[] = [];
    if (bytes === undefined) return txids;
    const v = new Varints(bytes);
    const txid = new Int64Field();
    for (let i = 0; i < this.txidRanges.length; i += 2) {
      const to = this.txidRanges[i + 1]!;
      v.at = this.txidRanges[i]!;
      while (v.at < to) {
        if (!v.next() || v.at > to) {
          AppendResponse.decode(bytes); // throws, saying what is wrong
          throw new Error("invalid txids in an AppendResponse");
        }
        txids.push(txid.of(v));
      }
    }
    return txids;
  }
}

/** Reads varints into lo/hi, their low and high 32 bits. */
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

  /** Reads one varint into lo/hi; false when it runs past the end or past 10 bytes. */
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

/** The bigint of a signed int64 read into lo/hi, reusing the last one when it is the same value. */
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

function fastDecode(bytes: Uint8Array): AppendAnswer | undefined {
  const v = new Varints(bytes);
  const segment = new Int64Field();
  const entry = new Int64Field();
  const slot = new Int64Field();
  const answer = new AppendAnswer();
  while (v.at < bytes.length) {
    const tag = v.small();
    if (tag === 10) {
      const length = v.small();
      const end = v.at + length;
      if (length < 0 || end > bytes.length) return undefined;
      let s = 0n;
      let e = 0n;
      let slotLo = 0;
      let slotHi = 0;
      while (v.at < end) {
        const field = v.small();
        if (!v.next() || v.at > end) return undefined;
        if (field === 8) s = segment.of(v);
        else if (field === 16) e = entry.of(v);
        else if (field === 24) {
          slotLo = v.lo;
          slotHi = v.hi;
        } else if ((field & 7) !== 0) return undefined;
      }
      if (slotHi === 0 && slotLo <= MAX_RUN_SLOT) answer.push(s, e, slotOf(slotLo), slotLo);
      else {
        v.lo = slotLo;
        v.hi = slotHi;
        answer.push(s, e, slot.of(v), -1);
      }
    } else if (tag === 18) {
      const length = v.small();
      const end = v.at + length;
      if (length < 0 || end > bytes.length) return undefined;
      answer.txidsAt(bytes, v.at, end);
      v.at = end;
    } else if (tag === 16) {
      const from = v.at;
      if (!v.next()) return undefined;
      answer.txidsAt(bytes, from, v.at);
    } else if (tag === 24) {
      if (!v.next()) return undefined;
      answer.requestId = (BigInt(v.hi) << 32n) | BigInt(v.lo);
    } else if (tag === 34) {
      const length = v.small();
      const end = v.at + length;
      if (length < 0 || end > bytes.length) return undefined;
      answer.error = AppendError.decode(bytes.subarray(v.at, end));
      v.at = end;
    } else if (tag === 40) {
      if (!v.next()) return undefined;
      answer.duplicate = v.lo !== 0 || v.hi !== 0;
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
  return answer;
}
