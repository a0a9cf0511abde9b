import { hash } from "node:crypto";
import { DlogError } from "../errors.js";

/**
 * Stored forms of idempotent-producer state (see producer-table.ts):
 *   state: u8 version 1 | i64 incarnation | i64 last seq | i64 first slot seq | i64 last sequence id
 *   slots: u8 version 3 | u32 slot count | slot count × slot, for consecutive seqs, where
 *   slot:  16 B content hash | i64 segment | i64 entry | i64 first sequence id |
 *          u32 record count | u32 txid count (1 when all records share one) | u32 first slot | txid count × i64
 * Version 2 (still read) lacks the first slot: it is 0 (every append had an entry of its own).
 */
const STATE_VERSION = 1;
const SLOTS_VERSION = 3;
const SLOTS_VERSION_UNPACKED = 2;
const STATE_BYTES = 1 + 8 * 4;
const SLOTS_HEADER_BYTES = 1 + 4;
const SLOT_HEADER_BYTES = 16 + 8 * 3 + 4 + 4 + 4;
const SLOT_HEADER_BYTES_UNPACKED = 16 + 8 * 3 + 4 + 4;
const HASH_BYTES = 16;

export interface ProducerStateValue {
  /** Tells this state apart from an earlier, evicted one of the same producer id. */
  incarnation: bigint;
  /** Highest seq written. */
  lastSeq: bigint;
  /** Slots of seqs below this are deleted (those at or above it may still be stored, in or out of the window). */
  firstSlotSeq: bigint;
  /** Sequence id of the producer's latest append: its recency, for least-recently-used eviction. */
  lastSequenceId: bigint;
}

/** What a retry of a written append is answered with. */
export interface ProducerSlot {
  hash: Buffer;
  segment: bigint;
  entry: bigint;
  /** Slot of the append's first record in its entry (appends may share an entry). */
  slot: number;
  firstSequenceId: bigint;
  count: number;
  txids: bigint[];
}

/**
 * The content an append is recognised by: its payloads and the txids the client gave (not those
 * the server chose). The hashed bytes are `u32 record count`, then per record `u32 payload length |
 * u8 txid given | i64 txid (0 when not given) | payload`; stored slots hold this hash, so the bytes
 * never change.
 */
export function appendHash(records: ReadonlyArray<{ payload: Uint8Array; txid?: bigint | undefined }>): Buffer {
  // One buffer and a one-shot hash: about twice as fast as a streaming hash for small appends.
  let size = 4;
  for (let i = 0; i < records.length; i++) size += RECORD_HASH_HEADER_BYTES + records[i]!.payload.length;
  const input = Buffer.allocUnsafe(size);
  writeUint32(input, 0, records.length);
  let at = 4;
  for (let i = 0; i < records.length; i++) {
    const { payload, txid } = records[i]!;
    // Byte stores, not Buffer's write methods: this runs once per record of every idempotent append.
    writeUint32(input, at, payload.length);
    if (txid === undefined) {
      for (let b = at + 4; b < at + RECORD_HASH_HEADER_BYTES; b++) input[b] = 0;
    } else {
      input[at + 4] = 1;
      input.writeBigInt64BE(txid, at + 5);
    }
    input.set(payload, at + RECORD_HASH_HEADER_BYTES);
    at += RECORD_HASH_HEADER_BYTES + payload.length;
  }
  return hash("sha256", input, "buffer").subarray(0, HASH_BYTES);
}

function writeUint32(out: Buffer, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

const RECORD_HASH_HEADER_BYTES = 4 + 1 + 8;

export function encodeProducerState(state: ProducerStateValue): Buffer {
  const out = Buffer.allocUnsafe(STATE_BYTES);
  out[0] = STATE_VERSION;
  out.writeBigInt64BE(state.incarnation, 1);
  out.writeBigInt64BE(state.lastSeq, 9);
  out.writeBigInt64BE(state.firstSlotSeq, 17);
  out.writeBigInt64BE(state.lastSequenceId, 25);
  return out;
}

export function decodeProducerState(value: Buffer): ProducerStateValue {
  if (value[0] !== STATE_VERSION) throw new DlogError("INTERNAL", `stored producer state has unknown format version ${value[0]}`);
  return {
    incarnation: value.readBigInt64BE(1),
    lastSeq: value.readBigInt64BE(9),
    firstSlotSeq: value.readBigInt64BE(17),
    lastSequenceId: value.readBigInt64BE(25),
  };
}

/** The slots of consecutive seqs, as one stored value. */
export function encodeProducerSlots(slots: readonly ProducerSlot[]): Buffer {
  const txidsOf = slots.map((slot) => (allSame(slot.txids) ? slot.txids.slice(0, 1) : slot.txids));
  let size = SLOTS_HEADER_BYTES;
  for (const txids of txidsOf) size += SLOT_HEADER_BYTES + 8 * txids.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = SLOTS_VERSION;
  out.writeUInt32BE(slots.length, 1);
  let at = SLOTS_HEADER_BYTES;
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    // Usually every record of an append shares one txid: then one is stored.
    const txids = txidsOf[i]!;
    slot.hash.copy(out, at, 0, HASH_BYTES);
    out.writeBigInt64BE(slot.segment, at + 16);
    out.writeBigInt64BE(slot.entry, at + 24);
    out.writeBigInt64BE(slot.firstSequenceId, at + 32);
    out.writeUInt32BE(slot.count, at + 40);
    out.writeUInt32BE(txids.length, at + 44);
    out.writeUInt32BE(slot.slot, at + 48);
    for (let t = 0; t < txids.length; t++) out.writeBigInt64BE(txids[t]!, at + SLOT_HEADER_BYTES + 8 * t);
    at += SLOT_HEADER_BYTES + 8 * txids.length;
  }
  return out;
}

function allSame(txids: readonly bigint[]): boolean {
  for (let i = 1; i < txids.length; i++) if (txids[i] !== txids[0]) return false;
  return true;
}

/** Slot `index` of a stored slots value; undefined when it holds fewer (or is of another format). */
export function decodeProducerSlot(value: Buffer, index: number): ProducerSlot | undefined {
  const version = value[0];
  if ((version !== SLOTS_VERSION && version !== SLOTS_VERSION_UNPACKED) || index < 0 || index >= value.readUInt32BE(1)) return undefined;
  const header = version === SLOTS_VERSION ? SLOT_HEADER_BYTES : SLOT_HEADER_BYTES_UNPACKED;
  let at = SLOTS_HEADER_BYTES;
  for (let i = 0; i < index; i++) at += header + 8 * value.readUInt32BE(at + 44);
  const count = value.readUInt32BE(at + 40);
  const stored = value.readUInt32BE(at + 44);
  const txids: bigint[] = new Array(count);
  for (let i = 0; i < count; i++) txids[i] = value.readBigInt64BE(at + header + 8 * (stored === 1 ? 0 : i));
  return {
    hash: value.subarray(at, at + HASH_BYTES),
    segment: value.readBigInt64BE(at + 16),
    entry: value.readBigInt64BE(at + 24),
    slot: version === SLOTS_VERSION ? value.readUInt32BE(at + 48) : 0,
    firstSequenceId: value.readBigInt64BE(at + 32),
    count,
    txids,
  };
}
