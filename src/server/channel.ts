/**
 * A bounded async queue between a producer task and a consuming async
 * generator: `push` waits while `capacity` items are queued (backpressure),
 * iteration ends after `close()` or throws after `fail()`.
 */
export class Channel<T> {
  private items: T[] = [];
  /** Items before it were taken: a moving head keeps taking O(1) (no shift()). */
  private head = 0;
  private readonly capacity: number;
  private closed = false;
  private error: unknown;
  private hasError = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducers: Array<() => void> = [];

  constructor(capacity = Number.POSITIVE_INFINITY) {
    this.capacity = capacity;
  }

  async push(item: T): Promise<void> {
    while (this.items.length - this.head >= this.capacity && !this.closed) {
      await new Promise<void>((resolve) => this.wakeProducers.push(resolve));
    }
    if (this.closed) return;
    this.items.push(item);
    this.wake();
  }

  close(): void {
    this.closed = true;
    this.wake();
    this.releaseProducers();
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.error = error;
    this.hasError = true;
    this.close();
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = undefined;
    wake?.();
  }

  private releaseProducers(): void {
    const producers = this.wakeProducers;
    this.wakeProducers = [];
    for (const resolve of producers) resolve();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.head < this.items.length) {
        const item = this.items[this.head]!;
        this.items[this.head++] = undefined as T;
        if (this.head === this.items.length) {
          this.items = [];
          this.head = 0;
        } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
          this.items.splice(0, this.head); // never fully drained: compact now and then
          this.head = 0;
        }
        if (this.items.length - this.head < this.capacity) this.releaseProducers();
        yield item;
        continue;
      }
      if (this.hasError) throw this.error;
      if (this.closed) return;
      await new Promise<void>((resolve) => {
        this.wakeConsumer = resolve;
      });
    }
  }
}
