"""Plain values the client hands out (records, log and reader infos, statuses) and their wire conversions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple, Optional, Union

from .dlsn import DLSN
from .v1 import common_pb2, log_pb2, reader_pb2


class Txid(NamedTuple):
    """A start position: the first record whose txid is at least ``txid``."""

    txid: int


class AppendTime(NamedTuple):
    """A start position: the first record appended at or after ``ms`` (ms since the Unix epoch)."""

    ms: int

    @classmethod
    def of(cls, when: datetime) -> AppendTime:
        return cls(int(when.timestamp() * 1000))


StartAt = Union[Literal["earliest", "latest"], DLSN, Txid, AppendTime, datetime]
"""Where to start reading, every form inclusive: ``"earliest"``, ``"latest"`` (only records appended
from now on), a DLSN (the first record at or after it), a :class:`Txid` or an append time."""


def to_wire_dlsn(dlsn: DLSN | tuple[int, int, int]) -> common_pb2.DLSN:
    return common_pb2.DLSN(segment=dlsn[0], entry=dlsn[1], slot=dlsn[2])


def from_wire_dlsn(wire: common_pb2.DLSN) -> DLSN:
    return DLSN(wire.segment, wire.entry, wire.slot)


def optional_dlsn(message, name: str) -> Optional[DLSN]:
    """A message-typed DLSN field, or None when unset (a default message would read as 0/0/0)."""
    return from_wire_dlsn(getattr(message, name)) if message.HasField(name) else None


def to_wire_position(at: StartAt) -> common_pb2.Position:
    if at == "earliest":
        return common_pb2.Position(boundary=common_pb2.BOUNDARY_EARLIEST)
    if at == "latest":
        return common_pb2.Position(boundary=common_pb2.BOUNDARY_LATEST)
    if isinstance(at, DLSN):
        return common_pb2.Position(dlsn=to_wire_dlsn(at))
    if isinstance(at, Txid):
        return common_pb2.Position(txid=at.txid)
    if isinstance(at, AppendTime):
        return common_pb2.Position(time_ms=at.ms)
    if isinstance(at, datetime):
        return common_pb2.Position(time_ms=AppendTime.of(at).ms)
    raise TypeError(f"not a start position: {at!r} (use 'earliest', 'latest', a DLSN, Txid(n), AppendTime(ms) or a datetime)")


class Record(tuple):
    """One record of a log as :meth:`Client.read` yields it.

    (A tuple underneath, so that a batch of records is built at C speed; treat it as opaque and
    use the properties.)"""

    __slots__ = ()

    @property
    def dlsn(self) -> DLSN:
        d = self[0].dlsn
        return DLSN(d.segment, d.entry, d.slot)

    @property
    def payload(self) -> bytes:
        return self[0].payload

    @property
    def txid(self) -> int:
        return self[0].txid

    @property
    def append_time_ms(self) -> int:
        return self[0].append_time_ms

    @property
    def sequence_id(self) -> int:
        """0-based position of the record in its log since the log was created."""
        return self[0].sequence_id

    @property
    def attempt(self) -> int:
        """Delivery attempt in a reader session (1 = first); 0 in plain reads."""
        return self[0].attempt

    def text(self, encoding: str = "utf-8") -> str:
        return self[0].payload.decode(encoding)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dlsn={self.dlsn}, txid={self.txid}, attempt={self.attempt}, payload={self.payload[:32]!r})"

    __hash__ = None  # type: ignore[assignment]  # records are not keys: their DLSN is


@dataclass(frozen=True)
class SegmentInfo:
    segment: int
    first_dlsn: Optional[DLSN]
    last_dlsn: Optional[DLSN]
    record_count: int
    byte_count: int
    first_txid: int
    last_txid: int
    created_time_ms: int
    last_append_time_ms: int
    open: bool


@dataclass(frozen=True)
class LogInfo:
    log: str
    created_time_ms: int
    first_dlsn: Optional[DLSN]
    """The first record that still exists; None when the log holds no records."""
    last_dlsn: Optional[DLSN]
    """The log's head; None when the log holds no records."""
    last_txid: int
    record_count: int
    byte_count: int
    next_sequence_id: int
    truncated_record_count: int
    segments: list[SegmentInfo] = field(default_factory=list)

    @classmethod
    def from_wire(cls, wire: log_pb2.LogInfo) -> LogInfo:
        return cls(
            log=wire.log,
            created_time_ms=wire.created_time_ms,
            first_dlsn=optional_dlsn(wire, "first_dlsn"),
            last_dlsn=optional_dlsn(wire, "last_dlsn"),
            last_txid=wire.last_txid,
            record_count=wire.record_count,
            byte_count=wire.byte_count,
            next_sequence_id=wire.next_sequence_id,
            truncated_record_count=wire.truncated_record_count,
            segments=[
                SegmentInfo(
                    segment=s.segment,
                    first_dlsn=optional_dlsn(s, "first_dlsn"),
                    last_dlsn=optional_dlsn(s, "last_dlsn"),
                    record_count=s.record_count,
                    byte_count=s.byte_count,
                    first_txid=s.first_txid,
                    last_txid=s.last_txid,
                    created_time_ms=s.created_time_ms,
                    last_append_time_ms=s.last_append_time_ms,
                    open=s.open,
                )
                for s in wire.segments
            ],
        )


