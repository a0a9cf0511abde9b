"""The appender's batching rules, shared by the sync and the asyncio appender (no I/O).

One-record appends are packed into entries, as DistributedLog's writer packs records: the
records of several ``append`` calls travel as one ``AppendRequest`` (one entry, consecutive
slots) when they arrive within ``linger_ms`` of the first one, up to ``max_batch_records`` /
``max_batch_bytes``. Each caller still gets its own records' DLSNs, in call order; when an
entry fails, every caller whose records were in it gets the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from .dlsn import DLSN
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
    """Entries sent and not yet answered; with ``retry``, keep it at or below the server's
    ``--producer-window`` (default 1024), or a resend may be too old to be recognised."""
    retry: Any = True
    """On a lost connection (UNAVAILABLE, server restart): reconnect with this :class:`dlog.Reconnect`
    (True: the defaults) and send the unanswered entries again. Entries are idempotent (a producer id
    and a sequence number each), so a resend of one that was written is answered with its original
    DLSNs instead of being written twice. False: unanswered entries fail (outcome unknown)."""
    producer_id: Optional[str] = None
    """The producer id entries carry when ``retry`` is on; default a random one per appender."""

    def __post_init__(self) -> None:
        if self.linger_ms < 0 or self.max_batch_records < 1 or self.max_batch_bytes < 1:
            raise ValueError("appender: need linger_ms >= 0, max_batch_records >= 1 and max_batch_bytes >= 1")
        if self.max_in_flight_bytes < 1 or self.max_in_flight < 1:
            raise ValueError("appender: max_in_flight_bytes and max_in_flight must be >= 1")


class Entry:
    """Records of one or more calls on their way as one AppendRequest. Kept as payloads (and
    txids) rather than RecordInput messages: building the request with ``records.add`` is several
    times cheaper than copying ready-made messages into it."""

    __slots__ = ("payloads", "txids", "bytes", "request_id", "seq", "renumbered", "result")

    def __init__(self, result: Any) -> None:
        self.payloads: list[bytes] = []
        self.txids: Optional[list[Optional[int]]] = None  # None while no record has a txid
        self.bytes = 0
        self.request_id = 0  # of its latest send
        self.seq = 0  # producer_seq, given when it is first sent
        self.renumbered = 0
        self.result = result  # the transport's handle: settle(answer, error)

    def fits(self, count: int, size: int, options: AppenderOptions) -> bool:
        return not self.payloads or (
            len(self.payloads) + count <= options.max_batch_records and self.bytes + size <= options.max_batch_bytes
        )

    def add(self, payloads: list[bytes], txids: Optional[list[Optional[int]]], size: int) -> int:
        """Adds one call's records; returns the slot of its first record."""
        first = len(self.payloads)
        if txids is not None and self.txids is None:
            self.txids = [None] * first
        self.payloads.extend(payloads)
        if self.txids is not None:
            self.txids.extend(txids if txids is not None else [None] * len(payloads))
        self.bytes += size
        return first

    def full(self, options: AppenderOptions) -> bool:
        return len(self.payloads) >= options.max_batch_records or self.bytes >= options.max_batch_bytes

    def request(self, log: str, producer_id: str) -> log_pb2.AppendRequest:
        request = append_request(log, self.payloads, self.txids, self.request_id)
        if producer_id:
            request.producer_id = producer_id
            request.producer_seq = self.seq
        return request


def append_request(log: str, payloads: list[bytes], txids: Optional[list[Optional[int]]], request_id: int = 0) -> log_pb2.AppendRequest:
    request = log_pb2.AppendRequest(log=log, request_id=request_id)
    add = request.records.add
    if txids is None:
        for payload in payloads:
            add(payload=payload)
    else:
        for payload, txid in zip(payloads, txids):
            if txid is None:
                add(payload=payload)
            else:
                add(payload=payload, txid=txid)
    return request


def split_records(records: Sequence[Any]) -> tuple[list[bytes], Optional[list[Optional[int]]], int]:
    """Payloads, txids (None when no record has one) and payload bytes of records given as bytes,
    str (UTF-8) or ``(payload, txid)``."""
    payloads: list[bytes] = []
    txids: Optional[list[Optional[int]]] = None
    for i, record in enumerate(records):
        txid = None
        if isinstance(record, tuple):
            if len(record) != 2:
                raise TypeError("a record tuple is (payload, txid)")
            record, txid = record
        payloads.append(as_payload(record))
        if txid is not None:
            if txids is None:
                txids = [None] * i
            txids.append(txid)
        elif txids is not None:
            txids.append(None)
    return payloads, txids, sum(map(len, payloads))


def as_payload(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"not a record payload: {type(value).__name__} (use bytes, str or (payload, txid))")


class Answer:
    """An answered entry's DLSNs, built on demand (most callers look at one of them)."""

    __slots__ = ("wire",)

    def __init__(self, wire) -> None:
        self.wire = wire

    def one(self, index: int) -> DLSN:
        d = self.wire[index]
        return DLSN(d.segment, d.entry, d.slot)

    def slice(self, first: int, count: int) -> list[DLSN]:
        return [DLSN(d.segment, d.entry, d.slot) for d in self.wire[first : first + count]]
