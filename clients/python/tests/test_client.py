"""The client against a real dlogd (the `dlogd` fixture of dlog.testing): appender batching,
errors, admin, deadlines, the asyncio API, TLS and tokens."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import pytest

import dlog
import dlog.aio
from dlog.testing import DlogdServer


@pytest.fixture
def client(dlogd):
    with dlogd.client() as connected:
        yield connected


def entries(dlsns) -> set:
    return {(d.segment, d.entry) for d in dlsns}


@pytest.fixture
def unpacked(dlogd_factory):
    """A client of a dlogd that gives each request an entry of its own (it packs appends
    committed together otherwise), so entries show how the appender batched."""
    with dlogd_factory(args=["--no-pack-appends"]).client() as connected:
        yield connected


def test_the_fixture_serves_and_cleans_up(dlogd):
    with dlogd.client() as client:
        assert client.append("fixture", b"x") == [dlog.DLSN(1, 0, 0)]
    data_dir = dlogd.data_dir
    dlogd.close()
    assert dlogd.process.poll() is not None
    assert data_dir is None or not data_dir.exists()


def test_one_record_appends_travel_as_few_entries_each_with_its_own_dlsn(unpacked):
    with unpacked.appender("linger", linger_ms=20) as appender:
        futures = [appender.append(f"r{i}") for i in range(200)]
        dlsns = [f.result(10) for f in futures]
    assert all(a < b for a, b in zip(dlsns, dlsns[1:]))
    assert len(entries(dlsns)) <= 5, f"{len(entries(dlsns))} entries for 200 one-record appends"
    assert [r.text() for r in unpacked.read("linger")] == [f"r{i}" for i in range(200)]


def test_linger_zero_sends_each_call_as_its_own_entry(unpacked):
    with unpacked.appender("no-linger", linger_ms=0) as appender:
        dlsns = [f.result(10) for f in [appender.append(b"x") for _ in range(50)]]
    assert len(entries(dlsns)) == 50


def test_batch_limits_cut_entries(unpacked):
    with unpacked.appender("limits", linger_ms=1000, max_batch_records=10) as appender:
        batch = appender.append_batch([b"a", b"b", b"c"])
        singles = [appender.append(b"x") for _ in range(27)]
        appender.flush(10)
    dlsns = batch.result() + [f.result() for f in singles]
    assert [d.slot for d in batch.result()] == [0, 1, 2]
    assert len(entries(dlsns)) == 3  # 10 + 10 + 10 records


def test_a_failed_entry_fails_every_caller_in_it_and_the_stream_goes_on(client):
    client.append("txids", (b"high", 10**15))
    with client.appender("txids", linger_ms=200) as appender:
        fine = appender.append(b"a")
        low = appender.append(b"b", txid=1)
        appender.flush(10)
        for future in (fine, low):  # one entry: both callers get its error
            with pytest.raises(dlog.TxidOutOfOrderError) as refused:
                future.result()
            assert refused.value.reason == "TXID_OUT_OF_ORDER" and refused.value.metadata["log"] == "txids"
        assert appender.append(b"c").result(10) > client.get_log("txids").first_dlsn


def test_the_in_flight_bound_makes_append_wait(client):
    with client.appender("bound", linger_ms=0, max_in_flight_bytes=1000) as appender:
        peak = 0
        for _ in range(100):
            appender.append(b"y" * 100)
            peak = max(peak, appender.in_flight_bytes)
        appender.flush(10)
    assert peak <= 1000
    assert client.get_log("bound").record_count == 100


def test_unary_calls_admin_and_typed_errors(client):
    assert client.create_log("admin").record_count == 0
    with pytest.raises(dlog.AlreadyExistsError):
        client.create_log("admin")
    dlsns = client.append("admin", [b"a", "b", (b"c", None)])
    assert dlsns == [dlog.DLSN(1, 0, 0), dlog.DLSN(1, 0, 1), dlog.DLSN(1, 0, 2)]
    info = client.get_log("admin")
    assert (info.first_dlsn, info.last_dlsn, info.record_count) == (dlsns[0], dlsns[2], 3)
    assert "admin" in [log.log for log in client.list_logs("adm")]
    assert [r.text() for r in client.read("admin", start=dlsns[1])] == ["b", "c"]
    with client.reader("admin", "me") as reader:
        reader.poll(10).ack()
    assert client.get_position("admin", "me").floor == dlsns[0]
    assert [r.reader_id for r in client.list_readers("admin")] == ["me"]
    assert client.set_position("admin", "me", "earliest").reader_id == "me"
    client.delete_reader("admin", "me")
    with pytest.raises(dlog.NotFoundError):
        client.get_position("admin", "me")
    assert client.delete_log("admin") == 3
    with pytest.raises(dlog.LogNotFoundError) as missing:
        client.get_log("admin")
    assert missing.value.code.name == "NOT_FOUND" and "admin" in missing.value.details
    assert (missing.value.reason, missing.value.metadata) == ("LOG_NOT_FOUND", {"log": "admin"})


def test_deadlines_end_calls_with_deadline_exceeded(client):
    client.append("deadline", b"x")
    started = time.monotonic()
    with pytest.raises(dlog.DeadlineExceededError):
        list(client.read("deadline", follow=True, timeout=0.3))
    assert time.monotonic() - started < 5


def test_reader_auto_ack_flow_change_and_status_callback(client):
    client.append("auto", [str(i).encode() for i in range(50)])
    statuses = []
    with client.reader("auto", "a", auto_ack=True, on_status=statuses.append, flow=dlog.FlowLimits(max_batch_records=7)) as reader:
        got = [reader.poll(10) for _ in range(50)]
        reader.set_flow(dlog.FlowLimits(max_outstanding_records=5))
        reader.poll(0.2)  # auto-acks the last record
        reader.wait_for_status(lambda s: s.acked_floor == got[-1].dlsn, 10)
        final = reader.close()
    assert [r.text() for r in got] == [str(i) for i in range(50)]
    assert final == got[-1].dlsn and statuses and reader.durable_position == final


def test_asyncio_api_reads_acks_drains_and_resumes(dlogd):
    async def scenario():
        async with dlogd.aio_client() as client:
            async with client.appender("aio") as appender:
                results = [appender.append(str(n)) for n in range(1, 201)]
                dlsns = [await r for r in results]
            assert all(a < b for a, b in zip(dlsns, dlsns[1:]))
            count = 0
            async with client.reader("aio", "r") as reader:
                async for record in reader:
                    count += 1
                    record.ack()
                    if count == 120:
                        break
            assert await reader.close() == dlsns[119]
            async with client.reader("aio", "r") as reader:
                first = await reader.poll(10)
                # The first session may have sent #121 before its drain: a server that keeps the
                # delivered high-water mark says so and marks it attempt 2.
                sent_before = reader.opened.delivered_high is not None and reader.opened.delivered_high >= first.dlsn
                assert first.text() == "121" and first.attempt == (2 if sent_before else 1)
                first.nack()
                others = []
                while (again := await reader.poll(10)).text() != "121":  # already buffered ones come first
                    others.append(again)
                assert again.attempt == first.attempt + 1 and again.redelivered
                for record in [again, *others]:
                    record.ack()
                floor = others[-1].dlsn if others else dlsns[120]
                status = await reader.wait_for_status(lambda s: s.durable_floor == floor, 10)
                assert status.durable_floor == floor
            with pytest.raises(dlog.NotFoundError):
                await client.get_log("aio-missing")
            assert [r.text() async for r in client.read("aio", max_records=2)] == ["1", "2"]

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_asyncio_reader_reconnects_after_kill9(dlogd_factory):
    server = dlogd_factory(in_memory=False, args=["--ack-flush-interval", "50ms"])

    async def scenario():
        async with server.aio_client() as client:
            await client.append("crash", [str(n).encode() for n in range(1, 401)])
            seen = set()
            reconnects = []
            reader = client.reader(
                "crash",
                "k",
                flow=dlog.FlowLimits(max_outstanding_records=50),  # records left on the server at the kill
                reconnect=dlog.Reconnect(initial_delay=0.05, max_delay=0.5),
                on_reconnecting=lambda *a: reconnects.append(a),
            )
            async with reader:
                while len(seen) < 400:
                    record = await reader.poll(20)
                    assert record is not None, f"stalled at {len(seen)}"
                    seen.add(int(record.text()))
                    record.ack()
                    if len(seen) == 100 and not reconnects:
                        server.kill()
                        server.start()
            assert reconnects and reader.opened.reconnects >= 1

    asyncio.run(asyncio.wait_for(scenario(), 90))


def make_certificates(directory) -> dict:
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=dlog test CA", "-keyout", "ca.key", "-out", "ca.pem")
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=dlog client", "-keyout", "client.key", "-out", "client.csr")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "client.pem")
    files = {"ca": "ca.pem", "server": "server.pem", "server_key": "server.key", "client": "client.pem", "client_key": "client.key"}
    return {name: str(directory / file) for name, file in files.items()}


def test_mutual_tls_and_bearer_tokens(tmp_path, dlogd_factory):
    certs = make_certificates(tmp_path)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{"name": "app", "token": "s3cret-token-for-app", "allow": {"append": ["app-*"], "read": ["app-*"]}}]}))
    server = dlogd_factory(
        args=["--tls-cert", certs["server"], "--tls-key", certs["server_key"], "--tls-client-ca", certs["ca"], "--auth-tokens", str(tokens)]
    )
    tls = dlog.Tls(ca=certs["ca"], cert=certs["client"], key=certs["client_key"])
    with server.client(tls=tls, token="s3cret-token-for-app", timeout=10) as client:
        assert client.append("app-orders", b"x") == [dlog.DLSN(1, 0, 0)]
        with client.reader("app-orders", "r") as reader:
            assert reader.poll(10).payload == b"x"
        with pytest.raises(dlog.PermissionDeniedError):
            client.append("other", b"x")
    with server.client(tls=tls, token="wrong-token", timeout=10) as client:
        with pytest.raises(dlog.UnauthenticatedError):
            client.append("app-orders", b"x")
    with server.client(tls=dlog.Tls(ca=open(certs["ca"], "rb").read()), token="s3cret-token-for-app", timeout=5) as client:
        with pytest.raises(dlog.DlogError):  # no client certificate: the handshake fails
            client.append("app-orders", b"x")


def test_dlogd_command_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DLOG_DLOGD", str(tmp_path / "missing"))
    with pytest.raises(dlog.testing.DlogdError):
        DlogdServer()
    assert os.environ["DLOG_DLOGD"].endswith("missing")


def test_the_appender_rides_out_kill9_without_losing_or_doubling(dlogd_factory):
    server = dlogd_factory(in_memory=False)
    with server.client() as client:
        with client.appender("resend", linger_ms=1, max_batch_records=20, retry=dlog.Reconnect(initial_delay=0.05, max_delay=0.5)) as appender:
            futures = [appender.append(str(n)) for n in range(500)]
            futures[-1].result(30)  # some answered before the crash, more in flight after it
            futures += [appender.append(str(n)) for n in range(500, 2000)]
            server.kill()
            server.start()
            dlsns = [future.result(60) for future in futures]
            counters = appender.counters
        assert all(a < b for a, b in zip(dlsns, dlsns[1:]))
        numbers = [int(record.text()) for record in client.read("resend")]
    assert sorted(numbers) == list(range(2000)), f"{len(numbers)} records for 2000 appends"
    assert counters["reconnects"] >= 1


def test_a_session_never_answered_is_abandoned_after_open_timeout():
    from concurrent import futures

    import grpc

    def silent(requests, context):  # takes the open, never answers
        while context.is_active():
            time.sleep(0.05)
        return iter(())

    handler = grpc.method_handlers_generic_handler("dlog.v1.ReaderService", {"Session": grpc.stream_stream_rpc_method_handler(silent)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    address = f"127.0.0.1:{port}"
    reconnect = dlog.Reconnect(initial_delay=0.05, max_delay=0.1, max_attempts=2)
    try:
        with dlog.Client(address) as client:
            started = time.monotonic()
            reader = client.reader("x", "r", open_timeout=0.5, reconnect=reconnect)
            with pytest.raises(dlog.UnavailableError, match="open"):
                reader.ready(15)
            assert time.monotonic() - started < 10
            reader.close()

        async def asyncio_twin():
            async with dlog.aio.Client(address) as client:
                reader = client.reader("x", "r", open_timeout=0.5, reconnect=reconnect)
                with pytest.raises(dlog.UnavailableError, match="open"):
                    await reader.ready(15)
                await reader.close()

        asyncio.run(asyncio.wait_for(asyncio_twin(), 30))
    finally:
        server.stop(0)


def test_a_reader_whose_client_is_closed_under_it_fails_with_cancelled_instead_of_reconnecting(dlogd):
    client = dlogd.client()
    client.append("orphaned-reader", [b"a", b"b"])
    reader = client.reader("orphaned-reader", "r")
    assert reader.poll(10) is not None
    client.close()
    deadline = time.monotonic() + 5
    with pytest.raises(dlog.DlogError) as failure:
        while time.monotonic() < deadline:
            reader.poll(0.05)
    assert isinstance(failure.value, dlog.CallCancelledError), repr(failure.value)
    assert "Client was closed" in str(failure.value)


def test_appends_unanswered_when_their_client_is_closed_fail_with_cancelled_instead_of_hanging(dlogd):
    client = dlogd.client()
    appender = client.appender("orphaned-appender", linger_ms=0)
    appender.append(b"first").result(10)  # the stream is open
    futures = [appender.append(f"r{i}") for i in range(2000)]
    client.close()
    deadline = time.monotonic() + 10
    failures = []
    for future in futures:
        try:
            future.result(max(0.001, deadline - time.monotonic()))
        except dlog.DlogError as error:  # a timeout (still waiting) is not one: it fails the test
            failures.append(error)
    assert all(isinstance(error, dlog.CallCancelledError) for error in failures), repr(failures[:1])
    with pytest.raises(dlog.CallCancelledError):
        appender.append(b"later")


def test_an_asyncio_reader_whose_client_is_closed_under_it_fails_with_cancelled(dlogd):
    async def scenario():
        client = dlogd.aio_client()
        await client.append("aio-orphaned-reader", [b"a", b"b"])
        reader = client.reader("aio-orphaned-reader", "r")
        assert await reader.poll(10) is not None
        await client.close()
        with pytest.raises(dlog.DlogError) as failure:
            while await reader.poll(5) is not None:  # None: ended without its error, or still waiting
                pass
        assert isinstance(failure.value, dlog.CallCancelledError), repr(failure.value)
        assert "Client was closed under this reader" in str(failure.value)

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_asyncio_appends_unanswered_when_their_client_is_closed_fail_with_cancelled(dlogd):
    async def scenario():
        client = dlogd.aio_client()
        appender = client.appender("aio-orphaned-appender", linger_ms=0)
        await appender.append(b"first")  # the stream is open
        results = [appender.append(f"r{i}") for i in range(2000)]
        await client.close()
        outcomes = await asyncio.wait_for(asyncio.gather(*(awaited(r) for r in results), return_exceptions=True), 10)
        failures = [outcome for outcome in outcomes if not isinstance(outcome, dlog.DLSN)]
        assert all(isinstance(error, dlog.CallCancelledError) for error in failures), repr(failures[:1])
        assert failures and "Client was closed under this appender" in str(failures[-1])
        with pytest.raises(dlog.CallCancelledError):
            appender.append(b"later")

    asyncio.run(asyncio.wait_for(scenario(), 30))


async def awaited(result):
    return await result


def test_an_asyncio_reader_waiting_to_reconnect_when_its_client_closes_fails_at_once(dlogd_factory):
    server = dlogd_factory()
    long_wait = 600.0  # full jitter: most delays it draws are far longer than the test waits

    async def scenario():
        client = server.aio_client()
        await client.append("aio-reconnecting-reader", b"a")
        delays = []
        reconnect = dlog.Reconnect(initial_delay=long_wait, max_delay=long_wait, multiplier=1, max_elapsed=10 * long_wait)
        reader = client.reader("aio-reconnecting-reader", "r", reconnect=reconnect, on_reconnecting=lambda _, delay, __: delays.append(delay))
        assert await reader.poll(10) is not None
        server.kill()
        for _ in range(600):  # a short delay fails again at once (refused) and draws another
            if delays and delays[-1] > 30:
                break
            await asyncio.sleep(0.05)
        assert delays and delays[-1] > 30, delays
        await client.close()
        started = time.monotonic()
        with pytest.raises(dlog.DlogError) as failure:
            while await reader.poll(5) is not None:
                pass
        assert isinstance(failure.value, dlog.CallCancelledError), repr(failure.value)
        assert "Client was closed under this reader" in str(failure.value)
        assert time.monotonic() - started < 5

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_asyncio_appends_waiting_for_a_reconnect_when_their_client_closes_fail_at_once(dlogd_factory):
    server = dlogd_factory()
    long_wait = 600.0

    async def scenario():
        client = server.aio_client()
        retry = dlog.Reconnect(initial_delay=long_wait, max_delay=long_wait, multiplier=1, max_elapsed=10 * long_wait)
        appender = client.appender("aio-reconnecting-appender", linger_ms=0, retry=retry)
        await appender.append(b"first")  # the stream is open
        server.kill()
        pending = appender.append(b"unanswered")
        for _ in range(400):  # the broken stream leaves the append to a reconnect after the backoff
            if appender._pipe.reconnecting:  # no public sign of it
                break
            await asyncio.sleep(0.05)
        assert appender._pipe.reconnecting and not pending.done()
        await client.close()
        with pytest.raises(dlog.CallCancelledError, match="Client was closed under this appender"):
            await asyncio.wait_for(awaited(pending), 5)

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_an_asyncio_reader_draining_when_its_client_closes_says_the_drain_was_not_answered(dlogd):
    async def scenario():
        client = dlogd.aio_client()
        await client.append("aio-orphaned-drain", [b"a", b"b"])
        reader = client.reader("aio-orphaned-drain", "r")
        (await reader.poll(10)).ack()
        closing = asyncio.ensure_future(reader.close())
        for _ in range(3):  # close() starts its shutdown, which sends the drain
            await asyncio.sleep(0)
        await client.close()
        with pytest.raises(dlog.CallCancelledError, match="Client was closed under this reader"):
            await closing

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_an_asyncio_append_written_onto_a_connection_killed_under_it_is_sent_again(dlogd_factory):
    server = dlogd_factory(in_memory=False)

    async def scenario():
        async with server.aio_client() as client:
            async with client.appender("aio-resend", linger_ms=0, retry=dlog.Reconnect(initial_delay=0.05, max_delay=0.5)) as appender:
                await appender.append(b"before")
                server.kill()
                # grpc.aio fails a write on the broken connection with INTERNAL "Internal error
                # from Core" rather than UNAVAILABLE: still a lost connection, worth a reconnect.
                after = appender.append(b"after")
                server.start()
                await asyncio.wait_for(awaited(after), 30)
                counters = appender.counters
            assert [record.text() async for record in client.read("aio-resend")] == ["before", "after"]
            assert counters["reconnects"] >= 1

    asyncio.run(asyncio.wait_for(scenario(), 60))
