/** The smallest delivery reservation: a position write per ~4096 records delivered, at most. */
const RESERVATION_MIN_RECORDS = 8192;

/**
 * Delivery reserved ahead on disk: a record goes out only once the reader's stored
 * `deliveredThrough` covers it, so after any crash every record that may have reached the client
 * comes again with attempt >= 2. The reservation runs ahead of what was sent (`reservationAhead`)
 * and is renewed when half of it is used, so it costs one position write per half reservation and
 * never holds delivery up while the disk keeps pace; after a crash, records of the reservation
 * that were never sent are marked too (a possible duplicate, never a missed one). When the session
 * ends, its final write brings `deliveredThrough` back to what was really sent.
 *
 * This is the bookkeeping; the session writes its position when it is told to and waits for it.
 */
export class DeliveryReservation {
  /** The delivery reservation the session asks for, and the part of it on disk. */
  #reservedThrough: bigint;
  #durableThrough: bigint;

  /** `reservedThrough`: delivery already reserved on disk for this session (a resume grant), if more than `deliveredThrough`. */
  constructor(start: { deliveredThrough: bigint; floorSequenceId: bigint }, maxOutstandingRecords: number, reservedThrough = -1n) {
    this.#durableThrough = reservedThrough > start.deliveredThrough ? reservedThrough : start.deliveredThrough;
    this.#reservedThrough = this.#durableThrough;
    this.extendPast(start.floorSequenceId, maxOutstandingRecords);
  }

  /** The delivered mark a live session's position carries (at least). */
  get reservedThrough(): bigint {
    return this.#reservedThrough;
  }

  /** A write of the session's position made `deliveredThrough` durable. */
  durable(deliveredThrough: bigint): void {
    if (deliveredThrough > this.#durableThrough) this.#durableThrough = deliveredThrough;
  }

  /** The reservation on disk covers `sequenceId`: it may go out. */
  covers(sequenceId: bigint): boolean {
    return sequenceId <= this.#durableThrough;
  }

  /** Asks for a reservation past `sequenceId`; the session writes it and waits for it. */
  extendPast(sequenceId: bigint, maxOutstandingRecords: number): void {
    const wanted = sequenceId + reservationAhead(maxOutstandingRecords);
    if (wanted > this.#reservedThrough) this.#reservedThrough = wanted;
  }

  /**
   * Once half of the reservation on disk is used (`sent`: the highest sequence id sent), asks for
   * the next one: true when the session should write it (without waiting for it).
   */
  renew(sent: bigint, maxOutstandingRecords: number): boolean {
    const ahead = reservationAhead(maxOutstandingRecords);
    if (this.#reservedThrough > this.#durableThrough || sent + ahead / 2n <= this.#durableThrough) return false;
    this.#reservedThrough = sent + ahead;
    return true;
  }
}

/**
 * How far delivery is reserved ahead: four flow windows, at least RESERVATION_MIN_RECORDS, so
 * that a renewal (one fsynced write) is on disk long before the session catches up with it.
 */
export function reservationAhead(maxOutstandingRecords: number): bigint {
  return BigInt(Math.max(4 * maxOutstandingRecords, RESERVATION_MIN_RECORDS));
}
