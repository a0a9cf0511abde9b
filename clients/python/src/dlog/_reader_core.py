"""What the sync and the asyncio reader share: options, records, the open message, status and
reconnect decisions. The transports (threads vs. tasks) live in reader.py and aio.py."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count, repeat
from typing import Any, Callable, Literal, Optional, Union

import grpc

from ._acks import AckTracker
from .backoff import Backoff, Reconnect
from .dlsn import DLSN
from .errors import DlogError, UnavailableError, client_closed_error, is_lost_connection
from .types import FlowLimits, Opened, Record, ReaderStatus, StartAt, to_wire_dlsn, to_wire_position
from .v1 import reader_pb2

_POLICIES = {
    "stored": reader_pb2.RESUME_POLICY_STORED,
    "client": reader_pb2.RESUME_POLICY_CLIENT,
    "max": reader_pb2.RESUME_POLICY_MAX,
}


@dataclass(frozen=True)
class ReaderOptions:
    """Options of :meth:`Client.reader` (and its asyncio twin); see there."""

    log: str
    reader_id: str
    start: Optional[StartAt] = None
    fallback: Optional[StartAt] = None
    checkpoint: Optional[DLSN] = None
    resume_policy: Literal["stored", "client", "max"] = "stored"
    flow: Optional[FlowLimits] = None
    ack_wait_ms: int = 0
    takeover: Literal["fence", "reject"] = "fence"
    auto_ack: bool = False
    reconnect: Union[Reconnect, bool] = True
    ack_interval: float = 0.002
    drain_timeout: float = 10.0
    open_timeout: float = 10.0
    on_opened: Optional[Callable[[Opened], None]] = None
    on_status: Optional[Callable[[ReaderStatus], None]] = None
    on_reconnecting: Optional[Callable[[int, float, DlogError], None]] = None

    def __post_init__(self) -> None:
        if self.resume_policy not in _POLICIES:
            raise ValueError(f"resume_policy must be one of {sorted(_POLICIES)}, got {self.resume_policy!r}")
        if self.takeover not in ("fence", "reject"):
            raise ValueError(f"takeover must be 'fence' or 'reject', got {self.takeover!r}")
        if self.ack_interval < 0 or self.drain_timeout <= 0 or self.open_timeout <= 0:
            raise ValueError("ack_interval must be >= 0, drain_timeout and open_timeout > 0")

    def backoff(self) -> Optional[Backoff]:
        if self.reconnect is False:
            return None
        return Backoff(self.reconnect if isinstance(self.reconnect, Reconnect) else Reconnect())


class ReaderRecord(Record):
    """One record delivered to a reader: process it, then :meth:`ack` it (or :meth:`nack` to get it again)."""

    __slots__ = ()  # (wire, batch, index): the record, and its first delivery's slot in the ack window

    def ack(self) -> None:
        """Marks the record processed. Coalesced with other acks; a no-op once its session is gone
        (the record will then come again)."""
        self[1].session.ack(self)

    def nack(self) -> None:
        """Asks for this record again, at once, in this session (attempt + 1)."""
        self[1].session.nack(self)

    @property
    def redelivered(self) -> bool:
        """Delivered before: attempt >= 2 (nack, ack_wait, resume after unacked delivery), or handed
        to the application by an earlier session of this reader."""
        if self[0].attempt > 1:
            return True
        before = self[1].session.seen_before
        return before is not None and self.dlsn <= before

    @property
    def ack_message(self) -> int:
        """The number (1, 2, ... in its session) of the ack message that carried this record's ack;
        0 while none did. The ack is durable once a status frame of that session has
        ``acks_durable >= ack_message``."""
        return self[1].ack_messages[self[2]]


class SessionBase:
    """One session stream's ack bookkeeping. Acks of a session that ended are dropped: they must
    never reach a newer session."""

    def __init__(self, seen_before: Optional[DLSN]) -> None:
        self.tracker = AckTracker(self)
        self.alive = True
        self.draining = False
        self.opened = False
        self.open_timed_out = False  # no Opened within open_timeout: the call was cancelled
        self.drained: Optional[DLSN] = None
        self.seen_before = seen_before
        self.last_yielded: Optional[ReaderRecord] = None  # also the record auto-ack concerns
        self.last_settled = False  # the application acked or nacked last_yielded
        self.acks_sent = 0

    def ack(self, record: ReaderRecord) -> None:
        raise NotImplementedError

    def nack(self, record: ReaderRecord) -> None:
        raise NotImplementedError

    def send(self, request: reader_pb2.SessionRequest) -> None:
        raise NotImplementedError

    def records(self, wires) -> list[ReaderRecord]:
        redelivered, batch = self.tracker.delivered(wires)
        out = [ReaderRecord((wires[i], b, index)) for i, (b, index) in enumerate(redelivered)]
        if batch is not None:
            out.extend(map(ReaderRecord, zip(batch.wires, repeat(batch), count())))
        return out

    def take_messages(self) -> list[reader_pb2.SessionRequest]:
        ack, nack = self.tracker.take(self.acks_sent + 1)
        out = []
        if ack is not None:
            self.acks_sent += 1
            out.append(reader_pb2.SessionRequest(ack=ack))
        if nack is not None:
            out.append(reader_pb2.SessionRequest(nack=nack))
        return out

    def yielded_high(self) -> Optional[DLSN]:
        last = self.last_yielded
        return None if last is None else last.dlsn


class ReaderState:
    """The reader's state across sessions."""

    def __init__(self, options: ReaderOptions) -> None:
        self.options = options
        self.flow = options.flow
        self.backoff = options.backoff()
        self.sessions = 0
        self.client_closed = False  # its Client closed the channel: no session can open any more
        self.opened: Optional[Opened] = None
        self.status: Optional[ReaderStatus] = None
        self.durable_position: Optional[DLSN] = None
        self.earlier_yielded_high: Optional[DLSN] = None
        self.override: Optional[StartAt] = options.start  # sent until a session has opened with it
        self.failure: Optional[BaseException] = None  # what ended the reader (iteration raises it once)
        self.close_error: Optional[BaseException] = None  # what close() raises

    def open_request(self, override: Optional[StartAt]) -> reader_pb2.SessionRequest:
        o = self.options
        first = self.sessions == 0
        open_ = reader_pb2.Open(
            log=o.log,
            reader_id=o.reader_id,
            # After a reconnect the server's stored position is always the better one.
            resume_policy=_POLICIES[o.resume_policy] if first else reader_pb2.RESUME_POLICY_STORED,
            takeover=reader_pb2.TAKEOVER_REJECT if o.takeover == "reject" else reader_pb2.TAKEOVER_FENCE,
            ack_wait_ms=o.ack_wait_ms,
        )
        if o.fallback is not None:
            open_.fallback.CopyFrom(to_wire_position(o.fallback))
        if override is not None:
            open_.override.CopyFrom(to_wire_position(override))
        if o.checkpoint is not None and first:
            open_.client_checkpoint.CopyFrom(to_wire_dlsn(o.checkpoint))
        if self.flow is not None:
            open_.flow.CopyFrom(self.flow.to_wire())
        return reader_pb2.SessionRequest(open=open_)

    def on_opened(self, session: SessionBase, wire: reader_pb2.Opened) -> Opened:
        session.opened = True
        info = Opened.from_wire(wire, self.sessions)
        self.sessions += 1
        self.opened = info
        if self.backoff is not None:
            self.backoff.reset()
        if self.options.on_opened is not None:
            self.options.on_opened(info)
        return info

    def on_status(self, session: SessionBase, wire: reader_pb2.ReaderStatus) -> ReaderStatus:
        status = ReaderStatus.from_wire(wire, session.acks_sent)
        self.status = status
        self.durable_position = status.durable_floor
        if self.options.on_status is not None:
            self.options.on_status(status)
        return status

    def on_drained(self, session: SessionBase, wire: reader_pb2.Drained) -> None:
        session.drained = DLSN(wire.durable_floor.segment, wire.durable_floor.entry, wire.durable_floor.slot)
        self.durable_position = session.drained

    def open_timeout_error(self) -> DlogError:
        return UnavailableError(f"no answer to the session's open within {self.options.open_timeout} s (connection hung?)")

    def after_session(self, session: SessionBase, error: Optional[BaseException], stopping: bool, cancelled: bool) -> Optional[float]:
        """What follows a session that ended (with ``error``, or None when the stream just ended):
        None when the reader is done — a drain was answered, it is closing, or the error ends it
        (``failure`` / ``close_error`` say so) — else the delay before reconnecting."""
        session.alive = False
        high = session.yielded_high()
        if high is not None and (self.earlier_yielded_high is None or high > self.earlier_yielded_high):
            self.earlier_yielded_high = high
        if session.drained is not None:
            return None
        if session.opened:
            self.override = None  # applied by the server; a reconnect resumes from the stored position
        if stopping:
            if session.opened and self.failure is None and not cancelled:
                # A closed Client is no lost connection: nothing can retry the drain.
                self.close_error = client_closed_error("reader") if self.client_closed else self.close_error_for(error)
            return None
        if self.client_closed:
            self.failure = self.failure or client_closed_error("reader")
            return None
        if error is None:
            error = UnavailableError("the server ended the session stream without drained")
        delay = self.retry_delay(error) if isinstance(error, DlogError) else None
        if delay is None:
            self.failure = error
            return None
        if self.options.on_reconnecting is not None:
            assert self.backoff is not None
            self.options.on_reconnecting(self.backoff.attempts, delay, error)
        return delay

    def close_error_for(self, error: Optional[BaseException]) -> BaseException:
        """What close() raises when the session ended before its drain was answered."""
        if error is None or (isinstance(error, DlogError) and is_retryable(error, True)):
            cause = f" ({error})" if error is not None else ""
            return UnavailableError(f"the session was lost before the drain was answered{cause}; acks since the last status frame may be replayed")
        return error

    def retry_delay(self, error: DlogError) -> Optional[float]:
        """Seconds to wait before reconnecting, or None when the error ends the reader."""
        if self.backoff is None or not is_retryable(error, self.sessions > 0):
            return None
        return self.backoff.next()


