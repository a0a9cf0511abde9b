/** An in-memory stand-in for the log layer, for Session unit tests: records 1/n/0 with sequence id n - 1, reads that can be held. */
import { DLSN } from "../../src/dlsn.js";
import { type DecodedRecord, EntryBatch, EntryRecords, encodeEntry } from "../../src/log/entry-codec.js";
import type { SessionFrame } from "../../src/sessions/session-frames.js";
import { freshPosition } from "../../src/positions/position-codec.js";
import { DEFAULT_FLOW } from "../../src/sessions/flow-limits.js";
import { Session, type SessionLogs, type SessionOptions } from "../../src/sessions/session.js";

/** DLSN 1/n/0: record number n (1-based) of the memory log. */
export const dlsnOf = (n: number): DLSN => new DLSN(1n, BigInt(n), 0n);

/** The number of a memory-log record from its DLSN. */
export const numberAt = (dlsn: DLSN): number => Number(dlsn.entry);

/** The records a records frame carries, as objects. */
export function recordsOf(frame: Extract<SessionFrame, { kind: "records" }>): DecodedRecord[] {
  return frame.runs.flatMap((run) => run.entry.records.slice(run.from, run.to));
}

export class MemoryLog implements SessionLogs {
  /** Each record is an entry of its own here: entry n holds record n. */
  readonly entries: EntryRecords[] = [];
  /** Reads started so far (each `read` call of every reader). */
  reads = 0;
  readonly openReaders = new Set<object>();
  private gate: { promise: Promise<void>; release: () => void; entered: () => void; wasEntered: Promise<void> } | undefined;
  private waiters = new Set<() => void>();

  constructor(
    count = 0,
    private readonly payloadBytes = 10,
  ) {
    this.append(count);
  }

  append(count: number): void {
    for (let i = 0; i < count; i++) {
      const n = this.entries.length + 1;
      const value = encodeEntry([{ payload: Buffer.alloc(this.payloadBytes, n % 256), txid: BigInt(n) }], 0, BigInt(n - 1));
      this.entries.push(new EntryRecords(1n, BigInt(n), value, false));
    }
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  /**
   * Holds every read that starts from now on until `release()`; `entered` resolves once one has
   * started, so a test can act while a read is in flight.
   */
  holdReads(): { entered: Promise<void>; release: () => void } {
    let release!: () => void;
    let entered!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    const wasEntered = new Promise<void>((resolve) => (entered = resolve));
    this.gate = { promise, release, entered, wasEntered };
    return {
      entered: wasEntered,
      release: () => {
        this.gate = undefined;
        release();
      },
    };
  }

  has(): boolean {
    return true;
  }

  head(): { nextSequenceId: bigint } {
    return { nextSequenceId: BigInt(this.entries.length) };
  }

  openReader(_log: string, from: DLSN): ReturnType<SessionLogs["openReader"]> {
    let next = this.entries.findIndex((entry) => !entry.recordAt(0).dlsn.isBefore(from));
    if (next < 0) next = this.entries.length;
    const reader = {
      readBatch: async (maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<EntryBatch> => {
        this.reads++;
        const gate = this.gate;
        if (gate) {
          gate.entered();
          await gate.promise;
        }
        const runs = [];
        let bytes = 0;
        while (next < this.entries.length && runs.length < maxRecords && bytes < maxBytes) {
          const entry = this.entries[next++]!;
          runs.push({ entry, from: 0, to: 1 });
          bytes += entry.payloadBytes(0, 1);
        }
        return new EntryBatch(runs);
      },
      waitForMore: (signal?: AbortSignal): Promise<void> =>
        new Promise<void>((resolve, reject) => {
          if (next < this.entries.length) return resolve();
          const wake = (): void => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          };
          const onAbort = (): void => {
            this.waiters.delete(wake);
            reject(signal!.reason);
          };
          signal?.addEventListener("abort", onAbort, { once: true });
          this.waiters.add(wake);
        }),
      close: async (): Promise<void> => {
        this.openReaders.delete(reader);
      },
    };
    this.openReaders.add(reader);
    return reader;
  }
}

/**
 * A Session over `log`, resuming after record `floor` (0: before the first), whose position writes
 * are durable at once: every `flush` hands the session the snapshot it just gave.
 */
export function memorySession(log: MemoryLog, overrides: Partial<SessionOptions> = {}, floor = 0): Session {
  const session: Session = new Session({
    log: "memory",
    readerId: "r",
    epoch: 1n,
    start: freshPosition(dlsnOf(floor), BigInt(floor - 1), 1n),
    opened: { source: "fallback", logHead: undefined, skippedByTruncation: 0n },
    flow: { ...DEFAULT_FLOW },
    ackWaitMs: 0,
    maxHoles: 100,
    heartbeatMs: 60_000,
    logs: log,
    positions: { changed: () => undefined, flush: async () => session.durableChanged(session.position()) },
    onEnded: () => undefined,
    ...overrides,
  });
  return session;
}
