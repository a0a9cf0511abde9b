"""The client conformance scenario (test/conformance/README.md), step by step, against a real dlogd.

The steps share one server, one log and reader positions, so they run in file order; each test
names the step it checks.
"""

from __future__ import annotations

import queue
import secrets
import signal
import threading
import time

import grpc
import pytest

import dlog
from dlog.testing import DlogdServer
from dlog.v1 import common_pb2, reader_pb2

RECORDS = 1000
WAIT = 10.0  # seconds: the most any single expectation may take


@pytest.fixture(scope="module")
def server():
    # Steps 10-11 restart the server on the same data dir and port, so no --in-memory here.
    with DlogdServer(in_memory=False, args=["--ack-flush-interval", "50ms", "--heartbeat", "1s"]) as running:
        yield running


@pytest.fixture(scope="module")
def scenario(server):
    """What the steps share: the log, the client, and record #n's DLSN (dlsns[n])."""
    client = server.client()
    state = {"log": f"conf-python-{secrets.token_hex(4)}", "client": client, "dlsns": [None]}
    yield state
    client.close()


def payload_number(record) -> int:
    return int(record.text())


def take(reader, count: int) -> list:
    records = []
    for _ in range(count):
        record = reader.poll(WAIT)
        assert record is not None, f"only {len(records)} of {count} records arrived within {WAIT} s"
        records.append(record)
    return records


def test_step1_append_pipelined_one_record_per_call(scenario):
    client, log = scenario["client"], scenario["log"]
    with client.appender(log) as appender:
        futures = [appender.append(str(n)) for n in range(1, RECORDS + 1)]
        dlsns = [future.result(WAIT) for future in futures]
    assert all(isinstance(d, dlog.DLSN) for d in dlsns)
    assert all(a < b for a, b in zip(dlsns, dlsns[1:])), "DLSNs must strictly increase in call order"
    scenario["dlsns"].extend(dlsns)
    assert client.get_log(log).record_count == RECORDS


def test_step2_read_300_ack_and_drain(scenario):
    client, log, dlsns = scenario["client"], scenario["log"], scenario["dlsns"]
    with client.reader(log, "R", fallback="earliest") as reader:
        records = take(reader, 300)
        for record in records:
            record.ack()
        final = reader.close()
    assert [payload_number(r) for r in records] == list(range(1, 301))
    assert final == dlsns[300]


def test_step3_resume_after_the_drained_position(scenario):
    client, log = scenario["client"], scenario["log"]
    reader = client.reader(log, "R", fallback="earliest")
    scenario["R"] = reader
    first = reader.poll(WAIT)
    assert first is not None and payload_number(first) == 301
    scenario["R_first"] = first
    # Step 2's session may have sent #301 before its drain (never handed out, never acked): a server
    # that keeps the delivered high-water mark says so (Opened.delivered_high) and marks it attempt >= 2.
    sent_before = reader.opened.delivered_high is not None and reader.opened.delivered_high >= first.dlsn
    assert first.attempt >= 2 if sent_before else first.attempt == 1


def test_step4_individual_out_of_order_acks_leave_a_hole(scenario):
    reader, dlsns = scenario["R"], scenario["dlsns"]
    pending = [scenario["R_first"]]
    while len(pending) < RECORDS - 300:
        pending.extend(take(reader, 1))
    assert [payload_number(r) for r in pending] == list(range(301, RECORDS + 1))
    for start in range(0, len(pending), 10):
        for record in reversed(pending[start : start + 10]):  # each run of 10 acked in reverse
            if payload_number(record) != 700:
                record.ack()
    status = reader.wait_for_status(lambda s: s.durable_floor == dlsns[699] and s.durable_holes == 300, WAIT)
    assert status.durable_floor == dlsns[699]
    reader.cancel()  # disconnect without drain


def test_step5_redelivery_after_resume(scenario):
    client, log, dlsns = scenario["client"], scenario["log"], scenario["dlsns"]
    with client.reader(log, "R", fallback="earliest") as reader:
        first = reader.poll(WAIT)
        assert first is not None
        first.ack()
        extra = reader.poll(0.5)
        [dlsn_1001] = client.append(log, b"1001")
        scenario["dlsns"].append(dlsn_1001)
        after = reader.poll(WAIT)
        assert after is not None
        after.ack()
    assert payload_number(first) == 700 and first.dlsn == dlsns[700]
    assert extra is None, f"nothing may arrive between #700 and a new append, got {extra}"
    assert payload_number(after) == 1001 and after.attempt == 1
    assert first.attempt >= 2 and first.redelivered


