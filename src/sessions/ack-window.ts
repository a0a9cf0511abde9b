import type { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";

/** What the window needs from a record; the session's own record type can carry more (txid, time). */
export interface AdmittedRecord {
  readonly dlsn: DLSN;
  readonly sequenceId: bigint;
  readonly payload: Uint8Array;
}

/** An acked DLSN above the floor: the persisted form of a hole. */
export interface AckedHole {
  readonly dlsn: DLSN;
  readonly sequenceId: bigint;
}

/** A record the caller must send again, with its raised attempt count. */
export interface Redelivery<R extends AdmittedRecord = AdmittedRecord> {
  readonly record: R;
  readonly dlsn: DLSN;
  readonly sequenceId: bigint;
  readonly payload: Uint8Array;
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

/** One delivered (or inherited-acked) record in the window. */
interface Entry<R> {
  readonly dlsn: DLSN;
  readonly sequenceId: bigint;
  /** Kept until acked so the record can be re-sent; dropped on ack to free the payload. */
  record: R | undefined;
  bytes: number;
  attempt: number;
  deliveredAt: number;
  acked: boolean;
  /** Waiting in the redelivery queue: an entry is in it at most once. */
  queued: boolean;
}

// Compacting only past this many popped entries keeps the shift amortised O(1) per entry.
const COMPACT_MIN_HEAD = 1024;

/**
 * The ack state of one reader session: which delivered records are outstanding, which are
 * acked above the floor (holes), and the acked floor itself (SPEC §3 "Position").
 *
 * Pure and synchronous: no I/O, no timers; the caller passes the clock. Entries live in one
 * array in DLSN order with a moving head, so individual acks are a binary search and the
 * floor advances by popping acked entries off the head.
 *
 * @example
 * const window = new AckWindow<StoredRecord>({ floor, floorSequenceId: -1n, holes: [], maxHoles: 10_000 });
 * send(window.admit(batch, Date.now()));
 * window.ack([DLSN.parse("1/42/0")]); // floor moves once everything up to it is acked
 */
export class AckWindow<R extends AdmittedRecord = AdmittedRecord> {
  readonly #startFloor: DLSN;
  readonly #maxHoles: number;
  #floor: DLSN;
  #floorSequenceId: bigint;

  readonly #entries: Entry<R>[] = [];
  #head = 0;
  /** Acked entries still in the window (all above the floor, since acked head entries are popped). */
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
  /** Records to send again (nacked or past the ack wait), oldest request first; each entry once. */
  #redeliveries: Entry<R>[] = [];
  #redeliveriesHead = 0;
  /** Queued entries acked since: skipped when their turn comes. */
  #staleRedeliveries = 0;
  /** Reused between validation and apply so acks allocate nothing per call. */
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
    for (let i = this.#head; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      if (entry.acked) out.push({ dlsn: entry.dlsn, sequenceId: entry.sequenceId });
    }
    // Pending holes all sort after the delivered high, so appending keeps the order.
    for (let i = this.#pendingHead; i < this.#pending.length; i++) out.push(this.#pending[i]!);
    return out;
  }

  /** The attempt count of a record in the window (0 for an inherited hole), or undefined when absent. */
  attemptOf(dlsn: DLSN): number | undefined {
    const index = this.#find(dlsn);
    return index < 0 ? undefined : this.#entries[index]!.attempt;
  }

  /**
   * Takes the next records read from the log (increasing DLSN order, each after everything
   * admitted so far) and returns those to send: inherited holes are recorded as acked and skipped.
   */
  admit(records: readonly R[], nowMs: number): R[] {
    const toSend: R[] = [];
    let holesChanged = false;
    for (const record of records) {
      const last = this.#high ?? this.#floor;
      if (!record.dlsn.isAfter(last)) {
        // The reader feeds records in order; anything else would corrupt the window.
        throw new Error(`records must be admitted in increasing DLSN order: ${record.dlsn.toString()} after ${last.toString()}`);
      }
      this.#high = record.dlsn;
      this.#highSequenceId = record.sequenceId;

      // Inherited holes below this record are not records of the log any more (e.g. truncated).
      while (this.#pendingHead < this.#pending.length && this.#pending[this.#pendingHead]!.dlsn.isBefore(record.dlsn)) {
        this.#pendingHead++;
        holesChanged = true;
      }
      const hole = this.#pending[this.#pendingHead];
      if (hole !== undefined && hole.dlsn.equals(record.dlsn)) {
        this.#pendingHead++;
        this.#entries.push({
          dlsn: record.dlsn,
          sequenceId: record.sequenceId,
          record: undefined,
          bytes: 0,
          attempt: 0,
          deliveredAt: nowMs,
          acked: true,
          queued: false,
        });
        this.#ackedInWindow++;
        continue;
      }

      const bytes = record.payload.length;
      this.#entries.push({
        dlsn: record.dlsn,
        sequenceId: record.sequenceId,
        record,
        bytes,
        attempt: record.sequenceId <= this.#deliveredThrough ? 2 : 1,
        deliveredAt: nowMs,
        acked: false,
        queued: false,
      });
      this.#outstandingRecords++;
      this.#outstandingBytes += bytes;
      toSend.push(record);
    }
    if (this.#pendingHead === this.#pending.length && this.#pendingHead > 0) {
      this.#pending.length = 0;
      this.#pendingHead = 0;
    }
    if (this.#advanceFloor() || holesChanged) this.#version++;
    return toSend;
  }

  /**
   * Individual acks, any order, plus an optional cumulative `upTo` (see `ackUpTo`). All are
   * validated before any is applied: one DLSN that was not delivered in this session refuses the
   * whole call with `INVALID_ARGUMENT` naming it.
   *
   * @returns the number of records newly acked (duplicates count zero).
   */
  ack(dlsns: readonly DLSN[], upTo?: DLSN): number {
    const indices = this.#validate(dlsns, upTo);
    let newlyAcked = 0;
    for (const index of indices) {
      if (this.#ackEntry(this.#entries[index]!)) newlyAcked++;
    }
    indices.length = 0;
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

  /** The window indices of `dlsns` still to ack; throws naming the first DLSN that was not delivered. */
  #validate(dlsns: readonly DLSN[], upTo: DLSN | undefined): number[] {
    // A cumulative bound past the highest delivered record is its only way to fail: checked first.
    if (upTo !== undefined && upTo.isAfter(this.#floor)) this.#checkDelivered(upTo);
    const indices = this.#scratch;
    indices.length = 0;
    for (const dlsn of dlsns) {
      if (!dlsn.isAfter(this.#startFloor)) {
        throw notDelivered(dlsn, `was not delivered in this session (the session started after ${this.#startFloor.toString()})`);
      }
      // Acked and popped already: a harmless repeat.
      if (!dlsn.isAfter(this.#floor)) continue;
      if (this.#high === undefined || dlsn.isAfter(this.#high)) {
        throw notDelivered(dlsn, `has not been delivered yet (highest delivered: ${this.#high?.toString() ?? "none"})`);
      }
      const index = this.#find(dlsn);
      if (index < 0) throw notDelivered(dlsn, "was not delivered in this session (no record has that DLSN)");
      indices.push(index);
    }
    return indices;
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

  /** Marks every entry at or before `dlsn` acked; the caller advances the floor. */
  #ackThrough(dlsn: DLSN): number {
    let newlyAcked = 0;
    for (let i = this.#head; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      if (entry.dlsn.isAfter(dlsn)) break;
      if (this.#ackEntry(entry)) newlyAcked++;
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
    const indices = this.#scratch;
    indices.length = 0;
    for (const dlsn of dlsns) {
      const index = dlsn.isAfter(this.#floor) ? this.#find(dlsn) : -1;
      if (index < 0 || this.#entries[index]!.acked) {
        indices.length = 0;
        throw notDelivered(dlsn, "cannot be nacked: it is not a delivered, unacked record of this session");
      }
      indices.push(index);
    }
    indices.sort((a, b) => a - b);
    let queued = 0;
    for (const index of indices) if (this.#queue(this.#entries[index]!)) queued++;
    indices.length = 0;
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
    for (let i = this.#head; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      if (!entry.acked && entry.deliveredAt <= deadline && this.#queue(entry)) queued++;
    }
    return queued;
  }

  /** Records waiting in the redelivery queue (acked ones among them are skipped when taken). */
  get redeliveriesQueued(): number {
    return this.#redeliveries.length - this.#redeliveriesHead - this.#staleRedeliveries;
  }

  /**
   * Up to `max` records from the redelivery queue to send now, each with attempt + 1 and a fresh
   * delivery time (the ack wait starts again).
   */
  takeRedeliveries(max: number, nowMs: number): Redelivery<R>[] {
    const out: Redelivery<R>[] = [];
    const queue = this.#redeliveries;
    while (out.length < max && this.#redeliveriesHead < queue.length) {
      const entry = queue[this.#redeliveriesHead++]!;
      entry.queued = false;
      if (entry.acked) {
        this.#staleRedeliveries--;
        continue;
      }
      entry.attempt++;
      entry.deliveredAt = nowMs;
      const record = entry.record!;
      out.push({ record, dlsn: entry.dlsn, sequenceId: entry.sequenceId, payload: record.payload, attempt: entry.attempt });
    }
    if (this.#redeliveriesHead === queue.length) {
      this.#redeliveries = [];
      this.#redeliveriesHead = 0;
    }
    return out;
  }

  #queue(entry: Entry<R>): boolean {
    if (entry.queued) return false;
    entry.queued = true;
    this.#redeliveries.push(entry);
    return true;
  }

  /** Marks one entry acked; false when it already was. */
  #ackEntry(entry: Entry<R>): boolean {
    if (entry.acked) return false;
    entry.acked = true;
    entry.record = undefined;
    if (entry.queued) this.#dropStaleRedelivery();
    this.#outstandingRecords--;
    this.#outstandingBytes -= entry.bytes;
    this.#ackedInWindow++;
    return true;
  }

  /** A queued entry was acked: compact the queue once such entries are half of it, so acks keep it small. */
  #dropStaleRedelivery(): void {
    this.#staleRedeliveries++;
    const live = this.#redeliveries.length - this.#redeliveriesHead;
    if (this.#staleRedeliveries * 2 < live || live < 64) return;
    this.#redeliveries = this.#redeliveries.slice(this.#redeliveriesHead).filter((entry) => {
      if (entry.acked) entry.queued = false;
      return !entry.acked;
    });
    this.#redeliveriesHead = 0;
    this.#staleRedeliveries = 0;
  }

  /** Pops acked entries off the head; the floor becomes the last one popped. */
  #advanceFloor(): boolean {
    const entries = this.#entries;
    let head = this.#head;
    let last: Entry<R> | undefined;
    while (head < entries.length && entries[head]!.acked) {
      last = entries[head]!;
      head++;
    }
    if (last === undefined) return false;
    this.#ackedInWindow -= head - this.#head;
    this.#floor = last.dlsn;
    this.#floorSequenceId = last.sequenceId;
    if (head === entries.length) {
      entries.length = 0;
      head = 0;
    } else if (head >= COMPACT_MIN_HEAD && head * 2 >= entries.length) {
      entries.splice(0, head);
      head = 0;
    }
    this.#head = head;
    return true;
  }

  /** Binary search over the live window; the index, or -1 when no entry has that DLSN. */
  #find(dlsn: DLSN): number {
    let lo = this.#head;
    let hi = this.#entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const order = this.#entries[mid]!.dlsn.compare(dlsn);
      if (order === 0) return mid;
      if (order < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

function notDelivered(dlsn: DLSN, why: string): DlogError {
  return new DlogError("INVALID_ARGUMENT", `DLSN ${dlsn.toString()} ${why}`, { reason: "DLSN_NOT_DELIVERED", metadata: { dlsn: dlsn.toString() } });
}
