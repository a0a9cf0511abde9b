/** Runs async tasks one at a time, in call order: storage writes must not interleave. */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // The tail must not hold the task's result: a queue outliving it would keep it alive.
    this.tail = result.then(noop, noop);
    return result;
  }
}

function noop(): void {}
