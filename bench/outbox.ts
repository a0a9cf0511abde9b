/**
 * A client request stream fed by pushes: nice-grpc takes an AsyncIterable for the
 * request side of a bidi call, and the benchmark decides what to send from the
 * responses it sees. Unbounded on purpose: the benchmark's flow limits bound it.
 */
export class Outbox<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.poke();
  }

  /** Half-closes the request stream once everything pushed so far is sent. */
  end(): void {
    this.ended = true;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    let next = 0;
    for (;;) {
      if (next < this.items.length) {
        const item = this.items[next]!;
        // Drop sent items in chunks rather than shift() each one.
        if (++next >= 1024) {
          this.items.splice(0, next);
          next = 0;
        }
        yield item;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}
