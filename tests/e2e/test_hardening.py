"""HTTP/1.1 hardening at the backend level (issue 6), on every backend.

- Half-close: a client that shuts its write side after the request still gets the answer.
- Lingering close: an error answer is followed by FIN while the client's input is read and
  dropped, so a client still sending its body is not reset before it reads the answer.
- Reads yield to the app: an upload is not buffered before the app that answers it runs.
- The file-descriptor limit: no spin, no log flood, clients wait and are served after.
- Graceful shutdown refuses new connections at once.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time

import psutil
import pytest

from tests.e2e.rawhttp import connect, read_response, request

pytestmark = pytest.mark.timeout(60)

APP = "tests.apps.hardening:app"
HIGH_WATER = 256 * 1024  # the core pauses reading when this much body is buffered


@pytest.fixture
def server(serve):
    return serve(APP, "--no-access-log")


# -- half-close ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/", "/slow?delay=0.3"], ids=["at-once", "app-sleeps"])
def test_half_close_with_nc_gets_the_response(server, target):
    """``printf 'GET / ...' | nc -N``: nc shuts its write side at the end of its input."""
    result = subprocess.run(
        ["nc", "-N", server.host, str(server.port)],
        input=request("GET", target), capture_output=True, timeout=10,
    )
    assert result.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), (result, server.stderr)
    body = b"done" if target.startswith("/slow") else b"hello"
    assert result.stdout.endswith(b"\r\n\r\n" + body), result.stdout
    assert result.returncode == 0, result


def test_half_close_after_pipelined_requests_answers_each(server):
    with connect(server) as sock:
        # Both apps sleep: the EOF is seen while one or the other is still due.
        sock.sendall(request("GET", "/slow?delay=0.2") + request("GET", "/slow?delay=0.2"))
        sock.shutdown(socket.SHUT_WR)
        with sock.makefile("rb") as reader:
            first = read_response(reader)
            second = read_response(reader)
            assert (first.status, first.body) == (200, b"done")
            assert (second.status, second.body) == (200, b"done")
            assert reader.read() == b""  # then the server closes


def test_half_close_of_an_idle_connection_closes_it(server):
    with connect(server) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("GET", "/"))
        assert read_response(reader).body == b"hello"
        sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        assert reader.read() == b""
        assert time.monotonic() - started < 1


# -- lingering close ------------------------------------------------------------------------


@pytest.mark.tls
def test_error_response_lingers_while_the_client_still_sends(server, backend, scheme):
    """A 400 for a head with a bad Content-Length, while the client keeps uploading.

    Closing with unread input makes the kernel answer with a reset, which can make the
    client's next send fail before it ever reads the 400. The server must instead send
    the 400, shut its write side where it can, and read and drop what the client still
    sends. Over TLS on asyncio there is no half-close: the client reads the answer,
    whose "connection: close" tells it to close, and the server drops input until then."""
    body = b"x" * 16384
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: e2e.test\r\nContent-Length: nope\r\n\r\n")
        time.sleep(0.2)  # the server has answered (and half-closed) by now
        for _ in range(16):  # 256 KiB over ~0.3 s: it arrives after the answer
            sock.sendall(body)
            time.sleep(0.02)
        reader = sock.makefile("rb")
        response = read_response(reader)
        assert response.status == 400
        assert response.header("connection") == "close"
        if scheme == "http" or backend == "trio":
            # A half-close (over TLS, trio's close_notify first): a clean end, no reset.
            assert reader.read() == b""


@pytest.mark.tls
def test_a_finished_exchange_with_connection_close_ends_at_once(server):
    """The client asked to close and sends nothing more: a client reading to EOF (an
    HTTP/1.0 body has no other end) sees the end now, not after a lingering's 5 s, on
    every backend, over TLS too (where asyncio's transport cannot half-close)."""
    for version in ("1.0", "1.1"):
        with connect(server, timeout=3) as sock:
            sock.sendall(f"GET / HTTP/{version}\r\nHost: e2e.test\r\n"
                         "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):  # a timeout (3 s, < the lingering's 5) fails
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 "), data[:200]


# -- the read loop yields to the app ---------------------------------------------------------


def test_app_runs_before_the_upload_is_buffered(server):
    """The app's first receive() shows how much body the server read before it ran.

    An app that answers 413 without reading must run long before the core has buffered
    HIGH_WATER bytes; on trio the read loop once read on and on without yielding. Whether
    a server that does not yield overshoots depends on how fast the client is, so try
    several times."""
    size = 2 << 20
    seen = []
    for _ in range(10):
        with connect(server) as sock:
            data = request("POST", "/first-body", body=b"x" * size)

            def upload(sock: socket.socket = sock, data: bytes = data) -> None:
                try:
                    sock.sendall(data)
                except OSError:
                    pass  # the server may close once it answered

            thread = threading.Thread(target=upload)
            thread.start()
            with sock.makefile("rb") as reader:
                response = read_response(reader)
            sock.shutdown(socket.SHUT_RDWR)
            thread.join(10)
        assert response.status == 200, response
        first = json.loads(response.body)
        assert first["type"] == "http.request"
        seen.append(first["bytes"])
    assert max(seen) < HIGH_WATER, f"bytes buffered when the app ran: {seen}"


# -- file-descriptor limit -------------------------------------------------------------------


def test_file_descriptor_limit_backs_off_quietly_and_recovers(server):
    """At RLIMIT_NOFILE, accept() fails at once and the listener stays readable.

    The server must neither spin nor log per failure, and must serve again once
    descriptors free up. asyncio and trio back off, log one line, and keep the clients
    they cannot accept yet waiting in the backlog. uvloop keeps libuv's C accept path,
    which sheds them instead: it accepts and closes them at once, silently."""
    queues = server.backend != "uvloop"
    proc = psutil.Process(server.pid)
    _, hard = proc.rlimit(psutil.RLIMIT_NOFILE)
    limit = proc.num_fds() + 30
    proc.rlimit(psutil.RLIMIT_NOFILE, (limit, hard))
    mark = server.mark()
    idle: list[socket.socket] = []
    waiting = None
    try:
        for _ in range(200):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex((server.host, server.port))
            idle.append(sock)
        time.sleep(0.5)  # the server accepts what it can and hits the limit
        waiting = connect(server, timeout=10)
        waiting.sendall(request("GET", "/"))
        cpu_before = sum(proc.cpu_times()[:2])
        time.sleep(2.0)
        cpu = sum(proc.cpu_times()[:2]) - cpu_before
        assert proc.num_fds() >= limit - 2, "the test did not reach the limit"
        log = server.output_since(mark)
        assert cpu < 0.2, f"{cpu:.2f} s of CPU in 2 s at the descriptor limit"
        assert len(log) < 2000, f"{len(log)} bytes of log at the limit:\n{log[:2000]}"
        assert "Traceback" not in log, log
        if queues:
            assert log.count("Cannot accept connections") == 1, log
            assert "Too many open files" in log, log
        for sock in idle:
            sock.close()
        idle.clear()
        with waiting.makefile("rb") as reader:
            if queues:  # the client queued during the shortage is accepted and answered
                response = read_response(reader)
                assert (response.status, response.body) == (200, b"hello")
            else:
                with pytest.raises(ConnectionError):
                    read_response(reader)
    finally:
        for sock in idle:
            sock.close()
        if waiting is not None:
            waiting.close()
    # Serving again: at once where clients queue; where they are shed, once the server
    # has seen its idle connections close (until then a new one is shed too).
    deadline = time.monotonic() + (0 if queues else 5)
    while True:
        try:
            with connect(server) as sock, sock.makefile("rb") as reader:
                sock.sendall(request("GET", "/"))
                assert read_response(reader).body == b"hello"
            break
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert server.output_since(mark).count("Cannot accept connections") == int(queues)


# -- graceful shutdown ------------------------------------------------------------------------


def test_connections_are_refused_while_draining(server):
    results: dict[str, object] = {}
    sock = connect(server, timeout=10)

    def slow_request() -> None:
        try:
            sock.sendall(request("GET", "/slow?delay=1.5"))
            with sock.makefile("rb") as reader:
                results["response"] = read_response(reader)
        except Exception as exc:  # reported below
            results["error"] = exc

    thread = threading.Thread(target=slow_request)
    thread.start()
    try:
        time.sleep(0.3)  # the request is in flight
        server.send_signal(signal.SIGTERM)
        server.wait_for_output("Shutting down")
        deadline = time.monotonic() + 1.0
        refused = False
        while not refused and time.monotonic() < deadline:
            try:
                probe = socket.create_connection((server.host, server.port), timeout=0.5)
            except ConnectionRefusedError:
                refused = True
            except ConnectionResetError:
                time.sleep(0.05)  # queued just before the listener closed: try again
            else:
                probe.close()  # the drain may not have begun yet: try again
                time.sleep(0.05)
        assert refused, "a new connection was accepted into the backlog during the drain"
        thread.join(10)
    finally:
        sock.close()
    assert "error" not in results, results
    response = results["response"]
    assert (response.status, response.body) == (200, b"done")  # type: ignore[attr-defined]
    assert server.wait(10) == 0, server.stderr


# -- clients that drop connections ----------------------------------------------------------


@pytest.mark.skipif(shutil.which("wrk") is None,
                    reason="wrk is not installed (apt-get install wrk)")
def test_connection_close_storm_logs_no_tracebacks(serve):
    """wrk with ``Connection: close`` drops its connections as it stops: a lingering close
    whose half-close meets a peer already gone (ENOTCONN) closes quietly, never an app
    error or a task exception."""
    server = serve("tests.apps.basic:app", "--no-access-log")
    done = subprocess.run(
        ["wrk", "-t1", "-c32", "-d2s", "-H", "Connection: close", f"{server.url}/"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "requests in" in done.stdout, done.stdout
    time.sleep(0.3)
    assert server.stop() == 0
    assert "Traceback" not in server.stderr, server.stderr[-3000:]
    assert "never retrieved" not in server.stderr, server.stderr[-3000:]
