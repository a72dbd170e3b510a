"""The client goes away mid-request and mid-response: the app is told, the server carries on."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

from tests.e2e.rawhttp import Connection, connect, read_head, request, wait_events

pytestmark = pytest.mark.timeout(30)


def key() -> str:
    return uuid.uuid4().hex


def test_disconnect_while_app_waits_for_more_body(basic_server):
    k = key()
    with Connection(basic_server) as other:
        assert other.get("/").status == 200  # an unrelated connection, open throughout
        with connect(basic_server) as sock:
            sock.sendall(request("POST", f"/wait-disconnect?id={k}",
                                 [("Content-Length", "1000")]) + b"x" * 10)
            wait_events(basic_server, k, lambda e: "started" in e)
        events = wait_events(basic_server, k, lambda e: any("disconnect" in x for x in e))
        assert events[-1] == "disconnect after 10 bytes", events
        assert not any("body complete" in x for x in events), events
        assert other.get("/").body == b"hello"
    assert httpx.get(basic_server.url + "/", timeout=5).text == "hello"


def test_disconnect_while_app_waits_after_the_whole_body(basic_server):
    k = key()
    with connect(basic_server) as sock:
        sock.sendall(request("POST", f"/wait-disconnect?id={k}", body=b"y" * 20))
        wait_events(basic_server, k, lambda e: "body complete 20 bytes" in e)
    events = wait_events(basic_server, k, lambda e: any("disconnect" in x for x in e))
    assert events == ["started", "body complete 20 bytes", "disconnect after 20 bytes"]
    assert httpx.get(basic_server.url + "/", timeout=5).text == "hello"


def test_disconnect_with_reset_while_app_waits(basic_server):
    k = key()
    sock = connect(basic_server)
    sock.sendall(request("POST", f"/wait-disconnect?id={k}", [("Content-Length", "50")]))
    wait_events(basic_server, k, lambda e: "started" in e)
    # SO_LINGER 0: close() sends a RST instead of a FIN
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    events = wait_events(basic_server, k, lambda e: any("disconnect" in x for x in e))
    assert events[-1] == "disconnect after 0 bytes"
    assert httpx.get(basic_server.url + "/", timeout=5).text == "hello"


def test_disconnect_mid_response(basic_server):
    k = key()
    with Connection(basic_server) as other:
        assert other.get("/").status == 200
        with Connection(basic_server) as conn:
            conn.send(request("GET", f"/endless?id={k}"))
            _, status, _ = read_head(conn.reader)
            assert status == 200
            assert len(conn.reader.read(256 * 1024)) == 256 * 1024
        events = wait_events(basic_server, k, lambda e: len(e) > 1)
        # send() raised an OSError (fastcorn's ClientDisconnected is one)
        assert events[0] == "started" and events[1].startswith("send raised"), events
        assert other.get("/").body == b"hello"
    assert httpx.get(basic_server.url + "/", timeout=5).text == "hello"


def test_many_abandoned_connections_leave_the_server_serving(basic_server):
    for i in range(20):
        with connect(basic_server) as sock:
            if i % 3 == 0:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a head
            elif i % 3 == 1:
                sock.sendall(request("POST", "/echo", [("Content-Length", "100")]) + b"abc")
            else:
                sock.sendall(request("GET", "/download?size=10000000"))
    with httpx.Client(base_url=basic_server.url, timeout=5) as client:
        for _ in range(3):
            assert client.get("/").text == "hello"
