"""The pipelined appender, synchronous flavour: AppendStream with many entries in flight,
answered in order, one-record calls packed into entries (see ``_batching``)."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Iterator, Optional, Sequence

import grpc

from ._batching import Answer, AppenderOptions, as_payload, split_records
from ._pipeline import Pipeline, Stream
from .errors import CallCancelledError, DlogError, InternalError, client_closed_error, from_rpc_error
from .types import RecordInput
from .v1 import log_pb2, log_pb2_grpc


_CALLBACKS = threading.Lock()  # done-callbacks are rare: one lock for all of them


class _Outcome:
    """The answer of one entry, shared by every caller whose records are in it."""

    __slots__ = ("event", "answer", "error", "callbacks")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.answer: Optional[Answer] = None
        self.error: Optional[DlogError] = None
        self.callbacks: Optional[list[Callable[[], None]]] = None

    def settle(self, answer: Optional[Answer], error: Optional[DlogError]) -> None:
        self.answer, self.error = answer, error
        with _CALLBACKS:
            self.event.set()
            callbacks, self.callbacks = self.callbacks, None
        for callback in callbacks or ():
            callback()

    def on_settled(self, callback: Callable[[], None]) -> None:
        with _CALLBACKS:
            if not self.event.is_set():
                if self.callbacks is None:
                    self.callbacks = []
                self.callbacks.append(callback)
                return
        callback()


class AppendFuture:
    """One ``append`` call's answer: its record's DLSN (``append``) or its records' DLSNs
    (``append_batch``)."""

    __slots__ = ("_outcome", "_first", "_count", "_single")

    def __init__(self, outcome: _Outcome, first: int, count: int, single: bool) -> None:
        self._outcome = outcome
        self._first = first
        self._count = count
        self._single = single

    def done(self) -> bool:
        return self._outcome.event.is_set()

    def result(self, timeout: Optional[float] = None) -> Any:
        """Waits for the answer: a DLSN (or a list of them); raises the entry's DlogError."""
        o = self._outcome
        if not o.event.wait(timeout):
            raise TimeoutError(f"no answer within {timeout} s")
        if o.error is not None:
            raise o.error
        assert o.answer is not None
        return o.answer.one(self._first) if self._single else o.answer.slice(self._first, self._count)

    def exception(self, timeout: Optional[float] = None) -> Optional[DlogError]:
        if not self._outcome.event.wait(timeout):
            raise TimeoutError(f"no answer within {timeout} s")
        return self._outcome.error

    def add_done_callback(self, fn: Callable[[AppendFuture], None]) -> None:
        """Calls ``fn(self)`` once answered (on the appender's thread; at once if already answered)."""
        self._outcome.on_settled(lambda: fn(self))


class _Call:
    """The transport side of one AppendStream: its outbox, drained by grpc's request thread."""

    __slots__ = ("outbox", "alive", "call", "thread")

    def __init__(self) -> None:
        self.outbox: deque[log_pb2.AppendRequest] = deque()
        self.alive = True
        self.call: Any = None
        self.thread: Optional[threading.Thread] = None


