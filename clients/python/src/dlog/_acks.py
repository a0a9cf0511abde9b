"""The acks of one session, coalesced (no I/O, no threads of its own).

The application acks records one by one; :meth:`AckTracker.take` turns everything acked since
the last call into at most one ``Ack`` message — a cumulative ``up_to`` for the contiguous acked
prefix of what was delivered, individual DLSNs only for acks above the first unacked record —
and at most one ``Nack``.

First deliveries arrive in DLSN order, batch by batch; each batch keeps a ``bytearray`` of acked
flags, so finding the first unacked record is ``bytearray.find`` (C speed) rather than a Python
loop. A record delivered again in the same session (nack, ack_wait) is tied to its first
delivery: acking either settles the DLSN, which is what the server tracks.

Thread-safety: ``ack``/``nack`` may run on any thread while one other thread calls ``take``:
they only set a flag and append to a list (atomic under the GIL), and ``take`` removes exactly
the items it read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from typing import Any, Optional

from .v1 import common_pb2, reader_pb2


class Batch:
    """First deliveries of one record batch, in DLSN order, and their ack state."""

    __slots__ = ("seq", "wires", "flags", "ack_messages", "session")

    def __init__(self, seq: int, wires: list, session: Any, acked: bool = False) -> None:
        self.seq = seq
        self.wires = wires
        self.flags = bytearray(b"\x01" * len(wires) if acked else len(wires))
        self.ack_messages = [0] * len(wires)  # per record: the number of the Ack message that carried it
        self.session = session


def _key(wire: common_pb2.Record) -> tuple[int, int, int]:
    d = wire.dlsn
    return (d.segment, d.entry, d.slot)


class AckTracker:
    __slots__ = ("_session", "_window", "_head", "_next_seq", "_high", "acks", "nacks")

    def __init__(self, session: Any) -> None:
        self._session = session
        self._window: deque[Batch] = deque()
        self._head = 0  # first unacked index in the window's first batch
        self._next_seq = 0
        self._high: Optional[tuple[int, int, int]] = None
        self.acks: list = []  # records acked since the last take (each a (batch, index) holder)
        self.nacks: list[common_pb2.DLSN] = []

    @property
    def pending(self) -> bool:
        return bool(self.acks) or bool(self.nacks)

    def delivered(self, wires) -> tuple[list[tuple[Batch, int]], Optional[Batch]]:
        """Registers a batch of records. Returns the slots of the leading redeliveries (their first
        delivery's (batch, index); an already-acked one gets a batch of its own, born acked) and
        the new Batch of the first deliveries that follow (None when there are none)."""
        count = len(wires)
        high = self._high
        first_new = 0
        if high is not None:
            # Redeliveries (DLSN <= high) come first in a DLSN-ordered batch.
            while first_new < count and _key(wires[first_new]) <= high:
                first_new += 1
        redelivered = [self._find(wires[i]) for i in range(first_new)]
        if first_new == count:
            return redelivered, None
        batch = Batch(self._next_seq, list(wires[first_new:]) if first_new else list(wires), self._session)
        self._next_seq += 1
        self._window.append(batch)
        self._high = _key(batch.wires[-1])
        return redelivered, batch

    def take(self, number: int) -> tuple[Optional[reader_pb2.Ack], Optional[reader_pb2.Nack]]:
        """Everything acked and nacked since the last call, as at most one Ack and one Nack.
        ``number`` is the Ack message's number in its session: each acked record remembers it
        (``ack_message``), to compare with a status frame's ``acks_durable``."""
        ack = None
        n = len(self.acks)
        if n:
            taken = self.acks[:n]
            del self.acks[:n]
            up_to = self._advance()
            window = self._window
            head_seq = window[0].seq if window else self._next_seq
            head = self._head
            dlsns = []
            for record in taken:
                batch, index = record[1], record[2]
                batch.ack_messages[index] = number
                if batch.seq > head_seq or (batch.seq == head_seq and index >= head):
                    dlsns.append(batch.wires[index].dlsn)
            ack = reader_pb2.Ack(dlsns=dlsns, up_to=up_to)
        nack = None
        n = len(self.nacks)
        if n:
            nack = reader_pb2.Nack(dlsns=self.nacks[:n])
            del self.nacks[:n]
        return ack, nack

    def _advance(self) -> Optional[common_pb2.DLSN]:
        """Moves the head past the contiguous acked prefix; the DLSN of its last record, if it moved."""
        window = self._window
        last = None
        while window:
            batch = window[0]
            position = batch.flags.find(0, self._head)
            if position == -1:
                last = batch.wires[-1]
                window.popleft()
                self._head = 0
                continue
            if position > self._head:
                last = batch.wires[position - 1]
                self._head = position
            break
        return None if last is None else last.dlsn

    def _find(self, wire) -> tuple[Batch, int]:
        """The window slot of an earlier delivery of this record's DLSN; when there is none (it is
        acked, so below the head), a batch of its own, born acked, so acking it is a no-op."""
        key = _key(wire)
        for batch in self._window:
            if _key(batch.wires[-1]) < key:
                continue
            index = bisect_left(batch.wires, key, key=_key)
            if index < len(batch.wires) and _key(batch.wires[index]) == key:
                if not (batch is self._window[0] and index < self._head):
                    return batch, index
            break
        return Batch(-1, [wire], self._session, acked=True), 0
