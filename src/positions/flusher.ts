import { performance } from "node:perf_hooks";
import { DlogError } from "../errors.js";

/** One reader's position to write; `null` deletes the reader. The flusher never looks inside `P`. */
export interface PositionWrite<P = unknown> {
  readonly key: string;
  readonly position: P | null;
}

export interface FlusherOptions<P = unknown> {
  /** Writes one LevelDB batch and fsyncs it; provided by the storage layer. */
  write(batch: PositionWrite<P>[]): Promise<void>;
  /** Longest a change waits before it is written (`--ack-flush-interval`). Default 100. */
  intervalMs?: number;
  /** Acks since the last flush that force a flush without waiting for the timer (`--ack-flush-max`). Default 1000. */
  maxAcks?: number;
  /** After each successful write: what was written and how long the write took. */
  onFlushed?(written: PositionWrite<P>[], durationMs: number): void;
  /** A failed write (its keys stay dirty and are retried) or a throwing `onFlushed`. */
  onError?(error: unknown): void;
}

export interface FlusherCounters {
  flushes: number;
  /** Of `flushes`: started by the interval timer, by reaching `maxAcks`, and by a caller's `flush()`. */
  timerFlushes: number;
  ackFlushes: number;
  requestedFlushes: number;
  positionsWritten: number;
  acksReceived: number;
  lastFlushDurationMs: number;
}

/**
 * Batches dirty reader positions into one durable write (SPEC §3 "Batching into LevelDB").
 *
 * @example
 * const flusher = createFlusher({ write: (batch) => storage.writePositions(batch) });
 * window.ack(dlsns);
 * flusher.markDirty(key, () => positionOf(window));
 * flusher.noteAcks(dlsns.length);
 * await flusher.flush(); // on drain: everything marked so far is on disk
 */
export interface Flusher<P = unknown> {
  /**
   * The reader at `key` changed. `snapshot` is called at flush time, so many changes between
   * flushes cost one write of the latest state. A later call for the same key replaces it.
   */
  markDirty(key: string, snapshot: () => P | null): void;
  /** Counts acks; reaching `maxAcks` since the last flush starts a flush without waiting for the timer. */
  noteAcks(count: number): void;
  /**
   * Resolves once every change marked before the call is durable; rejects if the write that
   * carried them failed (the changes stay dirty and are retried).
   */
  flush(): Promise<void>;
  /** Final flush; afterwards the timer is stopped and `markDirty` throws. */
  close(): Promise<void>;
  /** True while a change of `key` waits for a write or is in the write in flight. */
  isPending(key: string): boolean;
  /** The snapshot of `key`'s change waiting for the next write (not the one in flight), if any. */
  waiting(key: string): (() => P | null) | undefined;
  /** Drops the waiting changes of the keys `drop` selects (their reader is gone), and waits for the write in flight. */
  forget(drop: (key: string) => boolean): Promise<void>;
  /** Keys waiting for the next flush. */
  readonly dirtyCount: number;
  readonly counters: Readonly<FlusherCounters>;
}

const DEFAULT_INTERVAL_MS = 100;
const DEFAULT_MAX_ACKS = 1000;

function noop(): void {}

type Trigger = "timer" | "acks" | "request";

