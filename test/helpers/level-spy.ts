/** Watching classic-level's chained batch writes in unit tests (they are where `sync` becomes an fsync). */
import type { TestContext } from "node:test";
import { ClassicLevel } from "classic-level";

export interface SeenWrite {
  sync: boolean | undefined;
  /** Operations in the batch. */
  ops: number;
}

/**
 * Every chained batch write on any ClassicLevel until the test ends: its `sync` and size.
 * `fail(i)` true makes the i-th write fail before it reaches LevelDB.
 */
export function spyOnBatchWrites(t: TestContext, fail: (index: number) => boolean = () => false): SeenWrite[] {
  const seen: SeenWrite[] = [];
  const batch = ClassicLevel.prototype.batch;
  ClassicLevel.prototype.batch = function (this: ClassicLevel, ...args: unknown[]) {
    const made = (batch as (...a: unknown[]) => unknown).apply(this, args);
    if (args.length === 0) {
      const chained = made as { length: number; write(options?: { sync?: boolean }): Promise<void>; close(): Promise<void> };
      const write = chained.write.bind(chained);
      chained.write = async (options) => {
        const index = seen.length;
        seen.push({ sync: options?.sync, ops: chained.length });
        if (fail(index)) {
          await chained.close();
          throw new Error("injected write failure");
        }
        return write(options);
      };
    }
    return made;
  } as typeof batch;
  t.after(() => {
    ClassicLevel.prototype.batch = batch;
  });
  return seen;
}
