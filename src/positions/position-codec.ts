import { DLSN } from "../dlsn.js";
import type { StoredPosition } from "../storage/storage.js";

/** A reader's durable state: the acked floor (stored as DistributedLog's 25 bytes) and what goes beside it. */
export interface ReaderPosition {
  floor: DLSN;
  /** Sequence id of the floor record (-1 when nothing precedes it): lag and skip counts come from it. */
  floorSequenceId: bigint;
  /** Acked DLSNs above the floor, sorted. */
  holes: Array<{ dlsn: DLSN; sequenceId: bigint }>;
  /** Sessions opened on this reader so far. */
  epoch: bigint;
  updatedTimeMs: number;
}

/** Extra: u8 version | i64 floor sequence id | u64 epoch | i64 updated ms | u32 holes | holes × (3 × i64 DLSN, i64 sequence id). */
const EXTRA_VERSION = 1;
const EXTRA_HEADER = 1 + 8 + 8 + 8 + 4;
const HOLE_BYTES = 32;

export function encodePosition(position: ReaderPosition): StoredPosition {
  const extra = Buffer.allocUnsafe(EXTRA_HEADER + position.holes.length * HOLE_BYTES);
  extra[0] = EXTRA_VERSION;
  extra.writeBigInt64BE(position.floorSequenceId, 1);
  extra.writeBigUInt64BE(position.epoch, 9);
  extra.writeBigInt64BE(BigInt(position.updatedTimeMs), 17);
  extra.writeUInt32BE(position.holes.length, 25);
  let at = EXTRA_HEADER;
  for (const hole of position.holes) {
    extra.writeBigInt64BE(hole.dlsn.segment, at);
    extra.writeBigInt64BE(hole.dlsn.entry, at + 8);
    extra.writeBigInt64BE(hole.dlsn.slot, at + 16);
    extra.writeBigInt64BE(hole.sequenceId, at + 24);
    at += HOLE_BYTES;
  }
  return { floor: position.floor.serializeBytes(), extra };
}

export function decodePosition(stored: StoredPosition): ReaderPosition {
  const floor = DLSN.deserializeBytes(stored.floor);
  const extra = stored.extra;
  if (extra.length < EXTRA_HEADER || extra[0] !== EXTRA_VERSION) {
    // Only the 25-byte floor (e.g. written by hand, as the tutorial did): resume after it, nothing else known.
    return { floor, floorSequenceId: -1n, holes: [], epoch: 0n, updatedTimeMs: 0 };
  }
  const count = extra.readUInt32BE(25);
  const holes: ReaderPosition["holes"] = [];
  let at = EXTRA_HEADER;
  for (let i = 0; i < count; i++) {
    holes.push({
      dlsn: new DLSN(extra.readBigInt64BE(at), extra.readBigInt64BE(at + 8), extra.readBigInt64BE(at + 16)),
      sequenceId: extra.readBigInt64BE(at + 24),
    });
    at += HOLE_BYTES;
  }
  return {
    floor,
    floorSequenceId: extra.readBigInt64BE(1),
    holes,
    epoch: extra.readBigUInt64BE(9),
    updatedTimeMs: Number(extra.readBigInt64BE(17)),
  };
}
