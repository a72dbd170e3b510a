"""Every kind of bad request: the right status, then the connection closes, and nothing
else is disturbed (a good connection opened before the bad one still works after it)."""

from __future__ import annotations

import pytest

from tests.e2e.rawhttp import Connection, assert_closed, connect, read_response, request

pytestmark = pytest.mark.timeout(30)

HOST = b"Host: e2e.test\r\n"

BAD_REQUESTS = {
    "request-line-garbage": (400, b"THIS IS NOT HTTP\r\n\r\n"),
    "request-line-extra-token": (400, b"GET / HTTP/1.1 extra\r\n" + HOST + b"\r\n"),
    "request-line-bad-version": (400, b"GET / HTTX/1.1\r\n" + HOST + b"\r\n"),
    "header-space-in-name": (400, b"GET / HTTP/1.1\r\n" + HOST + b"Bad Name: v\r\n\r\n"),
    "header-no-colon": (400, b"GET / HTTP/1.1\r\n" + HOST + b"NoColonHere\r\n\r\n"),
    "content-length-list": (
        400, b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: 5, 6\r\n\r\nhello"),
    "content-length-negative": (
        400, b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: -5\r\n\r\nhello"),
    "bad-chunk-size": (
        400, b"POST /echo HTTP/1.1\r\n" + HOST
        + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    "content-length-and-transfer-encoding": (
        400, b"POST /echo HTTP/1.1\r\n" + HOST
        + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    "head-too-large": (
        431, b"GET / HTTP/1.1\r\n" + HOST
        + b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"p" * 1000) for i in range(70)) + b"\r\n"),
    "transfer-encoding-gzip": (
        501, b"POST /echo HTTP/1.1\r\n" + HOST
        + b"Transfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_request(basic_server, name):
    status, data = BAD_REQUESTS[name]
    mark = basic_server.mark()
    with Connection(basic_server) as good:
        assert good.get("/").status == 200  # opened, and used, before the bad one
        with connect(basic_server) as sock, sock.makefile("rb") as reader:
            sock.sendall(data)
            response = read_response(reader)
            assert response.status == status, response
            assert response.status_line.rstrip().split(b" ", 2)[2], "no reason phrase"
            assert b"Traceback" not in response.body
            assert len(response.body) < 200, response.body  # a short plain-text reason
            assert response.header("connection") == "close"
            assert_closed(sock, reader)
        after = good.get("/info")
        assert after.status == 200
        assert after.json()["path"] == "/info"
    # A client's mistake is not a server error: no traceback in the log either.
    assert "Traceback" not in basic_server.output_since(mark)


def test_bad_request_after_a_good_one_on_the_same_connection(basic_server):
    with Connection(basic_server) as conn:
        conn.send(request("GET", "/") + b"BROKEN\r\n\r\n")
        assert conn.response().body == b"hello"
        assert conn.response().status == 400
        conn.assert_closed()
