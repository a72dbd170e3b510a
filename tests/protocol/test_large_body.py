"""A large body goes to the transport uncopied, fed a piece at a time as the transport drains
(issue 14: a 50 MiB body coalesced with its head was held twice). Small bodies still leave
in the same write as their head."""

from __future__ import annotations

from typing import Any

from tests.protocol.h1util import (
    Gate,
    assert_clean,
    body,
    parse_response,
    parse_responses,
    request,
    start,
)

LARGE = bytes(range(256)) * 4096  # 1 MiB, over the coalescing limit (64 KiB)
SMALL = b"s" * (64 * 1024)  # at the limit: coalesced
PIECE = 256 * 1024  # h1.pyx's FEED_PIECE
GET = request("GET", "/")
CLOSE = request("GET", "/", headers=[("host", "example.com"), ("connection", "close")])


class SlowTransport:
    """Wraps a harness' transport: records each write (the object itself) and pauses the
    core once ``limit`` bytes are buffered, as a transport whose socket is full would;
    ``drain()`` empties the buffer and resumes the core."""

    def __init__(self, h: Any, limit: int) -> None:
        self.h = h
        self.limit = limit
        self.buffered = 0
        self.paused = False
        self.writes: list[Any] = []
        h.transport.write_observers.append(self._write)

    def _write(self, data: Any) -> None:
        self.writes.append(data)
        self.buffered += len(data)
        if self.buffered > self.limit and not self.paused:
            self.paused = True
            self.h.protocol.pause_writing()

    def drain(self) -> bytes:
        out = self.h.take()
        self.buffered = 0
        if self.paused:
            self.paused = False
            self.h.protocol.resume_writing()
            self.h.runtime.run_ready()
            out += self.h.take()
        return out


def answer(data: bytes, *, length: bool = True, more: bool = False):
    async def app(scope, receive, send):
        headers = [(b"content-length", str(len(data)).encode())] if length else []
        await send(start(200, headers))
        await send(body(data, more=more))
        if more:
            await send(body(b""))

    return app


def test_a_large_body_is_written_after_its_head_as_views_of_the_apps_own_bytes(make):
    h = make(answer(LARGE))
    slow = SlowTransport(h, limit=1 << 30)  # never full
    response = parse_response(h.feed(GET))
    assert response.body == LARGE
    head, *pieces = slow.writes
    assert head.endswith(b"\r\n\r\n") and LARGE[:100] not in head
    assert len(pieces) == len(LARGE) // PIECE
    assert all(isinstance(p, memoryview) and p.obj is LARGE for p in pieces)  # no copy


def test_a_body_up_to_the_limit_leaves_with_its_head(make):
    h = make(answer(SMALL))
    slow = SlowTransport(h, limit=1 << 30)
    assert parse_response(h.feed(GET)).body == SMALL
    assert len(slow.writes) == 1


def test_a_large_body_is_fed_as_the_transport_drains(make):
    h = make(answer(LARGE))
    slow = SlowTransport(h, limit=64 * 1024)
    out = h.feed(GET)
    assert len(out) < 2 * PIECE  # the head and one piece: then the transport paused
    rounds = 0
    while len(out) < len(LARGE):
        out += slow.drain()
        rounds += 1
    assert rounds == len(LARGE) // PIECE - 1
    assert parse_response(out).body == LARGE


def test_responses_behind_a_held_body_wait_their_turn(make):
    h = make(answer(LARGE))
    slow = SlowTransport(h, limit=64 * 1024)
    out = h.feed(GET + GET + GET)  # pipelined
    while slow.paused:
        out += slow.drain()
    first, second, third = parse_responses(out)
    assert first.body == second.body == third.body == LARGE


def test_a_keep_alive_request_while_a_body_is_held_is_answered_after_it(make):
    small = answer(b"small")
    apps = iter([answer(LARGE), small])

    async def app(scope, receive, send):
        await next(apps)(scope, receive, send)

    h = make(app)
    slow = SlowTransport(h, limit=64 * 1024)
    out = h.feed(GET)
    out += h.feed(GET)  # the next request arrives before the first answer is written
    assert b"small" not in out
    while slow.paused:
        out += slow.drain()
    first, second = parse_responses(out)
    assert first.body == LARGE and second.body == b"small"


def test_the_close_after_a_large_body_waits_until_it_is_all_written(make):
    h = make(answer(LARGE))
    slow = SlowTransport(h, limit=64 * 1024)
    out = h.feed(CLOSE)
    assert not h.closed  # the rest of the body is still to be written
    while slow.paused:
        out += slow.drain()
    assert h.closed
    response = parse_response(out)
    assert response.body == LARGE and response.get(b"connection") == b"close"


def test_a_large_chunk_is_framed_around_the_uncopied_body(make):
    gate_open: list[Gate] = []

    async def app(scope, receive, send):
        await send(start(200))
        await send(body(LARGE, more=True))  # the first body: written with the head
        await gate_open[0].wait()
        await send(body(LARGE, more=True))  # a later one: send_body
        await send(body(b""))

    h = make(app)
    gate_open.append(Gate(h.runtime))
    slow = SlowTransport(h, limit=1 << 30)
    out = h.feed(GET)
    gate_open[0].open()
    h.runtime.run_ready()
    out += h.take()
    response = parse_response(out)
    assert response.get(b"transfer-encoding") == b"chunked"
    assert response.chunks == [LARGE, LARGE]
    views = [w for w in slow.writes if isinstance(w, memoryview)]
    assert len(views) == 2 * len(LARGE) // PIECE and all(v.obj is LARGE for v in views)


def test_a_client_gone_while_a_body_is_held_leaves_nothing_behind(make):
    h = make(answer(LARGE))
    slow = SlowTransport(h, limit=64 * 1024)
    h.feed(GET + GET)
    assert slow.paused
    h.disconnect()
    written = len(slow.writes)
    h.protocol.resume_writing()  # a late event from the transport changes nothing
    assert len(slow.writes) == written
    assert_clean(h)


def test_a_reader_that_stops_is_cut_by_the_write_timeout(make):
    h = make(answer(LARGE), timeout_write=10.0)
    slow = SlowTransport(h, limit=64 * 1024)
    h.feed(GET)
    assert slow.paused
    h.advance(11)
    assert h.transport.aborted
