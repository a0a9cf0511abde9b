package io.dlog.client;

import com.google.protobuf.ByteString;
import io.dlog.v1.Record;
import java.nio.charset.StandardCharsets;

/** One record of a log, as a stateless read returns it. */
public class LogRecord {
  final Record wire;
  private DLSN dlsn;

  LogRecord(Record wire) {
    this.wire = wire;
  }

  /** Its position in the log. */
  public DLSN dlsn() {
    DLSN value = dlsn;
    if (value == null) dlsn = value = DLSN.fromProto(wire.getDlsn());
    return value;
  }

  public long txid() {
    return wire.getTxid();
  }

  /** When the server wrote it, ms since the epoch. */
  public long appendTimeMs() {
    return wire.getAppendTimeMs();
  }

  /** 0-based position of the record in its log since the log was created; never reused. */
  public long sequenceId() {
    return wire.getSequenceId();
  }

  /** A copy of the payload. */
  public byte[] payload() {
    return wire.getPayload().toByteArray();
  }

  /** The payload without copying. */
  public ByteString payloadBytes() {
    return wire.getPayload();
  }

  /** The payload as UTF-8 text. */
  public String text() {
    return wire.getPayload().toString(StandardCharsets.UTF_8);
  }

  /** The wire form. */
  public Record toProto() {
    return wire;
  }

  @Override
  public String toString() {
    return "LogRecord{" + dlsn() + ", txid " + txid() + ", " + wire.getPayload().size() + " bytes}";
  }
}
