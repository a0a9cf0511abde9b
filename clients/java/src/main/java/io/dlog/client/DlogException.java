package io.dlog.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.Map;

/**
 * A failed dlog call: the gRPC status code, the stable {@link Reason} of the server's
 * {@code google.rpc.ErrorInfo} (domain {@code dlog.v1}) and its metadata, and a message a person
 * can act on. One subclass per status code, so callers catch what they handle:
 *
 * <pre>{@code
 * try {
 *   client.createLog("orders");
 * } catch (DlogException.AlreadyExists e) {
 *   // fine: someone made it first
 * }
 * }</pre>
 *
 * Programs branch on {@link #reason()}, never on the message.
 */
public class DlogException extends RuntimeException {
  /** The ErrorInfo domain of dlog's reasons. */
  public static final String DOMAIN = "dlog.v1";

  /** The stable reasons the server gives (README, "Errors"); {@link #UNKNOWN} when it gave none this client knows. */
  public enum Reason {
    INVALID_REQUEST,
    INVALID_NAME,
    INVALID_DLSN,
    SESSION_PROTOCOL,
    DLSN_NOT_DELIVERED,
    LOG_NOT_FOUND,
    LOG_EXISTS,
    LOG_DELETED,
    READER_NOT_FOUND,
    READER_LIVE,
    READER_FENCED,
    READER_REPOSITIONED,
    READER_DELETED,
    TXID_OUT_OF_ORDER,
    PRODUCER_SEQUENCE_GAP,
    PRODUCER_SEQUENCE_REUSED,
    PRODUCER_SEQUENCE_TOO_OLD,
    POSITION_OUT_OF_RANGE,
    LIMIT_EXCEEDED,
    DISK_FULL,
    STORAGE_UNAVAILABLE,
    SHUTTING_DOWN,
    UNAUTHENTICATED,
    PERMISSION_DENIED,
    INTERNAL,
    /** No ErrorInfo of domain dlog.v1, or a reason newer than this client: see {@link #reasonName()}. */
    UNKNOWN;

    static Reason of(String name) {
      if (name == null || name.isEmpty()) return UNKNOWN;
      try {
        return valueOf(name);
      } catch (IllegalArgumentException e) {
        return UNKNOWN;
      }
    }
  }

  private static final long serialVersionUID = 1L;

  private final Status.Code code;
  private final String reasonName;
  private final Map<String, String> metadata;

  DlogException(Status.Code code, String message, String reasonName, Map<String, String> metadata, Throwable cause) {
    super(code + ": " + message, cause);
    this.code = code;
    this.reasonName = reasonName == null ? "" : reasonName;
    this.metadata = Map.copyOf(metadata);
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  public Reason reason() {
    return Reason.of(reasonName);
  }

  /** The reason as the server sent it; empty when it sent none. */
  public String reasonName() {
    return reasonName;
  }

  /** What the error is about, e.g. {@code {log=orders, limit=max_records_per_append, max=10000}}. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** A transient failure worth retrying (the server or the network went away). */
  public boolean isRetryable() {
    return code == Status.Code.UNAVAILABLE;
  }

  public static class InvalidArgument extends DlogException {
    private static final long serialVersionUID = 1L;

    InvalidArgument(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.INVALID_ARGUMENT, message, reason, metadata, cause);
    }
  }

  public static class NotFound extends DlogException {
    private static final long serialVersionUID = 1L;

