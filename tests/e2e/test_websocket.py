"""WebSocket end to end, on every backend: the ``websockets`` library (over ws:// and
wss://, the ``tls`` marker), raw sockets for what it will not send, and the server's
limits, keepalive, backpressure and shutdown (apps in tests/apps/websocket_apps.py)."""

from __future__ import annotations

import json
import ssl
import time
import zlib
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.e2e import rawhttp, wsraw

pytestmark = [pytest.mark.timeout(60)]

APP = "tests.apps.websocket_apps:app"


def ws_url(server: Any, path: str) -> str:
    scheme = "wss" if server.tls is not None else "ws"
    return f"{scheme}://{server.host}:{server.port}{path}"


def client(server: Any, path: str = "/echo", **kwargs: Any) -> Any:
    if server.tls is not None:
        kwargs.setdefault("ssl", server.tls.client_context())
    kwargs.setdefault("open_timeout", 10)
    kwargs.setdefault("close_timeout", 10)
    kwargs.setdefault("max_size", None)
    for attempt in range(3):
        try:
            return connect(ws_url(server, path), **kwargs)
        except ConnectionClosed as exc:
            # websockets' sync client reads its TLS socket in a thread of its own from
            # before it writes the handshake request. The TLS 1.3 session tickets a server
            # sends after the TLS handshake can wake that reader just as the request is
            # written, and OpenSSL does not allow one connection in two threads at once:
            # the client's own write then fails with "[SSL] internal error" (seen once,
            # Python 3.10 CI). That failure of the client, and only it, is retried.
            cause = exc.__cause__
            if attempt == 2 or not (isinstance(cause, ssl.SSLError)
                                    and "internal error" in str(cause)):
                raise
    raise AssertionError("unreachable")


@pytest.fixture
def ws_server(serve: Any) -> Any:
    return serve(APP, "--log-level", "info")


# -- the websockets library, ws:// and wss:// --------------------------------------------


@pytest.mark.tls
def test_echo_text_and_binary(ws_server: Any, scheme: str) -> None:
    with client(ws_server, "/echo?subprotocol=1", subprotocols=["chat.v1", "other"]) as ws:
        assert ws.subprotocol == "chat.v1"
        assert ws.response.headers["x-accepted"] == "yes"
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send(b"\x00\x01\xff" * 1000)
        assert ws.recv() == b"\x00\x01\xff" * 1000
        big = "x" * (3 << 20)  # 3 MiB: many reads, compressed by default
        ws.send(big)
        assert ws.recv() == big
        ws.send("scope")
        scope = json.loads(ws.recv())
    assert scope["type"] == "websocket"
    assert scope["scheme"] == ("wss" if scheme == "https" else "ws")
    assert scope["http_version"] == "1.1"
    assert scope["path"] == "/echo" and scope["query_string"] == "subprotocol=1"
    assert scope["subprotocols"] == ["chat.v1", "other"]
    assert "websocket.http.response" in scope["extensions"]
    assert ("tls" in scope["extensions"]) == (scheme == "https")
    assert isinstance(scope["server"][1], int) and isinstance(scope["client"][1], int)


def test_compression_can_be_turned_off(serve: Any) -> None:
    server = serve(APP, "--no-ws-per-message-deflate")
    with client(server) as ws:
        assert "sec-websocket-extensions" not in ws.response.headers
        ws.send("x" * 1000)
        assert ws.recv() == "x" * 1000
    with client(serve(APP)) as ws:
        assert ws.response.headers["sec-websocket-extensions"].startswith("permessage-deflate")


def test_close_codes_and_reasons_both_ways(ws_server: Any) -> None:
    with client(ws_server, "/close") as ws:
        ws.send("4123 see you")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv()
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4123, "see you")

    mark = ws_server.mark()
    with client(ws_server, "/disconnect") as ws:
        ws.close(4001, "bye now")
    ws_server.wait_for_output(r"disconnect code=4001 reason=bye now", since=mark)


