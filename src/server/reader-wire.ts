/** The reader service's messages as the session core's values, and back: opens, flow limits, frames, reader infos. */
import { DlogError } from "../errors.js";
import type { FlowLimits } from "../sessions/flow-limits.js";
import type { ReaderInfo, ResumePolicy as CoreResumePolicy, Takeover as CoreTakeover } from "../sessions/reader-sessions.js";
import type { ResumeSource as CoreResumeSource, SessionFrame } from "../sessions/session.js";
import {
  type FlowLimits as WireFlowLimits,
  type Open,
  type ReaderInfo as WireReaderInfo,
  ResumePolicy,
  ResumeSource,
  type SessionResponse,
  Takeover,
} from "../gen/dlog/v1/reader.js";
import { fromWireDlsn, fromWirePosition, optionalWireDlsn, toWireDlsn } from "./convert.js";
import { LazyRecordsFrame } from "./record-frames.js";

const RESUME_POLICY: Record<number, CoreResumePolicy> = {
  [ResumePolicy.RESUME_POLICY_UNSPECIFIED]: "stored",
  [ResumePolicy.RESUME_POLICY_STORED]: "stored",
  [ResumePolicy.RESUME_POLICY_CLIENT]: "client",
  [ResumePolicy.RESUME_POLICY_MAX]: "max",
};

const TAKEOVER: Record<number, CoreTakeover> = {
  [Takeover.TAKEOVER_UNSPECIFIED]: "fence",
  [Takeover.TAKEOVER_FENCE]: "fence",
  [Takeover.TAKEOVER_REJECT]: "reject",
};

const RESUME_SOURCE: Record<CoreResumeSource, ResumeSource> = {
  stored: ResumeSource.RESUME_SOURCE_STORED,
  fallback: ResumeSource.RESUME_SOURCE_FALLBACK,
  override: ResumeSource.RESUME_SOURCE_OVERRIDE,
  client: ResumeSource.RESUME_SOURCE_CLIENT,
};

export function toOpenRequest(open: Open) {
  return {
    log: open.log,
    readerId: open.readerId,
    fallback: fromWirePosition(open.fallback, "open.fallback"),
    override: fromWirePosition(open.override, "open.override"),
    clientCheckpoint: open.clientCheckpoint ? fromWireDlsn(open.clientCheckpoint, "open.client_checkpoint") : undefined,
    resumePolicy:
      RESUME_POLICY[open.resumePolicy] ??
      invalid("open.resume_policy", `open.resume_policy ${open.resumePolicy} is not RESUME_POLICY_STORED, RESUME_POLICY_CLIENT or RESUME_POLICY_MAX`),
    flow: open.flow ? toFlow(open.flow) : {},
    takeover: TAKEOVER[open.takeover] ?? invalid("open.takeover", `open.takeover ${open.takeover} is not TAKEOVER_FENCE or TAKEOVER_REJECT`),
    ackWaitMs: open.ackWaitMs,
  };
}

export function toWireReaderInfo(info: ReaderInfo): WireReaderInfo {
  return {
    log: info.log,
    readerId: info.readerId,
    floor: toWireDlsn(info.floor),
    holes: info.holes.map(toWireDlsn),
    lag: info.lag,
    live: info.live,
    epoch: info.epoch,
    updatedTimeMs: BigInt(info.updatedTimeMs),
    deliveredHigh: optionalWireDlsn(info.deliveredHigh),
  };
}

function invalid(field: string, message: string): never {
  throw new DlogError("INVALID_ARGUMENT", message, { metadata: { field } });
}

export function toFlow(flow: WireFlowLimits): Partial<FlowLimits> {
  const bytes = flow.maxOutstandingBytes;
  return {
    maxOutstandingRecords: flow.maxOutstandingRecords,
    maxOutstandingBytes: bytes > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(bytes),
    maxBatchRecords: flow.maxBatchRecords,
  };
}

function toWireFlow(flow: FlowLimits): WireFlowLimits {
  return {
    maxOutstandingRecords: flow.maxOutstandingRecords,
    maxOutstandingBytes: BigInt(flow.maxOutstandingBytes),
    maxBatchRecords: flow.maxBatchRecords,
  };
}

export function toWireFrame(frame: SessionFrame): SessionResponse {
  switch (frame.kind) {
    case "opened": {
      const opened = frame.opened;
      return {
        kind: {
          $case: "opened",
          value: {
            epoch: opened.epoch,
            resumeAfter: toWireDlsn(opened.resumeAfter),
            source: RESUME_SOURCE[opened.source],
            logHead: optionalWireDlsn(opened.logHead),
            skippedByTruncation: opened.skippedByTruncation,
            durableHoles: BigInt(opened.durableHoles),
            flow: toWireFlow(opened.flow),
            deliveredHigh: optionalWireDlsn(opened.deliveredHigh),
          },
        },
      };
    }
    case "records":
      // Encoded as grpc-js serializes it (record-frames.ts); the service definition passes it through as a SessionResponse.
      return new LazyRecordsFrame(frame.runs, frame.attempts, frame.lag) as unknown as SessionResponse;
    case "status": {
      const status = frame.status;
      return {
        kind: {
          $case: "status",
          value: {
            durableFloor: toWireDlsn(status.durableFloor),
            ackedFloor: toWireDlsn(status.ackedFloor),
            deliveredHigh: optionalWireDlsn(status.deliveredHigh),
            outstandingRecords: BigInt(status.outstandingRecords),
            outstandingBytes: BigInt(status.outstandingBytes),
            holes: BigInt(status.holes),
            lag: status.lag,
            pausedReason: status.pausedReason,
            durableHoles: BigInt(status.durableHoles),
            acksDurable: BigInt(status.acksDurable),
            acksReceived: BigInt(status.acksReceived),
          },
        },
      };
    }
    case "drained":
      return {
        kind: {
          $case: "drained",
          value: { durableFloor: toWireDlsn(frame.durableFloor), durableHoles: BigInt(frame.durableHoles), acksDurable: BigInt(frame.acksDurable) },
        },
      };
  }
}