    NotFound(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.NOT_FOUND, message, reason, metadata, cause);
    }
  }

  public static class AlreadyExists extends DlogException {
    private static final long serialVersionUID = 1L;

    AlreadyExists(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.ALREADY_EXISTS, message, reason, metadata, cause);
    }
  }

  public static class FailedPrecondition extends DlogException {
    private static final long serialVersionUID = 1L;

    FailedPrecondition(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.FAILED_PRECONDITION, message, reason, metadata, cause);
    }
  }

  /** The session was ended by the server on purpose: a reader never reconnects after one. */
  public static class Aborted extends DlogException {
    private static final long serialVersionUID = 1L;

    Aborted(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.ABORTED, message, reason, metadata, cause);
    }
  }

  /** A newer session took this reader over (reason READER_FENCED); this one's later acks would be refused. */
  public static class ReaderFenced extends Aborted {
    private static final long serialVersionUID = 1L;

    ReaderFenced(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(message, reason, metadata, cause);
    }
  }

  public static class OutOfRange extends DlogException {
    private static final long serialVersionUID = 1L;

    OutOfRange(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.OUT_OF_RANGE, message, reason, metadata, cause);
    }
  }

  /** A configured limit: {@code metadata().get("limit")} names it. */
  public static class ResourceExhausted extends DlogException {
    private static final long serialVersionUID = 1L;

    ResourceExhausted(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.RESOURCE_EXHAUSTED, message, reason, metadata, cause);
    }
  }

  public static class Unauthenticated extends DlogException {
    private static final long serialVersionUID = 1L;

    Unauthenticated(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.UNAUTHENTICATED, message, reason, metadata, cause);
    }
  }

  public static class PermissionDenied extends DlogException {
    private static final long serialVersionUID = 1L;

    PermissionDenied(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.PERMISSION_DENIED, message, reason, metadata, cause);
    }
  }

  /** The server or the network is gone (or shutting down); retrying later may succeed. */
  public static class Unavailable extends DlogException {
    private static final long serialVersionUID = 1L;

    Unavailable(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.UNAVAILABLE, message, reason, metadata, cause);
    }
  }

  public static class DeadlineExceeded extends DlogException {
    private static final long serialVersionUID = 1L;

    DeadlineExceeded(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.DEADLINE_EXCEEDED, message, reason, metadata, cause);
    }
  }

  public static class Cancelled extends DlogException {
    private static final long serialVersionUID = 1L;

    Cancelled(String message, String reason, Map<String, String> metadata, Throwable cause) {
      super(Status.Code.CANCELLED, message, reason, metadata, cause);
    }
  }

  /** What a reader or appender still open when its DlogClient was closed fails with: it cannot reconnect. */
  static DlogException clientClosed(String what) {
    return of(Status.Code.CANCELLED, "the DlogClient was closed under this " + what + "; close (drain) readers and appenders before their client", "", Map.of(), null);
  }

  /** The typed exception for a status code, reason and metadata. */
  public static DlogException of(Status.Code code, String message, String reason, Map<String, String> metadata, Throwable cause) {
    Map<String, String> meta = metadata == null ? Map.of() : metadata;
    String text = message == null || message.isEmpty() ? code.name().toLowerCase() : message;
    return switch (code) {
      case INVALID_ARGUMENT -> new InvalidArgument(text, reason, meta, cause);
      case NOT_FOUND -> new NotFound(text, reason, meta, cause);
      case ALREADY_EXISTS -> new AlreadyExists(text, reason, meta, cause);
      case FAILED_PRECONDITION -> new FailedPrecondition(text, reason, meta, cause);
      case ABORTED -> "READER_FENCED".equals(reason)
          ? new ReaderFenced(text, reason, meta, cause)
          : new Aborted(text, reason, meta, cause);
      case OUT_OF_RANGE -> new OutOfRange(text, reason, meta, cause);
      case RESOURCE_EXHAUSTED -> new ResourceExhausted(text, reason, meta, cause);
      case UNAUTHENTICATED -> new Unauthenticated(text, reason, meta, cause);
      case PERMISSION_DENIED -> new PermissionDenied(text, reason, meta, cause);
      case UNAVAILABLE -> new Unavailable(text, reason, meta, cause);
      case DEADLINE_EXCEEDED -> new DeadlineExceeded(text, reason, meta, cause);
      case CANCELLED -> new Cancelled(text, reason, meta, cause);
      default -> new DlogException(code, text, reason, meta, cause);
    };
  }

  /** A gRPC failure as a DlogException, with the reason of its ErrorInfo detail; other throwables are wrapped as UNKNOWN. */
  public static DlogException from(Throwable error) {
    if (error instanceof DlogException dlog) return dlog;
    Status status = Status.fromThrowable(error);
    String reason = "";
    Map<String, String> metadata = Map.of();
    com.google.rpc.Status detailed = StatusProto.fromThrowable(error);
    if (detailed != null) {
      for (Any detail : detailed.getDetailsList()) {
        if (!detail.is(ErrorInfo.class)) continue;
        try {
          ErrorInfo info = detail.unpack(ErrorInfo.class);
          if (!DOMAIN.equals(info.getDomain())) continue;
          reason = info.getReason();
          metadata = info.getMetadataMap();
          break;
        } catch (InvalidProtocolBufferException e) {
          // A detail we cannot read leaves the reason unknown; the status code still holds.
        }
      }
    }
    String message = status.getDescription();
    if (message == null && status.getCode() == Status.Code.UNKNOWN && error.getMessage() != null) message = error.toString();
    return of(status.getCode(), message, reason, metadata, error);
  }

  /** A per-append failure of AppendStream, which carries the same fields in the message. */
  static DlogException from(io.dlog.v1.AppendError error) {
    return of(Status.fromCodeValue(error.getCode()).getCode(), error.getMessage(), error.getReason(), error.getMetadataMap(), null);
  }
}
