"""A response head reaches the client while the app waits before its first body (SSE)."""

from __future__ import annotations

import socket


def test_head_arrives_before_the_first_body(serve) -> None:
    server = serve("tests.apps.slow_start:app", "--lifespan", "off")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(65536)  # times out (10 s) if the head is held back
            assert data, "connection closed before the head arrived"
            head += data
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: text/event-stream\r\n" in head
    assert b"transfer-encoding: chunked\r\n" in head
