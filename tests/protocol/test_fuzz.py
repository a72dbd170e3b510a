"""Hostile input, generated: mutated requests cut at random places must never break the core.

Seeded, so every run checks the same few thousand cases. For each one the core must:
never let an exception out of data_received, answer only with well-formed responses (a
request it cannot serve gets a 4xx/5xx status and a closed connection), and leak nothing
once the client goes away.
"""

from __future__ import annotations

import random

import pytest
from h1util import assert_clean, mutate, parse_one, read_body, split

from fastcorn.testing import Harness

VALID = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /p%20q?x=1&y=%ff HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    # shapes the hardening work is about: an upgrade that carries a body, CONNECT, trailers,
    # Host variants (absolute-form, two of them, invalid), pipelined heads
    b"POST /u HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\n"
    b"Content-Length: 24\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03\x01",
    b"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1;ext=1\r\nx\r\n0\r\nHost: evil\r\nAuthorization: x\r\n\r\n",
    b"GET http://b:80/abs?q HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"GET /a#b?c HTTP/1.1\r\nHost: [::1]:8\r\n\r\n",
    b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" * 40,
]
NASTY = [b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\xff", b"0", b"-", b",", b"%", b"\r\n\r\n",
         b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffffff\r\n"]


async def echo_app(scope, receive, send):
    body, messages = await read_body(receive)
    if messages[-1]["type"] == "http.disconnect":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    host = dict(scope["headers"]).get(b"host", b"")
    await send({"type": "http.response.body", "body": host + body[:64], "more_body": True})
    await send({"type": "http.response.body", "body": b"."})


def check_output(out: bytes) -> None:
    """Everything written must parse as complete responses (a 100 Continue may lead)."""
    pos = 0
    while pos < len(out):
        if out.startswith(b"HTTP/1.1 100 Continue\r\n\r\n", pos):
            pos += len(b"HTTP/1.1 100 Continue\r\n\r\n")
            continue
        response, pos = parse_one(out, pos, head=False)
        assert response.status in (200, 400, 408, 431, 500, 501, 505), response.status
        assert b"evil" not in response.body, "a trailer reached the app as a header"
        assert b"Traceback" not in response.body


@pytest.mark.parametrize("seed", range(8))
def test_mutated_requests_never_break_the_core(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        data = b"".join(rng.sample(VALID, rng.randint(1, 3)))
        if rng.random() < 0.9:
            data = mutate(rng, data, NASTY)
        h = Harness(echo_app, limit_request_head=256)
        out = b""
        for piece in split(rng, data) if len(data) > 1 else [data]:
            if h.closed:
                break
            out += h.feed(piece)  # must not raise
        assert h.runtime.errors == [], (data, h.runtime.errors)
        try:
            check_output(out)
        except AssertionError as exc:
            raise AssertionError(f"for input {data!r}: {exc}\noutput {out!r}") from exc
        h.disconnect()
        assert_clean(h)
