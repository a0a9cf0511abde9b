import { createHash } from "node:crypto";
import { DlogError } from "../errors.js";

/**
 * Stored forms of idempotent-producer state (see producer-table.ts):
 *   state: u8 version | i64 incarnation | i64 last seq | i64 first slot seq | i64 last sequence id
 *   slot:  u8 version | 16 B content hash | i64 segment | i64 entry | i64 first sequence id |
 *          u32 record count | u32 txid count (1 when all records share one) | txid count × i64
 */
const VERSION = 1;
const STATE_BYTES = 1 + 8 * 4;
const SLOT_HEADER_BYTES = 1 + 16 + 8 * 3 + 4 + 4;
const HASH_BYTES = 16;

export interface ProducerStateValue {
  /** Tells this state apart from an earlier, evicted one of the same producer id. */
  incarnation: bigint;
  /** Highest seq written. */
  lastSeq: bigint;
  /** Lowest seq whose slot is stored. */
  firstSlotSeq: bigint;
  /** Sequence id of the producer's latest append: its recency, for least-recently-used eviction. */
  lastSequenceId: bigint;
}

/** What a retry of a written append is answered with. */
export interface ProducerSlot {
  hash: Buffer;
  segment: bigint;
  entry: bigint;
  firstSequenceId: bigint;
  count: number;
  txids: bigint[];
}

/** The content an append is recognised by: its payloads and the txids the client gave (not those the server chose). */
export function appendHash(records: ReadonlyArray<{ payload: Uint8Array; txid?: bigint | undefined }>): Buffer {
  const hash = createHash("sha256");
  const header = Buffer.allocUnsafe(13);
  header.writeUInt32BE(records.length, 0);
  hash.update(header.subarray(0, 4));
  for (const record of records) {
    header.writeUInt32BE(record.payload.length, 0);
    header[4] = record.txid === undefined ? 0 : 1;
    header.writeBigInt64BE(record.txid ?? 0n, 5);
    hash.update(header);
    hash.update(record.payload);
  }
  return hash.digest().subarray(0, HASH_BYTES);
}

export function encodeProducerState(state: ProducerStateValue): Buffer {
  const out = Buffer.allocUnsafe(STATE_BYTES);
  out[0] = VERSION;
  out.writeBigInt64BE(state.incarnation, 1);
  out.writeBigInt64BE(state.lastSeq, 9);
  out.writeBigInt64BE(state.firstSlotSeq, 17);
  out.writeBigInt64BE(state.lastSequenceId, 25);
  return out;
}

export function decodeProducerState(value: Buffer): ProducerStateValue {
  checkVersion(value, "producer state");
  return {
    incarnation: value.readBigInt64BE(1),
    lastSeq: value.readBigInt64BE(9),
    firstSlotSeq: value.readBigInt64BE(17),
    lastSequenceId: value.readBigInt64BE(25),
  };
}

export function encodeProducerSlot(slot: ProducerSlot): Buffer {
  // Usually every record of an append shares one txid: then one is stored.
  const txids = slot.txids.every((txid) => txid === slot.txids[0]) ? slot.txids.slice(0, 1) : slot.txids;
  const out = Buffer.allocUnsafe(SLOT_HEADER_BYTES + 8 * txids.length);
  out[0] = VERSION;
  slot.hash.copy(out, 1, 0, HASH_BYTES);
  out.writeBigInt64BE(slot.segment, 17);
  out.writeBigInt64BE(slot.entry, 25);
  out.writeBigInt64BE(slot.firstSequenceId, 33);
  out.writeUInt32BE(slot.count, 41);
  out.writeUInt32BE(txids.length, 45);
  for (let i = 0; i < txids.length; i++) out.writeBigInt64BE(txids[i]!, SLOT_HEADER_BYTES + 8 * i);
  return out;
}

export function decodeProducerSlot(value: Buffer): ProducerSlot {
  checkVersion(value, "producer slot");
  const count = value.readUInt32BE(41);
  const stored = value.readUInt32BE(45);
  const txids: bigint[] = new Array(count);
  for (let i = 0; i < count; i++) txids[i] = value.readBigInt64BE(SLOT_HEADER_BYTES + 8 * (stored === 1 ? 0 : i));
  return {
    hash: value.subarray(1, 1 + HASH_BYTES),
    segment: value.readBigInt64BE(17),
    entry: value.readBigInt64BE(25),
    firstSequenceId: value.readBigInt64BE(33),
    count,
    txids,
  };
}

function checkVersion(value: Buffer, what: string): void {
  if (value[0] !== VERSION) throw new DlogError("INTERNAL", `stored ${what} has unknown format version ${value[0]}`);
}
