/**
 * The records frames of a reader session (`SessionResponse{records}`), decoded by hand: the
 * generated decoder builds a Record, a DLSN, four bigints and a copy of the payload per record,
 * about half of the reader's instructions per record. Here a frame is read once, its varints into
 * numbers (in a typed array shared by consecutive frames), and a record's bigints, DLSN and payload
 * view are made only when read. Anything this decoder does not expect (another frame kind, a field
 * in an unusual encoding, a malformed frame) goes to the generated decoder, which decides: the
 * results are those of `SessionResponse.decode` for every input (test/record-frame.test.ts).
 */
import { DLSN } from "../../../src/dlsn.js";
import { type DLSN as WireDLSN, Record as WireRecord } from "./gen/dlog/v1/common.js";
import { type RecordBatch, ReaderServiceDefinition, SessionResponse } from "./gen/dlog/v1/reader.js";

// A record's numbers in `RecordFrame.fields`, STRIDE per record from the frame's `base`.
/** The payload's bytes in the frame: [PAYLOAD, PAYLOAD_END). */
const PAYLOAD = 0;
const PAYLOAD_END = 1;
/** The DLSN's fields; all three -1 when the record is held as a generated Record (`objects`). */
const SEGMENT = 2;
const ENTRY = 3;
const SLOT = 4;
const TXID = 5;
const TIME = 6;
const SEQUENCE = 7;
const ATTEMPT = 8;
const STRIDE = 9;

/** Made once: slots, and the other small values. */
const SMALL: readonly bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));

/** The bigint of an exact number, the last one kept: the records of a frame mostly share their segment, entry, txid and time. */
class BigintOf {
  private number = -1;
  private value = 0n;

  of(number: number): bigint {
    if (number < SMALL.length) return SMALL[number]!;
    if (number !== this.number) {
      this.number = number;
      this.value = BigInt(number);
    }
    return this.value;
  }
}

const segments = new BigintOf();
const entries = new BigintOf();
const txids = new BigintOf();
const times = new BigintOf();
const sequences = new BigintOf();

const EMPTY = new Uint8Array(0);
const NO_DLSN: WireDLSN = Object.freeze({ segment: 0n, entry: -1n, slot: -1n });

/**
 * The records of one frame. A record's int64 fields are kept as numbers when they lie in
 * 0..2^53-1 (every real DLSN, txid, time and sequence id); a record with one outside that range,
 * or without a DLSN, is decoded by the generated decoder instead and held as that Record. Payloads
 * are views of the frame's bytes: a payload kept keeps its frame's bytes alive.
 */
export class RecordFrame implements RecordBatch {
  readonly count: number;
  lag: bigint;
  private readonly bytes: Uint8Array;
  private readonly fields: Float64Array;
  /** Where the frame's numbers start in `fields`. */
  private readonly base: number;
  /** Records held as generated Records (by index); undefined when there are none. */
  private readonly objects: (WireRecord | undefined)[] | undefined;
  private list: WireRecord[] | undefined;

  /** A frame decoded by decodeSessionResponse, or (`of`) made of generated Records. */
  constructor(bytes: Uint8Array, fields: Float64Array, base: number, count: number, objects: (WireRecord | undefined)[] | undefined, lag: bigint) {
    this.bytes = bytes;
    this.fields = fields;
    this.base = base;
    this.count = count;
    this.objects = objects;
    this.lag = lag;
  }

  /** A frame of records the generated decoder made (a `read()` response, a frame this decoder left to it). */
  static of(batch: { records: WireRecord[]; lag?: bigint }): RecordFrame {
    if (batch instanceof RecordFrame) return batch;
    const records = batch.records;
    const fields = new Float64Array(records.length * STRIDE);
    for (let i = 0; i < records.length; i++) {
      const at = i * STRIDE;
      fields[at + SEGMENT] = -1;
      fields[at + ENTRY] = -1;
      fields[at + SLOT] = -1;
      fields[at + ATTEMPT] = records[i]!.attempt;
    }
    const frame = new RecordFrame(EMPTY, fields, 0, records.length, records.slice(), batch.lag ?? 0n);
    frame.list = records;
    return frame;
  }

  /** The records as the generated decoder makes them; built on first use (the reader never asks). */
  get records(): WireRecord[] {
    if (this.list === undefined) {
      const list: WireRecord[] = [];
      for (let i = 0; i < this.count; i++) {
        list.push(
          this.objects?.[i] ?? {
            dlsn: this.wireDlsn(i),
            txid: this.txid(i),
            appendTimeMs: times.of(this.fields[this.base + i * STRIDE + TIME]!),
            payload: this.payload(i),
            sequenceId: this.sequenceId(i),
            attempt: this.attempt(i),
          },
        );
      }
      this.list = list;
    }
    return this.list;
  }

