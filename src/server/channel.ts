/**
 * A bounded async queue between a producer task and a consuming async
 * generator: `push` waits while `capacity` items are queued (backpressure),
 * iteration ends after `close()` or throws after `fail()`.
 */
export class Channel<T> {
  private readonly items: T[] = [];
  private readonly capacity: number;
  private closed = false;
  private error: unknown;
  private hasError = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducers: Array<() => void> = [];

  constructor(capacity = Number.POSITIVE_INFINITY) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.items.length;
  }

  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.closed) {
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
      if (this.items.length > 0) {
        const item = this.items.shift()!;
        if (this.items.length < this.capacity) this.releaseProducers();
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
