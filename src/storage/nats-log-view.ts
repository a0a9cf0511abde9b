import { decodeJson, encodeJson } from "./json-codec.js";
import { compare } from "./nats-entry-id.js";
import type { LogMeta, SegmentMeta, StoredLog } from "./storage.js";

/** What this gateway knows of a log: the committed value and its revision, and its subject's last stream sequence. */
export interface LogView {
  /** Undefined until a commit or load brings one (the compliance suite writes entries of logs it never describes). */
  meta: LogMeta | undefined;
  segments: Map<bigint, SegmentMeta>;
  producers: Map<string, Buffer>;
  /** KV revision of `log.<id>`; 0: no value yet. */
  revision: number;
  /** Stream sequence of the last entry the committed value covers; cursors stop there. */
  tailSeq: number;
  /** The subject's last stream sequence as this gateway left it: what the next publish expects. */
  lastSeq: number;
  /** The value of this gateway's CAS write in flight: the watch must not take its echo for another gateway's. */
  pending?: Buffer | undefined;
  /** Another gateway deleted the log (and this one's log store took it in): nothing more is written to it. */
  gone?: boolean | undefined;
}

/** The KV value of one log. */
interface StoredLogValue {
  meta: LogMeta;
  segments: SegmentMeta[];
  producers: Array<{ producerId: string; value: string }>;
  tailSeq: number;
}

export function viewOf(value: Uint8Array, revision: number, lastSeq: number): LogView {
  const stored = decodeJson<StoredLogValue>(value);
  return {
    meta: stored.meta,
    segments: new Map(stored.segments.map((s) => [s.segment, s])),
    producers: new Map(stored.producers.map((p) => [p.producerId, Buffer.from(p.value, "base64")])),
    revision,
    tailSeq: stored.tailSeq,
    lastSeq,
  };
}

export function storedLogOf(view: LogView & { meta: LogMeta }): StoredLog {
  return {
    meta: view.meta,
    segments: [...view.segments.values()].sort((a, b) => compare(a.segment, 0n, b.segment, 0n)),
    producers: [...view.producers].map(([producerId, value]) => ({ producerId, value })),
  };
}

/** The KV value of `log.<id>`: what a commit of the log writes. */
export function encodeLog(meta: LogMeta, segments: Map<bigint, SegmentMeta>, producers: Map<string, Buffer>, tailSeq: number): Buffer {
  const value: StoredLogValue = {
    meta,
    segments: [...segments.values()],
    producers: [...producers].map(([producerId, v]) => ({ producerId, value: v.toString("base64") })),
    tailSeq,
  };
  return encodeJson(value);
}
