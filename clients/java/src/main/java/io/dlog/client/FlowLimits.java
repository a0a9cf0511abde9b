package io.dlog.client;

/**
 * Flow control of a reader session, changeable mid-stream ({@link Reader#setFlow}). A field of 0
 * keeps the current value (on open: the server's default of 1000 records, 64 MiB, 256 per batch).
 *
 * @param maxOutstandingRecords most delivered-but-unacked records
 * @param maxOutstandingBytes most delivered-but-unacked payload bytes
 * @param maxBatchRecords most records in one batch message
 */
public record FlowLimits(int maxOutstandingRecords, long maxOutstandingBytes, int maxBatchRecords) {
  public FlowLimits {
    if (maxOutstandingRecords < 0 || maxOutstandingBytes < 0 || maxBatchRecords < 0) {
      throw new IllegalArgumentException("flow limits must be >= 0 (0 keeps the current value)");
    }
  }

  /** Everything at the server's defaults. */
  public static FlowLimits defaults() {
    return new FlowLimits(0, 0, 0);
  }

  public FlowLimits withMaxOutstandingRecords(int records) {
    return new FlowLimits(records, maxOutstandingBytes, maxBatchRecords);
  }

  public FlowLimits withMaxOutstandingBytes(long bytes) {
    return new FlowLimits(maxOutstandingRecords, bytes, maxBatchRecords);
  }

  public FlowLimits withMaxBatchRecords(int records) {
    return new FlowLimits(maxOutstandingRecords, maxOutstandingBytes, records);
  }

  /** Fields of {@code other} that are set win. */
  FlowLimits merge(FlowLimits other) {
    return new FlowLimits(
        other.maxOutstandingRecords != 0 ? other.maxOutstandingRecords : maxOutstandingRecords,
        other.maxOutstandingBytes != 0 ? other.maxOutstandingBytes : maxOutstandingBytes,
        other.maxBatchRecords != 0 ? other.maxBatchRecords : maxBatchRecords);
  }

  io.dlog.v1.FlowLimits toProto() {
    return io.dlog.v1.FlowLimits.newBuilder()
        .setMaxOutstandingRecords(maxOutstandingRecords)
        .setMaxOutstandingBytes(maxOutstandingBytes)
        .setMaxBatchRecords(maxBatchRecords)
        .build();
  }

  static FlowLimits fromProto(io.dlog.v1.FlowLimits wire) {
    return new FlowLimits(wire.getMaxOutstandingRecords(), wire.getMaxOutstandingBytes(), wire.getMaxBatchRecords());
  }
}
