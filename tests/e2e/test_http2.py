"""HTTP/2 end to end, on every backend, with real clients: curl (prior knowledge, h2c
upgrade, ALPN over TLS), httpx, h2load, Starlette/FastAPI, and a hostile client beside a
well-behaved one."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import subprocess
import threading
import time
import uuid

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from h2.errors import ErrorCodes

from tests.e2e.rawhttp import wait_events

pytestmark = pytest.mark.tls

BASIC = "tests.apps.basic:app"


def curl(server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", *server.curl_args, *args],
        capture_output=True, text=True, timeout=30)


def curl_version(server, *args: str) -> tuple[str, str]:
    """(HTTP version curl used, body)."""
    result = curl(server, "-w", "\n%{http_version}", *args)
    assert result.returncode == 0, result.stderr
    body, _, version = result.stdout.rpartition("\n")
    return version, body


@pytest.fixture
def server(serve):
    return serve(BASIC)


def test_curl_http2(server, scheme):
    """Cleartext: prior knowledge and the h2c upgrade; TLS: ALPN h2."""
    if scheme == "http":
        assert curl_version(server, "--http2-prior-knowledge", server.url + "/") == ("2", "hello")
        assert curl_version(server, "--http2", server.url + "/") == ("2", "hello")
        # The upgrade request's body reaches the app on stream 1.
        version, body = curl_version(server, "--http2", "--data-binary", "x" * 5000,
                                     server.url + "/echo")
        assert (version, body) == ("2", "x" * 5000)
    else:
        assert curl_version(server, "--http2", server.url + "/") == ("2", "hello")
    # HTTP/1.1 on the same listener still works.
    assert curl_version(server, "--http1.1", server.url + "/") == ("1.1", "hello")


def test_curl_http2_scope_and_upload(server, scheme, tmp_path):
    flag = "--http2-prior-knowledge" if scheme == "http" else "--http2"
    version, body = curl_version(server, flag, server.url + "/info?a=1")
    info = json.loads(body)
    assert version == "2" and info["http_version"] == "2"
    names = [n for n, _ in info["headers"]]
    assert "host" in names and not any(n.startswith(":") for n in names)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"y" * 3_000_000)  # beyond the stream window: WINDOW_UPDATEs as read
    version, body = curl_version(server, flag, "--data-binary", f"@{upload}",
                                 server.url + "/count")
    assert version == "2" and json.loads(body)["bytes"] == 3_000_000


def client(server, **kwargs) -> httpx.Client:
    if server.scheme == "http":
        return httpx.Client(http1=False, http2=True, timeout=20, **kwargs)
    return httpx.Client(http2=True, verify=server.verify, timeout=20, **kwargs)


def test_httpx_http2(server):
    with client(server) as c:
        r = c.get(server.url + "/")
        assert (r.http_version, r.text) == ("HTTP/2", "hello")
        r = c.post(server.url + "/echo", content=b"z" * 200_000)
        assert r.content == b"z" * 200_000
        r = c.get(server.url + "/stream?n=5")
        assert r.text == "".join(f"chunk-{i}\n" for i in range(5))
        r = c.get(server.url + "/download?size=2000000")
        assert len(r.content) == 2_000_000


def test_httpx_many_parallel_streams(server):
    """One connection, 50 concurrent requests (as a browser page's fetch() calls)."""
    import asyncio

    async def main() -> list[str]:
        kwargs = {"http1": False} if server.scheme == "http" else {"verify": server.verify}
        async with httpx.AsyncClient(http2=True, timeout=20, **kwargs) as c:
            responses = await asyncio.gather(*(c.get(server.url + f"/info?i={i}")
                                               for i in range(50)))
            return [r.http_version for r in responses]

    assert asyncio.run(main()) == ["HTTP/2"] * 50


def test_h2load_smoke(server, scheme):
    args = ["h2load", "-n", "200", "-c", "4", "-m", "10", server.url + "/"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "200 succeeded" in result.stdout, result.stdout
    assert "h2" in result.stdout


@pytest.mark.parametrize("app", ["starlette_app", "fastapi_app"])
def test_frameworks_stream_and_file_over_http2(serve, app):
    from tests.apps.h2_frameworks import FILE_CONTENT

    server = serve(f"tests.apps.h2_frameworks:{app}")
    with client(server) as c:
        assert c.get(server.url + "/version").text == "2"
        r = c.get(server.url + "/stream?n=200")
        assert r.http_version == "HTTP/2"
        assert r.text == "".join(f"line {i}\n" for i in range(200))
        r = c.get(server.url + "/file")
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(FILE_CONTENT).digest()


def test_no_http2_serves_http11_only(serve, scheme):
    server = serve(BASIC, "--no-http2")
    flag = "--http2-prior-knowledge" if scheme == "http" else "--http2"
    result = curl(server, "-w", "\n%{http_version}", flag, server.url + "/")
    if scheme == "https":
        assert result.stdout.endswith("\n1.1")  # ALPN offers http/1.1 only
    else:
        assert result.returncode != 0 or not result.stdout.endswith("\n2")


def open_h2(server) -> tuple[socket.socket, h2.connection.H2Connection]:
    sock = socket.create_connection((server.host, server.port), timeout=10)
    if server.scheme == "https":
        context = server.tls.client_context()
        context.set_alpn_protocols(["h2"])
        sock = context.wrap_socket(sock, server_hostname=server.host)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def read_until_goaway(sock: socket.socket, conn: h2.connection.H2Connection) -> int | None:
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            return None
        if not data:
            return None
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            return None
        for event in events:
            if isinstance(event, h2.events.ConnectionTerminated):
                return int(event.error_code)


def test_rapid_reset_attack_is_cut_while_other_clients_are_served(server):
    sock, conn = open_h2(server)
    stop = threading.Event()
    served: list[str] = []

    def well_behaved() -> None:
        with client(server) as c:
            while not stop.is_set():
                served.append(c.get(server.url + "/").text)

    thread = threading.Thread(target=well_behaved)
    thread.start()
    try:
        # The other client is being served before the attack starts (under load its first
        # request could otherwise come after the whole attack was cut, proving nothing).
        deadline = time.monotonic() + 20
        while not served and time.monotonic() < deadline:
            time.sleep(0.01)
        headers = [(":method", "GET"), (":scheme", server.scheme),
                   (":authority", f"{server.host}:{server.port}"), (":path", "/slow?delay=5")]
        for _ in range(1000):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, headers, end_stream=True)
            conn.reset_stream(sid, ErrorCodes.CANCEL)
        assert send_flood(sock, conn)  # the server reads on after its GOAWAY
        assert read_until_goaway(sock, conn) == ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        sock.close()
        stop.set()
        thread.join(30)
    assert served and set(served) == {"hello"}


def send_flood(sock: socket.socket, conn: h2.connection.H2Connection) -> bool:
    """Send what ``conn`` queued; False if the server cut the connection meanwhile."""
    try:
        sock.sendall(conn.data_to_send())
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        return False
    return True


def test_ping_flood_is_cut(server):
    sock, conn = open_h2(server)
    try:
        for i in range(5000):
            conn.ping(b"%08d" % i)
        assert send_flood(sock, conn)  # the server reads on after its GOAWAY
        assert read_until_goaway(sock, conn) == ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        sock.close()
    assert curl(server, "--http2-prior-knowledge" if server.scheme == "http" else "--http2",
                server.url + "/").stdout == "hello"


def test_a_cut_flood_still_gets_its_goaway(server):
    """A flood far past the budget, most of it still on its way when the server cuts the
    connection: the server reads and drops the rest (a lingering close) rather than
    closing on unread input, which resets the connection and can lose the GOAWAY."""
    sock, conn = open_h2(server)
    ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"flooding"  # PING, stream 0
    try:
        sock.sendall(ping * 200_000)  # 3.4 MB; raises if the server reset the connection
        assert read_until_goaway(sock, conn) == ErrorCodes.ENHANCE_YOUR_CALM
        if server.scheme == "http":
            # Cleartext half-closes: the client reads a clean end, not a reset.
            while data := sock.recv(65536):
                conn.receive_data(data)
    finally:
        sock.close()
    assert curl(server, "--http2-prior-knowledge" if server.scheme == "http" else "--http2",
                server.url + "/").stdout == "hello"


def test_graceful_shutdown_lets_a_stream_finish(serve, scheme):
    """curl (nghttp2) reads on after the GOAWAY. (The h2 package's client, httpx's, stops
    at a GOAWAY and fails its streams in flight: no server can help that.)"""
    server = serve(BASIC)
    result: list[tuple[str, str]] = []
    flag = "--http2-prior-knowledge" if scheme == "http" else "--http2"

    key = uuid.uuid4().hex

    def slow() -> None:
        result.append(curl_version(server, flag, server.url + f"/slow?delay=1&id={key}"))

    thread = threading.Thread(target=slow)
    thread.start()
    # The stream is in the app before the signal (a fixed sleep was too short under load).
    wait_events(server, key, lambda e: "started" in e, timeout=10)
    code = server.stop(timeout=15)
    thread.join(15)
    assert code == 0
    assert result == [("2", "done")]
