/**
 * The TypeScript client of dlog: appends, reads, admin, and an at-least-once
 * reader that coalesces acks, reconnects, resumes and drains.
 */
export { createDlogClient, type DlogClient, type DlogClientOptions, type ReadOptions, type TlsOptions, type TruncateResult } from "./client.js";
export { type AppendInput, type Appender, type AppenderCounters, type AppenderOptions } from "./appender.js";
export { ReaderRecord } from "./reader-record.js";
export { Reader } from "./reader.js";
export { type FlowSettings, type ReaderOptions } from "./reader-options.js";
export { type OpenedInfo, type ReaderEnd, type ReaderEvents, type ReaderStatus, type ReconnectingInfo, type ResumeSourceName } from "./reader-events.js";
export { LogRecord } from "./log-record.js";
export { type LogInfo, type ReaderPosition, type SegmentInfo, type StartAt, parseStartAt } from "./convert.js";
export { type ReconnectOptions } from "./backoff.js";
export { DLSN } from "../../../src/dlsn.js";
export { Status } from "nice-grpc";
export { DlogError, type DlogErrorOptions } from "./dlog-error.js";
export { ERROR_REASONS, type ErrorReason } from "../../../src/errors.js";
