from dlog.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateLogRequest(_message.Message):
    __slots__ = ("log",)
    LOG_FIELD_NUMBER: _ClassVar[int]
    log: str
    def __init__(self, log: _Optional[str] = ...) -> None: ...

class DeleteLogRequest(_message.Message):
    __slots__ = ("log",)
    LOG_FIELD_NUMBER: _ClassVar[int]
    log: str
    def __init__(self, log: _Optional[str] = ...) -> None: ...

class DeleteLogResponse(_message.Message):
    __slots__ = ("records_deleted",)
    RECORDS_DELETED_FIELD_NUMBER: _ClassVar[int]
    records_deleted: int
    def __init__(self, records_deleted: _Optional[int] = ...) -> None: ...

class ListLogsRequest(_message.Message):
    __slots__ = ("prefix", "page_size", "page_token")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    page_size: int
    page_token: str
    def __init__(self, prefix: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLogsResponse(_message.Message):
    __slots__ = ("logs", "next_page_token")
    LOGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    logs: _containers.RepeatedCompositeFieldContainer[LogInfo]
    next_page_token: str
    def __init__(self, logs: _Optional[_Iterable[_Union[LogInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetLogRequest(_message.Message):
    __slots__ = ("log",)
    LOG_FIELD_NUMBER: _ClassVar[int]
    log: str
    def __init__(self, log: _Optional[str] = ...) -> None: ...

class SegmentInfo(_message.Message):
    __slots__ = ("segment", "first_dlsn", "last_dlsn", "record_count", "byte_count", "first_txid", "last_txid", "created_time_ms", "last_append_time_ms", "open")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    FIRST_DLSN_FIELD_NUMBER: _ClassVar[int]
    LAST_DLSN_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    BYTE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_TXID_FIELD_NUMBER: _ClassVar[int]
    LAST_TXID_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_APPEND_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    segment: int
    first_dlsn: _common_pb2.DLSN
    last_dlsn: _common_pb2.DLSN
    record_count: int
    byte_count: int
    first_txid: int
    last_txid: int
    created_time_ms: int
    last_append_time_ms: int
    open: bool
    def __init__(self, segment: _Optional[int] = ..., first_dlsn: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., last_dlsn: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., record_count: _Optional[int] = ..., byte_count: _Optional[int] = ..., first_txid: _Optional[int] = ..., last_txid: _Optional[int] = ..., created_time_ms: _Optional[int] = ..., last_append_time_ms: _Optional[int] = ..., open: _Optional[bool] = ...) -> None: ...

class LogInfo(_message.Message):
    __slots__ = ("log", "created_time_ms", "first_dlsn", "last_dlsn", "last_txid", "record_count", "byte_count", "next_sequence_id", "truncated_record_count", "segments")
    LOG_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    FIRST_DLSN_FIELD_NUMBER: _ClassVar[int]
    LAST_DLSN_FIELD_NUMBER: _ClassVar[int]
    LAST_TXID_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    BYTE_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_SEQUENCE_ID_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    log: str
    created_time_ms: int
    first_dlsn: _common_pb2.DLSN
    last_dlsn: _common_pb2.DLSN
    last_txid: int
    record_count: int
    byte_count: int
    next_sequence_id: int
    truncated_record_count: int
    segments: _containers.RepeatedCompositeFieldContainer[SegmentInfo]
    def __init__(self, log: _Optional[str] = ..., created_time_ms: _Optional[int] = ..., first_dlsn: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., last_dlsn: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., last_txid: _Optional[int] = ..., record_count: _Optional[int] = ..., byte_count: _Optional[int] = ..., next_sequence_id: _Optional[int] = ..., truncated_record_count: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[SegmentInfo, _Mapping]]] = ...) -> None: ...

class RecordInput(_message.Message):
    __slots__ = ("payload", "txid")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    txid: int
    def __init__(self, payload: _Optional[bytes] = ..., txid: _Optional[int] = ...) -> None: ...

class AppendRequest(_message.Message):
    __slots__ = ("log", "records", "request_id", "producer_id", "producer_seq")
    LOG_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_SEQ_FIELD_NUMBER: _ClassVar[int]
    log: str
    records: _containers.RepeatedCompositeFieldContainer[RecordInput]
    request_id: int
    producer_id: str
    producer_seq: int
    def __init__(self, log: _Optional[str] = ..., records: _Optional[_Iterable[_Union[RecordInput, _Mapping]]] = ..., request_id: _Optional[int] = ..., producer_id: _Optional[str] = ..., producer_seq: _Optional[int] = ...) -> None: ...

class AppendError(_message.Message):
    __slots__ = ("code", "message", "reason", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    reason: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., reason: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AppendResponse(_message.Message):
    __slots__ = ("dlsns", "txids", "request_id", "error", "duplicate")
    DLSNS_FIELD_NUMBER: _ClassVar[int]
    TXIDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    dlsns: _containers.RepeatedCompositeFieldContainer[_common_pb2.DLSN]
    txids: _containers.RepeatedScalarFieldContainer[int]
    request_id: int
    error: AppendError
    duplicate: bool
    def __init__(self, dlsns: _Optional[_Iterable[_Union[_common_pb2.DLSN, _Mapping]]] = ..., txids: _Optional[_Iterable[int]] = ..., request_id: _Optional[int] = ..., error: _Optional[_Union[AppendError, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ReadRequest(_message.Message):
    __slots__ = ("log", "start", "max_records", "follow", "max_batch_records")
    LOG_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_RECORDS_FIELD_NUMBER: _ClassVar[int]
    log: str
    start: _common_pb2.Position
    max_records: int
    follow: bool
    max_batch_records: int
    def __init__(self, log: _Optional[str] = ..., start: _Optional[_Union[_common_pb2.Position, _Mapping]] = ..., max_records: _Optional[int] = ..., follow: _Optional[bool] = ..., max_batch_records: _Optional[int] = ...) -> None: ...

class ReadResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_common_pb2.Record]
    def __init__(self, records: _Optional[_Iterable[_Union[_common_pb2.Record, _Mapping]]] = ...) -> None: ...

class TruncateRequest(_message.Message):
    __slots__ = ("log", "before", "force")
    LOG_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    log: str
    before: _common_pb2.DLSN
    force: bool
    def __init__(self, log: _Optional[str] = ..., before: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., force: _Optional[bool] = ...) -> None: ...

class TruncateResponse(_message.Message):
    __slots__ = ("segments_deleted", "records_deleted", "first_dlsn")
    SEGMENTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DELETED_FIELD_NUMBER: _ClassVar[int]
    FIRST_DLSN_FIELD_NUMBER: _ClassVar[int]
    segments_deleted: int
    records_deleted: int
    first_dlsn: _common_pb2.DLSN
    def __init__(self, segments_deleted: _Optional[int] = ..., records_deleted: _Optional[int] = ..., first_dlsn: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ...) -> None: ...
