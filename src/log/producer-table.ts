import { DlogError } from "../errors.js";
import type { ProducerSlotsKey, ProducerSlotsWrite, ProducerWrite } from "../storage/storage.js";
import type { AppendResult } from "./append-result.js";
import { type ProducerSlot, decodeProducerState, encodeProducerSlots, encodeProducerState } from "./producer-codec.js";

export interface ProducerLimits {
  /** Appends per producer remembered for deduplication (`--producer-window`). */
  window: number;
  /** Producers remembered per log; past it the least recently used is forgotten (`--max-producers-per-log`). */
  maxProducers: number;
}

/** An append that carries a producer id and seq, with the hash of its content. */
export interface ProducerAppend {
  producerId: string;
  seq: bigint;
  hash: Buffer;
}

/** What to do with a producer's append, decided before anything changes. */
export type DedupeDecision =
  | { kind: "new" }
  /** The same append is in the batch being written: answer with its result. */
  | { kind: "in-flight"; result: Promise<AppendResult> }
  /** The seq was written in an earlier batch: its slot (in storage) holds the answer. */
  | { kind: "written"; incarnation: bigint };

interface ProducerState {
  readonly id: string;
  readonly incarnation: bigint;
  /** Highest seq assigned: written, or in a batch being written. */
  lastSeq: bigint;
  /** Slots below this seq are deleted. */
  firstSlotSeq: bigint;
  lastSequenceId: bigint;
  /** Assigned and not yet written, by seq: a retry meanwhile gets the original's answer. */
  readonly inFlight: Map<bigint, { hash: Buffer; result: Promise<AppendResult> }>;
  /** Slots of consecutive seqs admitted since the last batch was taken: stored as one value. */
  pending: { firstSeq: bigint; slots: ProducerSlot[] } | undefined;
}

/** Storage work to do once a batch is written: slots that fell out of a window, evicted producers' slots. */
export interface SlotDeletion {
  key: ProducerSlotsKey;
  /** Delete the values with a first seq below this; all of them when undefined. */
  belowSeq?: bigint;
}

/**
 * The dedupe window of every idempotent producer of one log: which seq comes next,
 * which recent appends a retry may repeat. The in-memory part is small (a few numbers
 * per producer); the window's slots live in storage, written in the same batch as the
 * entries they describe (one value per producer per batch) and read back only when a
 * retry arrives. Slots that fell out of the window are deleted lazily, a window's worth at
 * a time, outside the batch: they are never consulted (the seq check comes first). Changes
 * since the last batch are collected here and taken by the group commit.
 */
export class ProducerTable {
  private readonly logId: number;
  private readonly limits: ProducerLimits;
  /** In least-recently-used order: the first is evicted first. */
  private readonly states = new Map<string, ProducerState>();
  private slotWrites: ProducerSlotsWrite[] = [];
  /** States to write (null: delete) with the next batch. */
  private stateWrites = new Map<string, ProducerState | null>();
  private deletions: SlotDeletion[] = [];

  constructor(logId: number, limits: ProducerLimits, stored: ReadonlyArray<{ producerId: string; value: Buffer }> = []) {
    this.logId = logId;
    this.limits = limits;
    const loaded = stored.map(({ producerId, value }) => ({ id: producerId, ...decodeProducerState(value), inFlight: new Map(), pending: undefined }));
    loaded.sort((a, b) => (a.lastSequenceId < b.lastSequenceId ? -1 : a.lastSequenceId > b.lastSequenceId ? 1 : 0));
    for (const state of loaded) this.states.set(state.id, state);
    // A lowered --max-producers-per-log applies at once; the deletions go with the next batch.
    while (this.states.size > limits.maxProducers) this.evictLeastRecent();
  }

  get size(): number {
    return this.states.size;
  }

  /** Decides how to treat the append; throws (changing nothing) when its seq is refused. */
  decide(append: ProducerAppend, log: string): DedupeDecision {
    const state = this.states.get(append.producerId);
    const expected = (state?.lastSeq ?? 0n) + 1n;
    const metadata = { log, producer_id: append.producerId, producer_seq: String(append.seq), expected_seq: String(expected) };
    if (append.seq === expected) return { kind: "new" };
    if (append.seq > expected) {
      const why = state
        ? `the producer's last append on this log was seq ${state.lastSeq}`
        : "the producer is not known on this log (new, or forgotten as least recently used: see --max-producers-per-log)";
      throw new DlogError(
        "FAILED_PRECONDITION",
        `producer "${append.producerId}" sent seq ${append.seq} to log "${log}", expected ${expected}: ${why}; nothing was written`,
        { reason: "PRODUCER_SEQUENCE_GAP", metadata },
      );
    }
    // append.seq < expected, so the producer is known.
    const known = state!;
    if (append.seq < known.firstSlotSeq || append.seq <= known.lastSeq - BigInt(this.limits.window)) {
      throw tooOld(append, log, known.lastSeq, this.limits.window, metadata);
    }
    const inFlight = known.inFlight.get(append.seq);
    if (inFlight) {
      if (!inFlight.hash.equals(append.hash)) throw reused(append, log, metadata);
      return { kind: "in-flight", result: inFlight.result };
    }
    return { kind: "written", incarnation: known.incarnation };
  }