@dataclass(frozen=True)
class ReaderPosition:
    """A reader's stored position (GetPosition, ListReaders, SetPosition)."""

    log: str
    reader_id: str
    floor: DLSN
    """Delivery resumes strictly after this DLSN, skipping ``holes``; 1/0/-1 = before the first record."""
    holes: list[DLSN]
    lag: int
    live: bool
    epoch: int
    updated_time_ms: int
    delivered_high: Optional[DLSN]

    @classmethod
    def from_wire(cls, wire: reader_pb2.ReaderInfo) -> ReaderPosition:
        return cls(
            log=wire.log,
            reader_id=wire.reader_id,
            floor=from_wire_dlsn(wire.floor),
            holes=[from_wire_dlsn(h) for h in wire.holes],
            lag=wire.lag,
            live=wire.live,
            epoch=wire.epoch,
            updated_time_ms=wire.updated_time_ms,
            delivered_high=optional_dlsn(wire, "delivered_high"),
        )


@dataclass(frozen=True)
class TruncateResult:
    segments_deleted: int
    records_deleted: int
    first_dlsn: Optional[DLSN]


_SOURCES = {
    reader_pb2.RESUME_SOURCE_STORED: "stored",
    reader_pb2.RESUME_SOURCE_FALLBACK: "fallback",
    reader_pb2.RESUME_SOURCE_OVERRIDE: "override",
    reader_pb2.RESUME_SOURCE_CLIENT: "client",
}


@dataclass(frozen=True)
class FlowLimits:
    """Session flow limits; 0 keeps the current value (the server's default on open:
    1000 records, 64 MiB, 256 records per batch)."""

    max_outstanding_records: int = 0
    max_outstanding_bytes: int = 0
    max_batch_records: int = 0

    def to_wire(self) -> reader_pb2.FlowLimits:
        return reader_pb2.FlowLimits(
            max_outstanding_records=self.max_outstanding_records,
            max_outstanding_bytes=self.max_outstanding_bytes,
            max_batch_records=self.max_batch_records,
        )


@dataclass(frozen=True)
class Opened:
    """What the server said when a session opened."""

    epoch: int
    resume_after: DLSN
    """Delivery starts strictly after this DLSN."""
    source: str
    """Where ``resume_after`` came from: ``stored``, ``fallback``, ``override`` or ``client``."""
    log_head: Optional[DLSN]
    skipped_by_truncation: int
    durable_holes: int
    flow: FlowLimits
    delivered_high: Optional[DLSN]
    """Records up to here were delivered to an earlier session: they come with attempt >= 2."""
    reconnects: int
    """Sessions this reader opened before this one (0 on the first open)."""

    @classmethod
    def from_wire(cls, wire: reader_pb2.Opened, reconnects: int) -> Opened:
        return cls(
            epoch=wire.epoch,
            resume_after=from_wire_dlsn(wire.resume_after),
            source=_SOURCES.get(wire.source, "unspecified"),
            log_head=optional_dlsn(wire, "log_head"),
            skipped_by_truncation=wire.skipped_by_truncation,
            durable_holes=wire.durable_holes,
            flow=FlowLimits(wire.flow.max_outstanding_records, wire.flow.max_outstanding_bytes, wire.flow.max_batch_records),
            delivered_high=optional_dlsn(wire, "delivered_high"),
            reconnects=reconnects,
        )


@dataclass(frozen=True)
class ReaderStatus:
    """A status frame: what is durable, acked and outstanding on the server."""

    durable_floor: DLSN
    """On disk: a server crash replays everything after it (minus durable holes)."""
    acked_floor: DLSN
    delivered_high: Optional[DLSN]
    outstanding_records: int
    outstanding_bytes: int
    holes: int
    durable_holes: int
    lag: int
    paused_reason: str
    acks_durable: int
    """The first ``acks_durable`` ack messages of this session are on disk."""
    acks_received: int
    acks_sent: int
    """Ack messages this client had sent on the session when the frame arrived."""

    @classmethod
    def from_wire(cls, wire: reader_pb2.ReaderStatus, acks_sent: int) -> ReaderStatus:
        return cls(
            durable_floor=from_wire_dlsn(wire.durable_floor),
            acked_floor=from_wire_dlsn(wire.acked_floor),
            delivered_high=optional_dlsn(wire, "delivered_high"),
            outstanding_records=wire.outstanding_records,
            outstanding_bytes=wire.outstanding_bytes,
            holes=wire.holes,
            durable_holes=wire.durable_holes,
            lag=wire.lag,
            paused_reason=wire.paused_reason,
            acks_durable=wire.acks_durable,
            acks_received=wire.acks_received,
            acks_sent=acks_sent,
        )


RecordInput = Union[bytes, str, tuple]
"""A record to append: bytes, a str (UTF-8 encoded) or ``(payload, txid)``."""
