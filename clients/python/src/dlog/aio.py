"""The asyncio client (grpc.aio): the same API as :class:`dlog.Client`, with ``await`` and
``async for``.

>>> async with dlog.aio.Client("127.0.0.1:7070") as client:   # doctest: +SKIP
...     async with client.reader("orders", "billing") as reader:
...         async for record in reader:
...             await bill(record.payload)
...             record.ack()
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, AsyncIterator, Callable, Generator, Optional, Sequence, Union

import grpc
import grpc.aio

from ._batching import AppenderOptions, append_request, as_payload, split_records
from ._pipeline import Pipeline, Stream
from ._channel import Tls, call_metadata, credentials_for
from ._channel import channel_options as _channel_options
from .client import records_of
from ._reader_core import ReaderOptions, ReaderRecord, ReaderState, ReaderView, SessionBase
from .dlsn import DLSN
from .errors import (
    CallCancelledError,
    DeadlineExceededError,
    DlogError,
    InternalError,
    UnavailableError,
    client_closed_error,
    from_rpc_error,
)
from .types import (
    LogInfo,
    Opened,
    Record,
    RecordInput,
    ReaderPosition,
    ReaderStatus,
    StartAt,
    TruncateResult,
    from_wire_dlsn,
    optional_dlsn,
    to_wire_dlsn,
    to_wire_position,
)
from .v1 import log_pb2, log_pb2_grpc, reader_pb2, reader_pb2_grpc

__all__ = ["Appender", "Client", "Reader"]

_DRAIN = reader_pb2.SessionRequest(drain=reader_pb2.Drain())
_END = object()


class _AioSession(SessionBase):
    """One session stream on the event loop. Acks made while a batch is processed go out
    together: the first one schedules a flush ``ack_interval`` after the previous message."""

    def __init__(self, seen_before: Optional[DLSN], ack_interval: float, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(seen_before)
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.ack_interval = ack_interval
        self.loop = loop
        self.last_flush = 0.0
        self.timer: Optional[asyncio.Handle] = None
        self.call: Any = None

    def ack(self, record: ReaderRecord) -> None:
        batch, index = record[1], record[2]
        if record is self.last_yielded:
            self.last_settled = True
        if batch.flags[index] or not self.alive or self.draining:
            return
        batch.flags[index] = 1
        acks = self.tracker.acks
        acks.append(record)
        if len(acks) == 1 and self.timer is None:
            delay = self.last_flush + self.ack_interval - self.loop.time()
            self.timer = self.loop.call_later(delay, self.flush) if delay > 0 else self.loop.call_soon(self.flush)

    def nack(self, record: ReaderRecord) -> None:
        batch, index = record[1], record[2]
        if record is self.last_yielded:
            self.last_settled = True
        if batch.flags[index] or not self.alive or self.draining:
            return
        self.tracker.nacks.append(batch.wires[index].dlsn)
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_soon(self.flush)  # a nack asks for the record again at once

    def flush(self) -> None:
        self.timer = None
        if not self.alive or self.draining or not self.tracker.pending:
            return
        self.last_flush = self.loop.time()
        for message in self.take_messages():
            self.outbox.put_nowait(message)

    def send(self, request: reader_pb2.SessionRequest) -> None:
        if self.alive and not self.draining:
            self.outbox.put_nowait(request)

    def drain(self) -> None:
        if not self.alive or self.draining:
            return
        self.flush()
        self.outbox.put_nowait(_DRAIN)
        self.draining = True

    def end(self) -> None:
        self.alive = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.outbox.put_nowait(None)

    async def requests(self, first: reader_pb2.SessionRequest) -> AsyncIterator[reader_pb2.SessionRequest]:
        yield first
        while True:
            message = await self.outbox.get()
            if message is None:
                return
            yield message


class Reader(ReaderView):
    """The asyncio twin of :class:`dlog.Reader`: ``async for``, ``async with``, ``await close()``.
    Made by :meth:`dlog.aio.Client.reader` inside a running event loop; callbacks run on the loop."""

    def __init__(self, stub: reader_pb2_grpc.ReaderServiceStub, metadata, options: ReaderOptions) -> None:
        self.log = options.log
        self.reader_id = options.reader_id
        self._stub = stub
        self._metadata = metadata
        self._options = options
        self._state = ReaderState(options)
        self._auto_ack = options.auto_ack
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._batch: list[ReaderRecord] = []
        self._index = 0
        self._current: Optional[ReaderRecord] = None
        self._session: Optional[_AioSession] = None
        self._stopping = False
        self._cancelled = False
        self._stop = asyncio.Event()
        self._first_open = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._failure_raised = False
        self._closing: Optional[asyncio.Task] = None
        self._task = self._loop.create_task(self._run(), name=f"dlog-reader-{options.reader_id}")

    @property
    def closed(self) -> bool:
        return self._closing is not None

    async def ready(self, timeout: Optional[float] = None) -> Opened:
        """Waits until the first session is open; raises the error if it never opens."""
        try:
            await asyncio.wait_for(self._first_open.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no session opened within {timeout} s") from None
        if self._state.opened is None:
            raise self._state.failure or UnavailableError("the reader was closed before a session opened")
        return self._state.opened

    async def wait_for_status(self, predicate: Callable[[ReaderStatus], bool], timeout: Optional[float] = None) -> ReaderStatus:
        """Waits for a status frame that satisfies ``predicate`` (the last one counts too)."""
        deadline = None if timeout is None else self._loop.time() + timeout
        while True:
            status = self.status
            if status is not None and predicate(status):
                return status
            if self._state.failure is not None:
                raise self._state.failure
            if self.closed or self._task.done():
                raise TimeoutError(f"the reader ended before a matching status frame (last: {status})")
            changed = self._status_changed
            try:
                await asyncio.wait_for(changed.wait(), None if deadline is None else max(0.0, deadline - self._loop.time()))
            except asyncio.TimeoutError:
                raise TimeoutError(f"no matching status frame within {timeout} s (last: {status})") from None

    def __aiter__(self) -> Reader:
        return self

    async def __anext__(self) -> ReaderRecord:
        record = self._take() if not self._stopping else None
        if record is None:
            record = await self.poll(None)
            if record is None:
                raise StopAsyncIteration
        return record

    def _take(self) -> Optional[ReaderRecord]:
        """The next buffered record of a live session (auto-acking the previous one), or None."""
        previous = self._current
        if previous is not None:
            self._current = None
            session = previous[1].session
            if self._auto_ack and not (session.last_yielded is previous and session.last_settled):
                previous.ack()
        batch, i = self._batch, self._index
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
        return None

    async def poll(self, timeout: Optional[float] = None) -> Optional[ReaderRecord]:
        """The next record, or None when none arrives within ``timeout`` seconds or the reader is
        closed. Raises the error that ended the reader (once)."""
        deadline = None if timeout is None else self._loop.time() + timeout
        while True:
            if self._stopping:
                return None
            record = self._take()
            if record is not None:
                return record
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                session = self._session
                if session is not None and session.tracker.pending:
                    session.flush()  # about to wait: send the acks now
                try:
                    remaining = None if deadline is None else max(0.0, deadline - self._loop.time())
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    return None
            if item is _END:
                self._queue.put_nowait(_END)
                if self._state.failure is not None and not self._failure_raised:
                    self._failure_raised = True
                    raise self._state.failure
                return None
            self._batch, self._index = item, 0
            session = self._session
            if session is not None and session.tracker.pending:
                session.flush()  # a batch handed out in full: the server gets its credit back now

    async def close(self) -> Optional[DLSN]:
        """Stops delivery, sends the acks made so far, drains, returns the final durable position."""
        if self._closing is None:
            self._closing = self._loop.create_task(self._shutdown())
        await asyncio.shield(self._closing)
        if self._state.close_error is not None:
            raise self._state.close_error
        return self._state.durable_position

    async def cancel(self) -> None:
        """Ends the reader at once, without drain (as if the client had crashed)."""
        if self._closing is not None:
            return
        self._cancelled = True
        self._closing = self._loop.create_task(self._abandon())
        await asyncio.shield(self._closing)

    async def __aenter__(self) -> Reader:
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            await self.close()
        except DlogError:
            if exc_type is None:
                raise

    async def _abandon(self) -> None:
        self._stopping = True
        self._stop.set()
        session = self._session
        if session is not None and session.call is not None:
            session.call.cancel()
        await asyncio.wait({self._task}, timeout=self._options.drain_timeout)
        self._queue.put_nowait(_END)

    async def _shutdown(self) -> None:
        self._stopping = True
        session = self._session
        if session is not None:
            session.drain()
        self._stop.set()
        timeout = self._options.drain_timeout
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:
            session = self._session
            if session is not None and session.call is not None:
                session.call.cancel()
            await asyncio.wait({self._task}, timeout=1.0)
            self._state.close_error = DeadlineExceededError(
                f"no drained answer within {timeout} s; acks since the last status frame may be replayed"
            )
        self._queue.put_nowait(_END)

    def _status_frame(self) -> None:
        changed, self._status_changed = self._status_changed, asyncio.Event()
        changed.set()

    async def _run(self) -> None:
        try:
            await self._serve_sessions()
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a bug or a callback's exception: end the reader with it
            self._state.failure = self._state.failure or error
        finally:
            self._first_open.set()
            self._queue.put_nowait(_END)
            self._status_frame()

    async def _serve_sessions(self) -> None:
        state = self._state
        while not self._stopping:
            session = _AioSession(state.earlier_yielded_high, self._options.ack_interval, self._loop)
            self._session = session
            error: Optional[BaseException] = None
            try:
                await self._serve(session, state.override)
            except grpc.RpcError as caught:
                error = state.open_timeout_error() if session.open_timed_out else from_rpc_error(caught)
            except asyncio.CancelledError:
                # grpc.aio ends the calls of a closing channel as cancelled: that is the client's
                # close, not this task's cancellation.
                if state.client_closed:
                    error = client_closed_error("reader")
                elif not session.open_timed_out:
                    raise
                else:
                    error = state.open_timeout_error()
            except Exception as caught:
                error = caught
            finally:
                session.end()
            delay = state.after_session(session, error, self._stopping, self._cancelled)
            if delay is None:
                return
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return
            except asyncio.TimeoutError:
                pass

    async def _serve(self, session: _AioSession, override) -> None:
        state = self._state
        call = self._stub.Session(session.requests(state.open_request(override)), metadata=self._metadata)
        session.call = call

        def open_timed_out() -> None:
            if not session.opened and session.alive:
                session.open_timed_out = True
                call.cancel()

        # A hung connection would otherwise hold the reader up to grpc's 20 s connect timeout.
        watchdog = self._loop.call_later(self._options.open_timeout, open_timed_out)
        try:
            async for response in call:
                kind = response.WhichOneof("kind")
                if kind == "records":
                    if not self._stopping:
                        self._queue.put_nowait(session.records(response.records.records))
                elif kind == "status":
                    state.on_status(session, response.status)
                    self._status_frame()
                elif kind == "opened":
                    watchdog.cancel()
                    state.on_opened(session, response.opened)
                    self._first_open.set()
                elif kind == "drained":
                    state.on_drained(session, response.drained)
        finally:
            watchdog.cancel()
            if not call.done():
                call.cancel()  # before the request iterator ends: a half-close would drain


class AppendResult:
    """One ``append`` call's answer; ``await`` it for the DLSN (or the list, for ``append_batch``)."""

    __slots__ = ("_future", "_first", "_count", "_single")

    def __init__(self, future: asyncio.Future, first: int, count: int, single: bool) -> None:
        self._future = future
        self._first = first
        self._count = count
        self._single = single

    def done(self) -> bool:
        return self._future.done()

    def __await__(self) -> Generator[Any, None, Any]:
        answer = yield from asyncio.shield(self._future).__await__()
        return answer.one(self._first) if self._single else answer.slice(self._first, self._count)


