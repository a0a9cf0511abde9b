/**
 * DistributedLog's "At-least-once Processing" tutorial kept its reader positions
 * in a LevelDB of its own: key = the reader id as UTF-8, value =
 * `DLSN.serializeBytes()` (25 bytes, version 1) of the last record the reader
 * read, written every 10 s. This reads such a store, all of it, before anything acts on it.
 */
import { ClassicLevel } from "classic-level";
import { DLSN } from "../dlsn.js";
import { validateName } from "../names.js";
import { UsageError } from "./exit-codes.js";

export interface StoredOffset {
  readerId: string;
  /** The last record the tutorial's reader read (and so re-read on restart). */
  dlsn: DLSN;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decode(key: Buffer, value: Buffer): StoredOffset {
  let readerId: string;
  try {
    readerId = utf8.decode(key);
  } catch {
    throw new Error(`key 0x${key.subarray(0, 16).toString("hex")} is not UTF-8`);
  }
  try {
    validateName("reader_id", readerId);
    return { readerId, dlsn: DLSN.deserializeBytes(value) };
  } catch (error) {
    throw new Error(`"${readerId}": ${(error as Error).message}`);
  }
}

/** Every offset in the store at `dir`, in key order; throws naming the entries that are not a reader id → DLSN. */
export async function readOffsetStore(dir: string): Promise<StoredOffset[]> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer", createIfMissing: false });
  try {
    await db.open();
  } catch (error) {
    const cause = (error as { cause?: Error & { code?: string } }).cause;
    if (cause?.code === "LEVEL_LOCKED") throw new UsageError(`--offset-store ${dir} is in use by another process: stop the program that reads with it first`);
    const why = (cause?.message ?? (error as Error).message).replace(/\s*\n\s*/g, " ");
    throw new UsageError(`--offset-store ${dir} is not a LevelDB offset store: ${why}`);
  }
  const offsets: StoredOffset[] = [];
  const problems: string[] = [];
  try {
    for await (const [key, value] of db.iterator()) {
      try {
        offsets.push(decode(key, value));
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
  } finally {
    await db.close();
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).join("; ") + (problems.length > 3 ? `; and ${problems.length - 3} more` : "");
    throw new Error(
      `--offset-store ${dir}: ${problems.length} of ${problems.length + offsets.length} entries are not reader id → DLSN: ${shown}; nothing was imported`,
    );
  }
  return offsets;
}
