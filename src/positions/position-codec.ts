import { DLSN } from "../dlsn.js";
import type { StoredPosition } from "../storage/storage.js";

/** A reader's durable state: the acked floor (stored as DistributedLog's 25 bytes) and what goes beside it. */
export interface ReaderPosition {
  floor: DLSN;
  /** Sequence id of the floor record (-1 when nothing precedes it): lag and skip counts come from it. */
  floorSequenceId: bigint;
  /** Acked DLSNs above the floor, sorted. */
  holes: Array<{ dlsn: DLSN; sequenceId: bigint }>;
  /** Sessions opened on this reader so far: the epoch of the latest one. */
  epoch: bigint;
  updatedTimeMs: number;
  /** The highest record delivered to this reader so far (as of this write); undefined when none. */
  deliveredHigh: DLSN | undefined;
  /**
   * Every record with a sequence id up to this may have been delivered already, so it comes again
   * with attempt >= 2; -1 when none. At least the sequence id of `deliveredHigh`; while a session
   * is live it runs ahead of what was sent (the session's delivery reservation, see `Session`),
   * so that a crash can never replay a delivered record as a first delivery.
   */
  deliveredThrough: bigint;
}

/** The position of a reader that was never delivered anything, just after `floor`. */
export function freshPosition(floor: DLSN, floorSequenceId: bigint, epoch: bigint): ReaderPosition {
  return { floor, floorSequenceId, holes: [], epoch, updatedTimeMs: Date.now(), deliveredHigh: undefined, deliveredThrough: -1n };
}

/**
 * The extra value beside the 25-byte floor (the floor itself stays exactly what the tutorial stored).
 * v1: u8 version | i64 floor sequence id | u64 epoch | i64 updated ms | u32 holes | holes × (3 × i64 DLSN, i64 sequence id).
 * v2: v1's header | u8 has delivered high | 3 × i64 delivered high | i64 delivered through | holes as in v1.
 */
const V1 = 1;
const V2 = 2;
const V1_HEADER = 1 + 8 + 8 + 8 + 4;
const V2_HEADER = V1_HEADER + 1 + 24 + 8;
const HOLE_BYTES = 32;

export function encodePosition(position: ReaderPosition): StoredPosition {
  const extra = Buffer.allocUnsafe(V2_HEADER + position.holes.length * HOLE_BYTES);
  extra[0] = V2;
  extra.writeBigInt64BE(position.floorSequenceId, 1);
  extra.writeBigUInt64BE(position.epoch, 9);
  extra.writeBigInt64BE(BigInt(position.updatedTimeMs), 17);
  extra.writeUInt32BE(position.holes.length, 25);
  const high = position.deliveredHigh ?? DLSN.INVALID;
  extra[V1_HEADER] = position.deliveredHigh ? 1 : 0;
  writeDlsn(extra, V1_HEADER + 1, high);
  extra.writeBigInt64BE(position.deliveredThrough, V1_HEADER + 25);
  let at = V2_HEADER;
  for (const hole of position.holes) {
    writeDlsn(extra, at, hole.dlsn);
    extra.writeBigInt64BE(hole.sequenceId, at + 24);
    at += HOLE_BYTES;
  }
  return { floor: position.floor.serializeBytes(), extra };
}

export function decodePosition(stored: StoredPosition): ReaderPosition {
  const floor = DLSN.deserializeBytes(stored.floor);
  const extra = stored.extra;
  const version = extra[0];
  const header = version === V1 ? V1_HEADER : V2_HEADER;
  if ((version !== V1 && version !== V2) || extra.length < header) {
    // Only the 25-byte floor (e.g. written by hand, as the tutorial did): resume after it, nothing else known.
    return { floor, floorSequenceId: -1n, holes: [], epoch: 0n, updatedTimeMs: 0, deliveredHigh: undefined, deliveredThrough: -1n };
  }
  const count = extra.readUInt32BE(25);
  const holes: ReaderPosition["holes"] = [];
  let at = header;
  for (let i = 0; i < count; i++) {
    holes.push({ dlsn: readDlsn(extra, at), sequenceId: extra.readBigInt64BE(at + 24) });
    at += HOLE_BYTES;
  }
  const v2 = version === V2;
  return {
    floor,
    floorSequenceId: extra.readBigInt64BE(1),
    holes,
    epoch: extra.readBigUInt64BE(9),
    updatedTimeMs: Number(extra.readBigInt64BE(17)),
    deliveredHigh: v2 && extra[V1_HEADER] === 1 ? readDlsn(extra, V1_HEADER + 1) : undefined,
    deliveredThrough: v2 ? extra.readBigInt64BE(V1_HEADER + 25) : -1n,
  };
}

function writeDlsn(out: Buffer, at: number, dlsn: DLSN): void {
  out.writeBigInt64BE(dlsn.segment, at);
  out.writeBigInt64BE(dlsn.entry, at + 8);
  out.writeBigInt64BE(dlsn.slot, at + 16);
}

function readDlsn(from: Buffer, at: number): DLSN {
  return new DLSN(from.readBigInt64BE(at), from.readBigInt64BE(at + 8), from.readBigInt64BE(at + 16));
}
