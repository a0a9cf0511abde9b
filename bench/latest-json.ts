/**
 * bench/results/latest.json: every figure of one run, machine-readable. The named summary
 * figures come first (records/s unless the key says otherwise; null where not measured), then
 * every row of every section exactly as the Markdown report shows it.
 */
import type { JetStreamJson } from "./jetstream.js";
import type { Row, Section } from "./report.js";

/** dlog's figure and the same job done by the peers and by the raw limit, in one run (records/s). */
export interface VersusPeers {
  dlog: number | null;
  nats: number | null;
  redis: number | null;
  /** Deliveries: the raw grpc-js stream of the same bytes (64 records/message); appends: raw classic-level batch(). */
  limit: number | null;
  /** What each key measured. */
  what: { dlog: string; nats: string; redis: string; limit: string };
}

export interface ClientRow {
  client: string;
  deliver_ack_1reader_100B: number | null;
  append_1record_appender_100B: number | null;
  /** deliver + ack ÷ the TypeScript client's, same run. */
  deliver_vs_typescript: number | null;
  append_vs_typescript: number | null;
  error?: string;
}

export interface Latest {
  schema: 1;
  date: string;
  quick: boolean;
  machine: {
    cpu_model: string;
    cpus: number;
    memory_gib: number;
    load_average_start: number[];
    load_average_end: number[];
    /** CPU seconds used by processes other than this run's during it, and that as a share of one core. */
    other_processes_cpu_s: number;
    other_processes_share_of_one_core: number;
    run_seconds: number;
  };
  versions: Record<string, string>;
  deliver_ack_1reader_100B: VersusPeers;
  append_1record_appender_100B: VersusPeers;
  append_256inflight_100B: VersusPeers;
  deliver_ack_8readers_100B: number | null;
  /** One reader on a log written one record per append (one entry per record). */
  deliver_ack_1reader_singles_log_100B: number | null;
  tail_p50_ms: number | null;
  tail_p99_ms: number | null;
  tail_p999_ms: number | null;
  /** The tail rows' floor, p99: classic-level alone group-committing the same arrivals (sync: true), each timed from its arrival (absent in runs before it was measured). */
  disk_floor_p99_ms?: number | null;
  /** The same tailing with the TypeScript client's appender as the producer (absent in runs before it was measured). */
  tail_appender_p50_ms?: number | null;
  tail_appender_p99_ms?: number | null;
  tail_appender_p999_ms?: number | null;
  resume_p50_ms: number | null;
  resume_p99_ms: number | null;
  position_writes_per_1000_acks: number | null;
  idle_session_kib: number | null;
  /** dlogd RSS after the 1-reader catch-up ÷ its RSS when idle before the sessions. */
  catchup_rss_vs_idle: number | null;
  unary_append_1inflight: number | null;
  unary_getlog_1inflight: number | null;
  clients: ClientRow[];
  /** Section 10: the change under test, off and on, in turns on two dlogd of this build. */
  side_by_side: SideBySideJson | null;
  /** Section 11: appends sharing entries, off and on (absent in runs before it was measured). */
  pack_side_by_side?: SideBySideJson | null;
  /** Section 12: dlog on NATS JetStream R1/R3 next to LevelDB and raw JetStream, and what failures cost (bench/jetstream.ts; absent in runs before it was measured). */
  jetstream?: JetStreamJson | null;
  sections: Array<{ title: string; intro: string; rows: Row[] }>;
}

/** null for NaN/undefined (JSON has no NaN). */
export const num = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

/** Two builds' figures from one before/after comparison, each figure as { before, after }. */
export interface SideBySideJson {
  before: string;
  after: string;
  figures: Record<string, { before: number | null; after: number | null }>;
}

/** The JSON of a before/after comparison; null when it did not run. */
export function sideBySideJson<F extends object>(before: string, after: string, figures: [F, F] | undefined): SideBySideJson | null {
  if (figures === undefined) return null;
  const [b, a] = figures as unknown as [Record<string, number | undefined>, Record<string, number | undefined>];
  return { before, after, figures: Object.fromEntries(Object.keys(b).map((k) => [k, { before: num(b[k]), after: num(a[k]) }])) };
}

/** The value of the row named exactly `name` in any section. */
export function rowValue(sections: readonly Section[], name: string): number | null {
  for (const s of sections) for (const r of s.rows) if (r.name === name) return num(r.value);
  return null;
}

/** Rows with NaN values written as null, so the file is valid JSON with every row kept. */
export function jsonSections(sections: readonly Section[]): Latest["sections"] {
  return sections.map((s) => ({ title: s.title, intro: s.intro, rows: s.rows.map((r) => ({ ...r, value: num(r.value) as number })) }));
}
