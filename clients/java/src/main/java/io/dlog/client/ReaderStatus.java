package io.dlog.client;

/**
 * A status frame: what is durable, acked and outstanding on the server, sent after each position
 * flush that concerns the reader and as a heartbeat when idle.
 *
 * @param epoch the session that sent it ({@link OpenedInfo#epoch()})
 * @param durableFloor on disk: a server crash replays everything after it (minus durable holes)
 * @param ackedFloor every delivered record up to here is acked (in memory)
 * @param deliveredHigh the highest DLSN delivered in this session; null before the first delivery
 * @param acksDurable the first this-many Ack messages of the session are entirely on disk
 *     ({@link ReaderRecord#ackDurable()} uses it)
 * @param acksReceived Ack messages of the session the server has applied so far
 * @param pausedReason why delivery is paused; empty when it is not
 */
public record ReaderStatus(
    long epoch,
    DLSN durableFloor,
    DLSN ackedFloor,
    DLSN deliveredHigh,
    long outstandingRecords,
    long outstandingBytes,
    long holes,
    long durableHoles,
    long lag,
    long acksDurable,
    long acksReceived,
    String pausedReason) {

  static ReaderStatus fromProto(long epoch, io.dlog.v1.ReaderStatus wire) {
    return new ReaderStatus(
        epoch,
        wire.hasDurableFloor() ? DLSN.fromProto(wire.getDurableFloor()) : null,
        wire.hasAckedFloor() ? DLSN.fromProto(wire.getAckedFloor()) : null,
        wire.hasDeliveredHigh() ? DLSN.fromProto(wire.getDeliveredHigh()) : null,
        wire.getOutstandingRecords(),
        wire.getOutstandingBytes(),
        wire.getHoles(),
        wire.getDurableHoles(),
        wire.getLag(),
        wire.getAcksDurable(),
        wire.getAcksReceived(),
        wire.getPausedReason());
  }
}
