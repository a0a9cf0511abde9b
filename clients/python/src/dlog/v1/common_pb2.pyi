from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Boundary(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOUNDARY_UNSPECIFIED: _ClassVar[Boundary]
    BOUNDARY_EARLIEST: _ClassVar[Boundary]
    BOUNDARY_LATEST: _ClassVar[Boundary]
BOUNDARY_UNSPECIFIED: Boundary
BOUNDARY_EARLIEST: Boundary
BOUNDARY_LATEST: Boundary

class DLSN(_message.Message):
    __slots__ = ("segment", "entry", "slot")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    segment: int
    entry: int
    slot: int
    def __init__(self, segment: _Optional[int] = ..., entry: _Optional[int] = ..., slot: _Optional[int] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("boundary", "dlsn", "dlsn_bytes", "txid", "time_ms")
    BOUNDARY_FIELD_NUMBER: _ClassVar[int]
    DLSN_FIELD_NUMBER: _ClassVar[int]
    DLSN_BYTES_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    boundary: Boundary
    dlsn: DLSN
    dlsn_bytes: bytes
    txid: int
    time_ms: int
    def __init__(self, boundary: _Optional[_Union[Boundary, str]] = ..., dlsn: _Optional[_Union[DLSN, _Mapping]] = ..., dlsn_bytes: _Optional[bytes] = ..., txid: _Optional[int] = ..., time_ms: _Optional[int] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("dlsn", "txid", "append_time_ms", "payload", "sequence_id", "attempt")
    DLSN_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    APPEND_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    dlsn: DLSN
    txid: int
    append_time_ms: int
    payload: bytes
    sequence_id: int
    attempt: int
    def __init__(self, dlsn: _Optional[_Union[DLSN, _Mapping]] = ..., txid: _Optional[int] = ..., append_time_ms: _Optional[int] = ..., payload: _Optional[bytes] = ..., sequence_id: _Optional[int] = ..., attempt: _Optional[int] = ...) -> None: ...
