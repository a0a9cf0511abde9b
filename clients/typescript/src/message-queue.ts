/**
 * The request side of a client stream: messages pushed synchronously, pulled by
 * nice-grpc's writer. Unbounded on purpose — the callers bound what they push
 * (acks are coalesced, appends are bounded by in-flight bytes) — and single-consumer.
 */
export class MessageQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wakeConsumer();
  }

  /** Half-closes the stream once everything pushed so far has been taken. */
  end(): void {
    this.ended = true;
    this.wakeConsumer();
  }

  private wakeConsumer(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.head < this.items.length) {
        const item = this.items[this.head]!;
        this.items[this.head++] = undefined as T;
        if (this.head === this.items.length) {
          this.items = [];
          this.head = 0;
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
