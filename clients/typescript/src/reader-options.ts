import type { DLSN } from "../../../src/dlsn.js";
import { type FlowLimits, type Open, ResumePolicy, Takeover } from "./gen/dlog/v1/reader.js";
import type { ReconnectOptions } from "./backoff.js";
import { type StartAt, toWireDlsn, toWirePosition } from "./convert.js";

// What `client.reader()` accepts (ReaderOptions) and how it becomes the Open message of each session.

/** Flow limits of a session; unset fields keep the server's defaults (1000 records, 64 MiB, 256 per batch). */
export interface FlowSettings {
  maxOutstandingRecords?: number | undefined;
  maxOutstandingBytes?: number | bigint | undefined;
  maxBatchRecords?: number | undefined;
}

export interface ReaderOptions {
  log: string;
  readerId: string;
  /** Re-positions the reader on the first open (the open's `override`); reconnects resume from the stored position instead. */
  from?: StartAt | undefined;
  /** Where to start when the reader has no stored position. Server default: earliest. */
  fallback?: StartAt | undefined;
  /** A position the application persisted itself (the last record it processed), used per `resumePolicy`. */
  checkpoint?: DLSN | undefined;
  resumePolicy?: "stored" | "client" | "max" | undefined;
  /**
   * Ack each record when the loop asks for the next one. A record the loop
   * leaves with `break` or `throw` is not acked (it comes back next time):
   * call `record.ack()` before `break` if it was processed.
   */
  autoAck?: boolean | undefined;
  flow?: FlowSettings | undefined;
  /** Records not acked for this long are delivered again in the same session (attempt + 1). */
  ackWaitMs?: number | undefined;
  /** When another session holds this reader: end it (`fence`, default) or fail this one (`reject`). */
  takeover?: "fence" | "reject" | undefined;
  /** Aborting closes the reader (drains) and makes the loop throw the abort reason. */
  signal?: AbortSignal | undefined;
  /** Reconnect on UNAVAILABLE or a lost connection; `false` turns it off. */
  reconnect?: ReconnectOptions | false | undefined;
  /**
   * Acks made in the same tick always go out together; this is the least time
   * between two ack messages (default 2 ms), so a loop that awaits per record
   * still sends few messages. 0 = once per tick.
   */
  ackIntervalMs?: number | undefined;
  /** How long `close()` waits for the server's `drained`. Default 10 000 ms. */
  drainTimeoutMs?: number | undefined;
}

const POLICIES: Record<NonNullable<ReaderOptions["resumePolicy"]>, ResumePolicy> = {
  stored: ResumePolicy.RESUME_POLICY_STORED,
  client: ResumePolicy.RESUME_POLICY_CLIENT,
  max: ResumePolicy.RESUME_POLICY_MAX,
};

export function toWireFlow(flow: FlowSettings): FlowLimits {
  return {
    maxOutstandingRecords: flow.maxOutstandingRecords ?? 0,
    maxOutstandingBytes: BigInt(flow.maxOutstandingBytes ?? 0),
    maxBatchRecords: flow.maxBatchRecords ?? 0,
  };
}

/**
 * The Open message of a session: the first one applies `override` (the `from` option), the
 * checkpoint and the resume policy; after a reconnect the server's stored position is always the
 * better one.
 */
export function openMessage(options: ReaderOptions, override: StartAt | undefined, flow: FlowSettings | undefined, first: boolean): Open {
  const policy = options.resumePolicy ?? "stored";
  return {
    log: options.log,
    readerId: options.readerId,
    fallback: options.fallback === undefined ? undefined : toWirePosition(options.fallback),
    override: override === undefined ? undefined : toWirePosition(override),
    clientCheckpoint: options.checkpoint && first ? toWireDlsn(options.checkpoint) : undefined,
    resumePolicy: first ? POLICIES[policy] : ResumePolicy.RESUME_POLICY_STORED,
    flow: flow ? toWireFlow(flow) : undefined,
    takeover: options.takeover === "reject" ? Takeover.TAKEOVER_REJECT : Takeover.TAKEOVER_FENCE,
    ackWaitMs: options.ackWaitMs ?? 0,
  };
}