class Appender:
    """The asyncio twin of :class:`dlog.Appender`. ``append`` returns at once (an
    :class:`AppendResult` to await); ``await ready()`` waits for room under ``max_in_flight_bytes``."""

    def __init__(self, stub: log_pb2_grpc.LogServiceStub, metadata, log: str, options: AppenderOptions) -> None:
        self.log = log
        self._stub = stub
        self._metadata = metadata
        self._options = options
        self._loop = asyncio.get_running_loop()
        self._pipe = Pipeline(log, options, self._open_stream)
        self._linger_timer: Optional[asyncio.TimerHandle] = None
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()

    @property
    def in_flight_bytes(self) -> int:
        """Payload bytes accepted and not yet answered."""
        return self._pipe.bytes

    @property
    def producer_id(self) -> str:
        return self._pipe.producer_id

    @property
    def counters(self) -> dict[str, int]:
        p = self._pipe
        return {"reconnects": p.reconnects, "resent": p.resent, "duplicates": p.duplicates}

    def append(self, payload: bytes | str, *, txid: Optional[int] = None) -> AppendResult:
        data = as_payload(payload)
        return self._add([data], None if txid is None else [txid], len(data), True)

    def append_batch(self, records: Sequence[RecordInput]) -> AppendResult:
        payloads, txids, size = split_records(records)
        if not payloads:
            raise ValueError("append_batch needs at least one record")
        return self._add(payloads, txids, size, False)

    async def ready(self) -> None:
        """Returns when another append would not exceed ``max_in_flight_bytes``."""
        while self._pipe.bytes and self._pipe.bytes >= self._options.max_in_flight_bytes:
            await self._changed.wait()

    async def flush(self, timeout: Optional[float] = None) -> None:
        """Sends what lingers and waits until every append made so far is answered."""
        self._pipe.seal()
        deadline = None if timeout is None else self._loop.time() + timeout
        while not self._pipe.idle:
            try:
                await asyncio.wait_for(self._changed.wait(), None if deadline is None else max(0.0, deadline - self._loop.time()))
            except asyncio.TimeoutError:
                raise TimeoutError(f"appends still unanswered after {timeout} s") from None

    async def close(self, timeout: Optional[float] = None) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.flush(timeout)
        finally:
            self._stop.set()
            stream = self._pipe.stream
            if stream is not None:
                stream.handle.put_nowait(None)  # the request iterator ends: a half-close
            self._pipe.fail_all(CallCancelledError("the appender was closed before this append was answered"))
            self._settle()
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=timeout)

    def _client_closed(self) -> None:
        """Its Client is closing the channel (the Client calls this first): nothing here can be
        sent, answered or reconnected any more, so every append not yet answered fails now with a
        CANCELLED error, and later appends fail."""
        self._closed = True
        self._stop.set()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        stream = self._pipe.stream
        if stream is not None:
            stream.handle.put_nowait(None)
            self._pipe.stream = None  # its end, as the channel closes, changes nothing more
        self._pipe.fail_all(client_closed_error("appender"))
        self._settle()

    async def __aenter__(self) -> Appender:
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self.close()

    def _add(self, payloads: list[bytes], txids: Optional[list], size: int, single: bool) -> AppendResult:
        if self._closed:
            raise CallCancelledError("the appender is closed")
        opened = self._pipe.open
        entry, first = self._pipe.add(payloads, txids, size, self._loop.create_future)
        if entry is not opened and self._pipe.open is entry and self._pipe.linger > 0:
            if self._linger_timer is not None:
                self._linger_timer.cancel()
            self._linger_timer = self._loop.call_later(self._pipe.linger, self._linger_expired, entry)
        return AppendResult(entry.result, first, len(payloads), single)

    def _linger_expired(self, entry) -> None:
        self._linger_timer = None
        if self._pipe.open is entry:
            self._pipe.seal()

    def _open_stream(self, first_request_id: int) -> Stream:
        requests: asyncio.Queue = asyncio.Queue()
        stream = Stream(requests.put_nowait, first_request_id)
        stream.handle = requests

        async def request_iterator() -> AsyncIterator[log_pb2.AppendRequest]:
            while True:
                request = await requests.get()
                if request is None:
                    return
                yield request

        call = self._stub.AppendStream(request_iterator(), metadata=self._metadata)
        task = self._loop.create_task(self._answers(stream, call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return stream

    def _settle(self) -> None:
        for entry, answer, error in self._pipe.take_settled():
            future = entry.result
            if future.done():
                continue
            if error is None:
                future.set_result(answer)
            else:
                future.set_exception(error)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _answers(self, stream: Stream, call) -> None:
        failure: Optional[DlogError] = None
        try:
            async for response in call:
                try:
                    self._pipe.on_answer(stream, response)
                except InternalError as error:
                    failure = error
                self._settle()
                if failure is not None:
                    call.cancel()
                    break
        except grpc.RpcError as error:
            failure = failure or from_rpc_error(error)
        stream.handle.put_nowait(None)
        delay = self._pipe.on_stream_end(stream, failure)
        self._settle()
        if delay is None:
            return
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
            self._pipe.fail_all(CallCancelledError("the appender was closed while reconnecting"))
        except asyncio.TimeoutError:
            self._pipe.reconnect()
        self._settle()


class Client:
    """The asyncio twin of :class:`dlog.Client` (same options)."""

    def __init__(
        self,
        address: str,
        *,
        token: Optional[str] = None,
        tls: Union[Tls, bool, None] = None,
        timeout: Optional[float] = None,
        keepalive: float = 30.0,
        channel_options: Sequence[tuple[str, object]] = (),
    ) -> None:
        self.address = address
        tls_settings = credentials_for(tls)
        options = _channel_options(tls_settings, keepalive, channel_options)
        if tls_settings is None:
            self.channel = grpc.aio.insecure_channel(address, options=options)
        else:
            self.channel = grpc.aio.secure_channel(address, tls_settings.credentials(), options=options)
        self._metadata = call_metadata(token)
        self._timeout = timeout
        self.logs = log_pb2_grpc.LogServiceStub(self.channel)
        self.readers = reader_pb2_grpc.ReaderServiceStub(self.channel)
        # Weak: a reader or appender the application dropped has nothing left to end.
        self._made: weakref.WeakSet = weakref.WeakSet()

    async def close(self) -> None:
        """Closes the channel; calls in progress fail. Readers and appenders still open end with
        a CANCELLED error (close or drain them first): what waits in them for a reconnect fails now."""
        for made in list(self._made):
            made._client_closed()
        await self.channel.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self.close()

    async def _call(self, method, request, timeout: Optional[float]):
        try:
            return await method(request, timeout=self._timeout if timeout is None else timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    async def append(self, log: str, records: Union[RecordInput, Sequence[RecordInput]], *, timeout: Optional[float] = None) -> list[DLSN]:
        response = await self._call(self.logs.Append, append_request(log, *split_records(records_of(records))[:2]), timeout)
        return [from_wire_dlsn(d) for d in response.dlsns]

    def appender(
        self,
        log: str,
        *,
        linger_ms: float = 2.0,
        max_batch_records: int = 1000,
        max_batch_bytes: int = 1 << 20,
        max_in_flight_bytes: int = 8 << 20,
        max_in_flight: int = 1024,
        retry=True,
        producer_id: Optional[str] = None,
    ) -> Appender:
        options = AppenderOptions(linger_ms, max_batch_records, max_batch_bytes, max_in_flight_bytes, max_in_flight, retry, producer_id)
        appender = Appender(self.logs, self._metadata, log, options)
        self._made.add(appender)
        return appender

    async def read(
        self,
        log: str,
        *,
        start: Optional[StartAt] = None,
        max_records: int = 0,
        follow: bool = False,
        batch_size: int = 0,
        timeout: Optional[float] = None,
    ) -> AsyncIterator[Record]:
        request = log_pb2.ReadRequest(log=log, max_records=max_records, follow=follow, max_batch_records=batch_size)
        if start is not None:
            request.start.CopyFrom(to_wire_position(start))
        call = self.logs.Read(request, timeout=timeout, metadata=self._metadata)
        try:
            async for response in call:
                for record in response.records:
                    yield Record((record,))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()

    def reader(self, log: str, reader_id: str, **options: Any) -> Reader:
        """An at-least-once reader; the options are those of :meth:`dlog.Client.reader`."""
        reader = Reader(self.readers, self._metadata, ReaderOptions(log=log, reader_id=reader_id, **options))
        self._made.add(reader)
        return reader

    async def create_log(self, log: str, *, timeout: Optional[float] = None) -> LogInfo:
        return LogInfo.from_wire(await self._call(self.logs.CreateLog, log_pb2.CreateLogRequest(log=log), timeout))

    async def delete_log(self, log: str, *, timeout: Optional[float] = None) -> int:
        return (await self._call(self.logs.DeleteLog, log_pb2.DeleteLogRequest(log=log), timeout)).records_deleted

    async def get_log(self, log: str, *, timeout: Optional[float] = None) -> LogInfo:
        return LogInfo.from_wire(await self._call(self.logs.GetLog, log_pb2.GetLogRequest(log=log), timeout))

    async def list_logs(self, prefix: str = "", *, timeout: Optional[float] = None) -> list[LogInfo]:
        logs, token = [], ""
        while True:
            page = await self._call(self.logs.ListLogs, log_pb2.ListLogsRequest(prefix=prefix, page_token=token), timeout)
            logs.extend(LogInfo.from_wire(info) for info in page.logs)
            token = page.next_page_token
            if not token:
                return logs

    async def truncate(self, log: str, before: DLSN, *, force: bool = False, timeout: Optional[float] = None) -> TruncateResult:
        request = log_pb2.TruncateRequest(log=log, before=to_wire_dlsn(before), force=force)
        r = await self._call(self.logs.Truncate, request, timeout)
        return TruncateResult(r.segments_deleted, r.records_deleted, optional_dlsn(r, "first_dlsn"))

    async def get_position(self, log: str, reader_id: str, *, timeout: Optional[float] = None) -> ReaderPosition:
        request = reader_pb2.GetPositionRequest(log=log, reader_id=reader_id)
        return ReaderPosition.from_wire(await self._call(self.readers.GetPosition, request, timeout))

    async def set_position(
        self, log: str, reader_id: str, at: StartAt, *, force: bool = False, timeout: Optional[float] = None
    ) -> ReaderPosition:
        request = reader_pb2.SetPositionRequest(log=log, reader_id=reader_id, position=to_wire_position(at), force=force)
        return ReaderPosition.from_wire(await self._call(self.readers.SetPosition, request, timeout))

    async def list_readers(self, log: str, *, timeout: Optional[float] = None) -> list[ReaderPosition]:
        readers, token = [], ""
        while True:
            page = await self._call(self.readers.ListReaders, reader_pb2.ListReadersRequest(log=log, page_token=token), timeout)
            readers.extend(ReaderPosition.from_wire(info) for info in page.readers)
            token = page.next_page_token
            if not token:
                return readers

    async def delete_reader(self, log: str, reader_id: str, *, force: bool = False, timeout: Optional[float] = None) -> None:
        request = reader_pb2.DeleteReaderRequest(log=log, reader_id=reader_id, force=force)
        await self._call(self.readers.DeleteReader, request, timeout)