def test_refusals_denial_and_app_errors(ws_server: Any) -> None:
    with pytest.raises(InvalidStatus) as info:
        client(ws_server, "/reject")
    assert info.value.response.status_code == 403

    with pytest.raises(InvalidStatus) as info:
        client(ws_server, "/deny")
    assert info.value.response.status_code == 401
    assert info.value.response.headers["x-denied"] == "yes"
    assert info.value.response.body == b"go away"

    with pytest.raises(InvalidStatus) as info:
        client(ws_server, "/error-before")
    assert info.value.response.status_code == 500

    with client(ws_server, "/error-after") as ws:
        ws.send("boom")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    # The log line reaches the test through the reader thread: wait for it, not race it.
    ws_server.wait_for_output("failing after accept")


def test_max_size_closes_1009(serve: Any) -> None:
    server = serve(APP, "--ws-max-size", "1000")
    with client(server) as ws:
        ws.send(b"x" * 1000)
        assert ws.recv() == b"x" * 1000
        ws.send(b"x" * 1001)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_ws_none_serves_upgrades_as_http(serve: Any) -> None:
    server = serve(APP, "--ws", "none")
    with pytest.raises(InvalidStatus) as info:
        client(server)
    assert info.value.response.status_code == 200
    assert info.value.response.body == b"plain http"


# -- raw sockets -------------------------------------------------------------------------


def raw_exchange(server: Any, request: bytes) -> bytes:
    with rawhttp.connect(server) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk


