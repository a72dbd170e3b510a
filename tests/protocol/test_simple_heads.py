"""feed_simple, which reads plain request heads without llhttp, against llhttp itself.

The same bytes go to two connections, one with the fast path and one without
(``fast_heads = False``), whole and cut at random places; the app answers with what it was
given (method, version, path, raw path, query, headers, body), so any difference in how
the two read a request, or in whether they accept it, shows as a difference in the
bytes written or in whether the connection closed. The fast path must take a strict subset
of what llhttp accepts, read the same way: a difference here is a smuggling hole.
Seeded, so every run checks the same cases.
"""

from __future__ import annotations

import random

import pytest
from h1util import assert_clean, mutate, read_body, split

from fastcorn.testing import Harness

SIMPLE = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /p%20q?x=1&y=%ff HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nUser-Agent: t/1 (x; y)\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /e HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n",
    b"DELETE /d HTTP/1.1\r\nHost: a\r\nX-Tab:\tv\r\n\r\n",
    b"OPTIONS /o HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 007\r\n\r\nabcdefg",
    b"PATCH /p HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /a/b;c=d/~e!$&'()*+,=:@ HTTP/1.1\r\nHost: [::1]:8000\r\nX-A: a  b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost:a\r\nA: 1\r\nA: 2\r\n\r\n",
]
# Plain heads that the checks after the scan refuse (Host, the head's size past
# limit_request_head), as they refuse them from llhttp.
REFUSED = [
    b"GET / HTTP/1.1\r\nHost: a\r\nCookie: " + b"c" * 300 + b"\r\n\r\n",
    b"GET /" + b"p" * 300 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /partial HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
]
# Shapes the fast path must leave to llhttp (and llhttp answers as it always has).
NOT_SIMPLE = [
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab",
    b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
    b"PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a \r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: \xe9\r\n\r\n",
    b"GET /a#b?c HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://b/abs HTTP/1.1\r\nHost: a\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(60)) + b"Host: a\r\n\r\n",
]
NASTY = [b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\xff", b"\x7f", b"0", b"-", b",", b"%",
         b"#", b"\r\n", b"\r\n\r\n", b"Content-Length: 3\r\n", b"Connection: close\r\n",
         b"Transfer-Encoding: chunked\r\n", b"Content-Length: 99999999999999999999\r\n",
         b"HTTP/1.0", b"Connection: keep-alive\r\n", b"CONNECTION: CLOSE\r\n",
         b"TRANSFER-encoding: chunked\r\n", b"Content-length: 5\r\n"]


async def report_app(scope, receive, send):  # type: ignore[no-untyped-def]
    """Answers with everything it was given, body included."""
    body, messages = await read_body(receive)
    if messages[-1]["type"] == "http.disconnect":
        return
    report = repr((scope["method"], scope["http_version"], scope["path"], scope["raw_path"],
                   scope["query_string"], scope["headers"], body)).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"%d" % len(report))]})
    await send({"type": "http.response.body", "body": report})


def answers(pieces: list[bytes], fast: bool) -> tuple[bytes, bool, list[tuple[object, ...]], int]:
    """What a connection writes for ``pieces``, whether it closed, what it logged of the
    requests it refused (line and reason), how many heads it read without llhttp."""
    rejected: list[tuple[object, ...]] = []

    def log_rejected(client: object, status: int, reason: str, line: str | None) -> None:
        # The line without its version: when llhttp refuses a request before its version,
        # it still reports the one of the request before (a fresh parser: 0.0).
        rejected.append((client, status, reason, line and line.rsplit(" HTTP/", 1)[0]))

    h = Harness(report_app, limit_request_head=256, log_rejected=log_rejected)
    h.protocol.fast_heads = fast
    out = b""
    for piece in pieces:
        if h.closed:
            break
        out += h.feed(piece)
    if not h.closed:
        out += h.feed_eof()
    assert h.runtime.errors == []
    simple = h.protocol.simple_heads
    closed = h.closed
    h.disconnect()
    assert_clean(h)
    return out, closed, rejected, simple


def same_answers(pieces: list[bytes]) -> int:
    fast = answers(pieces, True)
    slow = answers(pieces, False)
    assert slow[3] == 0
    assert fast[:3] == slow[:3], f"for input {b''.join(pieces)!r} cut as {pieces!r}"
    return fast[3]


@pytest.mark.parametrize("request_bytes", SIMPLE)
def test_a_simple_request_is_read_without_llhttp_and_the_same(request_bytes: bytes) -> None:
    assert same_answers([request_bytes]) == 1
    assert same_answers([request_bytes * 3]) == 3  # pipelined: each one in turn


@pytest.mark.parametrize("request_bytes", REFUSED)
def test_a_simple_request_refused_after_the_scan_gets_the_same_answer(
        request_bytes: bytes) -> None:
    assert same_answers([request_bytes + SIMPLE[0]]) == 1  # nothing after it is read


@pytest.mark.parametrize("request_bytes", NOT_SIMPLE)
def test_any_other_request_is_left_to_llhttp(request_bytes: bytes) -> None:
    assert same_answers([request_bytes]) == 0


def test_a_head_cut_short_is_left_to_llhttp() -> None:
    data = SIMPLE[1]
    for cut in range(1, len(data)):
        assert same_answers([data[:cut], data[cut:]]) == 0


def test_after_a_request_llhttp_reads_as_the_last_one_the_fast_path_may_follow() -> None:
    # What follows a request that does not keep the connection is llhttp's to refuse or
    # read, even in a read of its own; after a chunked request on a persistent
    # connection, the next plain request in a read of its own is the fast path's (llhttp
    # reads one in the same read along with it).
    assert same_answers([NOT_SIMPLE[0], SIMPLE[0]]) == 0
    assert same_answers([NOT_SIMPLE[1], SIMPLE[0]]) == 0
    assert same_answers([NOT_SIMPLE[4], SIMPLE[0]]) == 1
    assert same_answers([NOT_SIMPLE[4] + SIMPLE[0]]) == 0


@pytest.mark.parametrize("seed", range(8))
def test_mutated_requests_get_the_same_answers_both_ways(seed: int) -> None:
    rng = random.Random(seed)
    taken = 0
    for _ in range(1500):
        pool = SIMPLE if rng.random() < 0.6 else SIMPLE + REFUSED + NOT_SIMPLE
        data = b"".join(rng.choice(pool) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.85:
            data = mutate(rng, data, NASTY)
        # Mostly whole (the fast path's case), else cut as reads may deliver it.
        pieces = [data] if len(data) < 2 or rng.random() < 0.6 else split(rng, data)
        taken += same_answers(pieces)
    assert taken > 400  # the fast path was exercised (456-639 a seed over 400 seeds)
