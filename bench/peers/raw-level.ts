import { ClassicLevel } from "classic-level";
import { DEFAULT_RECORDS, DEFAULT_SIZE, DEFAULT_TIMEOUT_MS, deadline, rate, type Measurement, type PeerOptions } from "./measurement.js";
import { tempDir } from "./support.js";

const BATCH = 1000;

type Db = ClassicLevel<Buffer, Buffer>;

/** Opens a buffer-keyed database in a fresh temp dir, runs `fn`, closes and removes it. */
async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const dir = await tempDir("level");
  const db: Db = new ClassicLevel<Buffer, Buffer>(dir.path, { keyEncoding: "buffer", valueEncoding: "buffer" });
  try {
    await db.open();
    return await fn(db);
  } finally {
    await db.close();
    await dir.remove();
  }
}

function key(i: number): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeBigUInt64BE(BigInt(i));
  return k;
}

/** Writes `records` in batches of 1000; returns how many were written before the deadline. */
async function fill(db: Db, records: number, value: Buffer, expired: () => boolean): Promise<number> {
  let written = 0;
  while (written < records && !expired()) {
    const n = Math.min(BATCH, records - written);
    const ops = new Array<{ type: "put"; key: Buffer; value: Buffer }>(n);
    for (let j = 0; j < n; j++) ops[j] = { type: "put", key: key(written + j), value };
    await db.batch(ops);
    written += n;
  }
  return written;
}

/**
 * classic-level `batch()` of 1000 puts at a time, no sync.
 * @example await batchPuts({ records: 200_000, size: 100 })
 */
export async function batchPuts(opts: PeerOptions = {}): Promise<Measurement> {
  const { records = DEFAULT_RECORDS, size = DEFAULT_SIZE, timeoutMs = DEFAULT_TIMEOUT_MS } = opts;
  return withDb(async (db) => {
    const value = Buffer.alloc(size, 0x61);
    const t0 = performance.now();
    const written = await fill(db, records, value, deadline(timeoutMs));
    const ms = performance.now() - t0;
    return rate(`classic-level batch() ×${BATCH} puts, ${size} B`, written, ms, "rec/s", `${written} records, 8 B keys`, records);
  });
}

/**
 * classic-level `iterator.nextv(1000)` over `records` values written just before (untimed).
 * @example await nextvScan({ records: 200_000, size: 100 })
 */
export async function nextvScan(opts: PeerOptions = {}): Promise<Measurement> {
  const { records = DEFAULT_RECORDS, size = DEFAULT_SIZE, timeoutMs = DEFAULT_TIMEOUT_MS } = opts;
  const expired = deadline(timeoutMs);
  return withDb(async (db) => {
    const written = await fill(db, records, Buffer.alloc(size, 0x61), expired);
    const it = db.iterator();
    let read = 0;
    let bytes = 0;
    const t0 = performance.now();
    try {
      while (!expired()) {
        const entries = await it.nextv(BATCH);
        if (entries.length === 0) break;
        read += entries.length;
        // Touch one value per batch so the read cannot be optimised away.
        bytes += entries[0]![1].length;
      }
    } finally {
      await it.close();
    }
    const ms = performance.now() - t0;
    return rate(`classic-level iterator.nextv(${BATCH}) scan, ${size} B`, read, ms, "rec/s", `${read} records${bytes > 0 ? "" : " (empty)"}`, written);
  });
}

/**
 * One awaited `put` at a time, optionally with `sync: true` (fsync per write).
 * @example await singlePuts({ ops: 2_000, sync: true })
 */
export async function singlePuts(opts: { ops?: number; sync?: boolean; size?: number; timeoutMs?: number } = {}): Promise<Measurement> {
  const { sync = false, size = DEFAULT_SIZE, timeoutMs = DEFAULT_TIMEOUT_MS } = opts;
  const ops = opts.ops ?? (sync ? 2_000 : 50_000);
  const expired = deadline(timeoutMs);
  return withDb(async (db) => {
    const value = Buffer.alloc(size, 0x61);
    const putOpts = { sync };
    let done = 0;
    const t0 = performance.now();
    while (done < ops && !expired()) {
      await db.put(key(done), value, putOpts);
      done++;
    }
    const ms = performance.now() - t0;
    return rate(`classic-level one awaited put${sync ? " (sync: true)" : ""}, ${size} B`, done, ms, "ops/s", `${done} puts`, ops);
  });
}
