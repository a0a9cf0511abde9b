import { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";

/**
 * One stored entry holds the records of one or more appends to a log, group-committed together (group-commit.ts):
 *   u8 version | i64 append time ms | i64 first sequence id | u32 count |
 *   count × (i64 txid | u32 payload length | payload)
 * Records of an entry share its append time; slot i is the i-th record.
 */
const VERSION = 1;
const HEADER_BYTES = 1 + 8 + 8 + 4;
const RECORD_HEADER_BYTES = 8 + 4;

export interface EntryRecordInput {
  payload: Uint8Array;
  txid: bigint;
}

export interface DecodedRecord {
  dlsn: DLSN;
  txid: bigint;
  appendTimeMs: number;
  sequenceId: bigint;
  /** A view into the stored value: no copy. */
  payload: Buffer;
}

/**
 * The records of one stored entry, decoded together. When the entry is `shared` (kept for every
 * reader of the log, see entry-cache.ts), the wire layer keeps its records encoded here once, so
 * each session that sends them copies bytes instead of encoding every record again.
 */
export interface EntryRecords {
  readonly records: readonly DecodedRecord[];
  readonly shared: boolean;
  /** The records' wire bytes back to back, record i at `offsets[i]` up to `offsets[i + 1]`. */
  encoded: { readonly bytes: Buffer; readonly offsets: Uint32Array } | undefined;
}

/**
 * Records `from` up to `to` (exclusive) of one decoded entry: what a read took from it. A read
 * says so beside its records instead of each record naming its entry, so that a record kept
 * for redelivery keeps only its own payload's entry bytes alive, not its entry's other records.
 */
export interface EntryRun {
  readonly entry: EntryRecords;
  readonly from: number;
  readonly to: number;
}

export function encodeEntry(records: readonly EntryRecordInput[], appendTimeMs: number, firstSequenceId: bigint): Buffer {
  let size = HEADER_BYTES;
  for (const record of records) size += RECORD_HEADER_BYTES + record.payload.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = VERSION;
  out.writeBigInt64BE(BigInt(appendTimeMs), 1);
  out.writeBigInt64BE(firstSequenceId, 9);
  out.writeUInt32BE(records.length, 17);
  let at = HEADER_BYTES;
  for (const record of records) {
    out.writeBigInt64BE(record.txid, at);
    out.writeUInt32BE(record.payload.length, at + 8);
    out.set(record.payload, at + RECORD_HEADER_BYTES);
    at += RECORD_HEADER_BYTES + record.payload.length;
  }
  return out;
}

/** Number of records in an encoded entry, without decoding them. */
export function entryRecordCount(value: Buffer): number {
  return value.readUInt32BE(17);
}

/**
 * Appends the records of one entry with slot >= `fromSlot` to `out`, stopping
 * once `out` holds `maxRecords` or the payloads taken reach `maxBytes` (at
 * least one record is taken). Returns the slot after the last one taken
 * (the count when the entry was used up).
 */
export function decodeEntryInto(
  out: DecodedRecord[],
  segment: bigint,
  entry: bigint,
  value: Buffer,
  fromSlot: number,
  maxRecords: number,
  maxBytes = Number.POSITIVE_INFINITY,
): number {
  if (value[0] !== VERSION) {
    throw new DlogError("INTERNAL", `entry ${segment}/${entry} has unknown format version ${value[0]}`);
  }
  const appendTimeMs = Number(value.readBigInt64BE(1));
  const firstSequenceId = value.readBigInt64BE(9);
  const count = value.readUInt32BE(17);
  let at = HEADER_BYTES;
  let slot = 0;
  let taken = 0;
  // Records of one append mostly share their txid: one bigint for a run of equal ones.
  let txid = 0n;
  let txidHigh = -1;
  let txidLow = -1;
  for (; slot < count; slot++) {
    const length = value.readUInt32BE(at + 8);
    if (slot >= fromSlot) {
      if (out.length >= maxRecords || taken >= maxBytes) return slot;
      taken += length;
      const slotId = slotBigint(slot);
      const high = value.readUInt32BE(at);
      const low = value.readUInt32BE(at + 4);
      if (high !== txidHigh || low !== txidLow) {
        txid = value.readBigInt64BE(at);
        txidHigh = high;
        txidLow = low;
      }
      out.push({
        dlsn: new DLSN(segment, entry, slotId),
        txid,
        appendTimeMs,
        sequenceId: firstSequenceId + slotId,
        payload: value.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length),
      });
    }
    at += RECORD_HEADER_BYTES + length;
  }
  return slot;
}

/** Slot numbers as bigints, made once: every decoded record needs one. */
const SLOT_BIGINTS: bigint[] = [];
const SLOT_BIGINTS_MAX = 4096;

function slotBigint(slot: number): bigint {
  if (slot >= SLOT_BIGINTS_MAX) return BigInt(slot);
  for (let i = SLOT_BIGINTS.length; i <= slot; i++) SLOT_BIGINTS.push(BigInt(i));
  return SLOT_BIGINTS[slot]!;
}
