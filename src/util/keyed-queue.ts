import { SerialQueue } from "./serial-queue.js";

/**
 * Runs async tasks one at a time per key, in call order. A key's queue exists only while it has
 * tasks, so memory follows the keys in use, not every key ever seen.
 *
 * @example
 * const readers = new KeyedQueue();
 * await readers.run("7/billing", () => openSession()); // opens of one reader never interleave
 */
export class KeyedQueue {
  private readonly queues = new Map<string, { queue: SerialQueue; tasks: number }>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    let slot = this.queues.get(key);
    if (!slot) {
      slot = { queue: new SerialQueue(), tasks: 0 };
      this.queues.set(key, slot);
    }
    const owner = slot;
    owner.tasks++;
    const result = owner.queue.run(task);
    const done = (): void => {
      if (--owner.tasks === 0 && this.queues.get(key) === owner) this.queues.delete(key);
    };
    result.then(done, done);
    return result;
  }

  /** Keys with tasks queued or running. */
  get size(): number {
    return this.queues.size;
  }
}
