"""dlog: append-only logs with at-least-once reader sessions over gRPC.

Sync API: :class:`Client` (``for record in reader:``); asyncio API: :mod:`dlog.aio`
(``async for record in reader:``). Both share the values and errors below.
"""

from ._batching import AppenderOptions
from ._channel import Tls
from ._reader_core import ReaderRecord
from .appender import AppendFuture, Appender
from .backoff import Reconnect
from .client import Client
from .dlsn import DLSN, INITIAL, INVALID, NON_INCLUSIVE_LOWER_BOUND
from .errors import (
    AbortedError,
    AlreadyExistsError,
    CallCancelledError,
    DeadlineExceededError,
    DlogError,
    DlsnNotDeliveredError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    LogExistsError,
    LogNotFoundError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    ReaderFencedError,
    ReaderLiveError,
    ReaderNotFoundError,
    ResourceExhaustedError,
    TxidOutOfOrderError,
    UnauthenticatedError,
    UnavailableError,
)
from .reader import Reader
from .types import (
    AppendTime,
    FlowLimits,
    LogInfo,
    Opened,
    Record,
    ReaderPosition,
    ReaderStatus,
    SegmentInfo,
    StartAt,
    TruncateResult,
    Txid,
)

__version__ = "0.1.0"

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "AppendFuture",
    "AppendTime",
    "Appender",
    "AppenderOptions",
    "CallCancelledError",
    "Client",
    "DLSN",
    "DeadlineExceededError",
    "DlogError",
    "DlsnNotDeliveredError",
    "FailedPreconditionError",
    "FlowLimits",
    "INITIAL",
    "INVALID",
    "InternalError",
    "InvalidArgumentError",
    "LogExistsError",
    "LogInfo",
    "LogNotFoundError",
    "NON_INCLUSIVE_LOWER_BOUND",
    "NotFoundError",
    "Opened",
    "OutOfRangeError",
    "PermissionDeniedError",
    "Reader",
    "ReaderFencedError",
    "ReaderLiveError",
    "ReaderNotFoundError",
    "ReaderPosition",
    "ReaderRecord",
    "ReaderStatus",
    "Reconnect",
    "Record",
    "ResourceExhaustedError",
    "SegmentInfo",
    "StartAt",
    "Tls",
    "TruncateResult",
    "Txid",
    "TxidOutOfOrderError",
    "UnauthenticatedError",
    "UnavailableError",
]
