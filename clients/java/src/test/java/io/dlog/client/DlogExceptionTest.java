package io.dlog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.ErrorInfo;
import io.dlog.v1.AppendError;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DlogExceptionTest {
  private static StatusRuntimeException failure(Status.Code code, String domain, String reason, Map<String, String> metadata) {
    return StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
        .setCode(code.value())
        .setMessage("something specific")
        .addDetails(Any.pack(ErrorInfo.newBuilder().setDomain(domain).setReason(reason).putAllMetadata(metadata).build()))
        .build());
  }

  @Test
  void mapsTheStatusCodeToItsTypeAndKeepsReasonAndMetadata() {
    DlogException error = DlogException.from(failure(Status.Code.NOT_FOUND, "dlog.v1", "LOG_NOT_FOUND", Map.of("log", "orders")));
    assertInstanceOf(DlogException.NotFound.class, error);
    assertEquals(Status.Code.NOT_FOUND, error.code());
    assertEquals(DlogException.Reason.LOG_NOT_FOUND, error.reason());
    assertEquals(Map.of("log", "orders"), error.metadata());
    assertTrue(error.getMessage().contains("something specific"), error.getMessage());
  }

  @Test
  void aFencedSessionIsItsOwnType() {
    DlogException fenced = DlogException.from(failure(Status.Code.ABORTED, "dlog.v1", "READER_FENCED", Map.of()));
    assertInstanceOf(DlogException.ReaderFenced.class, fenced);
    DlogException repositioned = DlogException.from(failure(Status.Code.ABORTED, "dlog.v1", "READER_REPOSITIONED", Map.of()));
    assertEquals(DlogException.Aborted.class, repositioned.getClass());
  }

  @Test
  void otherDomainsAndNewReasonsAreUnknownButKeepTheirName() {
    assertEquals(DlogException.Reason.UNKNOWN, DlogException.from(failure(Status.Code.INTERNAL, "other.v1", "LOG_NOT_FOUND", Map.of())).reason());
    DlogException newer = DlogException.from(failure(Status.Code.INTERNAL, "dlog.v1", "SOMETHING_NEW", Map.of()));
    assertEquals(DlogException.Reason.UNKNOWN, newer.reason());
    assertEquals("SOMETHING_NEW", newer.reasonName());
    DlogException bare = DlogException.from(Status.UNAVAILABLE.withDescription("gone").asRuntimeException());
    assertInstanceOf(DlogException.Unavailable.class, bare);
    assertTrue(bare.isRetryable());
    assertEquals("", bare.reasonName());
  }

  @Test
  void mapsAnAppendStreamError() {
    DlogException error = DlogException.from(AppendError.newBuilder()
        .setCode(Status.Code.FAILED_PRECONDITION.value()).setMessage("transaction id out of order")
        .setReason("TXID_OUT_OF_ORDER").putMetadata("log", "orders").build());
    assertInstanceOf(DlogException.FailedPrecondition.class, error);
    assertEquals(DlogException.Reason.TXID_OUT_OF_ORDER, error.reason());
  }
}
