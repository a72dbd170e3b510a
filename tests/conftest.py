"""Shared fixtures: real fastcorn servers in subprocesses, on every loop backend.

``backend`` is the one parametrized fixture (asyncio, uvloop, trio); every fixture that
starts a server depends on it, so every end-to-end test runs once per backend.

``serve(app_path, *cli_args, env=None, ready=True, pass_fds=())`` starts
``python -m fastcorn APP --loop BACKEND --host 127.0.0.1 --port 0 *cli_args`` from the
repository root and, unless ``ready=False``, waits for the ``fastcorn listening on ...``
line, whose address gives ``.port`` / ``.url``. A server that exits or stays silent fails
the test with its whole output. Every process started is killed by PID at teardown.

``basic_server`` is one module-scoped server of ``tests.apps.basic:app`` per backend, for
the many tests that only read from it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from fastcorn.backends import LOOPS

REPO = Path(__file__).resolve().parent.parent
BACKENDS = tuple(LOOPS)  # asyncio, uvloop, trio: the backend registry
STARTUP_TIMEOUT = 20.0
LISTENING = re.compile(r"fastcorn listening on (\S+) \(loop: (\w+)\)")

# Every process any fixture started, so that nothing outlives the session whatever happens.
_ALL_PROCESSES: list[subprocess.Popen[bytes]] = []


class ServerProcess:
    """One ``python -m fastcorn`` subprocess and everything it wrote (stderr and stdout)."""

    def __init__(self, app: str, args: list[str], backend: str, env: dict[str, str],
                 pass_fds: tuple[int, ...] = ()) -> None:
        self.app = app
        self.backend = backend
        self.argv = [sys.executable, "-m", "fastcorn", app, "--loop", backend,
                     "--host", "127.0.0.1", "--port", "0", *args]
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.addresses: list[str] = []
        self.proc = subprocess.Popen(
            self.argv, cwd=REPO, env=env, pass_fds=pass_fds,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C in the terminal is not a test's signal
        )
        _ALL_PROCESSES.append(self.proc)
        self._stdout: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stdout_reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._stdout_reader.start()

    # -- output ----------------------------------------------------------------------

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self._stdout.append(raw)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace")
            with self._changed:
                self._lines.append(line)
                match = LISTENING.search(line)
                if match:
                    self.addresses.append(match.group(1))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stderr(self) -> str:
        """Everything the server wrote to stderr so far (its log, access log included)."""
        with self._lock:
            return "".join(self._lines)

    @property
    def stdout(self) -> str:
        return b"".join(self._stdout).decode("utf-8", "replace")

    def mark(self) -> int:
        """A position in the output, for :meth:`output_since`."""
        with self._lock:
            return len(self._lines)

    def output_since(self, mark: int) -> str:
        with self._lock:
            return "".join(self._lines[mark:])

    def wait_for_output(self, pattern: str, timeout: float = 5.0, since: int = 0) -> str:
        """Wait for a line matching the regex ``pattern``; returns the line."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines[since:]:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None
                                      and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no output line matching {pattern!r} within {timeout}s; "
                        f"server stderr:\n{''.join(self._lines)}")
                self._changed.wait(min(remaining, 0.1))

    def _describe(self) -> str:
        return f"{' '.join(self.argv[1:])} (pid {self.proc.pid})"

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.addresses:
                if self.proc.poll() is not None and not self._reader.is_alive():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.1))
        if self.addresses:
            return
        code = self.proc.poll()
        self.kill()
        self._reader.join(2)
        state = f"exited with status {code}" if code is not None else (
            f"printed no 'fastcorn listening on' line within {timeout}s")
        pytest.fail(f"fastcorn did not start: {self._describe()} {state}.\n"
                    f"--- server stderr ---\n{self.stderr}"
                    f"--- server stdout ---\n{self.stdout}", pytrace=False)

    # -- addresses -------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The first address logged: ``http://127.0.0.1:PORT``, ``http://[::1]:PORT``,
        or ``unix:/path``."""
        assert self.addresses, "the server has not logged its address yet"
        return self.addresses[0]

    @property
    def url(self) -> str:
        assert self.address.startswith("http://"), self.address
        return self.address

    @property
    def host(self) -> str:
        hostport = self.url[len("http://"):]
        host = hostport.rpartition(":")[0]
        return host[1:-1] if host.startswith("[") else host

    @property
    def port(self) -> int:
        return int(self.url.rpartition(":")[2])

    @property
    def pid(self) -> int:
        return self.proc.pid

    # -- process ---------------------------------------------------------------------

    def rss(self) -> int:
        """Resident memory of the server and any children, in bytes."""
        proc = psutil.Process(self.proc.pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        """Wait for the exit; fails the test (after killing it) if it outlives ``timeout``."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"fastcorn did not exit within {timeout}s: {self._describe()}.\n"
                        f"--- server stderr ---\n{self.stderr}", pytrace=False)
        self._reader.join(2)
        self._stdout_reader.join(2)
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait for the exit; returns the exit code."""
        self.send_signal(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def cleanup(self) -> None:
        """Teardown: SIGTERM, a short grace, then SIGKILL; all by PID."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(3)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill()
        self._reader.join(2)
        self._stdout_reader.join(2)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTCORN_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def start_server(backend: str, app: str, *args: str, env: dict[str, str] | None = None,
                 ready: bool = True, pass_fds: tuple[int, ...] = ()) -> ServerProcess:
    server = ServerProcess(app, list(args), backend, server_env(env), pass_fds)
    if ready:
        try:
            server.wait_ready()
        except BaseException:
            server.cleanup()
            raise
    return server


ServeFactory = Callable[..., ServerProcess]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The loop backend every end-to-end test runs on."""
    return str(request.param)


@pytest.fixture
def serve(backend: str) -> Iterator[ServeFactory]:
    """``serve(app_path, *cli_args, env=None, ready=True, pass_fds=())`` -> ServerProcess."""
    started: list[ServerProcess] = []

    def factory(app: str, *args: str, **kwargs: Any) -> ServerProcess:
        server = start_server(backend, app, *args, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.cleanup()


@pytest.fixture(scope="module")
def basic_server(backend: str) -> Iterator[ServerProcess]:
    """One server of tests.apps.basic:app per backend and module, for read-only tests."""
    server = start_server(backend, "tests.apps.basic:app")
    yield server
    server.cleanup()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for proc in _ALL_PROCESSES:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
