import type { LogStore } from "../log/log-store.js";
import type { ReaderPosition } from "../positions/position-codec.js";
import type { ReaderSessions } from "../sessions/reader-sessions.js";

/** How many records after a reader's acked floor are not yet acked. */
export interface ReaderLag {
  log: string;
  readerId: string;
  lag: number;
  live: boolean;
}

/** What the lag of a stored reader needs: its floor and how many acked records sit above it. */
interface Floor {
  floorSequenceId: bigint;
  holes: number;
}

/**
 * The lag of every reader, live or not, computed at scrape time without touching the disk in the
 * steady state: each log's stored positions are read once (on the first scrape that meets it) and
 * then kept current from the position writes themselves (`written`). An offline reader's lag is
 * the log's head minus its stored floor; a live reader's comes from its session (acks not yet
 * flushed included). Costs one small entry per reader in memory, only with metrics on.
 */
export class ReaderLagTracker {
  private readonly logs: LogStore;
  private readonly sessions: ReaderSessions;
  /** Per log id: its readers' floors, once loaded. */
  private readonly floors = new Map<number, Map<string, Floor>>();
  /** Writes that landed while a log's positions were being loaded: applied on top of what was read. */
  private readonly loading = new Map<number, Map<string, ReaderPosition | null>>();

  constructor(logs: LogStore, sessions: ReaderSessions) {
    this.logs = logs;
    this.sessions = sessions;
  }

  /** A position write landed (from the position store's `onWritten`). */
  written(batch: ReadonlyArray<{ logId: number; readerId: string; position: ReaderPosition | null }>): void {
    for (const { logId, readerId, position } of batch) {
      const pending = this.loading.get(logId);
      if (pending) pending.set(readerId, position);
      const floors = this.floors.get(logId);
      if (!floors) continue;
      if (position === null) floors.delete(readerId);
      else floors.set(readerId, floorOf(position));
    }
  }

  /** Every reader of every log with its lag, in log then reader order of the store. */
  async collect(): Promise<ReaderLag[]> {
    const live = new Map<string, number>();
    for (const { log, readerId, lag } of this.sessions.liveLag()) live.set(`${log}/${readerId}`, Number(lag));
    const result: ReaderLag[] = [];
    const present = new Set<number>();
    for (const info of this.logs.listLogs()) {
      if (!this.logs.has(info.name)) continue; // deleted while we iterate
      const logId = this.logs.logId(info.name);
      present.add(logId);
      // A store that cannot be read (a fault) leaves the log's stored readers out of this scrape,
      // not the whole scrape: the storage gauges say why, and the next scrape loads them again.
      const floors = this.floors.get(logId) ?? (await this.load(logId).catch(() => undefined));
      if (!floors) continue;
      const next = this.logs.has(info.name) ? this.logs.head(info.name).nextSequenceId : 0n;
      for (const [readerId, floor] of floors) {
        const liveLag = live.get(`${info.name}/${readerId}`);
        const stored = next - floor.floorSequenceId - 1n - BigInt(floor.holes);
        result.push({ log: info.name, readerId, lag: liveLag ?? (stored > 0n ? Number(stored) : 0), live: liveLag !== undefined });
      }
    }
    // Deleted logs (a recreated log gets a new id) leave nothing behind.
    for (const logId of this.floors.keys()) if (!present.has(logId)) this.floors.delete(logId);
    return result;
  }

  /** Readers currently tracked: memory follows the readers that exist, never those ever seen. */
  get size(): number {
    let size = 0;
    for (const floors of this.floors.values()) size += floors.size;
    return size;
  }

  private async load(logId: number): Promise<Map<string, Floor>> {
    const pending = new Map<string, ReaderPosition | null>();
    this.loading.set(logId, pending);
    const floors = new Map<string, Floor>();
    try {
      for (const { readerId, position } of await this.sessions.positions.list(logId)) floors.set(readerId, floorOf(position));
    } finally {
      this.loading.delete(logId);
    }
    for (const [readerId, position] of pending) {
      if (position === null) floors.delete(readerId);
      else floors.set(readerId, floorOf(position));
    }
    this.floors.set(logId, floors);
    return floors;
  }
}

function floorOf(position: ReaderPosition): Floor {
  return { floorSequenceId: position.floorSequenceId, holes: position.holes.length };
}
