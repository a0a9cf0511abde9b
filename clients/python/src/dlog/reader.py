"""The high-level at-least-once reader, synchronous flavour (threads)."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from typing import Callable, Iterator, Optional

import grpc

from ._reader_core import ReaderOptions, ReaderRecord, ReaderState, ReaderView, SessionBase
from .dlsn import DLSN
from .errors import DeadlineExceededError, DlogError, UnavailableError, from_rpc_error
from .types import Opened, ReaderStatus
from .v1 import reader_pb2, reader_pb2_grpc

_DRAIN = reader_pb2.SessionRequest(drain=reader_pb2.Drain())
_END = object()


class _ThreadSession(SessionBase):
    """One session stream. The request iterator, run by grpc's consumer thread, is also the ack
    flusher: woken by the first ack after a flush, it waits out ``ack_interval`` since the last
    ack message (so acks made meanwhile go in the same message), then sends."""

    def __init__(self, seen_before: Optional[DLSN], ack_interval: float) -> None:
        super().__init__(seen_before)
        self.cond = threading.Condition(threading.Lock())
        self.outbox: deque[reader_pb2.SessionRequest] = deque()
        self.urgent = False
        self.wake_pending = False
        self.drain_requested = False
        self.ack_interval = ack_interval
        self.last_flush = 0.0
        self.call: Optional[grpc.Call] = None

    def ack(self, record: ReaderRecord) -> None:
        # No lock on this hot path: setting a flag and appending to a list are atomic under the
        # GIL, and take() removes exactly the items it read. Only the first ack after a flush
        # wakes the flusher (wake_pending is cleared before each take).
        batch, index = record[1], record[2]
        if record is self.last_yielded:
            self.last_settled = True
        flags = batch.flags
        if flags[index] or not self.alive or self.draining:
            return
        flags[index] = 1
        self.tracker.acks.append(record)
        if not self.wake_pending:
            self.wake_pending = True
            with self.cond:
                self.cond.notify()

    def nack(self, record: ReaderRecord) -> None:
        batch, index = record[1], record[2]
        if record is self.last_yielded:
            self.last_settled = True
        with self.cond:
            if batch.flags[index] or not self.alive or self.draining:
                return
            self.tracker.nacks.append(batch.wires[index].dlsn)
            self.urgent = True  # a nack asks for the record again at once
            self.cond.notify()

    def send(self, request: reader_pb2.SessionRequest) -> None:
        with self.cond:
            if self.alive and not self.draining:
                self.outbox.append(request)
                self.cond.notify()

    def flush_now(self) -> None:
        """Sends pending acks without waiting out the interval (the application is about to wait)."""
        if self.tracker.pending:
            with self.cond:
                self.urgent = True
                self.cond.notify()

    def drain(self) -> None:
        with self.cond:
            if self.alive and not self.drain_requested:
                self.drain_requested = True
                self.cond.notify()

    def end(self) -> None:
        with self.cond:
            self.alive = False
            self.cond.notify()

    def requests(self, first: reader_pb2.SessionRequest) -> Iterator[reader_pb2.SessionRequest]:
        yield first
        cond = self.cond
        while True:
            with cond:
                while self.alive and not (self.outbox or self.tracker.pending or (self.drain_requested and not self.draining)):
                    cond.wait()
                if not self.alive:
                    return
                if not (self.urgent or self.outbox or self.drain_requested):
                    wait = self.last_flush + self.ack_interval - time.monotonic()
                    if wait > 0:
                        cond.wait(wait)  # coalescing: acks made meanwhile join this message
                        if not self.alive:
                            return
                self.urgent = False
                self.wake_pending = False
                messages = list(self.outbox)
                self.outbox.clear()
                if not self.draining:
                    messages.extend(self.take_messages())
                    if self.drain_requested:
                        messages.append(_DRAIN)
                        self.draining = True
                self.last_flush = time.monotonic()
            yield from messages


class Reader(ReaderView):
    """An at-least-once reader: iterate, ack; it coalesces acks, reconnects with backoff, resumes
    from the server's durable position and drains on close. Made by :meth:`dlog.Client.reader`.

    >>> with client.reader("orders", "billing") as reader:   # doctest: +SKIP
    ...     for record in reader:
    ...         bill(record.payload)
    ...         record.ack()

    Leaving the ``with`` block closes the reader: the acks made so far are sent and made durable
    (drain); records received but not handed out come again next time.
    """

    def __init__(self, stub: reader_pb2_grpc.ReaderServiceStub, metadata, options: ReaderOptions) -> None:
        self.log = options.log
        self.reader_id = options.reader_id
        self._stub = stub
        self._metadata = metadata
        self._options = options
        self._state = ReaderState(options)
        self._auto_ack = options.auto_ack
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._batch: list[ReaderRecord] = []
        self._index = 0
        self._current: Optional[ReaderRecord] = None
        self._session: Optional[_ThreadSession] = None
        self._stopping = False
        self._cancelled = False
        self._stop = threading.Event()
        self._first_open = threading.Event()
        self._failure_raised = False
        self._close_lock = threading.RLock()  # close() from a signal handler during close()
        self._closed = False
        self._status_cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"dlog-reader-{options.reader_id}", daemon=True)
        self._thread.start()

    # -- what the application sees ------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def ready(self, timeout: Optional[float] = None) -> Opened:
        """Waits until the first session is open; raises the error if it never opens."""
        if not self._first_open.wait(timeout):
            raise TimeoutError(f"no session opened within {timeout} s")
        if self._state.opened is None:
            raise self._state.failure or UnavailableError("the reader was closed before a session opened")
        return self._state.opened

    def wait_for_status(self, predicate: Callable[[ReaderStatus], bool], timeout: Optional[float] = None) -> ReaderStatus:
        """Waits for a status frame that satisfies ``predicate`` (the last one counts too)."""
        with self._status_cond:
            done = self._status_cond.wait_for(
                lambda: self._state.failure is not None or self._closed or (self.status is not None and predicate(self.status)), timeout
            )
        status = self.status
        if done and status is not None and predicate(status):
            return status
        if self._state.failure is not None:
            raise self._state.failure
        raise TimeoutError(f"no matching status frame within {timeout} s (last: {status})")

    def __iter__(self) -> Reader:
        return self

    def __next__(self) -> ReaderRecord:
        record = self.poll(None)
        if record is None:
            raise StopIteration
        return record

    def poll(self, timeout: Optional[float] = None) -> Optional[ReaderRecord]:
        """The next record, or None when none arrives within ``timeout`` seconds (None: wait) or the
        reader is closed. Raises the error that ended the reader (once)."""
        previous = self._current
        if previous is not None:
            self._current = None
            session = previous[1].session
            if self._auto_ack and not (session.last_yielded is previous and session.last_settled):
                previous.ack()
        deadline = None
        while True:
            if self._stopping:
                return None
            batch, i = self._batch, self._index
            session = self._session
            while i < len(batch):
                record = batch[i]
                i += 1
                owner = record[1].session
                if owner.alive:
                    self._index = i
                    self._current = record
                    owner.last_yielded = record
                    owner.last_settled = False
                    return record
            self._index = i
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if session is not None:
                    session.flush_now()
                if timeout is not None and deadline is None:
                    deadline = time.monotonic() + timeout
                try:
                    item = self._queue.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    return None
            if item is _END:
                self._queue.put(_END)  # later polls end too
                return self._raise_failure_once()
            self._batch, self._index = item, 0
            if session is not None:
                # A batch handed out in full: give the server its credit back now (one ack message per batch at most).
                session.flush_now()

    def close(self) -> Optional[DLSN]:
        """Stops delivery, sends the acks made so far, drains the session and returns the final
        durable position. Idempotent. Raises :class:`DeadlineExceededError` when the server does
        not answer the drain within ``drain_timeout`` (acks since the last status may then come again)."""
        with self._close_lock:
            if not self._closed:
                self._closed = True
                self._shutdown()
        if self._state.close_error is not None:
            raise self._state.close_error
        return self._state.durable_position

    def cancel(self) -> None:
        """Ends the reader at once, without drain: what the server has received is kept (and made
        durable by its next flush), acks not yet sent are dropped, and records after the durable
        position come again next time — as if the client had crashed."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._cancelled = True
            self._stopping = True
            self._stop.set()
            session = self._session
            if session is not None and session.call is not None:
                session.call.cancel()
            self._thread.join(self._options.drain_timeout)
            self._queue.put(_END)

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.close()
        except DlogError:
            if exc_type is None:
                raise

    # -- the session loop (the reader's thread) -------------------------------------------------

    def _shutdown(self) -> None:
        self._stopping = True
        session = self._session
        if session is not None:
            session.drain()
        self._stop.set()
        timeout = self._options.drain_timeout
        self._thread.join(timeout)
        if self._thread.is_alive():
            session = self._session
            if session is not None and session.call is not None:
                session.call.cancel()
            self._thread.join(1.0)
            self._state.close_error = DeadlineExceededError(
                f"no drained answer within {timeout} s; acks since the last status frame may be replayed"
            )
        self._queue.put(_END)
        with self._status_cond:
            self._status_cond.notify_all()

    def _raise_failure_once(self) -> None:
        if self._state.failure is not None and not self._failure_raised:
            self._failure_raised = True
            raise self._state.failure
        return None

    def _run(self) -> None:
        try:
            self._serve_sessions()
        except BaseException as error:  # a bug or a callback's exception: end the reader with it
            self._state.failure = self._state.failure or error
        finally:
            self._first_open.set()
            self._queue.put(_END)
            with self._status_cond:
                self._status_cond.notify_all()

    def _serve_sessions(self) -> None:
        state = self._state
        while not self._stopping:
            session = _ThreadSession(state.earlier_yielded_high, self._options.ack_interval)
            self._session = session
            if self._stopping:
                session.drain()  # close() may have looked at the previous session
            error: Optional[BaseException] = None
            try:
                self._serve(session, state.override)
            except grpc.RpcError as caught:
                error = state.open_timeout_error() if session.open_timed_out else from_rpc_error(caught)
            except Exception as caught:
                error = caught
            finally:
                session.end()
            delay = state.after_session(session, error, self._stopping, self._cancelled)
            if delay is None or self._stop.wait(delay):
                return

    def _serve(self, session: _ThreadSession, override) -> None:
        state = self._state
        call = self._stub.Session(session.requests(state.open_request(override)), metadata=self._metadata)
        session.call = call
        if self._cancelled:
            call.cancel()
        # A connection that hangs (a server going away mid-handshake) would otherwise hold the
        # reader up to grpc's 20 s connect timeout: an open not answered in time is retried.
        watchdog = threading.Timer(self._options.open_timeout, self._open_timed_out, args=(session, call))
        watchdog.daemon = True
        watchdog.start()
        try:
            for response in call:
                kind = response.WhichOneof("kind")
                if kind == "records":
                    if not self._stopping:
                        with session.cond:  # the flusher walks the same ack window
                            records = session.records(response.records.records)
                        self._queue.put(records)
                elif kind == "status":
                    with self._status_cond:
                        state.on_status(session, response.status)
                        self._status_cond.notify_all()
                elif kind == "opened":
                    watchdog.cancel()
                    state.on_opened(session, response.opened)
                    self._first_open.set()
                elif kind == "drained":
                    state.on_drained(session, response.drained)
        finally:
            watchdog.cancel()
            if call.is_active():
                call.cancel()  # before the request iterator ends: a half-close would drain

    @staticmethod
    def _open_timed_out(session: _ThreadSession, call) -> None:
        if not session.opened and session.alive:
            session.open_timed_out = True
            call.cancel()
