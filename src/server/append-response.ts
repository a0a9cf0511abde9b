import type { DLSN } from "../dlsn.js";
import type { AppendResult } from "../log/log-store.js";
import { EncodedMessage } from "./record-frames.js";
import { bigVarintSize, writeBigVarint, writeVarint } from "./varint.js";

/**
 * `AppendResponse { dlsns, txids, request_id, duplicate }` of a written append, encoded byte for
 * byte as the generated encoder would (zero fields left out, txids packed), without building a wire
 * object per DLSN: an append's records share a segment and an entry, so each DLSN after the first
 * costs a copy of that shared prefix and its slot. The response of a 1000-record append was the
 * largest part of its server time (ts-proto's fromPartial copy, then encode).
 */
export function encodeAppendResponse(result: AppendResult, requestId: bigint): EncodedMessage {
  const { dlsns, txids } = result;
  // Upper bound: a DLSN message is at most 2 + 3 × 11 bytes, an int64 at most 10.
  const out = Buffer.allocUnsafe(dlsns.length * 35 + 11 + txids.length * 10 + 11 + 2 + 11 + 2);
  let at = 0;
  let prefix: Buffer | undefined;
  let prefixOf: DLSN | undefined;
  for (const dlsn of dlsns) {
    if (prefixOf === undefined || dlsn.segment !== prefixOf.segment || dlsn.entry !== prefixOf.entry) {
      prefix = dlsnPrefix(dlsn);
      prefixOf = dlsn;
    }
    const slotBytes = dlsn.slot === 0n ? 0 : 1 + bigVarintSize(dlsn.slot);
    out[at++] = 0x0a; // field 1 (dlsns), length-delimited
    at = writeVarint(out, at, prefix!.length + slotBytes);
    at += prefix!.copy(out, at);
    if (slotBytes > 0) {
      out[at++] = 0x18; // DLSN.slot
      at = writeBigVarint(out, at, dlsn.slot);
    }
  }
  if (txids.length > 0) {
    let size = 0;
    let sized: bigint | undefined;
    let sizeOfSized = 0;
    for (const txid of txids) {
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
    for (const txid of txids) {
      if (txid === last) {
        out.copyWithin(at, from, to);
        at += to - from;
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
function dlsnPrefix(dlsn: DLSN): Buffer {
  const out = Buffer.allocUnsafe(22);
  let at = 0;
  if (dlsn.segment !== 0n) {
    out[at++] = 0x08;
    at = writeBigVarint(out, at, dlsn.segment);
  }
  if (dlsn.entry !== 0n) {
    out[at++] = 0x10;
    at = writeBigVarint(out, at, dlsn.entry);
  }
  return out.subarray(0, at);
}
