/**
 * The server-wide budget for delivered, unacked payload bytes: every session keeps what it
 * delivered until it is acked (for redelivery), so the sum over sessions is memory a set of
 * clients can pin. Each session holds an account; past the budget new deliveries pause
 * (with a reason in the status frame) until acks free room — backpressure, never dropped state.
 *
 * A read reserves its room first, so sessions reading at once cannot each take the same room;
 * a read may still overshoot by its one record (a record larger than the room is sent whole).
 */
export class OutstandingBudget {
  readonly max: number;
  #used = 0;
  /** Accounts that found no room: woken once some is freed. */
  readonly #waiting = new Set<() => void>();

  constructor(maxBytes: number) {
    this.max = maxBytes;
  }

  /** Bytes held or reserved by all sessions now. */
  get used(): number {
    return this.#used;
  }

  /** A session's account; `wake` is called when room frees up after the session found none. */
  open(wake: () => void): BudgetAccount {
    let held = 0;
    let reserved = 0;
    const change = (by: number): void => {
      const wasFull = this.#used >= this.max;
      this.#used += by;
      if (by < 0 && wasFull && this.#used < this.max && this.#waiting.size > 0) {
        const waiting = [...this.#waiting];
        this.#waiting.clear();
        for (const waiter of waiting) waiter();
      }
    };
    let closed = false;
    return {
      room: () => {
        const room = Math.max(0, this.max - this.#used);
        if (room === 0 && !closed) this.#waiting.add(wake);
        return room;
      },
      reserve: (bytes) => {
        const granted = Math.max(0, Math.min(bytes, this.max - this.#used));
        reserved += granted;
        change(granted);
        return granted;
      },
      hold: (bytes) => {
        if (closed) return;
        const before = held + reserved;
        held = bytes;
        reserved = 0;
        change(held - before);
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.#waiting.delete(wake);
        change(-(held + reserved));
        held = 0;
        reserved = 0;
      },
    };
  }
}

export interface BudgetAccount {
  /** Bytes the server-wide budget has left (0: pause). */
  room(): number;
  /** Takes up to `bytes` of room for a read about to happen; returns what was granted. */
  reserve(bytes: number): number;
  /** The session now holds `bytes` delivered, unacked bytes; any reservation is settled. */
  hold(bytes: number): void;
  /** Gives everything back (the session ended). */
  close(): void;
}
