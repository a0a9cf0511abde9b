import type { StoredMsg } from "@nats-io/jetstream";
import { DlogError } from "../errors.js";

/** A DLSN's (segment, entry) ordered as one comparable pair. */
export function compare(aSegment: bigint, aEntry: bigint, bSegment: bigint, bEntry: bigint): number {
  if (aSegment !== bSegment) return aSegment < bSegment ? -1 : 1;
  return aEntry === bEntry ? 0 : aEntry < bEntry ? -1 : 1;
}

/** The `Nats-Msg-Id` of an entry message, `<logId>.<segment>.<entry>`: a publish the stream already stored is answered as a duplicate. */
export function entryMsgId(logId: number, segment: bigint, entry: bigint): string {
  return `${logId}.${segment}.${entry}`;
}

/** (segment, entry) of a stored entry message, from its `Nats-Msg-Id`. */
export function entryOf(msg: StoredMsg): { segment: bigint; entry: bigint } {
  const id = msg.header?.get("Nats-Msg-Id") ?? "";
  const parts = id.split(".");
  if (parts.length !== 3) throw new DlogError("INTERNAL", `stream message ${msg.seq} on ${msg.subject} has no dlog entry id (Nats-Msg-Id "${id}")`);
  return { segment: BigInt(parts[1]!), entry: BigInt(parts[2]!) };
}
