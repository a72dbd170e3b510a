"""The client goes away mid-request and mid-response: the app is told, the server carries on.
Every test runs over http and https (the tls marker: tests/conftest.py).

The tests with ``protocol`` run over HTTP/1.1 (the client closes its connection) and HTTP/2
(the client resets its stream, RST_STREAM CANCEL, and the connection serves on)."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

from tests.e2e.protocols import RawRequest, both_protocols
from tests.e2e.rawhttp import Connection, connect, request, wait_events

pytestmark = [pytest.mark.timeout(30), pytest.mark.tls]


def key() -> str:
    return uuid.uuid4().hex


@both_protocols
def test_disconnect_while_app_waits_for_more_body(basic_server, protocol):
    k = key()
    with Connection(basic_server) as other:
        assert other.get("/").status == 200  # an unrelated connection, open throughout
        with RawRequest(basic_server, protocol, "POST", f"/wait-disconnect?id={k}",
                        [("Content-Length", "1000")], b"x" * 10, end=False) as raw:
            wait_events(basic_server, k, lambda e: "started" in e)
            raw.abandon()
            events = wait_events(basic_server, k,
                                 lambda e: any("disconnect" in x for x in e))
            assert events[-1] == "disconnect after 10 bytes", events
            assert not any("body complete" in x for x in events), events
            assert raw.still_serves()
        assert other.get("/").body == b"hello"
    assert httpx.get(basic_server.url + "/", timeout=5, verify=basic_server.verify).text == (
        "hello")


@both_protocols
def test_disconnect_while_app_waits_after_the_whole_body(basic_server, protocol):
    k = key()
    with RawRequest(basic_server, protocol, "POST", f"/wait-disconnect?id={k}",
                    [("Content-Length", "20")], b"y" * 20) as raw:
        wait_events(basic_server, k, lambda e: "body complete 20 bytes" in e)
        raw.abandon()
        events = wait_events(basic_server, k, lambda e: any("disconnect" in x for x in e))
        assert events == ["started", "body complete 20 bytes", "disconnect after 20 bytes"]
        assert raw.still_serves()
    assert httpx.get(basic_server.url + "/", timeout=5, verify=basic_server.verify).text == (
        "hello")


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
    assert httpx.get(basic_server.url + "/", timeout=5, verify=basic_server.verify).text == (
        "hello")


@both_protocols
def test_disconnect_mid_response(basic_server, protocol):
    k = key()
    with Connection(basic_server) as other:
        assert other.get("/").status == 200
        with RawRequest(basic_server, protocol, "GET", f"/endless?id={k}") as raw:
            assert raw.read_status() == 200
            assert len(raw.read_body(256 * 1024)) == 256 * 1024
            raw.abandon()
            events = wait_events(basic_server, k, lambda e: len(e) > 1)
            # send() raised an OSError (fastcorn's ClientDisconnected is one)
            assert events[0] == "started" and events[1].startswith("send raised"), events
            assert raw.still_serves()
        assert other.get("/").body == b"hello"
    assert httpx.get(basic_server.url + "/", timeout=5, verify=basic_server.verify).text == (
        "hello")


def test_many_abandoned_connections_leave_the_server_serving(basic_server):
    for i in range(20):
        with connect(basic_server) as sock:
            if i % 3 == 0:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a head
            elif i % 3 == 1:
                sock.sendall(request("POST", "/echo", [("Content-Length", "100")]) + b"abc")
            else:
                sock.sendall(request("GET", "/download?size=10000000"))
    with httpx.Client(base_url=basic_server.url, timeout=5,
                      verify=basic_server.verify) as client:
        for _ in range(3):
            assert client.get("/").text == "hello"
