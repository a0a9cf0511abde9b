"""The pipelined appender, synchronous flavour: AppendStream with many entries in flight,
answered in order, one-record calls packed into entries (see ``_batching``)."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable, Iterator, Optional, Sequence

import grpc

from ._batching import Answer, AppenderOptions, Entry, as_payload, outcome, split_records
from .dlsn import DLSN
from .errors import CallCancelledError, DlogError, InternalError, UnavailableError, from_rpc_error
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


class _Stream:
    __slots__ = ("call", "alive", "thread")

    def __init__(self) -> None:
        self.call: Any = None
        self.alive = True
        self.thread: Optional[threading.Thread] = None


class Appender:
    """A pipelined producer over ``AppendStream``. Made by :meth:`dlog.Client.appender`.

    >>> with client.appender("events") as appender:   # doctest: +SKIP
    ...     futures = [appender.append(line) for line in lines]
    ...     dlsns = [f.result() for f in futures]

    ``append`` returns at once (it waits only while ``max_in_flight_bytes`` are unanswered);
    records of calls made within ``linger_ms`` travel as one entry. If the stream breaks, the
    entries in flight fail (their outcome is unknown) and later appends open a new stream.
    """

    def __init__(self, stub: log_pb2_grpc.LogServiceStub, metadata, log: str, options: AppenderOptions) -> None:
        self.log = log
        self._stub = stub
        self._metadata = metadata
        self._options = options
        self._linger = options.linger_ms / 1000.0
        self._cond = threading.Condition()
        self._open: Optional[Entry] = None
        self._open_outcome = _Outcome()
        self._open_since = 0.0
        self._sealed: deque[tuple[Entry, _Outcome]] = deque()
        self._sent: deque[tuple[Entry, _Outcome]] = deque()
        self._bytes = 0
        self._next_id = 1
        self._stream: Optional[_Stream] = None
        self._closed = False
        self._flushing = 0

    @property
    def in_flight_bytes(self) -> int:
        """Payload bytes accepted and not yet answered."""
        return self._bytes

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
                if self._open is not None:
                    self._seal()
                self._ensure_stream()
                self._cond.notify_all()
                if not self._cond.wait_for(lambda: not (self._open or self._sealed or self._sent), timeout):
                    raise TimeoutError(f"appends still unanswered after {timeout} s")
            finally:
                self._flushing -= 1

    def close(self, timeout: Optional[float] = None) -> None:
        """Waits for every answer, then ends the stream. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        self.flush(timeout)
        with self._cond:
            stream, self._stream = self._stream, None
            if stream is not None:
                stream.alive = False
                self._cond.notify_all()
        if stream is not None and stream.thread is not None:
            stream.thread.join(timeout)

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _add(self, payloads: list[bytes], txids: Optional[list], size: int, single: bool) -> AppendFuture:
        options = self._options
        with self._cond:
            if self._closed:
                raise CallCancelledError("the appender is closed")
            # One call larger than the bound still goes, alone, or it would wait forever.
            while self._bytes and self._bytes + size > options.max_in_flight_bytes:
                self._cond.wait()
            entry = self._open
            if entry is not None and not entry.fits(len(payloads), size, options):
                self._seal()
                entry = None
            if entry is None:
                entry = self._open = Entry()
                self._open_outcome = _Outcome()
                self._open_since = time.monotonic()
                self._ensure_stream()
                self._cond.notify_all()  # the sender starts the linger clock
            handle = AppendFuture(self._open_outcome, entry.add(payloads, txids, size), len(payloads), single)
            self._bytes += size
            if self._linger == 0 or entry.full(options):
                self._seal()
                self._cond.notify_all()
        return handle

    def _seal(self) -> None:
        entry, self._open = self._open, None
        assert entry is not None
        entry.request_id = self._next_id
        self._next_id += 1
        self._sealed.append((entry, self._open_outcome))

    def _ensure_stream(self) -> None:
        if self._stream is not None:
            return
        stream = self._stream = _Stream()
        stream.call = self._stub.AppendStream(self._requests(stream), metadata=self._metadata)
        stream.thread = threading.Thread(target=self._answers, args=(stream,), name=f"dlog-appender-{self.log}", daemon=True)
        stream.thread.start()

    def _next_request(self, stream: _Stream) -> Optional[log_pb2.AppendRequest]:
        """The next entry to send (sealing a lingering one when its time is up); None: end the stream."""
        options = self._options
        with self._cond:
            while True:
                if not stream.alive:
                    return None
                if self._sealed and len(self._sent) < options.max_in_flight:
                    item = self._sealed.popleft()
                    self._sent.append(item)
                    return item[0].request(self.log)
                if self._open is not None and not self._sealed:
                    remaining = self._open_since + self._linger - time.monotonic()
                    if remaining <= 0 or self._flushing:
                        self._seal()
                        continue
                    self._cond.wait(remaining)
                else:
                    self._cond.wait()

    def _requests(self, stream: _Stream) -> Iterator[log_pb2.AppendRequest]:
        while True:
            request = self._next_request(stream)
            if request is None:
                return
            yield request

    def _answers(self, stream: _Stream) -> None:
        failure: Optional[DlogError] = None
        try:
            for response in stream.call:
                with self._cond:
                    entry, result = self._sent.popleft()
                    self._bytes -= entry.bytes
                    self._cond.notify_all()
                answer, error = outcome(entry, response)
                result.settle(answer, error)
                if isinstance(error, InternalError):
                    failure = error
                    stream.call.cancel()
                    break
        except grpc.RpcError as error:
            failure = from_rpc_error(error)
        except Exception as error:  # a done-callback's exception must not leave callers waiting
            failure = InternalError(f"appender stopped: {error!r}")
            stream.call.cancel()
        with self._cond:
            stream.alive = False
            if self._stream is stream:
                self._stream = None
            failed = list(self._sent)
            self._sent.clear()
            for entry, _ in failed:
                self._bytes -= entry.bytes
            if self._sealed or self._open is not None:
                self._ensure_stream()  # later appends go on a new stream
            self._cond.notify_all()
        if failed:
            error = failure or UnavailableError("the append stream ended before answering every append")
            for _, result in failed:
                result.settle(None, error)
