"""The requests the HTTP/2 core takes without h2's frame machinery (H2Connection's
receive_requests: whole HEADERS frames with END_HEADERS and END_STREAM, on an open
connection) must meet exactly what h2 would have done with them, and everything else must
still reach h2. The first request of a connection always goes through h2 (its state is not
open yet), so each case runs on a fresh connection ("h2") and after a first request
("taken")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from h2.errors import ErrorCodes
from h2util import Peer, frames_of, hello, scope_app
from hyperframe.frame import DataFrame, HeadersFrame, WindowUpdateFrame

GOOD = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"example.com"),
        (b":path", b"/")]



@pytest.fixture(params=["h2", "taken"])
def opened(request: Any, peer: Callable[..., Peer]) -> Callable[..., Peer]:
    """``opened(app, **options)``: a connection whose next request h2 parses ("h2"), or
    one that has served a request already, so that the core takes the next ones."""

    def factory(app: Any, **options: Any) -> Peer:
        p = peer(app, **options)
        p.pump()
        if request.param == "taken":
            assert p.get("/first").status == 200
        return p

    return factory


def goaway_codes(data: bytes) -> list[int]:
    return [f.error_code for f in frames_of(data) if f.type == 0x7]


def encode(p: Peer, fields: list[tuple[bytes, bytes]]) -> bytes:
    block: bytes = p.client.encoder.encode(fields)
    return block


def test_many_requests_in_one_read_are_answered_in_order(opened):
    seen: list[dict[str, Any]] = []
    p = opened(scope_app(seen))
    before = len(seen)
    sids = []
    for i in range(30):
        sid = p.client.get_next_available_stream_id()
        p.client.send_headers(sid, [*GOOD[:3], (b":path", f"/{i}".encode())], end_stream=True)
        sids.append(sid)
    p.pump()
    assert [s["path"] for s in seen[before:]] == [f"/{i}" for i in range(30)]
    assert all(p.responses[sid].body == b"ok" and p.responses[sid].ended for sid in sids)
    assert p.terminated is None


def test_other_frames_between_requests_go_to_h2_in_order(opened):
    seen: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        seen.append(scope)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body or scope["path"].encode()})

    p = opened(app)
    p.pump()
    first = p.client.get_next_available_stream_id()
    s1, s2, s3, s4, s5 = (first + 2 * k for k in range(5))
    frames = [
        HeadersFrame(s1, encode(p, [*GOOD[:3], (b":path", b"/a")]),
                     flags=["END_HEADERS", "END_STREAM"]),
        WindowUpdateFrame(0, window_increment=1000),
        HeadersFrame(s2, encode(p, [*GOOD[:3], (b":path", b"/b")]),
                     flags=["END_HEADERS", "END_STREAM", "PRIORITY"], depends_on=0,
                     stream_weight=16),
        HeadersFrame(s3, encode(p, [*GOOD[:3], (b":path", b"/c")]),
                     flags=["END_HEADERS", "END_STREAM", "PADDED"], pad_length=4),
        HeadersFrame(s4, encode(p, [(b":method", b"POST"), *GOOD[1:]]), flags=["END_HEADERS"]),
        DataFrame(s4, b"body", flags=["END_STREAM"]),
        HeadersFrame(s5, encode(p, [*GOOD[:3], (b":path", b"/e")]),
                     flags=["END_HEADERS", "END_STREAM"]),
    ]
    out = p.h.feed(b"".join(f.serialize() for f in frames))
    assert goaway_codes(out) == []
    paths = [s["path"] for s in seen[-5:]]
    assert paths == ["/a", "/b", "/c", "/", "/e"]
    bodies = {}
    for f in frames_of(out):
        if f.type == 0x0:
            bodies[f.stream_id] = bodies.get(f.stream_id, b"") + f.data
    assert bodies == {s1: b"/a", s2: b"/b", s3: b"/c", s4: b"body", s5: b"/e"}


def test_h2_forgets_the_streams_it_no_longer_needs(peer):
    p = peer(hello)
    for _ in range(50):
        for _ in range(10):
            p.client.send_headers(p.client.get_next_available_stream_id(), GOOD,
                                  end_stream=True)
        p.pump()
    engine = p.h.protocol.h2
    assert len(engine.streams) <= 10  # h2 keeps no closed stream objects in bulk
    assert engine.highest_inbound_stream_id == 999
    # a late frame for a stream answered long ago is still known to h2 as closed
    p.raw(WindowUpdateFrame(1, window_increment=10))
    assert p.terminated is None
    assert p.get("/").body == b"hello"


@pytest.mark.parametrize("value", [b"abc", b"-1"])
def test_an_invalid_content_length_is_what_h2_makes_of_it(opened, value):
    p = opened(hello)
    sid = p.client.get_next_available_stream_id()
    frame = HeadersFrame(sid, encode(p, [*GOOD, (b"content-length", value)]),
                         flags=["END_HEADERS", "END_STREAM"])
    out = p.h.feed(frame.serialize())
    assert goaway_codes(out) == [ErrorCodes.PROTOCOL_ERROR] and p.closed


def test_a_stream_id_that_goes_back_is_what_h2_makes_of_it(peer):
    p = peer(hello)
    p.get("/")
    p.get("/")
    frame = HeadersFrame(1, encode(p, GOOD), flags=["END_HEADERS", "END_STREAM"])
    out = p.h.feed(frame.serialize())
    assert goaway_codes(out) == [ErrorCodes.STREAM_CLOSED]


def test_an_even_stream_id_is_a_protocol_error(opened):
    p = opened(hello)
    frame = HeadersFrame(100, encode(p, GOOD), flags=["END_HEADERS", "END_STREAM"])
    out = p.h.feed(frame.serialize())
    assert goaway_codes(out) == [ErrorCodes.PROTOCOL_ERROR] and p.closed


def test_an_hpack_error_is_compression_error(opened):
    p = opened(hello)
    sid = p.client.get_next_available_stream_id()
    frame = HeadersFrame(sid, b"\x82\x86\x84\xff\x80\x01", flags=["END_HEADERS", "END_STREAM"])
    out = p.h.feed(frame.serialize())
    assert goaway_codes(out) == [ErrorCodes.COMPRESSION_ERROR] and p.closed


def test_an_hpack_bomb_is_enhance_your_calm(opened):
    p = opened(hello, limit_request_head=8192)
    sid = p.client.get_next_available_stream_id()
    p.client.send_headers(sid, [*GOOD, *[(b"x-big", b"a" * 4000)] * 10], end_stream=True)
    out = p.h.feed(p.client.data_to_send())
    assert goaway_codes(out) == [ErrorCodes.ENHANCE_YOUR_CALM] and p.closed


def test_a_frame_above_the_max_frame_size_is_a_frame_size_error(opened):
    p = opened(hello)
    sid = p.client.get_next_available_stream_id()
    size = p.h.protocol.h2.max_inbound_frame_size
    frame = HeadersFrame(sid, b"\x82" * (size + 1), flags=["END_HEADERS", "END_STREAM"])
    out = p.h.feed(frame.serialize())
    assert goaway_codes(out) == [ErrorCodes.FRAME_SIZE_ERROR] and p.closed


def test_a_request_split_across_reads_is_served(opened):
    p = opened(hello)
    sid = p.client.get_next_available_stream_id()
    p.client.send_headers(sid, GOOD, end_stream=True)
    wire = p.client.data_to_send()
    p.receive(p.h.feed(wire[:5]))
    p.receive(p.h.feed(wire[5:]))
    assert p.responses[sid].body == b"hello"


def test_a_malformed_request_taken_is_a_stream_error(opened):
    p = opened(hello)
    p.client.config.validate_outbound_headers = False
    p.client.config.normalize_outbound_headers = False
    sid = p.request("GET", "/", headers=[(b"Upper", b"1")])
    assert p.responses[sid].reset == ErrorCodes.PROTOCOL_ERROR
    assert p.terminated is None and p.get("/").body == b"hello"
