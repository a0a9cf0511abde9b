import type { DLSN } from "../dlsn.js";
import { DlogError } from "../errors.js";
import type { SegmentMeta, Storage } from "../storage/storage.js";
import { type LogState, firstDlsnOf, headOf, lastDlsnOf } from "./log-state.js";

export interface TruncateResult {
  segmentsDeleted: number;
  recordsDeleted: bigint;
  firstDlsn: DLSN | undefined;
}

export interface TruncateOptions {
  /** Allow `before` after the log's head, which drops every record (the open segment included). */
  force?: boolean;
}

/**
 * Drops every committed segment of `log` whose records all lie before `before`,
 * except segments in `writing` (appends assigned but not yet committed go there).
 * A `before` past the committed head is refused unless `force`: one digit too many
 * in an operator's command must not empty a log. Runs on the store's write queue.
 */
export async function truncateSegments(
  storage: Storage,
  log: LogState,
  before: DLSN,
  writing: ReadonlySet<bigint>,
  options: TruncateOptions = {},
): Promise<TruncateResult> {
  if (options.force !== true) refusePastHead(log, before);
  const doomed = log.committed.segments.filter((segment) => lastDlsnOf(segment).isBefore(before) && !writing.has(segment.segment));
  // Only a prefix of segments can go: the log stays contiguous.
  const prefix: SegmentMeta[] = [];
  for (const segment of log.committed.segments) {
    if (doomed[prefix.length] !== segment) break;
    prefix.push(segment);
  }
  if (prefix.length === 0) {
    return { segmentsDeleted: 0, recordsDeleted: 0n, firstDlsn: firstLiveDlsn(log) };
  }
  const lastDoomed = prefix[prefix.length - 1]!.segment;
  let records = 0n;
  let bytes = 0n;
  for (const segment of prefix) {
    records += segment.recordCount;
    bytes += segment.byteCount;
  }
  for (const meta of [log.meta, log.committed.meta]) {
    meta.recordCount -= records;
    meta.byteCount -= bytes;
    meta.truncatedRecordCount += records;
    meta.firstLiveSegment = lastDoomed + 1n;
  }
  log.segments = log.segments.filter((segment) => segment.segment > lastDoomed);
  log.committed.segments = log.committed.segments.filter((segment) => segment.segment > lastDoomed);
  if (log.open && log.open.segment <= lastDoomed) log.open = undefined;
  // Metadata first (atomically), then the entries: a crash in between leaves only unreachable entries.
  await storage.commit(
    {
      entries: [],
      logs: [{ ...log.committed.meta }],
      segments: [],
      deletedSegments: prefix.map((segment) => ({ logId: log.meta.id, segment: segment.segment })),
    },
    true,
  );
  await storage.deleteSegmentRange(log.meta.id, 0n, lastDoomed + 1n);
  return { segmentsDeleted: prefix.length, recordsDeleted: records, firstDlsn: firstLiveDlsn(log) };
}

function refusePastHead(log: LogState, before: DLSN): void {
  const head = headOf(log).last;
  if (head === undefined || !head.isBefore(before)) return;
  const { recordCount } = log.committed.meta;
  const segments = log.committed.segments.length;
  const name = log.meta.name;
  throw new DlogError(
    "OUT_OF_RANGE",
    `truncating log "${name}" before ${before} would drop every record: all ${recordCount} in ${segments} segment${segments === 1 ? "" : "s"}, ` +
      `up to the head ${head}${log.open ? ", the open segment included" : ""}; give a DLSN at or before the head, or force to empty the log`,
    { reason: "POSITION_OUT_OF_RANGE", metadata: { log: name, before: before.toString(), head: head.toString() } },
  );
}

function firstLiveDlsn(log: LogState): DLSN | undefined {
  const first = log.committed.segments[0];
  return first ? firstDlsnOf(first) : undefined;
}
