"""The Stream interface the ASGI cycle writes to (fastcorn.asgi.cycle.Stream).

It has room for what only some protocols carry (1xx, trailers, push): the base class
refuses them, a protocol implements its subset. HTTP/1.1 implements informational
responses (100 Continue, and 103 Early Hints ready for the ASGI extension). Each stream
frames the server's own error responses: HTTP/1.1 closes after them.
"""

from __future__ import annotations

import pytest
from h1util import GET, body, parse_responses, request, start

from fastcorn.asgi.cycle import HTTPCycle, ServerState, Stream
from fastcorn.testing import ManualRuntime

HINT = [(b"link", b"</style.css>; rel=preload; as=style")]


def cycle_of(receive):
    """The HTTPCycle behind an app's receive (a bound method of it)."""
    cycle = receive.__self__
    assert isinstance(cycle, HTTPCycle)
    return cycle


def test_base_stream_refuses_what_it_does_not_carry():
    state = ServerState(None, ManualRuntime())
    stream = Stream()
    cycle = HTTPCycle(state, stream, {})
    with pytest.raises(NotImplementedError):
        stream.send_informational(cycle, 103, HINT)
    with pytest.raises(NotImplementedError):
        stream.send_trailers(cycle, [(b"x-checksum", b"1")])
    with pytest.raises(NotImplementedError):
        stream.push(cycle, "/style.css", [])


def test_http11_sends_103_early_hints_before_the_response(make):
    async def app(scope, receive, send):
        cycle = cycle_of(receive)
        cycle.stream.send_informational(cycle, 103, HINT)
        await send(start(200))
        await send(body(b"page"))

    h = make(app)
    out = h.feed(GET)
    assert out.startswith(b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; "
                          b"as=style\r\n\r\nHTTP/1.1 200 OK\r\n")
    final = parse_responses(out[out.index(b"HTTP/1.1 200"):])
    assert [r.body for r in final] == [b"page"]


def test_http11_sends_no_1xx_to_http10_or_after_the_head(make):
    async def app(scope, receive, send):
        cycle = cycle_of(receive)
        cycle.stream.send_informational(cycle, 103, HINT)
        await send(start(200))
        await send(body(b"a", more=True))
        cycle.stream.send_informational(cycle, 103, HINT)  # too late: ignored
        await send(body(b"b"))

    h = make(app)
    assert b"103" not in h.feed(request("GET", "/", version="1.0"))
    h = make(app)
    out = h.feed(GET)
    assert out.count(b"103 Early Hints") == 1


def test_http11_refuses_a_status_that_is_not_informational(make):
    seen = []

    async def app(scope, receive, send):
        cycle = cycle_of(receive)
        for status in (99, 101, 200):
            try:
                cycle.stream.send_informational(cycle, status, [])
            except RuntimeError as exc:
                seen.append(str(exc))
        await send(start(204))
        await send(body())

    h = make(app)
    assert h.feed(GET).startswith(b"HTTP/1.1 204 ")
    assert len(seen) == 3


def test_http11_frames_the_500_itself_and_closes(make):
    async def app(scope, receive, send):
        raise ValueError("boom")

    h = make(app, error_logger=None)
    out = h.feed(GET)
    (resp,) = parse_responses(out)
    assert resp.status == 500 and resp.get(b"connection") == b"close"
    assert h.closed
