"""Chunked bodies both ways and Expect: 100-continue, on a shared server per backend; the
httpx tests (streamed bodies both ways, as the ASGI app sees them) over HTTP/2 as well."""

from __future__ import annotations

import pytest

from tests.e2e.protocols import both_protocols, client, version
from tests.e2e.rawhttp import Connection, chunked, connect, read_response, request

# Every test here runs over http and https (the tls marker: tests/conftest.py).
pytestmark = [pytest.mark.timeout(30), pytest.mark.tls]


def test_chunked_request_body_raw_socket(basic_server):
    pieces = [b"first,", b"x" * 70000, b",last"]
    with Connection(basic_server) as conn:
        conn.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")],
                          chunked(*pieces)))
        response = conn.response()
        assert response.status == 200
        assert response.header("x-request-chunked") == "yes"
        assert response.body == b"".join(pieces)
        # The chunked body was consumed exactly: the connection is ready for the next one.
        assert conn.get("/").body == b"hello"


def test_chunked_request_body_sent_in_pieces(basic_server):
    body = chunked(b"hello ", b"chunked ", b"world")
    with Connection(basic_server) as conn:
        conn.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")]))
        for i in range(0, len(body), 3):  # chunk framing split at arbitrary points
            conn.send(body[i:i + 3])
        response = conn.response()
        assert response.body == b"hello chunked world"


@both_protocols
def test_chunked_request_body_httpx_generator(basic_server, protocol):
    def generate():
        for i in range(100):
            yield b"%04d" % i

    with client(basic_server, protocol) as c:
        response = c.post("/echo", content=generate())
    assert response.status_code == 200 and response.http_version == version(protocol)
    # HTTP/1.1 frames a body of unknown length with chunks; HTTP/2 with DATA frames
    chunked = "yes" if protocol == "http/1.1" else "no"
    assert response.headers["x-request-chunked"] == chunked
    assert response.content == b"".join(b"%04d" % i for i in range(100))


def test_streamed_response_without_length_is_chunked(basic_server):
    with Connection(basic_server) as conn:
        response = conn.get("/stream?n=4")
        assert response.status == 200
        assert response.chunked
        assert response.header("content-length") is None
        assert response.chunks == [b"chunk-%d\n" % i for i in range(4)]
        assert conn.get("/").body == b"hello"  # the terminating chunk was sent


@both_protocols
def test_streamed_response_without_length_httpx(basic_server, protocol):
    with client(basic_server, protocol) as c, c.stream("GET", "/stream",
                                                       params={"n": 3}) as r:
        assert r.http_version == version(protocol)
        assert "content-length" not in r.headers
        # chunked on HTTP/1.1; HTTP/2 has no transfer-encoding (RFC 9113 8.2.2)
        expected = "chunked" if protocol == "http/1.1" else None
        assert r.headers.get("transfer-encoding") == expected
        assert b"".join(r.iter_bytes()) == b"chunk-0\nchunk-1\nchunk-2\n"


def test_expect_100_continue(basic_server):
    body = b"the body, sent only after 100 Continue"
    with connect(basic_server) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("POST", "/echo", [
            ("Content-Length", str(len(body))), ("Expect", "100-continue")]))
        interim = read_response(reader)
        assert interim.status_line == b"HTTP/1.1 100 Continue\r\n"
        assert interim.headers == []
        sock.sendall(body)
        final = read_response(reader)
        assert final.status == 200
        assert final.body == body
        # keep-alive still works after an interim response
        sock.sendall(request("GET", "/"))
        assert read_response(reader).body == b"hello"


def test_expect_100_continue_chunked(basic_server):
    with connect(basic_server) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("POST", "/echo", [
            ("Transfer-Encoding", "chunked"), ("Expect", "100-continue")]))
        assert read_response(reader).status == 100
        sock.sendall(chunked(b"abc", b"def"))
        assert read_response(reader).body == b"abcdef"


@both_protocols
def test_expect_100_continue_httpx(basic_server, protocol):
    with client(basic_server, protocol) as c:
        response = c.post("/echo", content=b"data", headers={"Expect": "100-continue"})
    assert response.status_code == 200 and response.http_version == version(protocol)
    assert response.content == b"data"


@both_protocols
def test_large_request_body_reaches_the_app_whole(basic_server, protocol):
    body = bytes(range(256)) * 4096  # 1 MiB: many DATA frames, window updates on HTTP/2
    with client(basic_server, protocol) as c:
        response = c.post("/echo", content=body)
        assert response.status_code == 200 and response.http_version == version(protocol)
        assert response.headers["x-received-bytes"] == str(len(body))
        assert response.content == body
        assert c.get("/").text == "hello"  # the same connection goes on
