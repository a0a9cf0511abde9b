import { open, readdir, stat, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";

/** Bytes an ordinary writer may still use on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/**
 * Bytes of LevelDB write-ahead logs in `dir`: on reopening, LevelDB writes them out as tables
 * before it takes a write, so that much space must be free first.
 */
export async function walBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    if (!name.endsWith(".log")) continue;
    total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/**
 * Writes and syncs a small file in `dir`, then removes it: throws what the disk answers (EIO,
 * EMFILE, ENOSPC…). Cheap, and it leaves the open database alone, so a reopen that cannot
 * succeed yet is not tried (closing the database would stop reads for nothing).
 */
export async function probeWrite(dir: string): Promise<void> {
  const path = join(dir, "dlog-write-probe");
  const file = await open(path, "w");
  try {
    await file.write(Buffer.from("probe"));
    await file.datasync();
  } finally {
    await file.close();
    await unlink(path).catch(() => undefined);
  }
}

const CHUNK = Buffer.alloc(1024 * 1024);

/**
 * A file of zeros that keeps room on the disk for recovery: released when the disk fills, so
 * LevelDB can reopen and Truncate or DeleteLog can write the deletions that free space;
 * recreated once space has returned. (CockroachDB's "ballast file" is the same idea.)
 */
export class DiskReserve {
  readonly path: string;
  readonly bytes: number;
  private present = false;

  constructor(dir: string, bytes: number) {
    this.path = join(dir, "dlog-disk-reserve");
    this.bytes = bytes;
  }

  /** Whether the reserve's space is held now. */
  get held(): boolean {
    return this.present;
  }

  /** Notes a reserve left by an earlier run (of the right size), or removes a wrong one. */
  async adopt(): Promise<void> {
    const size = await stat(this.path).then(
      (s) => s.size,
      () => -1,
    );
    if (size === this.bytes && this.bytes > 0) this.present = true;
    else if (size >= 0) await unlink(this.path).catch(() => undefined);
  }

  /** Writes the reserve; false (and nothing left behind) when the disk has no room for it. */
  async create(): Promise<boolean> {
    if (this.present || this.bytes === 0) return this.present;
    const file = await open(this.path, "w").catch(() => undefined);
    if (!file) return false;
    try {
      for (let written = 0; written < this.bytes; written += CHUNK.length) {
        await file.write(CHUNK, 0, Math.min(CHUNK.length, this.bytes - written));
      }
      await file.sync();
      this.present = true;
    } catch {
      // No room: the space is better left to the data.
    } finally {
      await file.close();
      if (!this.present) await unlink(this.path).catch(() => undefined);
    }
    return this.present;
  }

  /** Frees the reserve's space; true when there was one to free. */
  async release(): Promise<boolean> {
    if (!this.present) return false;
    this.present = false;
    await unlink(this.path).catch(() => undefined);
    return true;
  }
}
