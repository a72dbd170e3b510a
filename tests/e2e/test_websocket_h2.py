"""WebSocket over HTTP/2 (RFC 8441) end to end, on every backend: a real client endpoint
(``h2`` and wsproto over a socket, tests/e2e/h2ws.py) over TLS with ALPN h2 and over
cleartext with prior knowledge (the ``tls`` marker), against the apps of
tests/apps/websocket_apps.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from h2.errors import ErrorCodes
from wsproto.events import BytesMessage, CloseConnection, TextMessage

from tests.e2e.h2ws import H2Client

pytestmark = [pytest.mark.timeout(60)]

APP = "tests.apps.websocket_apps:app"


@pytest.fixture
def ws_server(serve: Any) -> Any:
    return serve(APP, "--log-level", "info")


@pytest.mark.tls
def test_echo_over_http2(ws_server: Any, scheme: str) -> None:
    c = H2Client(ws_server)
    try:
        assert c.extended_connect  # SETTINGS_ENABLE_CONNECT_PROTOCOL=1
        sid, s = c.websocket("/echo?subprotocol=1", subprotocols=["chat.v1", "other"])
        assert s.status == 200
        assert s.headers[b"sec-websocket-protocol"] == b"chat.v1"
        assert s.headers[b"x-accepted"] == b"yes"
        assert b"sec-websocket-accept" not in s.headers
        c.send(sid, TextMessage("héllo"), BytesMessage(b"\x00\x01\xff" * 1000))
        assert c.receive(sid, 2) == ["héllo", b"\x00\x01\xff" * 1000]
        big = b"y" * (3 << 20)  # past the stream windows both ways
        c.send(sid, BytesMessage(big))
        assert c.receive(sid) == [big]
        c.send(sid, TextMessage("scope"))
        scope = json.loads(c.receive(sid)[0])
        assert scope["http_version"] == "2"
        assert scope["scheme"] == ("wss" if scheme == "https" else "ws")
        assert scope["path"] == "/echo" and scope["query_string"] == "subprotocol=1"
        c.send(sid, CloseConnection(code=1000, reason="bye"))
        event = c.next_event(sid)
        assert isinstance(event, CloseConnection) and event.code == 1000
        c.until(lambda: s.ended)
        assert c.terminated is None
    finally:
        c.close()
    line = ws_server.wait_for_output(r'"CONNECT /echo\?subprotocol=1 HTTP/2" 200', timeout=5)
    assert line


@pytest.mark.tls
def test_two_websockets_and_requests_share_one_connection(ws_server: Any, scheme: str) -> None:
    c = H2Client(ws_server)
    try:
        first, _ = c.websocket("/echo")
        second, _ = c.websocket("/echo", deflate=True)
        assert c.streams[second].headers[b"sec-websocket-extensions"].startswith(
            b"permessage-deflate")
        c.send(first, TextMessage("one"))
        c.send(second, TextMessage("two " * 1000))
        assert c.request("/plain").body == b"plain http"
        assert c.receive(first) == ["one"]
        assert c.receive(second) == ["two " * 1000]
        c.send(first, TextMessage("4001 server closes"))  # /echo echoes; /close closes
        closing, _ = c.websocket("/close")
        c.send(closing, TextMessage("4001 done"))
        event = c.next_event(closing)
        assert isinstance(event, CloseConnection) and (event.code, event.reason) == (
            4001, "done")
        c.send(closing, event.response(), end=True)
        c.until(lambda: c.streams[closing].ended)
        # the others carry on
        c.send(second, BytesMessage(b"still"))
        assert c.receive(second) == [b"still"]
        assert c.request("/plain").body == b"plain http"
    finally:
        c.close()


@pytest.mark.tls
def test_refusals_are_http2_responses(ws_server: Any, scheme: str) -> None:
    c = H2Client(ws_server)
    try:
        _, rejected = c.websocket("/reject")
        assert rejected.status == 403 and rejected.ended
        _, denied = c.websocket("/deny")
        assert (denied.status, denied.headers[b"x-denied"], bytes(denied.body)) == (
            401, b"yes", b"go away")
        _, failed = c.websocket("/error-before")
        assert failed.status == 500
        sid = c.conn.get_next_available_stream_id()
        c.streams[sid] = s = type(rejected)()
        c.conn.send_headers(sid, [(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                                  (b":scheme", c.scheme), (b":path", b"/echo"),
                                  (b":authority", b"localhost")], end_stream=False)
        c.flush()
        c.until(lambda: s.ended or s.reset is not None)
        assert s.status == 400  # no Sec-WebSocket-Version
        assert c.request("/plain").body == b"plain http"
        assert c.terminated is None
    finally:
        c.close()


def test_a_reset_stream_is_1006_to_the_app(ws_server: Any) -> None:
    c = H2Client(ws_server)
    try:
        sid, _ = c.websocket("/disconnect")
        mark = ws_server.mark()
        c.conn.reset_stream(sid, ErrorCodes.CANCEL)
        c.flush()
        ws_server.wait_for_output("disconnect code=1006", since=mark, timeout=10)
        assert c.request("/plain").body == b"plain http"
    finally:
        c.close()


def test_graceful_shutdown_closes_http2_websockets_1001(serve: Any) -> None:
    server = serve(APP)
    c = H2Client(server)
    try:
        sid, _ = c.websocket("/echo")
        c.send(sid, TextMessage("ping"))
        assert c.receive(sid) == ["ping"]
        server.send_signal()
        event = c.next_event(sid)
        assert isinstance(event, CloseConnection) and event.code == 1001
        c.send(sid, event.response(), end=True)
        c.until(lambda: c.streams[sid].ended or c.streams[sid].reset is not None)
    finally:
        c.close()
    assert server.wait(15) == 0


def test_max_size_is_1009_over_http2(serve: Any) -> None:
    server = serve(APP, "--ws-max-size", "1000")
    c = H2Client(server)
    try:
        sid, _ = c.websocket("/echo")
        c.send(sid, BytesMessage(b"x" * 1001))
        event = c.next_event(sid)
        assert isinstance(event, CloseConnection) and event.code == 1009
        assert c.request("/plain").body == b"plain http"
    finally:
        c.close()


def test_without_websocket_extended_connect_is_not_advertised(serve: Any) -> None:
    server = serve(APP, "--ws", "none")
    c = H2Client(server)
    try:
        assert not c.extended_connect
    finally:
        c.close()