def ensure_record_1001(scenario) -> None:
    """Steps 10-11 read to #1001, which step 5 appends; keep them meaningful if step 5 failed early."""
    if len(scenario["dlsns"]) <= RECORDS + 1:
        info = scenario["client"].get_log(scenario["log"])
        if info.record_count == RECORDS:
            scenario["dlsns"].append(scenario["client"].append(scenario["log"], b"1001")[0])
        elif len(scenario["dlsns"]) == RECORDS + 1:
            scenario["dlsns"].append(info.last_dlsn)


def test_step6_fencing_ends_the_old_session_without_reconnect(scenario):
    client, log = scenario["client"], scenario["log"]
    ensure_record_1001(scenario)
    a = client.reader(log, "R")
    a.ready(WAIT)
    b = client.reader(log, "R")
    try:
        b.ready(WAIT)
        with pytest.raises(dlog.AbortedError) as fenced:
            a.poll(WAIT)
        assert a.poll(0.5) is None, "a fenced reader must not reconnect"
        assert a.opened is not None and a.opened.reconnects == 0
        c = client.reader(log, "R", takeover="reject")
        with pytest.raises(dlog.AlreadyExistsError) as rejected:
            c.ready(WAIT)
        c.close()
    finally:
        a.close()
        b.close()
    assert isinstance(fenced.value, dlog.ReaderFencedError) and fenced.value.reason == "READER_FENCED"
    assert isinstance(rejected.value, dlog.ReaderLiveError) and rejected.value.reason == "READER_LIVE"


def test_step7_nack_redelivers_at_once_with_attempt_plus_one(scenario):
    client, log = scenario["client"], scenario["log"]
    with client.reader(log, "N", fallback="earliest") as reader:
        first = reader.poll(WAIT)
        assert first is not None and payload_number(first) == 1 and first.attempt == 1
        first.nack()
        again = next_numbered(reader, 1, within=1.0)
        assert again.attempt == 2 and again.redelivered
        again.nack()
        third = next_numbered(reader, 1, within=1.0)
        assert third.attempt == 3
        third.ack()


def next_numbered(reader, number: int, within: float):
    """The next delivery of record #number within `within` seconds (other records may come first)."""
    deadline = time.monotonic() + within
    while True:
        record = reader.poll(max(0.0, deadline - time.monotonic()))
        assert record is not None, f"record #{number} did not come again within {within} s"
        if payload_number(record) == number:
            return record


def test_step8_flow_limit_bounds_unacked_records(scenario):
    client, log = scenario["client"], scenario["log"]
    with client.reader(log, "F", fallback="earliest", flow=dlog.FlowLimits(max_outstanding_records=10)) as reader:
        first_ten = take(reader, 10)
        assert [payload_number(r) for r in first_ten] == list(range(1, 11))
        assert reader.poll(0.5) is None, "more than 10 unacked records were delivered"
        for record in first_ten:
            record.ack()
        eleventh = reader.poll(WAIT)
        assert eleventh is not None and payload_number(eleventh) == 11
        eleventh.ack()


class RawSession:
    """A session driven message by message through the generated stub (for input the
    high-level reader never sends)."""

    def __init__(self, client: dlog.Client, open_: reader_pb2.Open) -> None:
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.requests.put(reader_pb2.SessionRequest(open=open_))
        self.call = client.readers.Session(iter(self.requests.get, None))
        self.responses: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.responses.put(response)
            self.responses.put(None)
        except grpc.RpcError as error:
            self.responses.put(dlog.errors.from_rpc_error(error))

    def send(self, **kind) -> None:
        self.requests.put(reader_pb2.SessionRequest(**kind))

    def next(self):
        return self.responses.get(timeout=WAIT)

    def close(self) -> None:
        self.call.cancel()
        self.requests.put(None)