  /**
   * Records a new append (decided "new", then assigned its DLSNs): the producer's next seq
   * moves on, and the slot and state go with the append's batch.
   */
  admit(append: ProducerAppend, assigned: AppendResult, result: Promise<AppendResult>): void {
    let state = this.states.get(append.producerId);
    if (state) {
      this.states.delete(append.producerId); // re-inserted below: now the most recently used
    } else {
      if (this.states.size >= this.limits.maxProducers) this.evictLeastRecent();
      // The first sequence id of its first append: unique in the log, so never an evicted one's.
      state = {
        id: append.producerId,
        incarnation: assigned.firstSequenceId,
        lastSeq: 0n,
        firstSlotSeq: 1n,
        lastSequenceId: 0n,
        inFlight: new Map(),
        pending: undefined,
      };
    }
    this.states.set(append.producerId, state);
    state.lastSeq = append.seq;
    state.lastSequenceId = assigned.firstSequenceId;
    const slot = { hash: append.hash, result };
    state.inFlight.set(append.seq, slot);
    const settled = (): void => {
      if (state.inFlight.get(append.seq) === slot) state.inFlight.delete(append.seq);
    };
    result.then(settled, settled);

    const window = BigInt(this.limits.window);
    // A stored value holds at most a window of slots, so deleting below `seq - 2 window + 2`
    // never touches a value that still holds a slot inside the window.
    if (!state.pending || BigInt(state.pending.slots.length) >= window) {
      if (state.pending) this.flushPending(state);
      state.pending = { firstSeq: append.seq, slots: [] };
    }
    state.pending.slots.push({
      hash: append.hash,
      segment: assigned.segment,
      entry: assigned.entry,
      slot: assigned.firstSlot,
      firstSequenceId: assigned.firstSequenceId,
      count: assigned.count,
      txids: assigned.txids,
    });
    const deleteBelow = append.seq - 2n * window + 2n;
    if (deleteBelow - state.firstSlotSeq >= window) {
      this.deletions.push({ key: this.keyOf(state), belowSeq: deleteBelow });
      state.firstSlotSeq = deleteBelow;
    }
    this.stateWrites.set(state.id, state);
  }

  /**
   * What the next batch writes for these producers (states, and their new slots as one value
   * each), and what to delete once it is written.
   */
  takeWrites(): { producers: ProducerWrite[]; producerSlots: ProducerSlotsWrite[]; deletions: SlotDeletion[] } {
    if (this.stateWrites.size === 0 && this.deletions.length === 0 && this.slotWrites.length === 0) {
      return { producers: [], producerSlots: [], deletions: [] };
    }
    const producers: ProducerWrite[] = [];
    for (const [producerId, state] of this.stateWrites) {
      if (state?.pending) this.flushPending(state);
      producers.push({ logId: this.logId, producerId, value: state ? encodeProducerState(state) : null });
    }
    const taken = { producers, producerSlots: this.slotWrites, deletions: this.deletions };
    this.stateWrites = new Map();
    this.slotWrites = [];
    this.deletions = [];
    return taken;
  }

  private flushPending(state: ProducerState): void {
    const pending = state.pending!;
    state.pending = undefined;
    this.slotWrites.push({ ...this.keyOf(state), firstSeq: pending.firstSeq, value: encodeProducerSlots(pending.slots) });
  }

  private keyOf(state: ProducerState): ProducerSlotsKey {
    return { logId: this.logId, producerId: state.id, incarnation: state.incarnation };
  }

  private evictLeastRecent(): void {
    const [id, state] = this.states.entries().next().value as [string, ProducerState];
    this.states.delete(id);
    // Its slots not yet taken still go with the batch (their appends are in it); all are deleted after.
    if (state.pending) this.flushPending(state);
    this.stateWrites.set(id, null);
    this.deletions.push({ key: this.keyOf(state) });
  }
}

export function reused(append: ProducerAppend, log: string, metadata: Record<string, string>): DlogError {
  return new DlogError(
    "FAILED_PRECONDITION",
    `producer "${append.producerId}" already used seq ${append.seq} on log "${log}" for other records; a retry must resend the same records (payloads and given txids); nothing was written`,
    { reason: "PRODUCER_SEQUENCE_REUSED", metadata },
  );
}

export function tooOld(append: ProducerAppend, log: string, lastSeq: bigint, window: number, metadata: Record<string, string>): DlogError {
  return new DlogError(
    "FAILED_PRECONDITION",
    `producer "${append.producerId}" sent seq ${append.seq} to log "${log}", older than the ${window} appends remembered after its last seq ${lastSeq} (--producer-window): whether it was written is no longer known; nothing was written`,
    { reason: "PRODUCER_SEQUENCE_TOO_OLD", metadata },
  );
}
