"""Typed errors: every failed call becomes a :class:`DlogError` carrying the gRPC code and the
``google.rpc.ErrorInfo`` (domain ``dlog.v1``) reason and metadata the server sent.

Branch on the class (one per status code, and a few per reason) or on ``error.reason``::

    try:
        client.append("orders", b"x", txid=1)
    except dlog.TxidOutOfOrderError as error:
        print("txid too low; the log is at", error.metadata.get("last_txid"))
    except dlog.DlogError as error:
        print(error.code.name, error.reason, error)
"""

from __future__ import annotations

from typing import Any, Mapping

import grpc
from google.rpc import error_details_pb2, status_pb2

DOMAIN = "dlog.v1"
_DETAILS_KEY = "grpc-status-details-bin"
_ERROR_INFO = error_details_pb2.ErrorInfo.DESCRIPTOR.full_name


class DlogError(Exception):
    """A refused or failed dlog call.

    ``code`` is the :class:`grpc.StatusCode`; ``reason`` the stable ErrorInfo reason (e.g.
    ``"READER_FENCED"``; empty when the server sent none, such as for a lost connection);
    ``metadata`` the ErrorInfo metadata (e.g. ``{"log": "orders"}``); ``details`` the server's
    message, meant for a person.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        details: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(details)
        if code is not None:
            self.code = code
        self.details = details
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})

    def __str__(self) -> str:
        label = f"{self.code.name}" + (f" {self.reason}" if self.reason else "")
        return f"{label}: {self.details}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.name}, reason={self.reason!r}, details={self.details!r}, metadata={self.metadata!r})"


class CallCancelledError(DlogError):
    code = grpc.StatusCode.CANCELLED


def client_closed_error(what: str) -> CallCancelledError:
    """What a reader or appender still open when its Client closed ends with: nothing can reconnect it."""
    return CallCancelledError(f"the Client was closed under this {what}; close (drain) readers and appenders before their client")


def is_lost_connection(error: DlogError) -> bool:
    """The server or the network went away, so a new stream may get through: UNAVAILABLE, or the
    INTERNAL / UNKNOWN that grpcio reports for a call whose connection broke."""
    code = error.code
    if code == grpc.StatusCode.UNAVAILABLE:
        return True
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        details = error.details.lower()
        # "internal error from core": grpcio's word for a write on a call whose connection broke.
        words = ("rst_stream", "stream removed", "connection", "socket", "goaway", "internal error from core")
        return any(word in details for word in words)
    return False


class InvalidArgumentError(DlogError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(DlogError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(DlogError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(DlogError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(DlogError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(DlogError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(DlogError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AbortedError(DlogError):
    """The session was ended on purpose (fenced, repositioned, deleted): never retried."""

    code = grpc.StatusCode.ABORTED


class OutOfRangeError(DlogError):
    code = grpc.StatusCode.OUT_OF_RANGE


class InternalError(DlogError):
    code = grpc.StatusCode.INTERNAL


class UnavailableError(DlogError):
    """The server is unreachable or shutting down: worth retrying (the reader does it by itself)."""

    code = grpc.StatusCode.UNAVAILABLE


class UnauthenticatedError(DlogError):
    code = grpc.StatusCode.UNAUTHENTICATED


# A few reasons a program typically branches on get their own class (under their code's class).
class LogNotFoundError(NotFoundError):
    """reason ``LOG_NOT_FOUND``"""


class ReaderNotFoundError(NotFoundError):
    """reason ``READER_NOT_FOUND``"""


class LogExistsError(AlreadyExistsError):
    """reason ``LOG_EXISTS``"""


class ReaderLiveError(AlreadyExistsError):
    """reason ``READER_LIVE`` on a session opened with takeover REJECT"""


class ReaderFencedError(AbortedError):
    """reason ``READER_FENCED``: a newer session took this reader over"""


class DlsnNotDeliveredError(InvalidArgumentError):
    """reason ``DLSN_NOT_DELIVERED``: an ack or nack named a DLSN this session never delivered"""


class TxidOutOfOrderError(FailedPreconditionError):
    """reason ``TXID_OUT_OF_ORDER``: a txid below the log's last"""


_BY_CODE: dict[grpc.StatusCode, type[DlogError]] = {
    cls.code: cls
    for cls in (
        CallCancelledError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        AbortedError,
        OutOfRangeError,
        InternalError,
        UnavailableError,
        UnauthenticatedError,
    )
}
_BY_REASON: dict[tuple[grpc.StatusCode, str], type[DlogError]] = {
    (grpc.StatusCode.NOT_FOUND, "LOG_NOT_FOUND"): LogNotFoundError,
    (grpc.StatusCode.NOT_FOUND, "READER_NOT_FOUND"): ReaderNotFoundError,
    (grpc.StatusCode.ALREADY_EXISTS, "LOG_EXISTS"): LogExistsError,
    (grpc.StatusCode.ALREADY_EXISTS, "READER_LIVE"): ReaderLiveError,
    (grpc.StatusCode.ABORTED, "READER_FENCED"): ReaderFencedError,
    (grpc.StatusCode.INVALID_ARGUMENT, "DLSN_NOT_DELIVERED"): DlsnNotDeliveredError,
    (grpc.StatusCode.FAILED_PRECONDITION, "TXID_OUT_OF_ORDER"): TxidOutOfOrderError,
}
_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def make_error(code: grpc.StatusCode, details: str, reason: str = "", metadata: Mapping[str, str] | None = None) -> DlogError:
    """The most specific error class for a code and reason."""
    cls = _BY_REASON.get((code, reason)) or _BY_CODE.get(code, DlogError)
    return cls(details, code=code, reason=reason, metadata=metadata)


def status_code(number: int) -> grpc.StatusCode:
    """The StatusCode of a ``google.rpc.Code`` number (unknown numbers: UNKNOWN)."""
    return _CODE_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def error_info(trailing_metadata: Any) -> tuple[str, dict[str, str]]:
    """The dlog ErrorInfo (reason, metadata) in a call's trailing metadata; ``("", {})`` when none."""
    for key, value in trailing_metadata or ():
        if key != _DETAILS_KEY:
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:  # a malformed detail must not hide the status itself
            return "", {}
        for detail in status.details:
            if detail.TypeName() == _ERROR_INFO:
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if info.domain in (DOMAIN, ""):
                    return info.reason, dict(info.metadata)
    return "", {}


def from_rpc_error(error: grpc.RpcError) -> DlogError:
    """Maps a failed call (sync ``grpc.RpcError`` or ``grpc.aio.AioRpcError``) to its DlogError."""
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    details = error.details() if callable(getattr(error, "details", None)) else str(error)
    trailers = error.trailing_metadata() if callable(getattr(error, "trailing_metadata", None)) else None
    reason, metadata = error_info(trailers)
    mapped = make_error(code or grpc.StatusCode.UNKNOWN, details or "", reason, metadata)
    mapped.__cause__ = error
    return mapped