  /**
   * The DLSN's fields as numbers, for ordering without bigints (ack-tracker.ts `Ordered`); all
   * three -1 when one is outside 0..2^53-1 or the record has no DLSN (then `wireDlsn` orders it).
   */
  segmentNumber(index: number): number {
    return this.fields[this.base + index * STRIDE + SEGMENT]!;
  }

  entryNumber(index: number): number {
    return this.fields[this.base + index * STRIDE + ENTRY]!;
  }

  slotNumber(index: number): number {
    return this.fields[this.base + index * STRIDE + SLOT]!;
  }

  attempt(index: number): number {
    return this.fields[this.base + index * STRIDE + ATTEMPT]!;
  }

  /** False only for a record that came without a DLSN (which the server always sets). */
  hasDlsn(index: number): boolean {
    return this.objects?.[index]?.dlsn !== undefined || this.fields[this.base + index * STRIDE + SEGMENT]! >= 0;
  }

  /** The DLSN as the wire has it; `(0, -1, -1)` when the record has none. A new object. */
  wireDlsn(index: number): WireDLSN {
    const object = this.objects?.[index];
    if (object !== undefined) return object.dlsn ?? NO_DLSN;
    const at = this.base + index * STRIDE;
    const slot = this.fields[at + SLOT]!;
    return {
      segment: segments.of(this.fields[at + SEGMENT]!),
      entry: entries.of(this.fields[at + ENTRY]!),
      slot: slot < SMALL.length ? SMALL[slot]! : BigInt(slot),
    };
  }

  dlsn(index: number): DLSN {
    const wire = this.wireDlsn(index);
    return new DLSN(wire.segment, wire.entry, wire.slot);
  }

  txid(index: number): bigint {
    const object = this.objects?.[index];
    return object !== undefined ? object.txid : txids.of(this.fields[this.base + index * STRIDE + TXID]!);
  }

  appendTimeMs(index: number): number {
    const object = this.objects?.[index];
    return object !== undefined ? Number(object.appendTimeMs) : this.fields[this.base + index * STRIDE + TIME]!;
  }

  sequenceId(index: number): bigint {
    const object = this.objects?.[index];
    return object !== undefined ? object.sequenceId : sequences.of(this.fields[this.base + index * STRIDE + SEQUENCE]!);
  }

  /** A new view of the payload's bytes (the generated decoder's own copy for a record it decoded). */
  payload(index: number): Buffer {
    const object = this.objects?.[index];
    if (object !== undefined) return object.payload;
    const at = this.base + index * STRIDE;
    const from = this.fields[at + PAYLOAD]!;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + from, this.fields[at + PAYLOAD_END]! - from);
  }
}

/**
 * The Session method's response decoder (client.ts): records frames by hand, into a RecordFrame;
 * other frames, and records frames it does not expect, by the generated decoder (their records
 * then in a RecordFrame of the generated Records). A frame neither can read throws, saying so:
 * grpc-js then ends the call with INTERNAL, and the reader fails with that error.
 */
