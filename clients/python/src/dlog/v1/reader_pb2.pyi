from dlog.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResumePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESUME_POLICY_UNSPECIFIED: _ClassVar[ResumePolicy]
    RESUME_POLICY_STORED: _ClassVar[ResumePolicy]
    RESUME_POLICY_CLIENT: _ClassVar[ResumePolicy]
    RESUME_POLICY_MAX: _ClassVar[ResumePolicy]

class Takeover(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAKEOVER_UNSPECIFIED: _ClassVar[Takeover]
    TAKEOVER_FENCE: _ClassVar[Takeover]
    TAKEOVER_REJECT: _ClassVar[Takeover]

class ResumeSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESUME_SOURCE_UNSPECIFIED: _ClassVar[ResumeSource]
    RESUME_SOURCE_STORED: _ClassVar[ResumeSource]
    RESUME_SOURCE_FALLBACK: _ClassVar[ResumeSource]
    RESUME_SOURCE_OVERRIDE: _ClassVar[ResumeSource]
    RESUME_SOURCE_CLIENT: _ClassVar[ResumeSource]
RESUME_POLICY_UNSPECIFIED: ResumePolicy
RESUME_POLICY_STORED: ResumePolicy
RESUME_POLICY_CLIENT: ResumePolicy
RESUME_POLICY_MAX: ResumePolicy
TAKEOVER_UNSPECIFIED: Takeover
TAKEOVER_FENCE: Takeover
TAKEOVER_REJECT: Takeover
RESUME_SOURCE_UNSPECIFIED: ResumeSource
RESUME_SOURCE_STORED: ResumeSource
RESUME_SOURCE_FALLBACK: ResumeSource
RESUME_SOURCE_OVERRIDE: ResumeSource
RESUME_SOURCE_CLIENT: ResumeSource

class FlowLimits(_message.Message):
    __slots__ = ("max_outstanding_records", "max_outstanding_bytes", "max_batch_records")
    MAX_OUTSTANDING_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTSTANDING_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_RECORDS_FIELD_NUMBER: _ClassVar[int]
    max_outstanding_records: int
    max_outstanding_bytes: int
    max_batch_records: int
    def __init__(self, max_outstanding_records: _Optional[int] = ..., max_outstanding_bytes: _Optional[int] = ..., max_batch_records: _Optional[int] = ...) -> None: ...

class Open(_message.Message):
    __slots__ = ("log", "reader_id", "fallback", "override", "client_checkpoint", "resume_policy", "flow", "takeover", "ack_wait_ms")
    LOG_FIELD_NUMBER: _ClassVar[int]
    READER_ID_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    RESUME_POLICY_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    TAKEOVER_FIELD_NUMBER: _ClassVar[int]
    ACK_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    log: str
    reader_id: str
    fallback: _common_pb2.Position
    override: _common_pb2.Position
    client_checkpoint: _common_pb2.DLSN
    resume_policy: ResumePolicy
    flow: FlowLimits
    takeover: Takeover
    ack_wait_ms: int
    def __init__(self, log: _Optional[str] = ..., reader_id: _Optional[str] = ..., fallback: _Optional[_Union[_common_pb2.Position, _Mapping]] = ..., override: _Optional[_Union[_common_pb2.Position, _Mapping]] = ..., client_checkpoint: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., resume_policy: _Optional[_Union[ResumePolicy, str]] = ..., flow: _Optional[_Union[FlowLimits, _Mapping]] = ..., takeover: _Optional[_Union[Takeover, str]] = ..., ack_wait_ms: _Optional[int] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("dlsns", "up_to")
    DLSNS_FIELD_NUMBER: _ClassVar[int]
    UP_TO_FIELD_NUMBER: _ClassVar[int]
    dlsns: _containers.RepeatedCompositeFieldContainer[_common_pb2.DLSN]
    up_to: _common_pb2.DLSN
    def __init__(self, dlsns: _Optional[_Iterable[_Union[_common_pb2.DLSN, _Mapping]]] = ..., up_to: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ...) -> None: ...

class Nack(_message.Message):
    __slots__ = ("dlsns",)
    DLSNS_FIELD_NUMBER: _ClassVar[int]
    dlsns: _containers.RepeatedCompositeFieldContainer[_common_pb2.DLSN]
    def __init__(self, dlsns: _Optional[_Iterable[_Union[_common_pb2.DLSN, _Mapping]]] = ...) -> None: ...

class Drain(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("open", "ack", "nack", "flow", "drain")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    NACK_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    open: Open
    ack: Ack
    nack: Nack
    flow: FlowLimits
    drain: Drain
    def __init__(self, open: _Optional[_Union[Open, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., nack: _Optional[_Union[Nack, _Mapping]] = ..., flow: _Optional[_Union[FlowLimits, _Mapping]] = ..., drain: _Optional[_Union[Drain, _Mapping]] = ...) -> None: ...

class Opened(_message.Message):
    __slots__ = ("epoch", "resume_after", "source", "log_head", "skipped_by_truncation", "durable_holes", "flow", "delivered_high")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LOG_HEAD_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_BY_TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    DURABLE_HOLES_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_HIGH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    resume_after: _common_pb2.DLSN
    source: ResumeSource
    log_head: _common_pb2.DLSN
    skipped_by_truncation: int
    durable_holes: int
    flow: FlowLimits
    delivered_high: _common_pb2.DLSN
    def __init__(self, epoch: _Optional[int] = ..., resume_after: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., source: _Optional[_Union[ResumeSource, str]] = ..., log_head: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., skipped_by_truncation: _Optional[int] = ..., durable_holes: _Optional[int] = ..., flow: _Optional[_Union[FlowLimits, _Mapping]] = ..., delivered_high: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("records", "lag")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[_common_pb2.Record]
    lag: int
    def __init__(self, records: _Optional[_Iterable[_Union[_common_pb2.Record, _Mapping]]] = ..., lag: _Optional[int] = ...) -> None: ...

class ReaderStatus(_message.Message):
    __slots__ = ("durable_floor", "acked_floor", "delivered_high", "outstanding_records", "outstanding_bytes", "holes", "lag", "paused_reason", "durable_holes", "acks_durable", "acks_received")
    DURABLE_FLOOR_FIELD_NUMBER: _ClassVar[int]
    ACKED_FLOOR_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_HIGH_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_RECORDS_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_BYTES_FIELD_NUMBER: _ClassVar[int]
    HOLES_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    PAUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    DURABLE_HOLES_FIELD_NUMBER: _ClassVar[int]
    ACKS_DURABLE_FIELD_NUMBER: _ClassVar[int]
    ACKS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    durable_floor: _common_pb2.DLSN
    acked_floor: _common_pb2.DLSN
    delivered_high: _common_pb2.DLSN
    outstanding_records: int
    outstanding_bytes: int
    holes: int
    lag: int
    paused_reason: str
    durable_holes: int
    acks_durable: int
    acks_received: int
    def __init__(self, durable_floor: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., acked_floor: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., delivered_high: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., outstanding_records: _Optional[int] = ..., outstanding_bytes: _Optional[int] = ..., holes: _Optional[int] = ..., lag: _Optional[int] = ..., paused_reason: _Optional[str] = ..., durable_holes: _Optional[int] = ..., acks_durable: _Optional[int] = ..., acks_received: _Optional[int] = ...) -> None: ...

class Drained(_message.Message):
    __slots__ = ("durable_floor", "durable_holes", "acks_durable")
    DURABLE_FLOOR_FIELD_NUMBER: _ClassVar[int]
    DURABLE_HOLES_FIELD_NUMBER: _ClassVar[int]
    ACKS_DURABLE_FIELD_NUMBER: _ClassVar[int]
    durable_floor: _common_pb2.DLSN
    durable_holes: int
    acks_durable: int
    def __init__(self, durable_floor: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., durable_holes: _Optional[int] = ..., acks_durable: _Optional[int] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("opened", "records", "status", "drained")
    OPENED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DRAINED_FIELD_NUMBER: _ClassVar[int]
    opened: Opened
    records: RecordBatch
    status: ReaderStatus
    drained: Drained
    def __init__(self, opened: _Optional[_Union[Opened, _Mapping]] = ..., records: _Optional[_Union[RecordBatch, _Mapping]] = ..., status: _Optional[_Union[ReaderStatus, _Mapping]] = ..., drained: _Optional[_Union[Drained, _Mapping]] = ...) -> None: ...

class GetPositionRequest(_message.Message):
    __slots__ = ("log", "reader_id")
    LOG_FIELD_NUMBER: _ClassVar[int]
    READER_ID_FIELD_NUMBER: _ClassVar[int]
    log: str
    reader_id: str
    def __init__(self, log: _Optional[str] = ..., reader_id: _Optional[str] = ...) -> None: ...

class SetPositionRequest(_message.Message):
    __slots__ = ("log", "reader_id", "position", "force")
    LOG_FIELD_NUMBER: _ClassVar[int]
    READER_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    log: str
    reader_id: str
    position: _common_pb2.Position
    force: bool
    def __init__(self, log: _Optional[str] = ..., reader_id: _Optional[str] = ..., position: _Optional[_Union[_common_pb2.Position, _Mapping]] = ..., force: _Optional[bool] = ...) -> None: ...

class ReaderInfo(_message.Message):
    __slots__ = ("log", "reader_id", "floor", "holes", "lag", "live", "epoch", "updated_time_ms", "delivered_high")
    LOG_FIELD_NUMBER: _ClassVar[int]
    READER_ID_FIELD_NUMBER: _ClassVar[int]
    FLOOR_FIELD_NUMBER: _ClassVar[int]
    HOLES_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_HIGH_FIELD_NUMBER: _ClassVar[int]
    log: str
    reader_id: str
    floor: _common_pb2.DLSN
    holes: _containers.RepeatedCompositeFieldContainer[_common_pb2.DLSN]
    lag: int
    live: bool
    epoch: int
    updated_time_ms: int
    delivered_high: _common_pb2.DLSN
    def __init__(self, log: _Optional[str] = ..., reader_id: _Optional[str] = ..., floor: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ..., holes: _Optional[_Iterable[_Union[_common_pb2.DLSN, _Mapping]]] = ..., lag: _Optional[int] = ..., live: _Optional[bool] = ..., epoch: _Optional[int] = ..., updated_time_ms: _Optional[int] = ..., delivered_high: _Optional[_Union[_common_pb2.DLSN, _Mapping]] = ...) -> None: ...

class ListReadersRequest(_message.Message):
    __slots__ = ("log", "page_size", "page_token")
    LOG_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    log: str
    page_size: int
    page_token: str
    def __init__(self, log: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReadersResponse(_message.Message):
    __slots__ = ("readers", "next_page_token")
    READERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    readers: _containers.RepeatedCompositeFieldContainer[ReaderInfo]
    next_page_token: str
    def __init__(self, readers: _Optional[_Iterable[_Union[ReaderInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteReaderRequest(_message.Message):
    __slots__ = ("log", "reader_id", "force")
    LOG_FIELD_NUMBER: _ClassVar[int]
    READER_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    log: str
    reader_id: str
    force: bool
    def __init__(self, log: _Optional[str] = ..., reader_id: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DeleteReaderResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
