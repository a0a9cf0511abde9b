import type { DLSN } from "../dlsn.js";
import type { AppendResult } from "../log/log-store.js";
import { EncodedMessage } from "./record-frames.js";
import { bigVarintSize, varintSize, writeBigVarint, writeVarint } from "./varint.js";

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
  // Where in `out` the segment and entry of the DLSN before were written: the next of the same entry copies them.
  let prefixFrom = 0;
  let prefixTo = 0;
  let prefixOf: DLSN | undefined;
  for (let i = 0; i < dlsns.length; i++) {
    const dlsn = dlsns[i]!;
    // A slot below 2^31 (always, for an entry of an append) is written with number arithmetic.
    const slotNumber = Number(dlsn.slot);
    const smallSlot = slotNumber >= 0 && slotNumber <= 0x7fffffff;
    const slotBytes = slotNumber === 0 ? 0 : 1 + (smallSlot ? varintSize(slotNumber) : bigVarintSize(dlsn.slot));
    out[at++] = 0x0a; // field 1 (dlsns), length-delimited
    if (prefixOf === undefined || dlsn.segment !== prefixOf.segment || dlsn.entry !== prefixOf.entry) {
      const prefix = dlsnPrefix(dlsn);
      prefixOf = dlsn;
      at = writeVarint(out, at, prefix.length + slotBytes);
      prefixFrom = at;
      at += prefix.copy(out, at);
      prefixTo = at;
    } else {
      at = writeVarint(out, at, prefixTo - prefixFrom + slotBytes);
      // A byte loop: a prefix is a few bytes, shorter than a Buffer.copy call costs.
      for (let b = prefixFrom; b < prefixTo; b++) out[at++] = out[b]!;
    }
    if (slotBytes > 0) {
      out[at++] = 0x18; // DLSN.slot
      at = smallSlot ? writeVarint(out, at, slotNumber) : writeBigVarint(out, at, dlsn.slot);
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