export function decodeSessionResponse(bytes: Uint8Array): SessionResponse {
  const frame = decodeRecordsFrame(bytes);
  if (frame !== undefined) return { kind: { $case: "records", value: frame } };
  let response: SessionResponse;
  try {
    response = SessionResponse.decode(bytes);
  } catch (error) {
    throw new Error(`a SessionResponse of ${bytes.length} bytes that does not decode: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (response.kind?.$case === "records") return { kind: { $case: "records", value: RecordFrame.of(response.kind.value) } };
  return response;
}

/**
 * ReaderService with the Session method's records frames decoded into RecordFrames, a record's
 * fields read from the frame's bytes when asked for, not into objects per record: the Reader's
 * (client.ts; `client.readers` keeps the generated decoder), and the benchmark's session driver.
 */
export const FRAME_READER_DEFINITION = {
  ...ReaderServiceDefinition,
  methods: {
    ...ReaderServiceDefinition.methods,
    session: {
      ...ReaderServiceDefinition.methods.session,
      responseType: { ...SessionResponse, decode: decodeSessionResponse },
    },
  },
} as unknown as typeof ReaderServiceDefinition;

// Tags (field number << 3 | wire type) of the fields read here.
const RECORDS_FIELD = 0x12; // SessionResponse.records
const BATCH_RECORD = 0x0a; // RecordBatch.records
const BATCH_LAG = 0x10; // RecordBatch.lag
const RECORD_DLSN = 0x0a;
const RECORD_TXID = 0x10;
const RECORD_TIME = 0x18;
const RECORD_PAYLOAD = 0x22;
const RECORD_SEQUENCE = 0x28;
const RECORD_ATTEMPT = 0x30;
const DLSN_SEGMENT = 0x08;
const DLSN_ENTRY = 0x10;
const DLSN_SLOT = 0x18;
const BATCH_TAGS: readonly number[] = [BATCH_RECORD, BATCH_LAG];
const RECORD_TAGS: readonly number[] = [RECORD_DLSN, RECORD_TXID, RECORD_TIME, RECORD_PAYLOAD, RECORD_SEQUENCE, RECORD_ATTEMPT];
const DLSN_TAGS: readonly number[] = [DLSN_SEGMENT, DLSN_ENTRY, DLSN_SLOT];

/** Values from here on are not kept as numbers (a larger or negative int64). */
const MAX_EXACT = 2 ** 53;
/** A varint's scale past its 10th byte: the generated reader refuses a longer one. */
const PAST_TEN_BYTES = 2 ** 70;
/** Tags and lengths below this are read as the generated decoder reads them (as a uint32, used as a number). */
const MAX_SMALL = 0x80000000;

/**
 * The numbers of consecutive frames, each frame's from where the last one's end (a typed array
 * per frame cost more than the rest of its decoding). Frames keep theirs alive; a full slab is
 * left to them and a new one begun.
 */
const SLAB_NUMBERS = 16 * 1024;
let slab = new Float64Array(SLAB_NUMBERS);
let slabAt = 0;

/** The value of the varint `varintAt` read last. */
const VALUE = new Float64Array(1);

/**
 * Reads the varint at `at`, ending before `end`, into VALUE[0]: its value when below 2^53, else -1.
 * Returns where it ends; -1 when it runs past `end` or past 10 bytes (the generated reader refuses it).
 */
function varintAt(bytes: Uint8Array, at: number, end: number): number {
  let value = 0;
  let scale = 1;
  while (at < end && scale < PAST_TEN_BYTES) {
    const b = bytes[at++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) {
      VALUE[0] = value < MAX_EXACT ? value : -1;
      return at;
    }
  }
  return -1;
}

/**
 * Skips the field whose tag is at `at` (a field the fast path does not read: another wire type,
 * a tag of more than one byte), as the generated decoder's `skip` does, returning where it ends;
 * -1 for what it leaves to the generated decoder: one of the message's `known` tags written in
 * more bytes than needed, a group, a tag of 0, an invalid wire type, a value past `end`.
 */
function skipField(bytes: Uint8Array, at: number, end: number, known: readonly number[]): number {
  at = varintAt(bytes, at, end);
  const tag = VALUE[0]!;
  if (at < 0 || tag <= 0 || tag >= MAX_SMALL || known.includes(tag)) return -1;
  switch (tag & 7) {
    case 0:
      return varintAt(bytes, at, end);
    case 1:
      return at + 8 <= end ? at + 8 : -1;
    case 2: {
      const next = varintAt(bytes, at, end);
      const length = VALUE[0]!;
      return next >= 0 && length >= 0 && length <= end - next ? next + length : -1;
    }
    case 5:
      return at + 4 <= end ? at + 4 : -1;
    default:
      return -1;
  }
}

/**
 * A frame that is one records field, decoded; undefined for anything else (the generated
 * decoder's; exported for the tests, which check which frames it takes). One function with its varints read in place: a call per varint cost as much again.
 * A varint is read without a bound and checked after it (a read past the frame gives undefined,
 * which ends it); every value read lies within its message, or the frame goes to the generated decoder.
 */
export function decodeRecordsFrame(bytes: Uint8Array): RecordFrame | undefined {
  const end = bytes.length;
  if (end === 0 || bytes[0] !== RECORDS_FIELD) return undefined;
  let at = varintAt(bytes, 1, end);
  if (at < 0 || VALUE[0] !== end - at) return undefined;
  let fields = slab;
  let base = slabAt;
  let next = base;
  let count = 0;
  let lag = 0;
  let objects: (WireRecord | undefined)[] | undefined;
  while (at < end) {
    const batchTag = bytes[at]!;
    if (batchTag === BATCH_LAG) {
      at = varintAt(bytes, at + 1, end);
      lag = VALUE[0]!;
      if (at < 0 || lag < 0) return undefined; // a negative lag: the generated decoder's
      continue;
    }
    if (batchTag !== BATCH_RECORD) {
      at = skipField(bytes, at, end, BATCH_TAGS);
      if (at < 0) return undefined;
      continue;
    }
    at++;
    let b = bytes[at++]!;
    let size = b & 0x7f;
    if (b >= 0x80) {
      let scale = 128;
      do {
        b = bytes[at++]!;
        size += (b & 0x7f) * scale;
        scale *= 128;
      } while (b >= 0x80 && scale < PAST_TEN_BYTES);
      if (b >= 0x80) return undefined;
    }
    if (size > end - at) return undefined;
    const recordEnd = at + size;
    const recordStart = at;
    if (next + STRIDE > fields.length) {
      const grown = new Float64Array(Math.max(SLAB_NUMBERS, 2 * (next - base + STRIDE)));
      grown.set(fields.subarray(base, next));
      next -= base;
      base = 0;
      fields = grown;
      slab = grown;
      slabAt = 0;
    }
    let segment = -1;
    let entry = 0;
    let slot = 0;
    let txid = 0;
    let time = 0;
    let payload = at;
    let payloadEnd = at;
    let sequence = 0;
    let attempt = 0;
    while (at < recordEnd) {
      const tag = bytes[at]!;
      // Every field read here starts with a varint (its value, or a length); others are skipped.
      if (tag === 0 || tag >= 0x80 || ((tag & 7) !== 0 && tag !== RECORD_DLSN && tag !== RECORD_PAYLOAD)) {
        at = skipField(bytes, at, recordEnd, RECORD_TAGS);
        if (at < 0) return undefined;
        continue;
      }
      at++;
      b = bytes[at++]!;
      let value = b & 0x7f;
      if (b >= 0x80) {
        let scale = 128;
        do {
          b = bytes[at++]!;
          value += (b & 0x7f) * scale;
          scale *= 128;
        } while (b >= 0x80 && scale < PAST_TEN_BYTES);
        if (b >= 0x80) return undefined;
        if (value >= MAX_EXACT) value = -1;
      }
      if (at > recordEnd) return undefined;
      switch (tag) {
        case RECORD_DLSN: {
          if (value < 0 || value > recordEnd - at) return undefined;
          const dlsnEnd = at + value;
          // A second DLSN replaces the first, fields it lacks back to 0 (as the generated decoder does).
          segment = 0;
          entry = 0;
          slot = 0;
          while (at < dlsnEnd) {
            const field = bytes[at]!;
            if (field === 0 || field >= 0x80 || (field & 7) !== 0) {
              at = skipField(bytes, at, dlsnEnd, DLSN_TAGS);
              if (at < 0) return undefined;
              continue;
            }
            at++;
            b = bytes[at++]!;
            let number = b & 0x7f;
            if (b >= 0x80) {
              let scale = 128;
              do {
                b = bytes[at++]!;
                number += (b & 0x7f) * scale;
                scale *= 128;
              } while (b >= 0x80 && scale < PAST_TEN_BYTES);
              if (b >= 0x80) return undefined;
              if (number >= MAX_EXACT) number = -1;
            }
            if (at > dlsnEnd) return undefined;
            if (field === DLSN_SEGMENT) segment = number;
            else if (field === DLSN_ENTRY) entry = number;
            else if (field === DLSN_SLOT) slot = number;
          }
          break;
        }
        case RECORD_TXID:
          txid = value;
          break;
        case RECORD_TIME:
          time = value;
          break;
        case RECORD_PAYLOAD:
          if (value < 0 || value > recordEnd - at) return undefined;
          payload = at;
          at += value;
          payloadEnd = at;
          break;
        case RECORD_SEQUENCE:
          sequence = value;
          break;
        case RECORD_ATTEMPT:
          attempt = value < 2 ** 32 ? value : -1; // a uint32: the generated decoder's when larger
          break;
        // default: a varint field it does not know, skipped
      }
    }
    fields[next + PAYLOAD] = payload;
    fields[next + PAYLOAD_END] = payloadEnd;
    if (segment >= 0 && entry >= 0 && slot >= 0 && txid >= 0 && time >= 0 && sequence >= 0 && attempt >= 0) {
      fields[next + SEGMENT] = segment;
      fields[next + ENTRY] = entry;
      fields[next + SLOT] = slot;
      fields[next + TXID] = txid;
      fields[next + TIME] = time;
      fields[next + SEQUENCE] = sequence;
      fields[next + ATTEMPT] = attempt;
    } else {
      // A value outside 0..2^53-1, an attempt past 2^32, no DLSN: the generated decoder's Record.
      const object = WireRecord.decode(bytes.subarray(recordStart, recordEnd));
      objects ??= [];
      objects[count] = object;
      fields[next + SEGMENT] = -1;
      fields[next + ENTRY] = -1;
      fields[next + SLOT] = -1;
      fields[next + ATTEMPT] = object.attempt;
    }
    next += STRIDE;
    count++;
  }
  slabAt = next;
  return new RecordFrame(bytes, fields, base, count, objects, lag < SMALL.length ? SMALL[lag]! : BigInt(lag));
}