def test_step9_bad_input_is_refused_and_changes_nothing(scenario):
    client, log, dlsns = scenario["client"], scenario["log"], scenario["dlsns"]
    session = RawSession(client, reader_pb2.Open(log=log, reader_id="B", fallback=common_pb2.Position(boundary=common_pb2.BOUNDARY_EARLIEST)))
    try:
        delivered = []
        while len(delivered) < 5:
            response = session.next()
            assert not isinstance(response, dlog.DlogError) and response is not None, response
            if response.WhichOneof("kind") == "records":
                delivered.extend(response.records.records)
        session.send(ack=reader_pb2.Ack(up_to=delivered[1].dlsn))  # #1-#2: a position to compare with
        while True:
            response = session.next()
            assert not isinstance(response, dlog.DlogError) and response is not None, response
            if response.WhichOneof("kind") == "status" and response.status.durable_floor == delivered[1].dlsn:
                break
        before = client.get_position(log, "B")
        assert before.floor == dlsns[2]
        session.send(ack=reader_pb2.Ack(dlsns=[common_pb2.DLSN(segment=1, entry=999999, slot=0)]))
        while True:
            response = session.next()
            if isinstance(response, dlog.DlogError) or response is None:
                break
        assert isinstance(response, dlog.DlsnNotDeliveredError) and response.reason == "DLSN_NOT_DELIVERED", repr(response)
    finally:
        session.close()
    after = client.get_position(log, "B")
    assert (after.floor, after.holes) == (before.floor, before.holes)
    with pytest.raises(dlog.LogNotFoundError) as missing:
        client.reader(f"{log}-missing", "B").ready(WAIT)
    assert missing.value.reason == "LOG_NOT_FOUND" and missing.value.code == grpc.StatusCode.NOT_FOUND


def read_through_restart(scenario, server: DlogdServer, reader_id: str, sig: int) -> tuple[dict, list, object]:
    """Reads every record with the high-level reader, acking each, restarting the server with
    `sig` after 300 records (the first 250 made durable first). Returns first deliveries by number, the records received again,
    and the last status the reader had before the kill."""
    client, log = scenario["client"], scenario["log"]
    last = len(scenario["dlsns"]) - 1
    first_seen: dict[int, object] = {}
    again: list = []
    status_before = None
    with client.reader(log, reader_id, fallback="earliest", reconnect=dlog.Reconnect(initial_delay=0.05, max_delay=0.5)) as reader:
        received = 0
        while len(first_seen) < last:
            record = reader.poll(WAIT * 2)
            assert record is not None, f"the reader stalled after {received} records ({len(first_seen)} distinct)"
            received += 1
            number = payload_number(record)
            if number in first_seen:
                again.append(record)
            else:
                first_seen[number] = record
            record.ack()
            if received == 250:
                # Some acks durable before the kill and some not, so both sides of the bound are checked.
                reader.wait_for_status(lambda s: s.durable_floor >= record.dlsn, WAIT)
            if received == 300:
                # The client's part of a clean stop: every ack made is on the wire (not lingering in the
                # client's coalescing interval) when the signal lands.
                deadline = time.monotonic() + WAIT
                while record.ack_message == 0 and time.monotonic() < deadline:
                    time.sleep(0.001)
                server.stop(sig)  # the process is gone: the status below is the old session's last
                status_before = reader.status
                server.start()
    return first_seen, again, status_before


def test_step10_kill9_under_the_reader_loses_nothing(scenario, server):
    ensure_record_1001(scenario)
    first_seen, again, status_before = read_through_restart(scenario, server, "K", signal.SIGKILL)
    scenario["K"] = (first_seen, again, status_before)
    assert sorted(first_seen) == list(range(1, len(scenario["dlsns"]))), "records are missing"
    for record in again:
        earlier = first_seen[payload_number(record)]
        assert earlier.ack_message == 0 or earlier.ack_message > status_before.acks_durable, (
            f"#{payload_number(record)} came again although its ack message {earlier.ack_message} was durable "
            f"(acks_durable {status_before.acks_durable})"
        )
        assert earlier.dlsn > status_before.durable_floor


def test_step10_status_says_which_acks_are_durable(scenario):
    _, _, status_before = scenario["K"]
    assert 1 <= status_before.acks_durable <= status_before.acks_sent


def test_step10_records_received_again_are_marked(scenario):
    _, again, _ = scenario["K"]
    assert all(record.attempt >= 2 for record in again), [(payload_number(r), r.attempt) for r in again]


def test_step11_graceful_restart_under_the_reader_has_no_duplicates(scenario, server):
    ensure_record_1001(scenario)
    first_seen, again, _ = read_through_restart(scenario, server, "G", signal.SIGTERM)
    assert sorted(first_seen) == list(range(1, len(scenario["dlsns"]))), "records are missing"
    assert [payload_number(r) for r in again] == [], "a graceful restart must not deliver anything twice"
