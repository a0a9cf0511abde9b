package io.dlog.client;

import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * DistributedLog Sequence Number: the position of one record, {@code (segment, entry, slot)},
 * ordered field by field. Byte-compatible with DistributedLog's {@code DLSN}: {@link #serializeBytes()}
 * is its 25-byte version-1 form, {@link #serialize()} its base64 string, and the special values
 * keep DistributedLog's names, so code written against the tutorial reads the same.
 *
 * <pre>{@code
 * DLSN dlsn = DLSN.deserializeBytes(stored);   // what the tutorial kept in LevelDB
 * dlsn.toString();                             // "1/42/0"
 * }</pre>
 */
public final class DLSN implements Comparable<DLSN> {
  /** The first record of a log: {@code (1,0,0)}. */
  public static final DLSN InitialDLSN = new DLSN(1, 0, 0);
  /** Before the first record: {@code (1,0,-1)}. */
  public static final DLSN NonInclusiveLowerBound = new DLSN(1, 0, -1);
  /** Not a position: {@code (0,-1,-1)}. */
  public static final DLSN InvalidDLSN = new DLSN(0, -1, -1);

  private static final byte VERSION = 1;
  private static final int SERIALIZED_BYTES = 25;
  private static final Pattern TEXT = Pattern.compile("(-?\\d+)/(-?\\d+)/(-?\\d+)");

  private final long segment;
  private final long entry;
  private final long slot;

  public DLSN(long segment, long entry, long slot) {
    this.segment = segment;
    this.entry = entry;
    this.slot = slot;
  }

  /** Log segment sequence number (DistributedLog's {@code getLogSegmentSequenceNo()}). */
  public long segment() {
    return segment;
  }

  /** Entry id within the segment. */
  public long entry() {
    return entry;
  }

  /** Record index within the entry. */
  public long slot() {
    return slot;
  }

  /** DistributedLog's version-1 form: {@code 0x01}, then the three fields as big-endian int64. */
  public byte[] serializeBytes() {
    return ByteBuffer.allocate(SERIALIZED_BYTES).put(VERSION).putLong(segment).putLong(entry).putLong(slot).array();
  }

  /** Standard base64 of {@link #serializeBytes()}, as DistributedLog's {@code DLSN.serialize()}. */
  public String serialize() {
    return Base64.getEncoder().encodeToString(serializeBytes());
  }

  /** Reads the 25-byte form; anything else is refused with a message saying what is wrong. */
  public static DLSN deserializeBytes(byte[] bytes) {
    if (bytes == null || bytes.length != SERIALIZED_BYTES) {
      throw new IllegalArgumentException(
          "a serialized DLSN is " + SERIALIZED_BYTES + " bytes, got " + (bytes == null ? "null" : bytes.length));
    }
    if (bytes[0] != VERSION) {
      throw new IllegalArgumentException("unknown DLSN serialization version " + bytes[0] + " (expected 1)");
    }
    ByteBuffer buffer = ByteBuffer.wrap(bytes, 1, SERIALIZED_BYTES - 1);
    return new DLSN(buffer.getLong(), buffer.getLong(), buffer.getLong());
  }

  /** Reads the base64 form ({@link #serialize()}). */
  public static DLSN deserialize(String base64) {
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(base64);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("not a base64 DLSN: \"" + base64 + "\"", e);
    }
    return deserializeBytes(bytes);
  }

  /** Reads what a person typed: {@code 1/42/0} or the base64 form. */
  public static DLSN parse(String text) {
    Matcher matcher = TEXT.matcher(text.trim());
    if (matcher.matches()) {
      try {
        return new DLSN(Long.parseLong(matcher.group(1)), Long.parseLong(matcher.group(2)), Long.parseLong(matcher.group(3)));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("DLSN field out of int64 range: \"" + text + "\"", e);
      }
    }
    try {
      return deserialize(text.trim());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("\"" + text + "\" is not a DLSN: use SEGMENT/ENTRY/SLOT (1/42/0) or base64", e);
    }
  }

  /** The wire form. */
  public io.dlog.v1.DLSN toProto() {
    return io.dlog.v1.DLSN.newBuilder().setSegment(segment).setEntry(entry).setSlot(slot).build();
  }

  /** From the wire form; an unset field (read as the default (0,0,0)) should be checked with hasX() first. */
  public static DLSN fromProto(io.dlog.v1.DLSN wire) {
    return new DLSN(wire.getSegment(), wire.getEntry(), wire.getSlot());
  }

  /** Orders two wire DLSNs field by field without building client objects. */
  static int compare(io.dlog.v1.DLSN a, io.dlog.v1.DLSN b) {
    int order = Long.compare(a.getSegment(), b.getSegment());
    if (order != 0) return order;
    order = Long.compare(a.getEntry(), b.getEntry());
    return order != 0 ? order : Long.compare(a.getSlot(), b.getSlot());
  }

  @Override
  public int compareTo(DLSN other) {
    int order = Long.compare(segment, other.segment);
    if (order != 0) return order;
    order = Long.compare(entry, other.entry);
    return order != 0 ? order : Long.compare(slot, other.slot);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof DLSN that && segment == that.segment && entry == that.entry && slot == that.slot;
  }

  @Override
  public int hashCode() {
    return Long.hashCode(segment) * 961 + Long.hashCode(entry) * 31 + Long.hashCode(slot);
  }

  /** {@code segment/entry/slot}, e.g. {@code 1/42/0}. */
  @Override
  public String toString() {
    return segment + "/" + entry + "/" + slot;
  }
}
