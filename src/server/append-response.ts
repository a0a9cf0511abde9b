import type { AppendResult } from "../log/log-store.js";
import { EncodedMessage } from "./record-frames.js";
import { bigVarintSize, varintSize, writeBigVarint, writeVarint } from "./protobuf-wire.js";

/**
 * `AppendResponse { dlsns, txids, request_id, duplicate }` of a written append, encoded byte for
 * byte as the generated encoder would (zero fields left out, txids packed), without building a wire
 * object per DLSN: an append's records are consecutive slots of one entry (AppendResult), so each
 * DLSN is the shared segment/entry prefix, written once and copied, and its slot. The response of a
 * 1000-record append was the largest part of its server time (ts-proto's fromPartial copy, then encode).
 */
export function encodeAppendResponse(result: AppendResult, requestId: bigint): EncodedMessage {
  const { count, firstSlot, txids } = result;
  // Upper bound: a DLSN message is at most 2 + 3 × 11 bytes, an int64 at most 10.
  const out = Buffer.allocUnsafe(count * 35 + 11 + txids.length * 10 + 11 + 2 + 11 + 2);
  const prefix = dlsnPrefix(result.segment, result.entry);
  let at = 0;
  // Slots are below 2^31 (AppendResult): number arithmetic. A DLSN message is its prefix and, unless the slot is 0, the slot field.
  for (let slot = firstSlot; slot < firstSlot + count; slot++) {
    out[at++] = 0x0a; // field 1 (dlsns), length-delimited
    out[at++] = prefix.length + (slot === 0 ? 0 : 1 + varintSize(slot)); // under 128: a prefix is at most 22 bytes
    // A byte loop: a prefix is a few bytes, shorter than a Buffer.copy call costs.
    for (let b = 0; b < prefix.length; b++) out[at++] = prefix[b]!;
    if (slot !== 0) {
      out[at++] = 0x18; // DLSN.slot
      at = writeVarint(out, at, slot);
    }
  }
  if (txids.length > 0) {
    let size = 0;
    let sized: bigint | undefined;
    let sizeOfSized = 0;
    for (let i = 0; i < txids.length; i++) {
      const txid = txids[i]!;
      if (txid !== sized) {
        sized = txid;
        sizeOfSized = bigVarintSize(txid);
      }
      size += sizeOfSized;
    }
    out[at++] = 0x12; // field 2 (txids), packed
    at = writeVarint(out, at, size);
    // Usually every txid of an append is the same (a time in ms, past 32 bits): encoded once, then copied.
    let last: bigint | undefined;
    let from = 0;
    let to = 0;
    for (let i = 0; i < txids.length; i++) {
      const txid = txids[i]!;
      if (txid === last) {
        for (let b = from; b < to; b++) out[at++] = out[b]!;
        continue;
      }
      last = txid;
      from = at;
      at = writeBigVarint(out, at, txid);
      to = at;
    }
  }
  if (requestId !== 0n) {
    out[at++] = 0x18; // field 3 (request_id)
    at = writeBigVarint(out, at, requestId);
  }
  if (result.duplicate === true) {
    out[at++] = 0x28; // field 5 (duplicate)
    out[at++] = 1;
  }
  return new EncodedMessage(out.subarray(0, at));
}

/** DLSN.segment and DLSN.entry, the fields an append's DLSNs share. */
function dlsnPrefix(segment: bigint, entry: bigint): Buffer {
  const out = Buffer.allocUnsafe(22);
  let at = 0;
  if (segment !== 0n) {
    out[at++] = 0x08;
    at = writeBigVarint(out, at, segment);
  }
  if (entry !== 0n) {
    out[at++] = 0x10;
    at = writeBigVarint(out, at, entry);
  }
  return out.subarray(0, at);
}
