"""Request framing and robustness in the core (issue 6), on real sockets, on every backend.

The byte-level proof of each rule is in tests/protocol/test_hardening.py; here each is
shown through a real server process and, where a front proxy changes the picture, through a
real nginx: a request smuggled in an Upgrade body, answers that must reach a client that is
still sending, apps left waiting after their last send(), memory one client can make a
connection hold, and the graceful-shutdown deadline.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.rawhttp import (
    Connection,
    RssSampler,
    connect,
    exchange,
    read_response,
    request,
    wait_events,
)

pytestmark = pytest.mark.timeout(90)

APP = "tests.apps.framing:app"
MiB = 1024 * 1024


@pytest.fixture
def server(serve):
    return serve(APP, "--no-access-log")


def events(server, key: str) -> list[str]:
    return exchange(server, request("GET", f"/events?id={key}")).json()


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


# -- smuggling through a front proxy ---------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        location /admin {{ return 403; }}
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nginx(server, tmp_path: Path):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=tmp_path, port=port, upstream=server.port))
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"nginx did not start: {proc.stderr.read()!r}") from exc
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_upgrade_body_is_not_a_request_behind_nginx(server, nginx):
    """The request nginx forwards as `POST /public` must not let `/admin` through."""
    smuggled = b"GET /admin/delete-all HTTP/1.1\r\nHost: x\r\n\r\n"
    attack = (b"POST /public HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n"
              b"Content-Length: %d\r\n\r\n%b" % (len(smuggled), smuggled))
    with socket.create_connection(("127.0.0.1", nginx), timeout=10) as sock:
        sock.sendall(attack)
        sock.settimeout(3)
        seen = b""
        try:
            while chunk := sock.recv(65536):
                seen += chunk
        except TimeoutError:
            pass
    assert b"HTTP/1.1 200" in seen
    assert smuggled in seen  # the app got it as the body of /public
    # and nginx's own rule on /admin held: the app never served it
    assert "/admin/delete-all" not in events(server, "paths")
    assert events(server, "paths") == ["/public"]


def test_upgrade_body_is_not_a_request_direct(server):
    smuggled = b"GET /admin/x HTTP/1.1\r\nHost: x\r\n\r\n"
    with Connection(server) as conn:
        conn.send(b"POST /public HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n"
                  b"Content-Length: %d\r\n\r\n%b" % (len(smuggled), smuggled))
        assert conn.response().body == smuggled
        assert conn.get("/headers").status == 200  # the connection goes on, in step
    assert events(server, "paths") == ["/public"]


def test_connect_gets_501(server):
    with connect(server) as sock:
        sock.sendall(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\nSSH-2.0-x\r\n")
        data = read_to_eof(sock)
    assert data.startswith(b"HTTP/1.1 501 ")
    assert data.count(b"HTTP/1.1") == 1


def test_trailers_and_host_on_the_wire(server):
    with Connection(server) as conn:
        conn.send(b"POST /headers HTTP/1.1\r\nHost: good\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n0\r\nHost: evil.com\r\nAuthorization: Bearer forged\r\n\r\n")
        headers = conn.response().json()
    assert ["host", "good"] in headers
    assert all(name != "authorization" for name, _ in headers)
    for head in (b"GET / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: user@evil.com\r\n\r\n",
                 b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"):
        with connect(server) as sock:
            sock.sendall(head)
            assert read_to_eof(sock).startswith(b"HTTP/1.1 400 ")


# -- answers that must arrive ----------------------------------------------------------------


def test_431_reaches_a_client_still_sending_every_time(server):
    """A 200 KB header line: the 431 comes while the client is still sending it."""
    received = 0
    for _ in range(20):
        with connect(server) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
            try:
                for _ in range(25):
                    sock.sendall(b"a" * 8192)
            except OSError:
                pass  # the server may have half-closed already; what matters is the answer
            try:
                data = read_to_eof(sock)
            except ConnectionResetError:
                data = b""
        received += data.startswith(b"HTTP/1.1 431 ")
    assert received == 20


def test_early_413_to_a_large_upload_arrives_at_once(server):
    """The app answers 413 without reading a 256 MiB upload: no 65 s stall, no reset."""
    for _ in range(5):
        with connect(server, timeout=20) as sock:
            sock.sendall(request("POST", "/reject",
                                 [("Content-Length", str(256 * MiB))]))
            started = time.monotonic()
            stop = threading.Event()

            def upload(sock: socket.socket = sock, stop: threading.Event = stop) -> None:
                chunk = b"u" * 65536
                try:
                    while not stop.is_set():
                        sock.sendall(chunk)
                except OSError:
                    pass

            thread = threading.Thread(target=upload, daemon=True)
            thread.start()
            with sock.makefile("rb") as reader:
                response = read_response(reader, "POST")
            stop.set()
            elapsed = time.monotonic() - started
            thread.join(10)
        assert response.status == 413
        assert response.header("connection") == "close"
        assert elapsed < 10, f"the 413 took {elapsed:.1f}s"


# -- the app after its last send -------------------------------------------------------------


def test_large_final_send_does_not_leave_the_app_waiting(server):
    """200 × 8 MiB in one send each: code after the last send() runs, memory comes back."""
    key = uuid.uuid4().hex
    size = 8 * MiB
    with Connection(server, timeout=30) as conn:
        conn.get("/headers")
        base = server.rss()
        with RssSampler(server) as sampler:
            for _ in range(40):
                assert len(conn.get(f"/big?size={size}&id={key}").body) == size
    time.sleep(0.5)
    after = events(server, key)
    assert after.count("after") == 40, after
    assert server.rss() - base < 64 * MiB, (base, server.rss(), sampler.peak)


def test_body_over_its_content_length_never_reaches_the_next_response(server):
    key = uuid.uuid4().hex
    with connect(server) as sock:
        sock.sendall(request("GET", f"/badlength?id={key}") + request("GET", "/"))
        data = read_to_eof(sock)  # the server closes instead of answering the second
    assert data.endswith(b"\r\n\r\nabc"), data
    assert data.count(b"HTTP/1.1 ") == 1 and b"defghij" not in data
    assert events(server, key) == ["send refused"]


def test_app_that_swallows_a_send_error_does_not_hang_the_connection(server):
    key = uuid.uuid4().hex
    with connect(server) as sock:
        sock.sendall(request("GET", f"/swallow?id={key}") + request("GET", "/"))
        data = read_to_eof(sock)
    assert data.startswith(b"HTTP/1.1 500 "), data
    assert events(server, key) == ["swallowed"]


def test_system_exit_in_the_app_is_a_500_and_the_server_goes_on(server):
    for kind in ("system", "keyboard"):
        response = exchange(server, request("GET", f"/exit?kind={kind}"))
        assert response.status == 500
    assert exchange(server, request("GET", "/")).body == b"hello"
    assert server.proc.poll() is None


def test_write_timeout_cuts_a_client_that_stopped_reading(serve):
    server = serve(APP, "--no-access-log", "--timeout-write", "2")
    key = uuid.uuid4().hex
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(request("GET", f"/stream?id={key}"))
        # never read: the server's buffers fill, writing pauses, and must not stay so
        wait_events(server, key, lambda e: "send failed" in e, timeout=10)


def test_stalled_upload_is_cut_by_the_body_timeout(serve):
    server = serve(APP, "--no-access-log", "--timeout-request-body", "1")
    with connect(server) as sock:
        sock.sendall(request("POST", "/public", [("Content-Length", "100")]) + b"x" * 10)
        started = time.monotonic()
        data = read_to_eof(sock)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 5


# -- memory one client can make a connection hold --------------------------------------------

CONNECTIONS = 20


def held_per_connection(server, payload: bytes, read_nothing: bool = True) -> float:
    socks = []
    try:
        base = server.rss()
        for _ in range(CONNECTIONS):
            sock = connect(server)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            sent = 0
            deadline = time.monotonic() + 5
            while sent < len(payload) and time.monotonic() < deadline:
                try:
                    sent += sock.send(payload[sent:sent + 65536])
                except BlockingIOError:
                    time.sleep(0.01)  # the server stopped reading: that is the bound
            socks.append(sock)
        time.sleep(1.0)
        return (server.rss() - base) / CONNECTIONS
    finally:
        for sock in socks:
            sock.close()


def test_pipelined_flood_costs_under_1_mib_per_connection(server):
    exchange(server, request("GET", "/"))  # warm up
    one = request("GET", "/gate")
    flood = one * (256 * 1024 // len(one))
    per = held_per_connection(server, flood)
    assert per < MiB, f"{per / MiB:.2f} MiB per connection"


def test_tiny_chunks_cost_under_1_mib_per_connection(server):
    exchange(server, request("GET", "/"))
    head = request("POST", "/gate", [("Transfer-Encoding", "chunked")])
    per = held_per_connection(server, head + b"2\r\nab\r\n" * (1024 * 1024 // 7))
    assert per < MiB, f"{per / MiB:.2f} MiB per connection"


# -- graceful shutdown -----------------------------------------------------------------------


def test_shutdown_waits_for_work_an_app_does_after_its_response(serve, tmp_path):
    marker = tmp_path / "marker"
    server = serve(APP, "--no-access-log", "--timeout-graceful-shutdown", "10")
    response = exchange(server, request("GET", f"/background?seconds=1&file={marker}"))
    assert response.body == b"accepted"
    server.send_signal(signal.SIGTERM)
    assert server.wait(15) == 0
    assert marker.read_text() == "background done\n"
    assert "Task was destroyed" not in server.stderr


def test_shutdown_deadline_answers_503(serve):
    server = serve(APP, "--no-access-log", "--timeout-graceful-shutdown", "1")
    with connect(server, timeout=10) as sock:
        sock.sendall(request("GET", "/hold?seconds=30"))
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        data = read_to_eof(sock)
    assert data.startswith(b"HTTP/1.1 503 "), data[:200]
    head = data.split(b"\r\n\r\n")[0].lower()
    assert b"connection: close" in head and b"retry-after:" in head
    assert server.wait(10) == 0
