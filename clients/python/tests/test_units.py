"""Unit tests without a server: DLSN forms, ack coalescing, backoff, error mapping, batching."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

import dlog
from dlog._batching import AppenderOptions, Entry
from dlog._pipeline import Pipeline, Stream
from dlog._reader_core import SessionBase, is_retryable
from dlog.backoff import Backoff, Reconnect
from dlog.errors import error_info, make_error
from dlog.v1 import common_pb2, log_pb2

# SPEC §1 test vectors.
VECTORS = [
    ((1, 2, 3), "01000000000000000100000000000000020000000000000003", "AQAAAAAAAAABAAAAAAAAAAIAAAAAAAAAAw=="),
    ((1, 0, 0), "01000000000000000100000000000000000000000000000000", "AQAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAA=="),
    ((1, 0, -1), "0100000000000000010000000000000000ffffffffffffffff", "AQAAAAAAAAABAAAAAAAAAAD//////////w=="),
    ((0, -1, -1), "010000000000000000ffffffffffffffffffffffffffffffff", "AQAAAAAAAAAA/////////////////////w=="),
]


@pytest.mark.parametrize("fields,hex_bytes,text", VECTORS)
def test_dlsn_matches_distributedlog_serialized_forms(fields, hex_bytes, text):
    dlsn = dlog.DLSN(*fields)
    assert dlsn.to_bytes().hex() == hex_bytes
    assert dlsn.serialize() == text
    assert dlog.DLSN.from_bytes(bytes.fromhex(hex_bytes)) == dlsn
    assert dlog.DLSN.deserialize(text) == dlsn
    assert dlog.DLSN.parse(text) == dlsn


def test_dlsn_is_an_ordered_hashable_value_printed_as_slashes():
    assert str(dlog.DLSN(1, 42, 0)) == "1/42/0"
    assert dlog.DLSN.parse("1/42/0") == dlog.DLSN(1, 42, 0)
    assert dlog.DLSN(1, 2, 3) < dlog.DLSN(1, 3, 0) < dlog.DLSN(2, 0, 0)
    assert dlog.NON_INCLUSIVE_LOWER_BOUND < dlog.INITIAL
    assert len({dlog.DLSN(1, 2, 3), dlog.DLSN(1, 2, 3), dlog.DLSN(1, 2, 4)}) == 2
    assert sorted([dlog.DLSN(2, 0, 0), dlog.DLSN(1, 9, 9)]) == [dlog.DLSN(1, 9, 9), dlog.DLSN(2, 0, 0)]


@pytest.mark.parametrize(
    "bad",
    [b"\x01" + b"\x00" * 23, b"\x02" + b"\x00" * 24, b"\x01" + b"\x00" * 25],
)
def test_dlsn_rejects_wrong_length_or_version(bad):
    with pytest.raises(ValueError):
        dlog.DLSN.from_bytes(bad)


@pytest.mark.parametrize("bad", ["not base64!", "AQAA", "1/2", "1/2/x", ""])
def test_dlsn_rejects_bad_text(bad):
    with pytest.raises(ValueError):
        dlog.DLSN.parse(bad)


def test_dlsn_of_checks_int64_range():
    with pytest.raises(ValueError):
        dlog.DLSN.of(1 << 63, 0, 0)


class _Session(SessionBase):
    """A session whose acks go straight to the tracker (what the transports do under their lock)."""

    def ack(self, record):
        batch, index = record[1], record[2]
        if not batch.flags[index]:
            batch.flags[index] = 1
            self.tracker.acks.append(record)

    def nack(self, record):
        batch, index = record[1], record[2]
        if not batch.flags[index]:
            self.tracker.nacks.append(batch.wires[index].dlsn)


def wires(*fields, attempt=1):
    return [common_pb2.Record(dlsn=common_pb2.DLSN(segment=s, entry=e, slot=t), attempt=attempt) for s, e, t in fields]


def dlsn_of(wire_dlsn) -> dlog.DLSN:
    return dlog.DLSN(wire_dlsn.segment, wire_dlsn.entry, wire_dlsn.slot)


def test_in_order_acks_coalesce_into_one_cumulative_ack():
    session = _Session(None)
    records = session.records(wires(*[(1, 0, i) for i in range(256)]))
    for record in records:
        record.ack()
    [message] = session.take_messages()
    assert dlsn_of(message.ack.up_to) == dlog.DLSN(1, 0, 255)
    assert list(message.ack.dlsns) == []
    assert all(record.ack_message == 1 for record in records)


def test_acks_above_a_gap_go_individually_until_the_gap_is_acked():
    session = _Session(None)
    records = session.records(wires(*[(1, 0, i) for i in range(5)]))
    for record in (records[4], records[3], records[1]):
        record.ack()
    [message] = session.take_messages()
    assert not message.ack.HasField("up_to")
    assert sorted(dlsn_of(d) for d in message.ack.dlsns) == [dlog.DLSN(1, 0, 1), dlog.DLSN(1, 0, 3), dlog.DLSN(1, 0, 4)]
    records[0].ack()
    records[2].ack()
    [message] = session.take_messages()
    assert dlsn_of(message.ack.up_to) == dlog.DLSN(1, 0, 4)
    assert list(message.ack.dlsns) == []
    assert session.take_messages() == []


def test_the_floor_moves_across_batches():
    session = _Session(None)
    first = session.records(wires((1, 0, 0), (1, 0, 1)))
    second = session.records(wires((1, 1, 0), (1, 1, 1)))
    second[0].ack()
    [message] = session.take_messages()
    assert [dlsn_of(d) for d in message.ack.dlsns] == [dlog.DLSN(1, 1, 0)]
    for record in first:
        record.ack()
    [message] = session.take_messages()
    assert dlsn_of(message.ack.up_to) == dlog.DLSN(1, 1, 0)
    assert list(message.ack.dlsns) == []


def test_acking_twice_and_acking_a_redelivery_settle_one_dlsn():
    session = _Session(None)
    [first] = session.records(wires((1, 0, 0)))
    first.nack()
    [message] = session.take_messages()
    assert [dlsn_of(d) for d in message.nack.dlsns] == [dlog.DLSN(1, 0, 0)]
    [again] = session.records(wires((1, 0, 0), attempt=2))
    assert again.attempt == 2 and again.redelivered
    again.ack()
    first.ack()  # the same DLSN: a no-op
    [message] = session.take_messages()
    assert dlsn_of(message.ack.up_to) == dlog.DLSN(1, 0, 0)
    assert session.take_messages() == []


def test_a_redelivery_of_an_acked_record_needs_no_ack():
    session = _Session(None)
    [first] = session.records(wires((1, 0, 0)))
    first.ack()
    session.take_messages()
    [again] = session.records(wires((1, 0, 0), attempt=2))
    again.ack()
    assert session.take_messages() == []


def test_records_seen_by_an_earlier_session_are_marked_redelivered():
    session = _Session(dlog.DLSN(1, 0, 1))
    old, new = session.records(wires((1, 0, 1), (1, 0, 2)))
    assert old.redelivered and not new.redelivered


def test_backoff_grows_with_full_jitter_and_gives_up():
    clock = [0.0]
    backoff = Backoff(Reconnect(initial_delay=0.1, max_delay=0.4, max_elapsed=10), rand=lambda: 1.0, now=lambda: clock[0])
    assert [backoff.next() for _ in range(4)] == [0.1, 0.2, 0.4, 0.4]
    backoff.reset()
    assert backoff.next() == 0.1
    clock[0] = 11.0
    assert backoff.next() is None
    assert Backoff(Reconnect(max_attempts=1), rand=lambda: 0.5).next() == 0.025
    jittered = Backoff(Reconnect(initial_delay=1, max_delay=1), rand=lambda: 0.25)
    assert jittered.next() == 0.25


def test_reconnect_only_on_unavailable_and_lost_connections():
    assert is_retryable(make_error(grpc.StatusCode.UNAVAILABLE, "down"), False)
    assert not is_retryable(make_error(grpc.StatusCode.ABORTED, "fenced", "READER_FENCED"), True)
    assert not is_retryable(make_error(grpc.StatusCode.NOT_FOUND, "no log"), True)
    assert is_retryable(make_error(grpc.StatusCode.ALREADY_EXISTS, "live", "READER_LIVE"), True)
    assert not is_retryable(make_error(grpc.StatusCode.ALREADY_EXISTS, "live", "READER_LIVE"), False)


def trailers_with(reason: str, metadata: dict, domain: str = "dlog.v1"):
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata))
    status = status_pb2.Status(code=5, message="x", details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


def test_error_info_maps_to_typed_errors():
    assert error_info(trailers_with("LOG_NOT_FOUND", {"log": "a"})) == ("LOG_NOT_FOUND", {"log": "a"})
    assert error_info(trailers_with("X", {}, domain="other")) == ("", {})
    assert error_info((("grpc-status-details-bin", b"\xff\xff"),)) == ("", {})
    error = make_error(grpc.StatusCode.NOT_FOUND, 'log "a" does not exist', "LOG_NOT_FOUND", {"log": "a"})
    assert isinstance(error, dlog.LogNotFoundError) and isinstance(error, dlog.NotFoundError) and isinstance(error, dlog.DlogError)
    assert (error.code, error.reason, error.metadata) == (grpc.StatusCode.NOT_FOUND, "LOG_NOT_FOUND", {"log": "a"})
    assert type(make_error(grpc.StatusCode.ABORTED, "fenced", "READER_FENCED")) is dlog.ReaderFencedError
    assert type(make_error(grpc.StatusCode.FAILED_PRECONDITION, "live", "READER_LIVE")) is dlog.FailedPreconditionError
    assert type(make_error(grpc.StatusCode.DATA_LOSS, "?")) is dlog.DlogError


def test_entries_pack_calls_and_build_one_request():
    options = AppenderOptions(max_batch_records=3)
    entry = Entry(None)
    assert entry.add([b"a"], None, 1) == 0
    assert entry.add([b"b", b"c"], [None, 7], 2) == 1
    assert entry.full(options) and not entry.fits(1, 1, options)
    entry.seq = 4
    request = entry.request("l", "p1")
    assert [(r.payload, r.HasField("txid") and r.txid) for r in request.records] == [(b"a", False), (b"b", False), (b"c", 7)]
    assert (request.producer_id, request.producer_seq) == ("p1", 4)


class FakeStreams:
    """Streams whose requests are kept, for driving a Pipeline by hand."""

    def __init__(self):
        self.streams = []

    def open(self, first_request_id):
        sent = []
        stream = Stream(sent.append, first_request_id)
        stream.handle = sent
        self.streams.append(stream)
        return stream


def answer(request, *slots, error=None, duplicate=False):
    if error is not None:
        return log_pb2.AppendResponse(request_id=request.request_id, error=error)
    dlsns = [common_pb2.DLSN(segment=1, entry=e, slot=s) for e, s in slots]
    return log_pb2.AppendResponse(request_id=request.request_id, dlsns=dlsns, duplicate=duplicate)


def test_pipeline_packs_calls_and_each_caller_gets_its_slice():
    streams = FakeStreams()
    pipe = Pipeline("l", AppenderOptions(max_batch_records=3, linger_ms=5), streams.open)
    entry, first = pipe.add([b"a"], None, 1, lambda: "r1")
    assert first == 0 and not streams.streams  # lingering
    assert pipe.add([b"b", b"c"], None, 2, lambda: "r2") == (entry, 1)  # full: sealed and sent
    [stream] = streams.streams
    [request] = stream.handle
    assert [r.payload for r in request.records] == [b"a", b"b", b"c"] and request.producer_seq == 1
    pipe.on_answer(stream, answer(request, (4, 0), (4, 1), (4, 2)))
    [(settled, result, error)] = pipe.take_settled()
    assert settled is entry and error is None and result.one(0) == dlog.DLSN(1, 4, 0)
    assert result.slice(1, 2) == [dlog.DLSN(1, 4, 1), dlog.DLSN(1, 4, 2)] and pipe.idle and pipe.bytes == 0


def test_pipeline_resends_after_a_broken_stream_probe_first():
    streams = FakeStreams()
    pipe = Pipeline("l", AppenderOptions(linger_ms=0), streams.open)
    for payload in (b"a", b"b", b"c"):
        pipe.add([payload], None, 1, lambda: None)
    first = streams.streams[0]
    pipe.on_answer(first, answer(first.handle[0], (0, 0)))
    assert len(pipe.take_settled()) == 1
    delay = pipe.on_stream_end(first, dlog.UnavailableError("gone"))
    assert delay is not None and pipe.take_settled() == []
    pipe.reconnect()
    second = streams.streams[1]
    assert [r.producer_seq for r in second.handle] == [2]  # the probe: the oldest unanswered alone
    pipe.on_answer(second, answer(second.handle[0], (1, 0), duplicate=True))
    assert [r.producer_seq for r in second.handle] == [2, 3]  # then the rest
    pipe.on_answer(second, answer(second.handle[1], (1, 1)))
    assert len(pipe.take_settled()) == 2 and pipe.idle and pipe.duplicates == 1 and pipe.resent == 2


@pytest.mark.parametrize(
    "code, details, reconnects",
    [
        (grpc.StatusCode.UNAVAILABLE, "gone", True),
        (grpc.StatusCode.INTERNAL, "Internal error from Core", True),  # grpc.aio: a write on a broken call
        (grpc.StatusCode.CANCELLED, "Channel closed!", False),  # the client's own close: no server to go back to
        (grpc.StatusCode.INTERNAL, "appender: an answer arrived out of order", False),
    ],
)
def test_pipeline_reconnects_after_a_lost_connection_only(code, details, reconnects):
    pipe = Pipeline("l", AppenderOptions(linger_ms=0), FakeStreams().open)
    pipe.add([b"a"], None, 1, lambda: None)
    delay = pipe.on_stream_end(pipe.stream, make_error(code, details))
    assert (delay is not None) == reconnects and (pipe.take_settled() == []) == reconnects


def test_pipeline_renumbers_after_a_sequence_gap_and_fails_without_retry():
    streams = FakeStreams()
    pipe = Pipeline("l", AppenderOptions(linger_ms=0), streams.open)
    pipe.add([b"a"], None, 1, lambda: None)
    pipe.add([b"b"], None, 1, lambda: None)
    [stream] = streams.streams
    refused = log_pb2.AppendError(code=9, reason="TXID_OUT_OF_ORDER")
    pipe.on_answer(stream, answer(stream.handle[0], error=refused))
    [(_, _, error)] = pipe.take_settled()
    assert isinstance(error, dlog.TxidOutOfOrderError)
    gap = log_pb2.AppendError(code=9, reason="PRODUCER_SEQUENCE_GAP", metadata={"expected_seq": "1"})
    pipe.on_answer(stream, answer(stream.handle[1], error=gap))
    assert [r.producer_seq for r in stream.handle[2:]] == [1]  # b moved down to seq 1
    pipe.on_answer(stream, answer(stream.handle[2], (0, 0)))
    assert pipe.idle

    plain = Pipeline("l", AppenderOptions(linger_ms=0, retry=False), FakeStreams().open)
    plain.add([b"a"], None, 1, lambda: None)
    assert plain.producer_id == "" and plain.on_stream_end(plain.stream, dlog.UnavailableError("gone")) is None
    [(_, _, error)] = plain.take_settled()
    assert isinstance(error, dlog.UnavailableError)


def test_records_of_one_batch_share_a_session_and_slots():
    session = _Session(None)
    records = session.records(wires((1, 0, 0), (1, 0, 1)))
    assert [r[2] for r in records] == [0, 1] and all(r[1].session is session for r in records)
    assert records[1].dlsn == dlog.DLSN(1, 0, 1) and records[1].attempt == 1 and records[0].ack_message == 0
