import type { KvWatchEntry } from "@nats-io/kv";
import { type PositionWrite, PositionsFencedError, type StoredPosition } from "./storage.js";
import { b64, unb64 } from "./kv-key.js";
import type { NatsBucket } from "./nats-bucket.js";
import type { KvWatches } from "./nats-kv-watch.js";
import { isWrongLastSequence, retrying } from "./nats-retry.js";

/** A position as one KV value: the floor's length (2 bytes), the floor, the extra. */
function encodeStoredPosition(position: StoredPosition): Buffer {
  return Buffer.concat([Buffer.from([position.floor.length >> 8, position.floor.length & 0xff]), position.floor, position.extra]);
}

function decodeStoredPosition(value: Uint8Array): StoredPosition {
  const bytes = Buffer.from(value);
  const floorLength = bytes.readUInt16BE(0);
  return { floor: bytes.subarray(2, 2 + floorLength), extra: bytes.subarray(2 + floorLength) };
}

/**
 * Reader positions in the KV bucket `P_positions`, `<logId>.<reader>` per reader: each write a CAS
 * on the revision this gateway last read or wrote, so a write by another gateway (a takeover) is
 * refused as `PositionsFencedError`, and the watch of the bucket tells that write as it happens.
 */
export class NatsPositions {
  private readonly bucket: NatsBucket;
  private readonly retry: { attemptMs: number; totalMs: number };
  private readonly watches: KvWatches;
  /** KV revisions of the positions this gateway read or wrote: the CAS base of its next write. */
  private readonly positionRevisions = new Map<string, number>();
  /**
   * Position keys with a write in flight here, with the value it writes (null: a delete): the watch's
   * echo of it is this gateway's own write, not a takeover; any other write of the key is told.
   */
  private readonly positionWrites = new Map<string, Buffer | null>();

  constructor(parts: { bucket: NatsBucket; retry: { attemptMs: number; totalMs: number }; watches: KvWatches }) {
    this.bucket = parts.bucket;
    this.retry = parts.retry;
    this.watches = parts.watches;
  }

  private positionKey(logId: number, readerId: string): string {
    return `${logId}.${b64(readerId)}`;
  }

  async getPosition(logId: number, readerId: string): Promise<StoredPosition | undefined> {
    return this.readPosition(this.positionKey(logId, readerId));
  }

  private async readPosition(key: string): Promise<StoredPosition | undefined> {
    const entry = await retrying(this.retry, () => this.bucket.leaderGet(key));
    if (!entry) return undefined;
    this.positionRevisions.set(key, entry.revision);
    if (entry.operation !== "PUT") return undefined;
    return decodeStoredPosition(entry.value);
  }

  async listPositions(logId: number): Promise<Array<{ readerId: string; position: StoredPosition }>> {
    const out: Array<{ readerId: string; position: StoredPosition }> = [];
    for (const key of await this.bucket.listKeys(`${logId}.*`)) {
      const position = await this.readPosition(key);
      if (position) out.push({ readerId: unb64(key.slice(key.indexOf(".") + 1)), position });
    }
    return out;
  }

  /**
   * Each write a CAS over the revision this gateway last saw; a reader it never saw is created (a
   * CAS on its absence: of two gateways that read it absent, one writes it). Every write is tried;
   * those another gateway got to first are refused together in one `PositionsFencedError`.
   */
  async writePositions(writes: PositionWrite[]): Promise<void> {
    const results = await Promise.allSettled(writes.map((write) => this.writePosition(write)));
    const fenced: Array<{ logId: number; readerId: string }> = [];
    let failed: unknown;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") return;
      if (isWrongLastSequence(result.reason)) fenced.push({ logId: writes[i]!.logId, readerId: writes[i]!.readerId });
      else failed ??= result.reason;
    });
    if (failed !== undefined) throw failed;
    if (fenced.length > 0) throw new PositionsFencedError(fenced);
  }

  private async writePosition({ logId, readerId, position }: PositionWrite): Promise<void> {
    const key = this.positionKey(logId, readerId);
    // A put of a reader never seen here is a create: read now, another gateway's write since the caller's read would be its base.
    if (position === null && !this.positionRevisions.has(key)) await this.readPosition(key);
    const revision = this.positionRevisions.get(key) ?? 0;
    const value = position === null ? null : encodeStoredPosition(position);
    this.positionWrites.set(key, value);
    try {
      if (value === null) {
        if (revision === 0) return;
        await retrying(this.retry, () => this.bucket.kv.delete(key, { previousSeq: revision }));
        this.positionRevisions.delete(key);
        return;
      }
      this.positionRevisions.set(key, await this.bucket.casPut(key, value, revision));
    } finally {
      this.positionWrites.delete(key);
    }
  }

  /**
   * Follows every reader's key: a write or a DeleteReader (a KV delete) by another gateway of a
   * reader this one read or wrote (a revision above the one it knows, not its own write in flight)
   * is told, with the value or null. DeleteLog purges its readers' keys instead: `watchLogs` tells it.
   */
  watchReaders(listener: (logId: number, readerId: string, position: StoredPosition | null) => void): void {
    this.watches.follow("readers", this.bucket, ">", true, async (entry) => {
      const known = this.positionRevisions.get(entry.key);
      if (entry.operation === "PURGE" || known === undefined || entry.revision <= known || this.isOwnEcho(entry)) return;
      const dot = entry.key.indexOf(".");
      listener(Number(entry.key.slice(0, dot)), unb64(entry.key.slice(dot + 1)), entry.operation === "PUT" ? decodeStoredPosition(entry.value) : null);
    });
  }

  /** The watch's echo of this gateway's write in flight (its value, or its delete). */
  private isOwnEcho(entry: KvWatchEntry): boolean {
    if (!this.positionWrites.has(entry.key)) return false;
    const writing = this.positionWrites.get(entry.key);
    return writing === null || writing === undefined ? entry.operation === "DEL" : entry.operation === "PUT" && writing.equals(entry.value);
  }

  /** The log is deleted: its readers' keys are purged, and the revisions known of them go. */
  async forgetLog(logId: number): Promise<void> {
    await this.bucket.purgeKeys(`${logId}.*`);
    for (const key of this.positionRevisions.keys()) if (key.startsWith(`${logId}.`)) this.positionRevisions.delete(key);
  }
}
