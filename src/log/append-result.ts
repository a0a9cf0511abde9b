import { DLSN } from "../dlsn.js";

/** One record of an append: its payload, and its txid when the caller gives one (else the group commit assigns it). */
export interface RecordInput {
  payload: Uint8Array;
  txid?: bigint | undefined;
}

/**
 * What a written append is answered with. Its records took `count` consecutive slots of one entry,
 * from `firstSlot`: kept as that run, the DLSN objects built only if `dlsns` is read (the wire
 * answer is written from the run, append-response.ts), since an append of 1000 records would
 * otherwise make 1000 DLSNs that nothing but the encoder reads.
 */
export class AppendResult {
  readonly segment: bigint;
  readonly entry: bigint;
  readonly firstSlot: number;
  readonly count: number;
  /** One per record. */
  readonly txids: bigint[];
  readonly firstSequenceId: bigint;
  /** A retry of a producer's append that was written before: nothing new was written. */
  readonly duplicate: boolean;
  private list: DLSN[] | undefined;

  constructor(segment: bigint, entry: bigint, firstSlot: number, count: number, txids: bigint[], firstSequenceId: bigint, duplicate = false) {
    if (!Number.isInteger(firstSlot) || firstSlot < 0 || !Number.isInteger(count) || count < 1 || firstSlot + count > 0x80000000) {
      throw new RangeError(`an append's slots are 1 to 2^31 consecutive ones from a slot >= 0, not ${count} from ${firstSlot}`);
    }
    this.segment = segment;
    this.entry = entry;
    this.firstSlot = firstSlot;
    this.count = count;
    this.txids = txids;
    this.firstSequenceId = firstSequenceId;
    this.duplicate = duplicate;
  }

  /** One DLSN per record, in slot order. */
  get dlsns(): DLSN[] {
    if (this.list === undefined) {
      const list: DLSN[] = [];
      for (let i = 0; i < this.count; i++) list.push(new DLSN(this.segment, this.entry, slotNumber(this.firstSlot + i)));
      this.list = list;
    }
    return this.list;
  }

  /** The same answer for a retry of this append. */
  asDuplicate(): AppendResult {
    return new AppendResult(this.segment, this.entry, this.firstSlot, this.count, this.txids, this.firstSequenceId, true);
  }
}

/** Slot numbers of packed entries as bigints, made once: a single-record append would otherwise allocate one per record. */
const SLOT_NUMBERS: readonly bigint[] = Array.from({ length: 4096 }, (_, i) => BigInt(i));

function slotNumber(slot: number): bigint {
  return SLOT_NUMBERS[slot] ?? BigInt(slot);
}
