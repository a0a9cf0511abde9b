"""The DLSN value type: DistributedLog's sequence number, byte-compatible with its serialized forms."""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import NamedTuple

_VERSION = 1
_BYTES = struct.Struct(">Bqqq")
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_TEXT = re.compile(r"^\s*(-?\d+)/(-?\d+)/(-?\d+)\s*$")


class DLSN(NamedTuple):
    """``(segment, entry, slot)``: the position of one record, ordered field by field.

    A tuple, so it is immutable, hashable and ordered, and cheap to build. It prints as
    ``1/42/0`` and converts to and from DistributedLog's ``DLSN.serializeBytes()`` (25 bytes)
    and ``DLSN.serialize()`` (their standard base64).

    >>> d = DLSN(1, 42, 0)
    >>> str(d), DLSN.parse("1/42/0") == d, DLSN.from_bytes(d.to_bytes()) == d
    ('1/42/0', True, True)
    """

    segment: int
    entry: int
    slot: int

    def __str__(self) -> str:
        return f"{self.segment}/{self.entry}/{self.slot}"

    def to_bytes(self) -> bytes:
        """DistributedLog's ``serializeBytes()``: version byte 1, then the three fields as big-endian int64."""
        return _BYTES.pack(_VERSION, self.segment, self.entry, self.slot)

    def serialize(self) -> str:
        """DistributedLog's ``serialize()``: standard base64 of :meth:`to_bytes`."""
        return base64.b64encode(self.to_bytes()).decode("ascii")

    @classmethod
    def of(cls, segment: int, entry: int, slot: int) -> DLSN:
        """A DLSN whose fields are checked to be int64."""
        for name, value in (("segment", segment), ("entry", entry), ("slot", slot)):
            if not isinstance(value, int) or isinstance(value, bool) or not _INT64_MIN <= value <= _INT64_MAX:
                raise ValueError(f"DLSN {name} must be an int64, got {value!r}")
        return cls(segment, entry, slot)

    @classmethod
    def from_bytes(cls, data: bytes) -> DLSN:
        """Parses the 25-byte form; anything else raises ``ValueError``."""
        if len(data) != _BYTES.size:
            raise ValueError(f"a serialized DLSN is {_BYTES.size} bytes, got {len(data)}")
        version, segment, entry, slot = _BYTES.unpack(data)
        if version != _VERSION:
            raise ValueError(f"unsupported DLSN version {version} (only version {_VERSION} exists)")
        return cls(segment, entry, slot)

    @classmethod
    def deserialize(cls, text: str) -> DLSN:
        """Parses the base64 form (``DLSN.serialize()``)."""
        try:
            data = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"not a base64 DLSN: {text!r}") from error
        return cls.from_bytes(data)

    @classmethod
    def parse(cls, text: str) -> DLSN:
        """Parses ``1/42/0`` or the base64 form."""
        match = _TEXT.match(text)
        if match:
            return cls.of(*(int(group) for group in match.groups()))
        try:
            return cls.deserialize(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a DLSN: use segment/entry/slot (1/42/0) or its base64 form") from None


INITIAL = DLSN(1, 0, 0)
"""DistributedLog's ``InitialDLSN``: the first record of a log."""
NON_INCLUSIVE_LOWER_BOUND = DLSN(1, 0, -1)
"""``NonInclusiveLowerBound``: before the first record (a floor of it means nothing is acked)."""
INVALID = DLSN(0, -1, -1)
"""``InvalidDLSN``."""
