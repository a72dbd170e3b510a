"""A live connection handed from one core to another, on every backend.

The server's factory starts each connection with tests.apps.handover's Preamble, which
reads one line and hands the connection to the HTTP/1.1 core with the bytes it read past
it. What this proves per backend: the transport delivers every later event (reads, EOF,
the close) to the new core (asyncio's and uvloop's own set_protocol, the trio transport's),
and the leftover bytes are not lost.
"""

from __future__ import annotations

import time

from tests.e2e.rawhttp import Connection, assert_closed, connect, request

APP = "tests.apps.handover_app:app"


def test_preamble_then_http_on_one_connection(serve) -> None:
    server = serve(APP)
    with Connection(server) as conn:
        # the preamble and the first request in one write: the request is the leftover
        conn.send(b"HELLO one\r\n" + request("GET", "/first"))
        first = conn.response()
        assert first.status == 200 and first.body == b"/first"
        # later reads reach the HTTP/1.1 core, and keep-alive holds
        second = conn.get("/second")
        assert second.status == 200 and second.body == b"/second"


def test_preamble_alone_then_request_later(serve) -> None:
    server = serve(APP)
    with Connection(server) as conn:
        conn.send(b"HELLO two\r\n")
        time.sleep(0.05)  # a separate read: the hand-over happens with nothing left over
        conn.send(request("GET", "/late"))
        assert conn.response().body == b"/late"
        # a half-close reaches the new core: it answers what is in flight, then closes
        conn.send(request("GET", "/last"))
        conn.sock.shutdown(1)
        assert conn.response().body == b"/last"
        conn.assert_closed()


def test_bad_preamble_is_refused_and_others_carry_on(serve) -> None:
    server = serve(APP)
    with Connection(server) as good:
        good.send(b"HELLO three\r\n")
        with connect(server) as bad, bad.makefile("rb") as reader:
            bad.sendall(request("GET", "/never"))
            assert reader.readline() == b"BAD PREAMBLE\r\n"
            assert_closed(bad, reader)
        assert good.get("/still").body == b"/still"