class Appender:
    """A pipelined producer over ``AppendStream``. Made by :meth:`dlog.Client.appender`.

    >>> with client.appender("events") as appender:   # doctest: +SKIP
    ...     futures = [appender.append(line) for line in lines]
    ...     dlsns = [f.result() for f in futures]

    ``append`` returns at once (it waits only while ``max_in_flight_bytes`` are unanswered);
    records of calls made within ``linger_ms`` travel as one entry. When the stream breaks, the
    appender reconnects and sends the unanswered entries again (idempotently: see ``retry``).
    """

    def __init__(self, stub: log_pb2_grpc.LogServiceStub, metadata, log: str, options: AppenderOptions) -> None:
        self.log = log
        self._stub = stub
        self._metadata = metadata
        self._options = options
        self._cond = threading.Condition()
        self._pipe = Pipeline(log, options, self._open_stream)
        self._closed = False
        self._flushing = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._linger_thread = threading.Thread(target=self._linger, name=f"dlog-appender-linger-{log}", daemon=True)
        self._linger_thread.start()

    @property
    def in_flight_bytes(self) -> int:
        """Payload bytes accepted and not yet answered."""
        return self._pipe.bytes

    @property
    def producer_id(self) -> str:
        """The producer id of the idempotent entries; empty when ``retry`` is off."""
        return self._pipe.producer_id

    @property
    def counters(self) -> dict[str, int]:
        """Streams opened again after a break, entries sent again, and resends the server had
        written already (answered as duplicates, not written twice)."""
        p = self._pipe
        return {"reconnects": p.reconnects, "resent": p.resent, "duplicates": p.duplicates}

    def append(self, payload: bytes | str, *, txid: Optional[int] = None) -> AppendFuture:
        """Appends one record; the future gives its DLSN."""
        data = as_payload(payload)
        return self._add([data], None if txid is None else [txid], len(data), True)

    def append_batch(self, records: Sequence[RecordInput]) -> AppendFuture:
        """Appends records that stay together (consecutive slots of one entry); the future gives
        their DLSNs."""
        payloads, txids, size = split_records(records)
        if not payloads:
            raise ValueError("append_batch needs at least one record")
        return self._add(payloads, txids, size, False)

    def flush(self, timeout: Optional[float] = None) -> None:
        """Sends what lingers and waits until every append made so far is answered."""
        with self._cond:
            self._flushing += 1
            try:
                self._pipe.seal()
                self._cond.notify_all()
                if not self._cond.wait_for(lambda: self._pipe.idle, timeout):
                    raise TimeoutError(f"appends still unanswered after {timeout} s")
            finally:
                self._flushing -= 1

    def close(self, timeout: Optional[float] = None) -> None:
        """Waits for every answer, then ends the stream. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        try:
            self.flush(timeout)
        finally:
            with self._cond:
                self._stop.set()
                stream = self._pipe.stream
                if stream is not None:
                    stream.handle.alive = False  # the request iterator ends: a half-close
                self._pipe.fail_all(CallCancelledError("the appender was closed before this append was answered"))
                settled = self._pipe.take_settled()
                self._cond.notify_all()
            _settle(settled)
            for thread in [self._linger_thread, *self._threads]:
                thread.join(timeout)

    def _client_closed(self) -> None:
        """Its Client is closing the channel (the Client calls this first): nothing here can be
        sent, answered or reconnected any more, so every append not yet answered fails now with a
        CANCELLED error, and later appends fail."""
        with self._cond:
            self._closed = True
            self._stop.set()
            stream = self._pipe.stream
            if stream is not None:
                stream.handle.alive = False
                self._pipe.stream = None  # its end, as the channel closes, changes nothing more
            self._pipe.fail_all(client_closed_error("appender"))
            settled = self._pipe.take_settled()
            self._cond.notify_all()
        _settle(settled)

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _add(self, payloads: list[bytes], txids: Optional[list], size: int, single: bool) -> AppendFuture:
        with self._cond:
            if self._closed:
                raise CallCancelledError("the appender is closed")
            # One call larger than the bound still goes, alone, or it would wait forever.
            while self._pipe.bytes and self._pipe.bytes + size > self._options.max_in_flight_bytes:
                self._cond.wait()
            opened = self._pipe.open
            entry, first = self._pipe.add(payloads, txids, size, _Outcome)
            if entry is not opened:
                self._cond.notify_all()  # a new entry: the linger clock starts (or it went out)
        return AppendFuture(entry.result, first, len(payloads), single)

    def _linger(self) -> None:
        """Seals the open entry when its linger time is up (or a flush asks)."""
        with self._cond:
            while not self._stop.is_set():
                pipe = self._pipe
                if pipe.open is None:
                    self._cond.wait()
                    continue
                left = pipe.linger_left()
                if left <= 0 or self._flushing:
                    pipe.seal()
                    self._cond.notify_all()
                else:
                    self._cond.wait(left)

    def _open_stream(self, first_request_id: int) -> Stream:
        """Called by the pipeline, under the lock."""
        handle = _Call()

        def push(request: log_pb2.AppendRequest) -> None:
            handle.outbox.append(request)
            self._cond.notify_all()

        stream = Stream(push, first_request_id)
        stream.handle = handle
        handle.call = self._stub.AppendStream(self._requests(handle), metadata=self._metadata)
        handle.thread = threading.Thread(target=self._answers, args=(stream,), name=f"dlog-appender-{self.log}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [handle.thread]
        handle.thread.start()
        return stream

    def _requests(self, handle: _Call) -> Iterator[log_pb2.AppendRequest]:
        while True:
            with self._cond:
                while handle.alive and not handle.outbox:
                    self._cond.wait()
                if not handle.outbox:
                    return
                request = handle.outbox.popleft()
            yield request

    def _answers(self, stream: Stream) -> None:
        handle: _Call = stream.handle
        failure: Optional[DlogError] = None
        try:
            for response in handle.call:
                with self._cond:
                    try:
                        self._pipe.on_answer(stream, response)
                    except InternalError as error:
                        failure = error
                    settled = self._pipe.take_settled()
                    self._cond.notify_all()
                _settle(settled)
                if failure is not None:
                    handle.call.cancel()
                    break
        except grpc.RpcError as error:
            failure = failure or from_rpc_error(error)
        with self._cond:
            handle.alive = False
            delay = self._pipe.on_stream_end(stream, failure)
            settled = self._pipe.take_settled()
            self._cond.notify_all()
        _settle(settled)
        if delay is None:
            return
        closed = self._stop.wait(delay)
        with self._cond:
            if closed:
                self._pipe.fail_all(CallCancelledError("the appender was closed while reconnecting"))
            else:
                self._pipe.reconnect()
            settled = self._pipe.take_settled()
            self._cond.notify_all()
        _settle(settled)


def _settle(settled) -> None:
    for entry, answer, error in settled:
        entry.result.settle(answer, error)
