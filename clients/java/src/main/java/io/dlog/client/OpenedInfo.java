package io.dlog.client;

import io.dlog.v1.ResumeSource;

/**
 * What the server said when a session opened.
 *
 * @param epoch strictly increasing across every session of this reader
 * @param resumeAfter delivery starts strictly after this DLSN ((1,0,-1): before the first record)
 * @param source why it resumes there: the stored position, the fallback, the override or the client checkpoint
 * @param logHead the log's last record; null when the log is empty
 * @param skippedByTruncation records removed by truncation before this reader got them
 * @param deliveredHigh the highest DLSN an earlier session delivered: records up to it come with attempt >= 2; null when none
 * @param reconnects sessions this reader opened before this one (0 on the first open)
 */
public record OpenedInfo(
    long epoch,
    DLSN resumeAfter,
    ResumeSource source,
    DLSN logHead,
    long skippedByTruncation,
    long durableHoles,
    FlowLimits flow,
    DLSN deliveredHigh,
    int reconnects) {

  static OpenedInfo fromProto(io.dlog.v1.Opened wire, int reconnects) {
    return new OpenedInfo(
        wire.getEpoch(),
        wire.hasResumeAfter() ? DLSN.fromProto(wire.getResumeAfter()) : null,
        wire.getSource(),
        wire.hasLogHead() ? DLSN.fromProto(wire.getLogHead()) : null,
        wire.getSkippedByTruncation(),
        wire.getDurableHoles(),
        FlowLimits.fromProto(wire.getFlow()),
        wire.hasDeliveredHigh() ? DLSN.fromProto(wire.getDeliveredHigh()) : null,
        reconnects);
  }
}