@pytest.mark.parametrize(("headers", "body"), [
    ([("Sec-WebSocket-Version", "8"), ("Sec-WebSocket-Key", wsraw.KEY)], b""),
    ([("Sec-WebSocket-Version", "13")], b""),
    ([("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "c2hvcnQ=")], b""),
    ([("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", wsraw.KEY)], b"a body"),
], ids=["version", "no-key", "short-key", "body"])
def test_bad_handshakes_get_400(ws_server: Any, headers: list[tuple[str, str]],
                                body: bytes) -> None:
    request = rawhttp.request("GET", "/echo", [("Upgrade", "websocket"),
                                               ("Connection", "Upgrade"), *headers], body)
    answer = raw_exchange(ws_server, request)
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"connection: close" in answer.lower()


def test_oversized_frame_header_closes_1009_at_once(ws_server: Any) -> None:
    sock, _ = wsraw.handshake(ws_server)
    with sock:
        # The header alone, declaring 2^62 bytes: refused before any payload is read.
        sock.sendall(wsraw.frame(0x2, b"", length=1 << 62)[:14])
        assert wsraw.read_close(sock) == 1009
        assert wsraw.closed_by_peer(sock)


def test_deflate_bomb_closes_1009(ws_server: Any) -> None:
    # Made before connecting: on a loaded machine compressing 1 GiB takes long enough for
    # the server's keepalive ping, which this raw client never answers, to close first.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\0" * (1 << 30)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 2 << 20  # 1 GiB of zeros in ~1 MiB
    sock, head = wsraw.handshake(ws_server, extra=[
        ("Sec-WebSocket-Extensions", "permessage-deflate")])
    assert b"permessage-deflate" in head
    before = ws_server.rss()
    with sock:
        try:
            sock.sendall(wsraw.frame(0x2, bomb[:-4], rsv=0x40))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close while the rest is still being sent
        assert wsraw.read_close(sock) == 1009
    assert ws_server.rss() - before < 64 << 20


def test_unanswered_pings_close_1011(serve: Any) -> None:
    server = serve(APP, "--ws-ping-interval", "1", "--ws-ping-timeout", "1")
    sock, _ = wsraw.handshake(server)
    started = time.monotonic()
    with sock:
        sock.settimeout(10)
        opcode, payload = wsraw.read_frame(sock)
        assert opcode == 0x9  # a ping, which this client never answers
        assert wsraw.read_close(sock) == 1011
    assert time.monotonic() - started < 8


def test_answered_pings_keep_the_connection(serve: Any) -> None:
    server = serve(APP, "--ws-ping-interval", "1", "--ws-ping-timeout", "1")
    with client(server) as ws:  # websockets answers pings by itself
        time.sleep(4)
        ws.send("still here")
        assert ws.recv() == "still here"


def test_a_client_that_never_reads_cannot_grow_server_memory(serve: Any) -> None:
    server = serve(APP, "--timeout-write", "3", "--log-level", "info")
    sock, _ = wsraw.handshake(server, "/flood?n=4000&size=65536")  # 256 MiB offered
    before = server.rss()
    with sock:
        time.sleep(2)
        assert server.rss() - before < 32 << 20  # send() waits: nothing piles up
        # Not reading for longer than --timeout-write: the server gives up on the client
        # and the app's send() raises.
        line = server.wait_for_output(r"flood cut after \d+ messages", timeout=10)
    sent = int(line.split("after ")[1].split()[0])
    assert sent < 1000, line


def test_reading_pauses_while_the_app_does_not_read(ws_server: Any) -> None:
    sock, _ = wsraw.handshake(ws_server, "/hold")
    mark = ws_server.mark()
    before = ws_server.rss()
    sock.setblocking(False)
    sent = 0
    chunk = wsraw.frame(0x2, b"y" * 65536)
    deadline = time.monotonic() + 5
    with sock:
        while time.monotonic() < deadline and sent < 256 << 20:
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.05)
        ws_server.wait_for_output("holding", since=mark)
        assert sent < 64 << 20, "the server kept reading for an app that does not"
        assert ws_server.rss() - before < 48 << 20


def test_graceful_shutdown_closes_1001(serve: Any) -> None:
    server = serve(APP)
    with client(server) as ws:
        ws.send("ping")
        assert ws.recv() == "ping"
        server.send_signal()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    assert server.wait(15) == 0


def test_graceful_shutdown_cuts_a_client_that_does_not_answer(serve: Any) -> None:
    server = serve(APP, "--timeout-graceful-shutdown", "2")
    sock, _ = wsraw.handshake(server)
    with sock:
        started = time.monotonic()
        server.send_signal()
        sock.settimeout(10)
        assert wsraw.read_close(sock) == 1001  # and never answered
        assert server.wait(15) == 0
    assert time.monotonic() - started < 10


# -- frameworks ------------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["tests.apps.frameworks:starlette_app",
                                 "tests.apps.frameworks:fastapi_app"])
def test_framework_websocket_routes(serve: Any, app: str) -> None:
    server = serve(app)
    with client(server, "/ws") as ws:
        assert ws.recv() == "hello"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000
    with client(server, "/ws-echo", subprotocols=["echo"]) as ws:
        assert ws.subprotocol == "echo"
        for i in range(20):
            ws.send(f"message {i}")
            assert ws.recv() == f"message {i}"
        ws.send(b"\x00bin")
        assert ws.recv() == b"\x00bin"


@pytest.mark.parametrize(("app", "path"), [("tests.apps.quart_app:app", "/ws"),
                                           ("tests.apps.channels_app:application", "/ws/echo")],
                         ids=["quart", "django-channels"])
def test_asyncio_framework_websocket_routes(serve: Any, backend: str, app: str,
                                            path: str) -> None:
    """Quart and Django Channels need an asyncio loop (test_asyncio_frameworks.py)."""
    if backend == "trio":
        pytest.skip("Quart and Django call asyncio directly: served on asyncio and uvloop")
    server = serve(app)
    with client(server, path) as ws:
        for i in range(10):
            ws.send(f"message {i}")
            assert ws.recv() == f"message {i}"
        ws.send(b"\x00\xffbin")
        assert ws.recv() == b"\x00\xffbin"
        if "channels" in app:
            ws.send("bye")
            with pytest.raises(ConnectionClosed) as info:
                ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 4004
