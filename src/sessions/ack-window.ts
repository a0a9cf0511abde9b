import type { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import { ACKED, INHERITED, type Resent, type Run } from "./ack-runs.js";
import { RedeliveryQueue } from "./redelivery-queue.js";

/**
 * A batch of records in increasing DLSN order, addressed by index (0 up to `length`), as the window
 * keeps what it admitted: it never needs an object per record, only these (EntryBatch is one).
 */
export interface RecordBatch {
  readonly length: number;
  /** Negative, zero or positive as the record at `index` sorts before, at or after `dlsn`. */
  compareAt(index: number, dlsn: DLSN): number;
  /** From `from` on: with `after`, the first index after `dlsn` (`length` when none); without, the index of `dlsn`, or -1. */
  search(dlsn: DLSN, after: boolean, from: number): number;
  dlsnAt(index: number): DLSN;
  sequenceIdAt(index: number): bigint;
  /** Payload bytes of the records `from` up to `to` (exclusive). */
  payloadBytes(from: number, to: number): number;
}

/** Index ranges [from, to) of an admitted batch to send, in order (inherited holes are left out). */
export type SendRanges = ReadonlyArray<readonly [from: number, to: number]>;

/** An acked DLSN above the floor: the persisted form of a hole. */
export interface AckedHole {
  readonly dlsn: DLSN;
  readonly sequenceId: bigint;
}

/** A record the caller must send again, with its raised attempt count. */
export interface Redelivery<B extends RecordBatch = RecordBatch> {
  /** The record is `batch`'s at `index`. */
  readonly batch: B;
  readonly index: number;
  readonly dlsn: DLSN;
  /** 1 = first delivery; every nack or ack-wait expiry adds one. */
  readonly attempt: number;
}

export interface AckWindowOptions {
  /** The acked floor the session resumes from: delivery starts strictly after it. */
  readonly floor: DLSN;
  /** Sequence id of the floor record; -1n when nothing precedes it. */
  readonly floorSequenceId: bigint;
  /** Acked DLSNs above the floor inherited from the durable position, sorted ascending. */
  readonly holes?: readonly AckedHole[];
  /** Past this many holes the session should stop sending new records. */
  readonly maxHoles: number;
  /**
   * Records with a sequence id up to this were possibly delivered before this session (kept with
   * the reader's position): their first delivery here counts as attempt 2. Default -1 (none).
   */
  readonly deliveredThrough?: bigint;
}

/** Slots per run at most, so that a (run, slot) pair packs into one number (`#key`). */
const RUN_MAX = 1 << 16;
// Compacting only past this many popped runs keeps the shift amortised O(1) per run.
const COMPACT_MIN_HEAD = 64;

/**
 * The ack state of one reader session: which delivered records are outstanding, which are
 * acked above the floor (holes), and the acked floor itself (SPEC §3 "Position").
 *
 * Pure and synchronous: no I/O, no timers; the caller passes the clock. Each admitted batch is
 * one run (the batch, one state byte per record) in an array of runs in DLSN order with a
 * moving head: an individual ack is two binary searches, a cumulative one a pass over state
 * bytes (none for a whole run), and the floor advances by popping acked slots off the head. The
 * window never asks for a record object: it addresses records by index into their batch, and a
 * record gets state of its own only when it is to be sent again (nack, ack-wait expiry).
 *
 * A run's batch (its payloads) stays until the floor passes the whole run: acked records of
 * a run with an unacked one are still held, at most the holes limit's worth beside the window.
 *
 * @example
 * const window = new AckWindow<EntryBatch>({ floor, floorSequenceId: -1n, holes: [], maxHoles: 10_000 });
 * send(batch, window.admit(batch, Date.now()));
 * window.ack([DLSN.parse("1/42/0")]); // floor moves once everything up to it is acked
 */
export class AckWindow<B extends RecordBatch = RecordBatch> {
  readonly #startFloor: DLSN;
  readonly #maxHoles: number;
  #floor: DLSN;
  #floorSequenceId: bigint;

  readonly #runs: Run<B>[] = [];
  #head = 0;
  /** Acked slots still in the window (all above the floor, since acked head slots are popped). */
  #ackedInWindow = 0;

  /** Inherited holes not yet reached by delivery, sorted; consumed from `#pendingHead`. */
  readonly #pending: AckedHole[];
  #pendingHead = 0;

  #high: DLSN | undefined;
  #highSequenceId: bigint | undefined;
  #outstandingRecords = 0;
  #outstandingBytes = 0;
  #version = 0;
  readonly #deliveredThrough: bigint;
  /** Records to send again (nacked or past the ack wait), oldest request first; each record once. */
  readonly #redeliveries = new RedeliveryQueue<B>();
  /** Reused between validation and apply so acks allocate nothing per call: packed (run, slot) keys. */
  readonly #scratch: number[] = [];

  constructor(options: AckWindowOptions) {
    if (!Number.isInteger(options.maxHoles) || options.maxHoles < 1) {
      throw new DlogError("INVALID_ARGUMENT", `maxHoles must be a positive integer, got ${options.maxHoles}`);
    }
    this.#startFloor = options.floor;
    this.#floor = options.floor;
    this.#floorSequenceId = options.floorSequenceId;
    this.#maxHoles = options.maxHoles;
    this.#deliveredThrough = options.deliveredThrough ?? -1n;
    this.#pending = [];
    let previous: DLSN = options.floor;
    for (const hole of options.holes ?? []) {
      // A stored hole at or below the floor is already covered by it.
      if (!hole.dlsn.isAfter(options.floor)) continue;
      if (!hole.dlsn.isAfter(previous)) {
        throw new Error(`inherited holes must be strictly increasing: ${hole.dlsn.toString()} after ${previous.toString()}`);
      }
      this.#pending.push({ dlsn: hole.dlsn, sequenceId: hole.sequenceId });
      previous = hole.dlsn;
    }
  }

  /** The first delivered record the floor has not passed: its batch and index in it (none when everything sent is acked). */
  get firstUnacked(): { batch: B; index: number } | undefined {
    const run = this.#runs[this.#head];
    if (run?.batch === undefined || run.head >= run.length) return undefined;
    return { batch: run.batch, index: run.head };
  }

  /** The acked floor: every delivered record up to it is acked. */
  get floor(): DLSN {
    return this.#floor;
  }

  get floorSequenceId(): bigint {
    return this.#floorSequenceId;
  }

  /** The floor this session started from; acks at or below it were not delivered in this session. */
  get startFloor(): DLSN {
    return this.#startFloor;
  }

  /** The highest record admitted so far (sent, or skipped as an inherited hole). */
  get deliveredHigh(): DLSN | undefined {
    return this.#high;
  }

  get deliveredHighSequenceId(): bigint | undefined {
    return this.#highSequenceId;
  }

  /** Delivered, unacked records. */
  get outstandingRecords(): number {
    return this.#outstandingRecords;
  }

  /** Payload bytes of delivered, unacked records (kept in memory for redelivery). */
  get outstandingBytes(): number {
    return this.#outstandingBytes;
  }

  /** Acked DLSNs above the floor, including inherited holes delivery has not reached yet. */
  get holeCount(): number {
    return this.#ackedInWindow + (this.#pending.length - this.#pendingHead);
  }

  /** True when the session should stop sending new records until the gap fills. */
  get holesFull(): boolean {
    return this.holeCount >= this.#maxHoles;
  }

  /** Increments whenever the floor or the holes change: a changed version means the position is dirty. */
  get version(): number {
    return this.#version;
  }

  /** All acked DLSNs above the floor, sorted: what gets persisted beside the floor. */
  holes(): AckedHole[] {
    const out: AckedHole[] = [];
    if (this.#ackedInWindow > 0) {
      for (let r = this.#head; r < this.#runs.length; r++) {
        const run = this.#runs[r]!;
        for (let slot = run.head; slot < run.state.length; slot++) {
          if ((run.state[slot]! & ACKED) === 0) continue;
          out.push({ dlsn: run.batch!.dlsnAt(slot), sequenceId: run.batch!.sequenceIdAt(slot) });
        }
      }
    }
    // Pending holes all sort after the delivered high, so appending keeps the order.
    for (let i = this.#pendingHead; i < this.#pending.length; i++) out.push(this.#pending[i]!);
    return out;
  }

  /** The attempt count of a record in the window (0 for an inherited hole), or undefined when absent. */
  attemptOf(dlsn: DLSN): number | undefined {
    const key = this.#find(dlsn);
    if (key < 0) return undefined;
    const run = this.#runs[Math.floor(key / RUN_MAX)]!;
    const slot = key % RUN_MAX;
    if ((run.state[slot]! & INHERITED) !== 0) return 0;
    return run.resent?.[slot]?.attempt ?? this.#firstAttempt(run, slot);
  }

  /**
   * Takes the next batch read from the log (increasing DLSN order, after everything admitted so
   * far) and returns the index ranges to send: inherited holes are recorded as acked and skipped.
   * The window keeps `batch` as given until the floor passes it: the caller must not change it.
   */
  admit(batch: B, nowMs: number): SendRanges {
    const length = batch.length;
    if (length === 0) return [];
    if (length > RUN_MAX) throw new Error(`a batch of ${length} records is more than the window takes at once (${RUN_MAX})`);
    const last = this.#high ?? this.#floor;
    if (batch.compareAt(0, last) <= 0) {
      // The reader feeds records in order; anything else would corrupt the window.
      throw new Error(`records must be admitted in increasing DLSN order: ${batch.dlsnAt(0).toString()} after ${last.toString()}`);
    }
    const state = new Uint8Array(length);
    let holesChanged = false;
    let inherited = 0;
    let inheritedBytes = 0;
    let ranges: Array<[number, number]> | undefined;
    if (this.#pendingHead < this.#pending.length) {
      // Each inherited hole up to the batch's last record is one of its records (acked, not sent) or
      // no record of the log any more (e.g. truncated): either way it is no longer pending.
      let sendFrom = 0;
      ranges = [];
      while (this.#pendingHead < this.#pending.length && batch.compareAt(length - 1, this.#pending[this.#pendingHead]!.dlsn) >= 0) {
        const index = batch.search(this.#pending[this.#pendingHead++]!.dlsn, false, 0);
        if (index < 0) {
          holesChanged = true;
          continue;
        }
        state[index] = ACKED | INHERITED;
        inherited++;
        inheritedBytes += batch.payloadBytes(index, index + 1);
        if (index > sendFrom) ranges.push([sendFrom, index]);
        sendFrom = index + 1;
      }
      if (sendFrom < length) ranges.push([sendFrom, length]);
    }
    this.#high = batch.dlsnAt(length - 1);
    this.#highSequenceId = batch.sequenceIdAt(length - 1);
    const sent = length - inherited;
    const bytes = batch.payloadBytes(0, length) - inheritedBytes;
    this.#runs.push({ batch, length, state, head: 0, unacked: sent, unackedBytes: bytes, deliveredAt: nowMs, resent: undefined });
    this.#ackedInWindow += inherited;
    this.#outstandingRecords += sent;
    this.#outstandingBytes += bytes;
    if (this.#pendingHead === this.#pending.length && this.#pendingHead > 0) {
      this.#pending.length = 0;
      this.#pendingHead = 0;
    }
    if (this.#advanceFloor() || holesChanged) this.#version++;
    return ranges ?? [[0, length]];
  }

  /**
   * Individual acks, any order, plus an optional cumulative `upTo` (see `ackUpTo`). All are
   * validated before any is applied: one DLSN that was not delivered in this session refuses the
   * whole call with `INVALID_ARGUMENT` naming it.
   *
   * @returns the number of records newly acked (duplicates count zero).
   */
  ack(dlsns: readonly DLSN[], upTo?: DLSN): number {
    const keys = this.#validate(dlsns, upTo);
    let newlyAcked = 0;
    for (const key of keys) {
      if (this.#ackSlot(this.#runs[Math.floor(key / RUN_MAX)]!, key % RUN_MAX)) newlyAcked++;
    }
    keys.length = 0;
    if (upTo !== undefined) newlyAcked += this.#ackThrough(upTo);
    if (newlyAcked > 0) {
      this.#advanceFloor();
      this.#version++;
    }
    return newlyAcked;
  }

  /** Refuses what `ack` would refuse, and applies nothing. */
  checkAck(dlsns: readonly DLSN[], upTo?: DLSN): void {
    this.#validate(dlsns, upTo).length = 0;
  }

  /** The window keys of `dlsns` still to ack; throws naming the first DLSN that was not delivered. */
  #validate(dlsns: readonly DLSN[], upTo: DLSN | undefined): number[] {
    // A cumulative bound past the highest delivered record is its only way to fail: checked first.
    if (upTo !== undefined && upTo.isAfter(this.#floor)) this.#checkDelivered(upTo);
    const keys = this.#scratch;
    keys.length = 0;
    for (const dlsn of dlsns) {
      if (!dlsn.isAfter(this.#startFloor)) {
        throw notDelivered(dlsn, `was not delivered in this session (the session started after ${this.#startFloor.toString()})`);
      }
      // Acked and popped already: a harmless repeat.
      if (!dlsn.isAfter(this.#floor)) continue;
      if (this.#high === undefined || dlsn.isAfter(this.#high)) {
        throw notDelivered(dlsn, `has not been delivered yet (highest delivered: ${this.#high?.toString() ?? "none"})`);
      }
      const key = this.#find(dlsn);
      if (key < 0) throw notDelivered(dlsn, "was not delivered in this session (no record has that DLSN)");
      keys.push(key);
    }
    return keys;
  }

  /**
   * Cumulative ack: every delivered record at or before `dlsn` becomes acked. At or below the
   * floor it is a no-op; past the highest delivered record it is refused, because the position
   * must never move past what was delivered.
   *
   * @returns the number of records newly acked.
   */
  ackUpTo(dlsn: DLSN): number {
    return this.ack([], dlsn);
  }

  #checkDelivered(dlsn: DLSN): void {
    if (this.#high === undefined || dlsn.isAfter(this.#high)) {
      throw notDelivered(
        dlsn,
        `has not been delivered yet (highest delivered: ${this.#high?.toString() ?? "none"}); a cumulative ack cannot move the position past it`,
      );
    }
  }

  /** Marks every slot at or before `dlsn` acked; the caller advances the floor. */
  #ackThrough(dlsn: DLSN): number {
    let newlyAcked = 0;
    for (let r = this.#head; r < this.#runs.length; r++) {
      const run = this.#runs[r]!;
      const length = run.length;
      // A run wholly at or before the bound needs no comparison per record.
      const end = run.batch!.compareAt(length - 1, dlsn) <= 0 ? length : run.batch!.search(dlsn, true, run.head);
      if (end === length && run.resent === undefined) {
        // All of it, none queued for redelivery: the counters move at once (the floor pops it next).
        newlyAcked += run.unacked;
        this.#outstandingRecords -= run.unacked;
        this.#outstandingBytes -= run.unackedBytes;
        this.#ackedInWindow += run.unacked;
        run.unacked = 0;
        run.unackedBytes = 0;
        run.state.fill(ACKED, run.head);
        continue;
      }
      for (let slot = run.head; slot < end; slot++) if (this.#ackSlot(run, slot)) newlyAcked++;
      if (end < length) break;
    }
    return newlyAcked;
  }

  /**
   * The client asks for these records again. Each must be outstanding (delivered, unacked);
   * otherwise the whole call is refused with `INVALID_ARGUMENT` naming the DLSN. The records join
   * the redelivery queue (`takeRedeliveries`) in DLSN order, each once however often it is named.
   *
   * @returns how many records joined the queue.
   */
  nack(dlsns: readonly DLSN[]): number {
    const keys = this.#scratch;
    keys.length = 0;
    for (const dlsn of dlsns) {
      const key = dlsn.isAfter(this.#floor) ? this.#find(dlsn) : -1;
      if (key < 0 || (this.#runs[Math.floor(key / RUN_MAX)]!.state[key % RUN_MAX]! & ACKED) !== 0) {
        keys.length = 0;
        throw notDelivered(dlsn, "cannot be nacked: it is not a delivered, unacked record of this session");
      }
      keys.push(key);
    }
    keys.sort((a, b) => a - b);
    let queued = 0;
    for (const key of keys) if (this.#redeliveries.push(this.#resent(this.#runs[Math.floor(key / RUN_MAX)]!, key % RUN_MAX))) queued++;
    keys.length = 0;
    return queued;
  }

  /**
   * Queues for redelivery the outstanding records delivered at least `ackWaitMs` ago (and not
   * queued already): the queue never holds more than the window.
   *
   * @returns how many records joined the queue.
   */
  expired(nowMs: number, ackWaitMs: number): number {
    if (this.#outstandingRecords === 0) return 0;
    const deadline = nowMs - ackWaitMs;
    let queued = 0;
    // Redeliveries reorder delivery times, so scan the whole window; it is bounded by flow control.
    for (let r = this.#head; r < this.#runs.length; r++) {
      const run = this.#runs[r]!;
      // A record sent again was sent after its run: a run not yet expired has no expired record.
      if (run.deliveredAt > deadline) continue;
      for (let slot = run.head; slot < run.state.length; slot++) {
        if ((run.state[slot]! & ACKED) !== 0) continue;
        const resent = run.resent?.[slot];
        if (resent === undefined) {
          if (this.#redeliveries.push(this.#resent(run, slot))) queued++;
        } else if (resent.deliveredAt <= deadline && this.#redeliveries.push(resent)) {
          queued++;
        }
      }
    }
    return queued;
  }

  /** Records waiting in the redelivery queue (acked ones among them are skipped when taken). */
  get redeliveriesQueued(): number {
    return this.#redeliveries.size;
  }

  /** Up to `max` records to send again now, each with attempt + 1 and a fresh delivery time (the ack wait starts again). */
  takeRedeliveries(max: number, nowMs: number): Redelivery<B>[] {
    return this.#redeliveries.take(max, nowMs);
  }

  /** Attempt of a record's first delivery in this session. */
  #firstAttempt(run: Run<B>, slot: number): number {
    return run.batch!.sequenceIdAt(slot) <= this.#deliveredThrough ? 2 : 1;
  }

  /** The redelivery state of an unacked slot, made the first time it is needed. */
  #resent(run: Run<B>, slot: number): Resent<B> {
    run.resent ??= new Array<Resent<B> | undefined>(run.state.length);
    let resent = run.resent[slot];
    if (resent === undefined) {
      resent = { run, slot, attempt: this.#firstAttempt(run, slot), deliveredAt: run.deliveredAt, queued: false };
      run.resent[slot] = resent;
    }
    return resent;
  }

  /** Marks one slot acked; false when it already was. */
  #ackSlot(run: Run<B>, slot: number): boolean {
    const state = run.state[slot]!;
    if ((state & ACKED) !== 0) return false;
    run.state[slot] = state | ACKED;
    if (run.resent?.[slot]?.queued) this.#redeliveries.dropStale();
    const bytes = run.batch!.payloadBytes(slot, slot + 1);
    run.unacked--;
    run.unackedBytes -= bytes;
    this.#outstandingRecords--;
    this.#outstandingBytes -= bytes;
    this.#ackedInWindow++;
    return true;
  }

  /** Pops acked slots off the head, and runs once all theirs are; the floor becomes the last slot popped. */
  #advanceFloor(): boolean {
    const runs = this.#runs;
    let r = this.#head;
    let popped = 0;
    let last: Run<B> | undefined;
    let lastSlot = 0;
    while (r < runs.length) {
      const run = runs[r]!;
      const state = run.state;
      let slot = run.unacked === 0 ? state.length : run.head;
      while (slot < state.length && (state[slot]! & ACKED) !== 0) slot++;
      if (slot > run.head) {
        popped += slot - run.head;
        last = run;
        lastSlot = slot - 1;
        run.head = slot;
      }
      if (slot < state.length) break;
      r++;
    }
    if (last === undefined) return false;
    this.#ackedInWindow -= popped;
    this.#floor = last.batch!.dlsnAt(lastSlot);
    this.#floorSequenceId = last.batch!.sequenceIdAt(lastSlot);
    // Popped whole: nothing reads a run below the head again, so its payloads can go now.
    for (let i = this.#head; i < r; i++) runs[i]!.batch = undefined;
    if (r === runs.length) {
      runs.length = 0;
      r = 0;
    } else if (r >= COMPACT_MIN_HEAD && r * 2 >= runs.length) {
      runs.splice(0, r);
      r = 0;
    }
    this.#head = r;
    return true;
  }

  /** The packed key (`run * RUN_MAX + slot`) of the slot with that DLSN in the live window, or -1. */
  #find(dlsn: DLSN): number {
    const runs = this.#runs;
    // The last run whose first record is at or before `dlsn`.
    let lo = this.#head;
    let hi = runs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (runs[mid]!.batch!.compareAt(0, dlsn) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return -1;
    const run = runs[found]!;
    const slot = run.batch!.search(dlsn, false, run.head);
    return slot < 0 ? -1 : found * RUN_MAX + slot;
  }
}

function notDelivered(dlsn: DLSN, why: string): DlogError {
  return new DlogError("INVALID_ARGUMENT", `DLSN ${dlsn.toString()} ${why}`, { reason: "DLSN_NOT_DELIVERED", metadata: { dlsn: dlsn.toString() } });
}
