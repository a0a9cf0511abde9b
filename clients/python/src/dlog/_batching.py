"""The appender's batching rules, shared by the sync and the asyncio appender (no I/O).

One-record appends are packed into entries, as DistributedLog's writer packs records: the
records of several ``append`` calls travel as one ``AppendRequest`` (one entry, consecutive
slots) when they arrive within ``linger_ms`` of the first one, up to ``max_batch_records`` /
``max_batch_bytes``. Each caller still gets its own records' DLSNs, in call order; when an
entry fails, every caller whose records were in it gets the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .dlsn import DLSN
from .errors import DlogError, InternalError, make_error, status_code
from .v1 import log_pb2


@dataclass(frozen=True)
class AppenderOptions:
    linger_ms: float = 2.0
    """How long the first record of an entry waits for others to join it; 0 sends each call at once."""
    max_batch_records: int = 1000
    """Most records in one entry (a call with more travels alone)."""
    max_batch_bytes: int = 1 << 20
    """Most payload bytes in one entry (a call with more travels alone)."""
    max_in_flight_bytes: int = 8 << 20
    """Payload bytes accepted and not yet answered; past it, ``append`` waits."""
    max_in_flight: int = 1024
    """Entries sent and not yet answered."""

    def __post_init__(self) -> None:
        if self.linger_ms < 0 or self.max_batch_records < 1 or self.max_batch_bytes < 1:
            raise ValueError("appender: need linger_ms >= 0, max_batch_records >= 1 and max_batch_bytes >= 1")
        if self.max_in_flight_bytes < 1 or self.max_in_flight < 1:
            raise ValueError("appender: max_in_flight_bytes and max_in_flight must be >= 1")


class Entry:
    """Records of one or more calls on their way as one AppendRequest."""

    __slots__ = ("records", "callers", "bytes", "request_id")

    def __init__(self) -> None:
        self.records: list[log_pb2.RecordInput] = []
        self.callers: list[tuple[Any, int, int]] = []  # (caller's handle, first slot, record count)
        self.bytes = 0
        self.request_id = 0

    def fits(self, count: int, size: int, options: AppenderOptions) -> bool:
        return not self.records or (
            len(self.records) + count <= options.max_batch_records and self.bytes + size <= options.max_batch_bytes
        )

    def add(self, records: list[log_pb2.RecordInput], size: int, handle: Any) -> None:
        self.callers.append((handle, len(self.records), len(records)))
        self.records.extend(records)
        self.bytes += size

    def full(self, options: AppenderOptions) -> bool:
        return len(self.records) >= options.max_batch_records or self.bytes >= options.max_batch_bytes

    def request(self, log: str) -> log_pb2.AppendRequest:
        return log_pb2.AppendRequest(log=log, records=self.records, request_id=self.request_id)


def outcome(entry: Entry, response: log_pb2.AppendResponse) -> tuple[Optional[list[DLSN]], Optional[DlogError]]:
    """The DLSNs of an answered entry, or the error all of its callers get."""
    if response.HasField("error"):
        e = response.error
        return None, make_error(status_code(e.code), e.message, e.reason, dict(e.metadata))
    if response.request_id != entry.request_id:
        # Answers are matched by order: once one is out of place none after it can be trusted.
        return None, InternalError(f"answer for append {response.request_id} arrived in place of {entry.request_id}")
    if len(response.dlsns) != len(entry.records):
        return None, InternalError(f"append {entry.request_id}: {len(response.dlsns)} DLSNs for {len(entry.records)} records")
    return [DLSN(d.segment, d.entry, d.slot) for d in response.dlsns], None