/** Creates a flusher; see {@link Flusher}. Only one write is ever in flight. */
export function createFlusher<P = unknown>(options: FlusherOptions<P>): Flusher<P> {
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const maxAcks = options.maxAcks ?? DEFAULT_MAX_ACKS;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new DlogError("INVALID_ARGUMENT", `ack flush interval must be a positive number of milliseconds, got ${intervalMs}`);
  }
  if (!Number.isInteger(maxAcks) || maxAcks < 1) {
    throw new DlogError("INVALID_ARGUMENT", `ack flush max must be a positive integer, got ${maxAcks}`);
  }

  const counters: FlusherCounters = {
    flushes: 0,
    timerFlushes: 0,
    ackFlushes: 0,
    requestedFlushes: 0,
    positionsWritten: 0,
    acksReceived: 0,
    lastFlushDurationMs: 0,
  };
  let dirty = new Map<string, () => P | null>();
  /** The keys of the write in flight. */
  let writing: ReadonlyMap<string, unknown> | undefined;
  let acksSinceFlush = 0;
  let timer: NodeJS.Timeout | undefined;
  /** The round whose write is in flight. */
  let inFlight: Promise<void> | undefined;
  /** The one round waiting for `inFlight`; every caller meanwhile shares it. */
  let queued: Promise<void> | undefined;
  let ackFlushScheduled = false;
  let closed = false;

  function armTimer(): void {
    if (timer !== undefined || closed || dirty.size === 0) return;
    timer = setTimeout(onTimer, intervalMs);
    // A dirty position must not keep the process alive; shutdown calls close() to flush.
    timer.unref();
  }

  function clearTimer(): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
  }

  function onTimer(): void {
    timer = undefined;
    // Failures are reported through onError and retried on the next timer.
    flush("timer").catch(noop);
  }

  async function writeRound(trigger: Trigger): Promise<void> {
    clearTimer();
    acksSinceFlush = 0;
    if (dirty.size === 0) return;
    const taken = dirty;
    dirty = new Map();
    writing = taken;
    const started = performance.now();
    let batch: PositionWrite<P>[];
    try {
      batch = [];
      for (const [key, snapshot] of taken) batch.push({ key, position: snapshot() });
      await options.write(batch);
    } catch (error) {
      // Never drop state: a key marked again meanwhile keeps its newer snapshot.
      for (const [key, snapshot] of taken) if (!dirty.has(key)) dirty.set(key, snapshot);
      armTimer();
      options.onError?.(error);
      throw error;
    } finally {
      writing = undefined;
    }
    const durationMs = performance.now() - started;
    counters.flushes++;
    if (trigger === "timer") counters.timerFlushes++;
    else if (trigger === "acks") counters.ackFlushes++;
    else counters.requestedFlushes++;
    counters.positionsWritten += batch.length;
    counters.lastFlushDurationMs = durationMs;
    armTimer();
    try {
      options.onFlushed?.(batch, durationMs);
    } catch (error) {
      options.onError?.(error);
    }
  }

  function startRound(trigger: Trigger): Promise<void> {
    const round = writeRound(trigger).finally(() => {
      if (inFlight === round) inFlight = undefined;
    });
    inFlight = round;
    return round;
  }

  function flush(trigger: Trigger = "request"): Promise<void> {
    if (queued !== undefined) return queued;
    if (inFlight === undefined) return startRound(trigger);
    // Changes marked now may have missed the in-flight snapshot: one more round after it covers them.
    queued = inFlight.then(noop, noop).then(() => {
      queued = undefined;
      return startRound(trigger);
    });
    return queued;
  }

  return {
    markDirty(key, snapshot) {
      if (closed) {
        throw new DlogError("UNAVAILABLE", `server is shutting down (position flusher closed); the change to reader ${key} cannot be persisted`, {
          reason: "SHUTTING_DOWN",
        });
      }
      dirty.set(key, snapshot);
      armTimer();
    },

    noteAcks(count) {
      counters.acksReceived += count;
      acksSinceFlush += count;
      if (acksSinceFlush < maxAcks || ackFlushScheduled || queued !== undefined || dirty.size === 0) return;
      ackFlushScheduled = true;
      // Deferred so snapshots are never taken in the middle of the caller's own update.
      queueMicrotask(() => {
        ackFlushScheduled = false;
        flush("acks").catch(noop);
      });
    },

    flush: () => flush(),

    isPending(key) {
      return dirty.has(key) || writing?.has(key) === true;
    },

    waiting(key) {
      return dirty.get(key);
    },

    async forget(drop) {
      for (const key of [...dirty.keys()]) if (drop(key)) dirty.delete(key);
      await inFlight?.catch(noop);
    },

    async close() {
      closed = true;
      clearTimer();
      await flush();
    },

    get dirtyCount() {
      return dirty.size;
    },

    get counters() {
      return { ...counters };
    },
  };
}
