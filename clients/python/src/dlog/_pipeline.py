"""The appender's state machine, shared by the sync and the asyncio appender (no I/O).

Calls are packed into entries (``_batching``); sealed entries get a producer sequence number and
go out on the current AppendStream, at most ``max_in_flight`` unanswered. Answers come in send
order. When the stream breaks with a lost connection (UNAVAILABLE, or grpcio's INTERNAL for a
write on a broken call: ``is_lost_connection``), the transport waits the backoff's delay and calls
:meth:`Pipeline.reconnect`: the oldest unanswered entry goes out alone first (a probe, so a
server still down costs one message per attempt), then the rest. Resends of entries that were
written come back as duplicates with their original DLSNs. An entry refused with
PRODUCER_SEQUENCE_GAP (one before it was refused, so not written) is renumbered with all after it.

The transport supplies ``open_stream()`` (returning a :class:`Stream` whose ``push`` sends a
request), runs every method under one lock (or on one event loop), and performs the settlements
that :meth:`take_settled` hands it outside that lock.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from typing import Any, Callable, Optional

from ._batching import AppenderOptions, Answer, Entry
from .backoff import Backoff, Reconnect
from .errors import DlogError, InternalError, UnavailableError, is_lost_connection, make_error, status_code
from .v1 import log_pb2

_MAX_RENUMBERS = 16  # an entry renumbered this often is fighting another appender with the same producer id


class Stream:
    """One AppendStream call, as the pipeline sees it."""

    __slots__ = ("sent", "first_request_id", "probing", "push", "handle")

    def __init__(self, push: Callable[[log_pb2.AppendRequest], None], first_request_id: int) -> None:
        self.sent: deque[tuple[Entry, int]] = deque()  # (entry, request id), in send order
        self.first_request_id = first_request_id
        self.probing = False
        self.push = push
        self.handle: Any = None  # the transport's call/task


class Pipeline:
    def __init__(self, log: str, options: AppenderOptions, open_stream: Callable[[int], Stream]) -> None:
        self.log = log
        self.options = options
        self.linger = options.linger_ms / 1000.0
        self._open_stream = open_stream
        retry = options.retry
        self.backoff = None if retry is False else Backoff(retry if isinstance(retry, Reconnect) else Reconnect())
        self.producer_id = "" if self.backoff is None else (options.producer_id or f"py-{uuid.uuid4().hex}")
        self.open: Optional[Entry] = None
        self.open_since = 0.0
        self.sealed: deque[Entry] = deque()  # not sent yet
        self.unanswered: deque[Entry] = deque()  # sent, in seq order: what a reconnect sends again
        self.bytes = 0  # accepted and not yet answered
        self.next_seq = 1
        self.next_request_id = 1
        self.stream: Optional[Stream] = None
        self.reconnecting = False
        self.resent = 0
        self.duplicates = 0
        self.reconnects = 0
        self._settled: list[tuple[Entry, Optional[Answer], Optional[DlogError]]] = []

    @property
    def idle(self) -> bool:
        return self.open is None and not self.sealed and not self.unanswered

    def add(self, payloads: list[bytes], txids: Optional[list], size: int, new_result: Callable[[], Any]) -> tuple[Entry, int]:
        """Adds one call's records; returns its entry and the slot of its first record."""
        entry = self.open
        if entry is not None and not entry.fits(len(payloads), size, self.options):
            self.seal()
            entry = None
        if entry is None:
            entry = self.open = Entry(new_result())
            self.open_since = time.monotonic()
        first = entry.add(payloads, txids, size)
        self.bytes += size
        if self.linger == 0 or entry.full(self.options):
            self.seal()
        return entry, first

    def linger_left(self) -> float:
        return self.open_since + self.linger - time.monotonic()

    def seal(self) -> None:
        """The open entry takes no more records; it goes out as soon as there is room."""
        if self.open is not None:
            self.sealed.append(self.open)
            self.open = None
            self.pump()

    def pump(self) -> None:
        if self.reconnecting or (self.stream is not None and self.stream.probing):
            return
        while self.sealed and len(self.unanswered) < self.options.max_in_flight:
            entry = self.sealed.popleft()
            if self.producer_id:
                entry.seq = self.next_seq
                self.next_seq += 1
            self.unanswered.append(entry)
            self._send(self.stream or self._new_stream(), entry)

    def on_answer(self, stream: Stream, response: log_pb2.AppendResponse) -> None:
        """Raises InternalError when the answer is out of place: the stream can no longer be trusted."""
        probe = stream.probing
        stream.probing = False
        if not stream.sent or stream.sent[0][1] != response.request_id:
            expected = stream.sent[0][1] if stream.sent else None
            raise InternalError(f"answer for append {response.request_id} arrived in place of {expected}")
        entry, request_id = stream.sent.popleft()
        if entry.request_id == request_id:  # else superseded by a resend: that answer counts
            self._settle_answer(stream, entry, response)
        if probe:
            for waiting in self.unanswered:  # the probe got through: the rest follow
                if waiting.request_id < stream.first_request_id:
                    self.resent += 1
                    self._send(stream, waiting)
        self.pump()

    def on_stream_end(self, stream: Stream, failure: Optional[DlogError]) -> Optional[float]:
        """The stream ended (``failure``: how). Returns the delay after which the transport calls
        :meth:`reconnect`, or None (unanswered entries failed, or none were left)."""
        if self.stream is not stream:
            return None
        self.stream = None
        if not self.unanswered:
            self.pump()
            return None
        failure = failure or UnavailableError("the append stream ended before answering every append")
        delay = self.backoff.next() if self.backoff is not None and is_lost_connection(failure) else None
        if delay is None:
            if self.backoff is not None:
                self.backoff.reset()
            while self.unanswered:  # each has an unknown outcome
                self._settle_head(self.unanswered[0], None, failure)
            self.pump()
            return None
        self.reconnecting = True
        return delay

    def reconnect(self) -> None:
        self.reconnecting = False
        self.reconnects += 1
        if not self.unanswered:
            self.pump()
            return
        stream = self._new_stream()
        stream.probing = len(self.unanswered) > 1
        self.resent += 1
        self._send(stream, self.unanswered[0])

    def fail_all(self, error: DlogError) -> None:
        """Gives up (the appender is closing): what is not answered gets ``error``."""
        self.reconnecting = False
        while self.unanswered:
            self._settle_head(self.unanswered[0], None, error)
        for entry in [*self.sealed, *([self.open] if self.open is not None else [])]:
            self.bytes -= entry.bytes
            self._settled.append((entry, None, error))
        self.sealed.clear()
        self.open = None

    def take_settled(self) -> list[tuple[Entry, Optional[Answer], Optional[DlogError]]]:
        settled, self._settled = self._settled, []
        return settled

    def _new_stream(self) -> Stream:
        self.stream = self._open_stream(self.next_request_id)
        return self.stream

    def _send(self, stream: Stream, entry: Entry) -> None:
        entry.request_id = self.next_request_id
        self.next_request_id += 1
        stream.sent.append((entry, entry.request_id))
        stream.push(entry.request(self.log, self.producer_id))

    def _settle_answer(self, stream: Stream, entry: Entry, response: log_pb2.AppendResponse) -> None:
        if self.backoff is not None:
            self.backoff.reset()
        if not response.HasField("error"):
            if len(response.dlsns) != len(entry.payloads):
                error = InternalError(f"append {entry.request_id}: {len(response.dlsns)} DLSNs for {len(entry.payloads)} records")
                return self._settle_head(entry, None, error)
            if response.duplicate:
                self.duplicates += 1
            return self._settle_head(entry, Answer(response.dlsns), None)
        e = response.error
        expected = e.metadata.get("expected_seq")
        if e.reason == "PRODUCER_SEQUENCE_GAP" and expected is not None and entry.renumbered < _MAX_RENUMBERS:
            # An entry before this one was refused, so not written: this one and all after it move down.
            self.next_seq = int(expected)
            for later in self.unanswered:
                later.renumbered += 1
                later.seq = self.next_seq
                self.next_seq += 1
                self.resent += 1
                self._send(stream, later)
            return None
        return self._settle_head(entry, None, make_error(status_code(e.code), e.message, e.reason, dict(e.metadata)))

    def _settle_head(self, entry: Entry, answer: Optional[Answer], error: Optional[DlogError]) -> None:
        if not self.unanswered or self.unanswered[0] is not entry:
            raise InternalError("appender: an answer arrived out of order")
        self.unanswered.popleft()
        self.bytes -= entry.bytes
        self._settled.append((entry, answer, error))
