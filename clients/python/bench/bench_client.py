"""Throughput of the Python client against one dlogd, next to the TypeScript client in the same run.

    make bench-python                      # 1 M records of 100 B; PY_BENCH_ARGS="--quick" for 100 k
    python bench_client.py --json out.json
    python bench_client.py --address 127.0.0.1:7070 --log catchup-100 --records N --json out.json

With --address it measures against that dlogd (make bench runs every client against one dlogd);
with --log it reads that existing log (of at least --records records) instead of writing one.

Deliver + ack: a fresh reader catches up on a log of N records of 100 B, acking every record
(the high-level reader coalesces the acks), until it has N records and its drain is answered.
Append: one 100 B record per call through the appender (Python: linger 2 ms packs calls into
entries; TypeScript: its appender, 256 calls in flight), until every call is answered.
Absolute figures move with the machine's load; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dlog
import dlog.aio
from dlog.testing import DlogdServer

PAYLOAD = b"x" * 100
TS_SCRIPT = Path(__file__).with_name("ts_client.mjs")


def fill(client: dlog.Client, log: str, count: int) -> None:
    """count records of 100 B, 1000 per append (the log is written in bulk, as in make bench)."""
    with client.appender(log, linger_ms=0) as appender:
        for start in range(0, count, 1000):
            appender.append_batch([PAYLOAD] * min(1000, count - start))
        appender.flush(600)


def deliver_sync(client: dlog.Client, log: str, count: int) -> float:
    started = time.perf_counter()
    received = 0
    with client.reader(log, f"py-sync-{time.time_ns()}", fallback="earliest") as reader:
        for record in reader:
            record.ack()
            received += 1
            if received >= count:
                break
    return time.perf_counter() - started


def deliver_async(address: str, log: str, count: int) -> float:
    async def run() -> float:
        async with dlog.aio.Client(address) as client:
            started = time.perf_counter()
            received = 0
            async with client.reader(log, f"py-aio-{time.time_ns()}", fallback="earliest") as reader:
                async for record in reader:
                    record.ack()
                    received += 1
                    if received >= count:
                        break
            return time.perf_counter() - started

    return asyncio.run(run())


def append_sync(client: dlog.Client, log: str, count: int) -> float:
    started = time.perf_counter()
    with client.appender(log) as appender:
        futures = [appender.append(PAYLOAD) for _ in range(count)]
        for future in futures:
            future.result(600)
    return time.perf_counter() - started


def append_async(address: str, log: str, count: int) -> float:
    async def run() -> float:
        async with dlog.aio.Client(address) as client:
            started = time.perf_counter()
            async with client.appender(log) as appender:
                results = []
                for i in range(count):
                    if i % 1000 == 0:
                        await appender.ready()
                    results.append(appender.append(PAYLOAD))
                for result in results:
                    await result
            return time.perf_counter() - started

    return asyncio.run(run())


def typescript(address: str, *args: str) -> float | None:
    """The TypeScript client's time for the same job, or None when it is not built."""
    node = shutil.which("node")
    root = Path(__file__).resolve().parents[3]
    if node is None or not (root / "dist/clients/typescript/src/index.js").exists():
        return None
    out = subprocess.run([node, str(TS_SCRIPT), address, *args], capture_output=True, text=True, timeout=900, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records to deliver (default 1 M)")
    parser.add_argument("--appends", type=int, default=200_000, help="one-record appends to time (default 200 k)")
    parser.add_argument("--quick", action="store_true", help="100 k records, 50 k appends")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--address", help="measure against this dlogd instead of starting one")
    parser.add_argument("--log", help="read this existing log instead of writing one")
    parser.add_argument("--no-typescript", action="store_true", help="leave out the TypeScript client's figures")
    args = parser.parse_args()
    if args.quick:
        args.records, args.appends = 100_000, 50_000

    results: dict[str, dict[str, float | None]] = {}
    with contextlib.ExitStack() as stack:
        if args.address is None:
            server = stack.enter_context(DlogdServer(in_memory=False))
            address = server.address
        else:
            address = args.address
        client = stack.enter_context(dlog.Client(address))
        log = args.log or "bench-deliver"
        if args.log is None:
            t = time.perf_counter()
            fill(client, log, args.records)
            print(f"filled {log} with {args.records} records of 100 B in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        rate = lambda seconds, n: None if seconds is None else n / seconds  # noqa: E731
        ts = (lambda *a: None) if args.no_typescript else typescript  # noqa: E731
        tag = time.time_ns()
        results["deliver_ack_1reader_100B"] = {
            "python_sync": rate(deliver_sync(client, log, args.records), args.records),
            "python_asyncio": rate(deliver_async(address, log, args.records), args.records),
            "typescript": rate(ts(address, "deliver", log, f"ts-{tag}", str(args.records)), args.records),
        }
        results["append_1record_appender_100B"] = {
            "python_sync": rate(append_sync(client, f"bench-append-sync-{tag}", args.appends), args.appends),
            "python_asyncio": rate(append_async(address, f"bench-append-aio-{tag}", args.appends), args.appends),
            "typescript": rate(ts(address, "append", f"bench-append-ts-{tag}", str(args.appends), "100"), args.appends),
        }

    print(f"\nPython client vs TypeScript client, one dlogd, {os.cpu_count()} CPUs (records/s)")
    print(f"{'figure':34} {'python sync':>12} {'python aio':>12} {'typescript':>12} {'sync/ts':>8}")
    for figure, row in results.items():
        ts = row["typescript"]
        ratio = f"{row['python_sync'] / ts:.2f}x" if ts else "-"
        cells = [f"{row[k]:12,.0f}" if row[k] else f"{'-':>12}" for k in ("python_sync", "python_asyncio", "typescript")]
        print(f"{figure:34} {' '.join(cells)} {ratio:>8}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