class ReaderView:
    """What the sync and the asyncio reader show alike; both keep ``_state``, ``_session``,
    ``_stopping`` (close or cancel began) and ``_stop`` (a threading or asyncio Event that ends a
    reconnect's wait)."""

    _state: ReaderState
    _session: Optional[SessionBase]
    _stopping: bool
    _stop: Any

    @property
    def opened(self) -> Optional[Opened]:
        """What the server said when the current (or last) session opened."""
        return self._state.opened

    @property
    def status(self) -> Optional[ReaderStatus]:
        """The last status frame."""
        return self._state.status

    @property
    def durable_position(self) -> Optional[DLSN]:
        """The durable floor the server last reported: a server crash replays only records after it."""
        return self._state.durable_position

    def set_flow(self, flow: FlowLimits) -> None:
        """Changes the flow limits of the live session and of the sessions after a reconnect."""
        old = self._state.flow or FlowLimits()
        self._state.flow = FlowLimits(
            flow.max_outstanding_records or old.max_outstanding_records,
            flow.max_outstanding_bytes or old.max_outstanding_bytes,
            flow.max_batch_records or old.max_batch_records,
        )
        session = self._session
        if session is not None:
            session.send(reader_pb2.SessionRequest(flow=flow.to_wire()))

    def _client_closed(self) -> None:
        """Its Client is closing the channel (the Client calls this first): no session can open
        any more, so the reader ends with a CANCELLED error instead of reconnecting; a reconnect
        waiting for its backoff ends now."""
        state = self._state
        state.client_closed = True
        if not self._stopping:
            state.failure = state.failure or client_closed_error("reader")
            self._stop.set()


def is_retryable(error: DlogError, reconnecting: bool) -> bool:
    """Worth a new session: the server or the network went away. Not: fenced (ABORTED), bad
    input, unknown log, no permission — retrying cannot help. ALREADY_EXISTS after a loss
    (takeover "reject") is our own dead session that the server has not noticed yet."""
    code = error.code
    if code == grpc.StatusCode.CANCELLED or is_lost_connection(error):
        return True  # CANCELLED here is a reset by the server: our own cancels end the loop first
    return reconnecting and code == grpc.StatusCode.ALREADY_EXISTS
