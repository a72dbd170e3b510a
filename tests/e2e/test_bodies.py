"""Chunked bodies both ways and Expect: 100-continue, on a shared server per backend."""

from __future__ import annotations

import httpx
import pytest

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


def test_chunked_request_body_httpx_generator(basic_server):
    def generate():
        for i in range(100):
            yield b"%04d" % i

    response = httpx.post(basic_server.url + "/echo", content=generate(), timeout=10,
                          verify=basic_server.verify)
    assert response.status_code == 200
    assert response.headers["x-request-chunked"] == "yes"
    assert response.content == b"".join(b"%04d" % i for i in range(100))


def test_streamed_response_without_length_is_chunked(basic_server):
    with Connection(basic_server) as conn:
        response = conn.get("/stream?n=4")
        assert response.status == 200
        assert response.chunked
        assert response.header("content-length") is None
        assert response.chunks == [b"chunk-%d\n" % i for i in range(4)]
        assert conn.get("/").body == b"hello"  # the terminating chunk was sent
    with httpx.stream("GET", basic_server.url + "/stream", params={"n": 3}, timeout=5,
                      verify=basic_server.verify) as r:
        assert r.headers["transfer-encoding"] == "chunked"
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


def test_expect_100_continue_httpx(basic_server):
    response = httpx.post(basic_server.url + "/echo", content=b"data",
                          headers={"Expect": "100-continue"}, timeout=5,
                          verify=basic_server.verify)
    assert response.status_code == 200
    assert response.content == b"data"
