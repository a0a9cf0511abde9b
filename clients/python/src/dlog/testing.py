"""A throw-away dlogd for integration tests, and pytest fixtures over it.

With dlog installed, pytest picks the fixtures up by itself (a ``pytest11`` entry point)::

    def test_orders(dlogd):
        with dlogd.client() as client:
            client.append("orders", b"hello")

``dlogd`` is found through the ``DLOG_DLOGD`` environment variable (a path; one ending in ``.js``
runs with ``node``), else ``dlogd`` on the PATH. Each server listens on a free loopback port,
is ready once it logged its ``"dlogd listening"`` line, and is stopped (its data removed) when
the test ends. It keeps nothing on disk (``--in-memory``) when the server supports it; pass
``in_memory=False`` (``dlogd_factory``) for tests that restart it on the same data.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


_RUNNING: "weakref.WeakSet[DlogdServer]" = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    """A test run that ends without stopping its servers (a crash, Ctrl-C) leaves none behind."""
    for server in list(_RUNNING):
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait(STOP_TIMEOUT)
        if server._own_dir and server.data_dir is not None:
            shutil.rmtree(server.data_dir, ignore_errors=True)


class DlogdError(RuntimeError):
    """dlogd could not be found or did not start."""


def dlogd_command() -> list[str]:
    """The command that runs dlogd: ``DLOG_DLOGD``, else ``dlogd`` on the PATH."""
    configured = os.environ.get("DLOG_DLOGD")
    if configured:
        path = Path(configured)
        if not path.exists():
            raise DlogdError(f"DLOG_DLOGD={configured} does not exist")
        if path.suffix == ".js":
            node = shutil.which("node")
            if node is None:
                raise DlogdError(f"DLOG_DLOGD={configured} needs node, which is not on the PATH")
            return [node, str(path)]
        return [str(path)]
    found = shutil.which("dlogd")
    if found is None:
        raise DlogdError("dlogd not found: put it on the PATH or set DLOG_DLOGD to its path")
    return [found]


@functools.lru_cache(maxsize=None)
def supports_in_memory(command: tuple[str, ...]) -> bool:
    """Whether this dlogd has ``--in-memory`` (asked once per command)."""
    try:
        result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=START_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--in-memory" in result.stdout + result.stderr


class DlogdServer:
    """One dlogd process on loopback.

    ``in_memory``: None (default) keeps nothing on disk when the server supports it, else uses a
    temp data dir; False always uses a data dir (``data_dir``, or a temp one removed at the end).
    ``args`` are extra flags (e.g. ``["--ack-flush-interval", "50ms"]``).
    """

    def __init__(
        self,
        *,
        args: Sequence[str] = (),
        data_dir: Optional[os.PathLike | str] = None,
        in_memory: Optional[bool] = None,
        command: Optional[Sequence[str]] = None,
    ) -> None:
        self.command = list(command or dlogd_command())
        self.args = list(args)
        if in_memory and data_dir is not None:
            raise ValueError("in_memory and data_dir exclude each other")
        if in_memory is None:
            in_memory = data_dir is None and supports_in_memory(tuple(self.command))
        self.in_memory = bool(in_memory)
        self._own_dir = data_dir is None and not self.in_memory
        self.data_dir: Optional[Path] = None if self.in_memory else Path(data_dir or tempfile.mkdtemp(prefix="dlogd-test-"))
        self.address: str = ""
        self.port = 0
        self.process: Optional[subprocess.Popen] = None
        self._output: list[str] = []
        self._lock = threading.Lock()

    @property
    def output(self) -> str:
        """Everything the server wrote so far (its JSON log lines)."""
        with self._lock:
            return "".join(self._output)

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> DlogdServer:
        """Starts the server (on its previous port after a stop) and waits until it listens."""
        if self.process is not None and self.process.poll() is None:
            raise DlogdError("already running")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return self._start_once()
            except DlogdError as error:
                # A restart on the same port can race the old socket's release: try again, briefly.
                taken = "EADDRINUSE" in str(error) or "address in use" in str(error)
                if not (self.port and taken and time.monotonic() < deadline):
                    raise
                time.sleep(0.2)

    def _start_once(self) -> DlogdServer:
        listen = f"127.0.0.1:{self.port}"
        storage = ["--in-memory"] if self.in_memory else ["--data-dir", str(self.data_dir)]
        self.process = subprocess.Popen(
            [*self.command, "--listen", listen, *storage, *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _RUNNING.add(self)
        listening = threading.Event()
        found: dict[str, Any] = {}
        threading.Thread(target=self._pump, args=(self.process, listening, found), daemon=True).start()
        if not listening.wait(START_TIMEOUT) or "address" not in found:
            code = self.process.poll()
            self._terminate()
            why = f"exited with {code}" if code is not None else f"did not listen within {START_TIMEOUT:.0f} s"
            raise DlogdError(f"dlogd {why}:\n{self.output}")
        self.address = found["address"]
        self.port = int(self.address.rsplit(":", 1)[1])
        return self

    def stop(self, sig: int = signal.SIGTERM) -> Optional[int]:
        """Stops the server (SIGTERM: graceful; SIGKILL after 10 s) and returns its exit code.
        The data stays: ``start()`` again to restart it on the same data and port."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self._terminate()

    def kill(self) -> None:
        """kill -9: no chance to flush anything."""
        self.stop(signal.SIGKILL)

    def restart(self, sig: int = signal.SIGTERM) -> DlogdServer:
        self.stop(sig)
        return self.start()

    def close(self) -> None:
        """Stops the server and removes its data."""
        self.stop()
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def client(self, **options: Any):
        """A :class:`dlog.Client` on this server (the caller closes it)."""
        from .client import Client

        return Client(self.address, **options)

    def aio_client(self, **options: Any):
        """A :class:`dlog.aio.Client` on this server."""
        from .aio import Client

        return Client(self.address, **options)

    def __enter__(self) -> DlogdServer:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def _terminate(self) -> Optional[int]:
        assert self.process is not None
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(STOP_TIMEOUT)

    def _pump(self, process: subprocess.Popen, listening: threading.Event, found: dict[str, Any]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._lock:
                self._output.append(line)
            if not listening.is_set() and '"dlogd listening"' in line:
                try:
                    found.update(json.loads(line))
                except ValueError:
                    continue
                listening.set()
        listening.set()  # exited: start() reports the output


def start_dlogd(**options: Any) -> DlogdServer:
    """Starts a server (see :class:`DlogdServer`); use it as a context manager or ``close()`` it."""
    return DlogdServer(**options).start()


try:
    import pytest
except ImportError:  # dlog.testing is usable without pytest, just without the fixtures
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def dlogd() -> Iterator[DlogdServer]:
        """A fresh dlogd for one test (in memory when supported); stopped and removed after it."""
        with DlogdServer() as server:
            yield server

    @pytest.fixture
    def dlogd_factory() -> Iterator[Any]:
        """Starts dlogd servers with options (``args``, ``in_memory``, ``data_dir``); all are
        stopped and removed after the test."""
        servers: list[DlogdServer] = []

        def start(**options: Any) -> DlogdServer:
            server = DlogdServer(**options)
            servers.append(server)
            return server.start()

        yield start
        for server in servers:
            server.close()
