"""The synchronous client: appends, reads, admin, at-least-once readers."""

from __future__ import annotations

import weakref
from typing import Iterator, Optional, Sequence, Union

import grpc

from ._batching import AppenderOptions, append_request, split_records
from ._channel import Tls, call_metadata, credentials_for
from ._channel import channel_options as _channel_options
from ._reader_core import ReaderOptions
from .appender import Appender
from .dlsn import DLSN
from .errors import from_rpc_error
from .reader import Reader
from .types import (
    LogInfo,
    Record,
    RecordInput,
    ReaderPosition,
    StartAt,
    TruncateResult,
    from_wire_dlsn,
    optional_dlsn,
    to_wire_dlsn,
    to_wire_position,
)
from .v1 import log_pb2, log_pb2_grpc, reader_pb2, reader_pb2_grpc


def records_of(records: Union[RecordInput, Sequence[RecordInput]]) -> Sequence[RecordInput]:
    """A list means several records; anything else is one (bytes, str or (payload, txid))."""
    return records if isinstance(records, list) else [records]


class Client:
    """A connection to one dlogd.

    >>> with dlog.Client("127.0.0.1:7070") as client:   # doctest: +SKIP
    ...     [dlsn] = client.append("orders", b'{"id": 1}')
    ...     with client.reader("orders", "billing") as reader:
    ...         for record in reader:
    ...             bill(record.payload)
    ...             record.ack()

    ``token`` is sent as ``authorization: Bearer …`` on every call; ``tls`` is ``True`` (system
    roots) or a :class:`dlog.Tls` (private CA, mutual TLS); ``timeout`` is the default deadline of
    unary calls in seconds (each call takes its own ``timeout=`` too). The channel connects lazily.
    """

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
        self._tls = credentials_for(tls)
        options = _channel_options(self._tls, keepalive, channel_options)
        if self._tls is None:
            self.channel = grpc.insecure_channel(address, options=options)
        else:
            self.channel = grpc.secure_channel(address, self._tls.credentials(), options=options)
        self._metadata = call_metadata(token)
        self._timeout = timeout
        self.logs = log_pb2_grpc.LogServiceStub(self.channel)
        """The generated LogService stub, for anything not wrapped here."""
        self.readers = reader_pb2_grpc.ReaderServiceStub(self.channel)
        """The generated ReaderService stub."""
        # Weak: a reader or appender the application dropped has nothing left to end.
        self._made: weakref.WeakSet = weakref.WeakSet()

    def close(self) -> None:
        """Closes the channel; calls in progress fail. Readers and appenders still open end with
        a CANCELLED error (close or drain them first): what waits in them for a reconnect fails now."""
        for made in list(self._made):
            made._client_closed()
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def _call(self, method, request, timeout: Optional[float]):
        try:
            return method(request, timeout=self._timeout if timeout is None else timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    # -- appends and reads --------------------------------------------------------------------

    def append(self, log: str, records: Union[RecordInput, Sequence[RecordInput]], *, timeout: Optional[float] = None) -> list[DLSN]:
        """Appends the records to one entry, in consecutive slots; returns their DLSNs once written.
        ``records``: one record (bytes, str, ``(payload, txid)``) or a list of them."""
        response = self._call(self.logs.Append, append_request(log, *split_records(records_of(records))[:2]), timeout)
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
        """A pipelined producer on one AppendStream; records of calls made within ``linger_ms`` of
        each other travel as one entry (0: each call alone). ``retry`` (a :class:`dlog.Reconnect`,
        True or False): on UNAVAILABLE, reconnect and resend unanswered entries, idempotently
        (``producer_id``, default random). See :class:`dlog.Appender`."""
        options = AppenderOptions(linger_ms, max_batch_records, max_batch_bytes, max_in_flight_bytes, max_in_flight, retry, producer_id)
        appender = Appender(self.logs, self._metadata, log, options)
        self._made.add(appender)
        return appender

    def read(
        self,
        log: str,
        *,
        start: Optional[StartAt] = None,
        max_records: int = 0,
        follow: bool = False,
        batch_size: int = 0,
        timeout: Optional[float] = None,
    ) -> Iterator[Record]:
        """A stateless read from ``start`` (default earliest); no position is kept.
        ``follow`` keeps waiting at the end of the log; ``timeout`` bounds the whole stream."""
        request = log_pb2.ReadRequest(log=log, max_records=max_records, follow=follow, max_batch_records=batch_size)
        if start is not None:
            request.start.CopyFrom(to_wire_position(start))
        call = self.logs.Read(request, timeout=timeout, metadata=self._metadata)
        try:
            for response in call:
                for record in response.records:
                    yield Record((record,))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()

    def reader(
        self,
        log: str,
        reader_id: str,
        *,
        start: Optional[StartAt] = None,
        fallback: Optional[StartAt] = None,
        checkpoint: Optional[DLSN] = None,
        resume_policy: str = "stored",
        flow=None,
        ack_wait_ms: int = 0,
        takeover: str = "fence",
        auto_ack: bool = False,
        reconnect=True,
        ack_interval: float = 0.002,
        drain_timeout: float = 10.0,
        open_timeout: float = 10.0,
        on_opened=None,
        on_status=None,
        on_reconnecting=None,
    ) -> Reader:
        """An at-least-once reader (see :class:`dlog.Reader`); its session opens at once.

        - ``start``: re-positions the reader on the first open (the open's override); reconnects
          resume from the stored position instead. ``fallback``: where a reader with no stored
          position starts (server default: earliest).
        - ``checkpoint`` + ``resume_policy`` (``stored`` | ``client`` | ``max``): a position the
          application persisted itself.
        - ``flow``: :class:`dlog.FlowLimits` (max outstanding records/bytes, records per batch).
        - ``ack_wait_ms``: records left unacked this long come again in the same session.
        - ``takeover``: ``fence`` (default: end the other session) or ``reject`` (fail this one).
        - ``auto_ack``: ack each record when the loop asks for the next one.
        - ``reconnect``: a :class:`dlog.Reconnect`, True (defaults) or False; on UNAVAILABLE or a
          lost connection only, never on ABORTED (fenced).
        - ``ack_interval``: least time between two ack messages, seconds (acks are coalesced).
        - ``drain_timeout``: how long ``close()`` waits for the server's drained answer.
        - ``open_timeout``: how long a session may take to open (connect and answer) before it is
          abandoned and retried like a lost connection.
        - ``on_opened(Opened)``, ``on_status(ReaderStatus)``, ``on_reconnecting(attempt, delay,
          error)``: called on the reader's thread; keep them short.
        """
        options = ReaderOptions(
            log=log,
            reader_id=reader_id,
            start=start,
            fallback=fallback,
            checkpoint=checkpoint,
            resume_policy=resume_policy,  # type: ignore[arg-type]
            flow=flow,
            ack_wait_ms=ack_wait_ms,
            takeover=takeover,  # type: ignore[arg-type]
            auto_ack=auto_ack,
            reconnect=reconnect,
            ack_interval=ack_interval,
            drain_timeout=drain_timeout,
            open_timeout=open_timeout,
            on_opened=on_opened,
            on_status=on_status,
            on_reconnecting=on_reconnecting,
        )
        reader = Reader(self.readers, self._metadata, options)
        self._made.add(reader)
        return reader

    # -- admin --------------------------------------------------------------------------------

    def create_log(self, log: str, *, timeout: Optional[float] = None) -> LogInfo:
        return LogInfo.from_wire(self._call(self.logs.CreateLog, log_pb2.CreateLogRequest(log=log), timeout))

    def delete_log(self, log: str, *, timeout: Optional[float] = None) -> int:
        """Deletes a log, its records and readers; returns the number of records deleted."""
        return self._call(self.logs.DeleteLog, log_pb2.DeleteLogRequest(log=log), timeout).records_deleted

    def get_log(self, log: str, *, timeout: Optional[float] = None) -> LogInfo:
        return LogInfo.from_wire(self._call(self.logs.GetLog, log_pb2.GetLogRequest(log=log), timeout))

    def list_logs(self, prefix: str = "", *, timeout: Optional[float] = None) -> list[LogInfo]:
        """Every log whose name starts with ``prefix``, in name order (all pages)."""
        logs, token = [], ""
        while True:
            page = self._call(self.logs.ListLogs, log_pb2.ListLogsRequest(prefix=prefix, page_token=token), timeout)
            logs.extend(LogInfo.from_wire(info) for info in page.logs)
            token = page.next_page_token
            if not token:
                return logs

    def truncate(self, log: str, before: DLSN, *, force: bool = False, timeout: Optional[float] = None) -> TruncateResult:
        """Drops the whole segments that lie before ``before``."""
        r = self._call(self.logs.Truncate, log_pb2.TruncateRequest(log=log, before=to_wire_dlsn(before), force=force), timeout)
        return TruncateResult(r.segments_deleted, r.records_deleted, optional_dlsn(r, "first_dlsn"))

    def get_position(self, log: str, reader_id: str, *, timeout: Optional[float] = None) -> ReaderPosition:
        request = reader_pb2.GetPositionRequest(log=log, reader_id=reader_id)
        return ReaderPosition.from_wire(self._call(self.readers.GetPosition, request, timeout))

    def set_position(
        self, log: str, reader_id: str, at: StartAt, *, force: bool = False, timeout: Optional[float] = None
    ) -> ReaderPosition:
        """Where the reader starts next time (inclusive); ``force`` ends a live session."""
        request = reader_pb2.SetPositionRequest(log=log, reader_id=reader_id, position=to_wire_position(at), force=force)
        return ReaderPosition.from_wire(self._call(self.readers.SetPosition, request, timeout))

    def list_readers(self, log: str, *, timeout: Optional[float] = None) -> list[ReaderPosition]:
        readers, token = [], ""
        while True:
            page = self._call(self.readers.ListReaders, reader_pb2.ListReadersRequest(log=log, page_token=token), timeout)
            readers.extend(ReaderPosition.from_wire(info) for info in page.readers)
            token = page.next_page_token
            if not token:
                return readers

    def delete_reader(self, log: str, reader_id: str, *, force: bool = False, timeout: Optional[float] = None) -> None:
        self._call(self.readers.DeleteReader, reader_pb2.DeleteReaderRequest(log=log, reader_id=reader_id, force=force), timeout)

