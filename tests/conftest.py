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

TLS is a second dimension, which a suite opts into with the ``tls`` marker (module-level
``pytestmark`` or on single tests): its tests then run with ``scheme`` "http" and "https".
Over https, ``serve`` and ``basic_server`` add ``--ssl-certfile``/``--ssl-keyfile`` of a
test certificate for 127.0.0.1/localhost/::1 (``tls_certs``, issued by a trustme CA made
once per session), ``server.url`` is ``https://...``, ``rawhttp.connect(server)`` returns a
socket wrapped in TLS that trusts the test CA, ``server.verify`` is what httpx's
``verify=`` takes and ``server.curl_args`` what curl needs. Without the marker ``scheme`` is
"http" and nothing changes.
"""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psutil
import pytest

from fastcorn.backends import LOOPS

REPO = Path(__file__).resolve().parent.parent
BACKENDS = tuple(LOOPS)  # asyncio, uvloop, trio: the backend registry
STARTUP_TIMEOUT = 20.0
LISTENING = re.compile(r"fastcorn listening on (\S+)(?: \(TLS\))? \(loop: (\w+)\)")

SCHEMES = ("http", "https")

# Every process any fixture started, so that nothing outlives the session whatever happens.
_ALL_PROCESSES: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class TLSCerts:
    """A test CA and a server certificate it issued for 127.0.0.1, localhost and ::1."""

    directory: Path
    ca_path: Path  # the CA certificate (PEM): what clients trust
    cert_path: Path  # the server's certificate chain (PEM)
    key_path: Path  # the server's private key (PEM, unencrypted)

    @property
    def server_args(self) -> list[str]:
        """The fastcorn flags that serve this certificate."""
        return ["--ssl-certfile", str(self.cert_path), "--ssl-keyfile", str(self.key_path)]

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA (and only it), hostname checked."""
        return ssl.create_default_context(cafile=str(self.ca_path))


def make_tls_certs(directory: Path) -> TLSCerts:
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="fastcorn tests")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    certs = TLSCerts(directory, directory / "ca.pem", directory / "server.pem",
                     directory / "server.key")
    ca.cert_pem.write_to_path(str(certs.ca_path))
    certs.cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(certs.key_path))
    return certs


@cache
def tls_options_missing() -> str | None:
    """Why fastcorn cannot serve TLS from the command line yet, or None when it can."""
    try:
        from fastcorn.cli import build_parser

        flags = build_parser()._option_string_actions
    except Exception as exc:  # a half-built tree: the e2e tests will say more
        return f"fastcorn.cli.build_parser() failed: {exc!r}"
    missing = [flag for flag in ("--ssl-certfile", "--ssl-keyfile") if flag not in flags]
    if missing:
        return f"fastcorn has no {' / '.join(missing)} option yet (TLS options not landed)"
    return None


@cache
def tls_backend_missing(backend: str) -> str | None:
    """Why ``backend`` cannot serve TLS yet (its module still raises NotImplementedError for
    it, as trio's did while its TLS was being written), or None."""
    import importlib.util

    spec = importlib.util.find_spec(f"fastcorn.backends.{backend}")
    if spec is None or not spec.origin:
        return None
    if re.search(r"raise NotImplementedError\(\s*[\"'][^\"']*TLS", Path(spec.origin).read_text()):
        return f"the {backend} backend does not serve TLS yet (NotImplementedError)"
    return None


class ServerProcess:
    """One ``python -m fastcorn`` subprocess and everything it wrote (stderr and stdout)."""

    def __init__(self, app: str, args: list[str], backend: str, env: dict[str, str],
                 pass_fds: tuple[int, ...] = (), tls: TLSCerts | None = None,
                 wrap: tuple[str, ...] = ()) -> None:
        self.app = app
        self.backend = backend
        self.tls = tls  # the certificate it serves, or None for cleartext
        tls_args = tls.server_args if tls is not None else []
        # wrap: a command the server runs under (e.g. unshare, to be PID 1 of a namespace)
        self.argv = [*wrap, sys.executable, "-m", "fastcorn", app, "--loop", backend,
                     "--host", "127.0.0.1", "--port", "0", *tls_args, *args]
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
        """The first address logged: ``http://127.0.0.1:PORT``, ``https://[::1]:PORT``,
        or ``unix:/path``."""
        assert self.addresses, "the server has not logged its address yet"
        return self.addresses[0]

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` or, serving TLS, ``https://HOST:PORT`` (the logged address
        with the scheme the test asked for; ``address`` is the line as logged)."""
        scheme, sep, hostport = self.address.partition("://")
        assert sep and scheme in SCHEMES, self.address
        return f"{self.scheme}://{hostport}"

    @property
    def host(self) -> str:
        hostport = self.url.partition("://")[2]
        host = hostport.rpartition(":")[0]
        return host[1:-1] if host.startswith("[") else host

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify=``: a context trusting the test CA over TLS, else True."""
        return self.tls.client_context() if self.tls is not None else True

    @property
    def curl_args(self) -> list[str]:
        """What curl needs to trust this server (the test CA), or nothing."""
        return ["--cacert", str(self.tls.ca_path)] if self.tls is not None else []

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
                 ready: bool = True, pass_fds: tuple[int, ...] = (),
                 tls: TLSCerts | None = None, wrap: tuple[str, ...] = ()) -> ServerProcess:
    server = ServerProcess(app, list(args), backend, server_env(env), pass_fds, tls, wrap)
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "tls: run the test over http and https (the scheme fixture); "
        "https serves the session's test certificate")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scheme" in metafunc.fixturenames and metafunc.definition.get_closest_marker("tls"):
        metafunc.parametrize("scheme", SCHEMES, indirect=True)


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TLSCerts:
    """The session's test CA and server certificate (127.0.0.1, localhost, ::1), as files."""
    return make_tls_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def scheme(request: pytest.FixtureRequest, backend: str) -> str:
    """The scheme servers speak: "http", or also "https" for tests marked ``tls`` (skipped,
    with the reason, while fastcorn has no TLS options)."""
    value = str(getattr(request, "param", "http"))
    if value == "https":
        reason = tls_options_missing() or tls_backend_missing(backend)
        if reason:
            pytest.skip(reason)
    return value


@pytest.fixture(scope="module")
def server_tls(request: pytest.FixtureRequest, scheme: str) -> TLSCerts | None:
    """The certificate servers serve under ``scheme``: None for http."""
    return request.getfixturevalue("tls_certs") if scheme == "https" else None


@pytest.fixture
def serve(backend: str, server_tls: TLSCerts | None) -> Iterator[ServeFactory]:
    """``serve(app_path, *cli_args, env=None, ready=True, pass_fds=(), tls=<scheme's>)``
    -> ServerProcess. ``tls=None`` forces cleartext in a test that runs over https."""
    started: list[ServerProcess] = []

    def factory(app: str, *args: str, **kwargs: Any) -> ServerProcess:
        kwargs.setdefault("tls", server_tls)
        server = start_server(backend, app, *args, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.cleanup()


@pytest.fixture(scope="module")
def basic_server(backend: str, server_tls: TLSCerts | None) -> Iterator[ServerProcess]:
    """One server of tests.apps.basic:app per backend, scheme and module, for read-only
    tests."""
    server = start_server(backend, "tests.apps.basic:app", tls=server_tls)
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
