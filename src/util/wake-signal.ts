/**
 * Wakes one waiting loop: `poke` resolves the pending `sleep`, or, when the loop is busy, makes its
 * next `sleep` return at once, so a poke is never lost between a check and the wait.
 */
export class WakeSignal {
  #wake: (() => void) | undefined;
  /** A poke that found the loop busy (e.g. a nack during a read): the loop must not go to sleep on it. */
  #pending = false;

  poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake) wake();
    else this.#pending = true;
  }

  /** Waits for the next poke, or returns at once when one came while the loop was busy. */
  sleep(): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }
}
