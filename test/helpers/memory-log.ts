/** An in-memory stand-in for the log layer, for Session unit tests: records 1/n/0 with sequence id n - 1, reads that can be held. */
import { DLSN } from "../../src/dlsn.js";
import type { DecodedRecord, EntryRun } from "../../src/log/entry-codec.js";
import { freshPosition } from "../../src/positions/position-codec.js";
import { DEFAULT_FLOW } from "../../src/sessions/flow-limits.js";
import { Session, type SessionLogs, type SessionOptions } from "../../src/sessions/session.js";

/** DLSN 1/n/0: record number n (1-based) of the memory log. */
export const dlsnOf = (n: number): DLSN => new DLSN(1n, BigInt(n), 0n);

/** The number of a memory-log record from its DLSN. */
export const numberAt = (dlsn: DLSN): number => Number(dlsn.entry);

export class MemoryLog implements SessionLogs {
  readonly records: DecodedRecord[] = [];
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
      const n = this.records.length + 1;
      this.records.push({ dlsn: dlsnOf(n), txid: BigInt(n), appendTimeMs: 0, sequenceId: BigInt(n - 1), payload: Buffer.alloc(this.payloadBytes, n % 256) });
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
    return { nextSequenceId: BigInt(this.records.length) };
  }

  openReader(_log: string, from: DLSN): ReturnType<SessionLogs["openReader"]> {
    let next = this.records.findIndex((record) => !record.dlsn.isBefore(from));
    if (next < 0) next = this.records.length;
    const reader = {
      read: async (maxRecords: number, maxBytes = Number.POSITIVE_INFINITY): Promise<DecodedRecord[]> => {
        this.reads++;
        const gate = this.gate;
        if (gate) {
          gate.entered();
          await gate.promise;
        }
        const out: DecodedRecord[] = [];
        let bytes = 0;
        while (next < this.records.length && out.length < maxRecords && bytes < maxBytes) {
          const record = this.records[next++]!;
          out.push(record);
          bytes += record.payload.length;
        }
        // Each record is an entry of its own here.
        reader.lastRuns = out.map((record) => ({ entry: { records: [record], shared: false, encoded: undefined }, from: 0, to: 1 }));
        return out;
      },
      lastRuns: [] as EntryRun[],
      waitForMore: (signal?: AbortSignal): Promise<void> =>
        new Promise<void>((resolve, reject) => {
          if (next < this.records.length) return resolve();
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
