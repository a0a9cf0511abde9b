import type { ReaderPosition } from "../positions/position-codec.js";
import { reservationAhead } from "./delivery-reservation.js";

/** How long a grant waits for its reader's next session before its reservation is given back (one write). */
export const GRANT_KEEP_MS = 5_000;

/**
 * A reader's next session, reserved on disk by the final write of its last one: a session of this
 * process that finds it opens without a write of its own.
 */
export interface ResumeGrant {
  log: string;
  logId: number;
  readerId: string;
  /** The reader as it truly stands: the last session's epoch, and what was really sent. */
  released: ReaderPosition;
  /** What the final write stored: the next epoch, and delivery reserved ahead of the floor. */
  reserved: ReaderPosition;
}

interface Held {
  grant: ResumeGrant;
  /** Its final write is on disk: the grant can be used. */
  durable: boolean;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Resume grants of one gateway's readers (SPEC §3; a single gateway owns its store, so nothing but
 * this process writes its readers). When a session ends cleanly, its final write also claims the
 * next epoch and a delivery reservation for the reader's next session (`reserve`); once that write
 * is durable, the next open here takes the grant (`take`) and sends its first batch with no write:
 * records up to what was really sent keep their attempt numbers, records past it, up to the
 * reservation, go out as first deliveries, because this process knows none of them was sent.
 * After a crash, the stored reservation covers everything that may have reached a client (those
 * records come with attempt >= 2, as under a live session's reservation), and the stored epoch is
 * at least the granted session's. A grant left unused for GRANT_KEEP_MS, and every grant at
 * shutdown, is given back: the owner writes `released`, so a clean restart marks no record that was
 * never sent. Any other write of the reader (SetPosition, DeleteReader, an open that writes, its log
 * deleted) drops the grant first.
 */
export class ResumeGrants {
  private readonly held = new Map<string, Held>();
  private readonly keepMs: number;
  private readonly release: (grant: ResumeGrant) => void;

  /** `keepMs`: how long a grant waits for its reader's next session; `release`: writes the grant's `released` position (the reservation given back). */
  constructor(keepMs: number, release: (grant: ResumeGrant) => void) {
    this.keepMs = keepMs;
    this.release = release;
  }

  /** Grants held in memory, for `sizes`. */
  get size(): number {
    return this.held.size;
  }

  /**
   * What the final write of a reader's cleanly ended session stores (`released`: the session's
   * position): the next epoch, and delivery reserved ahead of the floor as a session with the same
   * flow would reserve it. It becomes a grant when that write is durable (`durable`).
   */
  reserve(reader: Pick<ResumeGrant, "log" | "logId" | "readerId">, released: ReaderPosition, maxOutstandingRecords: number): ReaderPosition {
    const ahead = released.floorSequenceId + reservationAhead(maxOutstandingRecords);
    const reserved: ReaderPosition = {
      ...released,
      epoch: released.epoch + 1n,
      deliveredThrough: ahead > released.deliveredThrough ? ahead : released.deliveredThrough,
    };
    const key = keyOf(reader.logId, reader.readerId);
    // The final state asked for again (a read of the waiting write, then the write): the same grant.
    const held = this.held.get(key);
    if (held && sameReservation(held.grant.reserved, reserved)) {
      // The latest snapshot is the one the session knows (it matches durable writes by identity).
      held.grant = { ...held.grant, released };
      return held.grant.reserved;
    }
    this.forget(key);
    this.held.set(key, { grant: { ...reader, released, reserved }, durable: false, timer: undefined });
    return reserved;
  }

  /**
   * A write of the reader is durable: its grant, when it was that grant's final write; any other
   * write supersedes the grant. Returns the position the reader's live session wrote (`released`
   * for a grant's write: the session knows nothing of the reservation).
   */
  durable(logId: number, readerId: string, position: ReaderPosition): ReaderPosition {
    const key = keyOf(logId, readerId);
    const held = this.held.get(key);
    if (!held) return position;
    if (held.grant.reserved !== position) {
      this.forget(key);
      return position;
    }
    if (!held.durable) {
      held.durable = true;
      held.timer = setTimeout(() => this.giveBack(key), this.keepMs);
      held.timer.unref();
    }
    return held.grant.released;
  }

  /** The reader as it truly stands when `stored` is a grant's reservation (not yet used), else `stored`. */
  truthOf(logId: number, readerId: string, stored: ReaderPosition | undefined): ReaderPosition | undefined {
    const held = this.held.get(keyOf(logId, readerId));
    return held && stored && sameReservation(held.grant.reserved, stored) ? held.grant.released : stored;
  }

  /**
   * What is stored for the reader when it holds a durable grant: its reservation (nothing else
   * wrote the reader since, or the grant would be gone), so an open need not read it back.
   */
  storedOf(logId: number, readerId: string): ReaderPosition | undefined {
    const held = this.held.get(keyOf(logId, readerId));
    return held?.durable ? held.grant.reserved : undefined;
  }

  /** The reader's durable grant, if `stored` (just read) is its reservation: it is used, and gone from here. */
  take(logId: number, readerId: string, stored: ReaderPosition | undefined): ResumeGrant | undefined {
    const key = keyOf(logId, readerId);
    const held = this.held.get(key);
    if (!held?.durable || !stored || !sameReservation(held.grant.reserved, stored)) return undefined;
    this.forget(key);
    return held.grant;
  }

  /** Something else writes the reader: its grant (if any) no longer says what is stored. */
  drop(logId: number, readerId: string): void {
    this.forget(keyOf(logId, readerId));
  }

  private forget(key: string): void {
    const held = this.held.get(key);
    if (!held) return;
    clearTimeout(held.timer);
    this.held.delete(key);
  }

  dropLog(logId: number): void {
    const prefix = `${logId}/`;
    for (const key of [...this.held.keys()]) if (key.startsWith(prefix)) this.forget(key);
  }

  /** Shutdown: every durable grant is given back (its owner writes `released`); none is made again. */
  releaseAll(): void {
    for (const key of [...this.held.keys()]) {
      if (this.held.get(key)!.durable) this.giveBack(key);
      else this.forget(key);
    }
  }

  private giveBack(key: string): void {
    const held = this.held.get(key);
    if (!held) return;
    this.forget(key);
    this.release(held.grant);
  }
}

/** Reader ids cannot contain "/", so the key is unambiguous. */
function keyOf(logId: number, readerId: string): string {
  return `${logId}/${readerId}`;
}

/** `stored` (read back, so another object) is the reservation `reserved` wrote. */
function sameReservation(reserved: ReaderPosition, stored: ReaderPosition): boolean {
  return (
    stored.epoch === reserved.epoch &&
    stored.deliveredThrough === reserved.deliveredThrough &&
    stored.floorSequenceId === reserved.floorSequenceId &&
    stored.floor.equals(reserved.floor) &&
    stored.holes.length === reserved.holes.length
  );
}
