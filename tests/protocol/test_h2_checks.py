"""The HTTP/2 core with its own header checks and HPACK (h2's four validate/normalize passes
off): what is a stream error, what is a connection error, and what the app's fields become.

RFC 9113 8.1.1: a malformed request or trailers is a stream error of type PROTOCOL_ERROR
(h2's own checks would end the whole connection). RFC 9113 4.3: a header block HPACK cannot
decode is a connection error of type COMPRESSION_ERROR. The header-list limit
(--limit-request-head) holds from the first byte, before the client acknowledges the
SETTINGS that announce it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import h2.config
import h2.connection
import pytest
from h2.errors import ErrorCodes
from h2util import Peer, frames_of, hello, release_gates, scope_app
from hyperframe.frame import DataFrame, HeadersFrame

from fastcorn.config import Config

PROTOCOL_ERROR = ErrorCodes.PROTOCOL_ERROR
GOOD = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"example.com"),
        (b":path", b"/")]


@pytest.fixture
def peer() -> Iterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def factory(app: Any, **options: Any) -> Peer:
        p = Peer(app, **options)
        # the client sends what it is given: malformed blocks included
        p.client.config.validate_outbound_headers = False
        p.client.config.normalize_outbound_headers = False
        made.append(p)
        return p

    yield factory
    for p in made:
        p.h.disconnect()
    release_gates()
    for p in made:
        assert p.h.state.connections == set()
        assert p.h.state.active_requests == 0
        assert p.h.runtime.errors == []


def goaway_codes(data: bytes) -> list[int]:
    return [f.error_code for f in frames_of(data) if f.type == 0x7]


def send(p: Peer, fields: list[tuple[bytes, bytes]], end: bool = True,
         body: bytes | None = None) -> int:
    sid: int = p.client.get_next_available_stream_id()
    p.client.send_headers(sid, fields, end_stream=end and body is None)
    if body is not None:
        p.client.send_data(sid, body, end_stream=end)
    p.pump()
    return sid


MALFORMED = {
    "uppercase name": [*GOOD, (b"X-Upper", b"1")],
    "connection-specific field": [*GOOD, (b"connection", b"keep-alive")],
    "transfer-encoding": [*GOOD, (b"transfer-encoding", b"chunked")],
    "te other than trailers": [*GOOD, (b"te", b"gzip")],
    "pseudo-header after a regular field": [*GOOD[:3], (b"x-a", b"1"), GOOD[3]],
    "no :path": GOOD[:3],
    "no :method": GOOD[1:],
    ":method twice": [GOOD[0], *GOOD],
    "unknown pseudo-header": [*GOOD, (b":foo", b"bar")],
    ":status in a request": [(b":status", b"200"), *GOOD],
    "empty :path": [*GOOD[:3], (b":path", b"")],
    "CR LF in a value": [*GOOD, (b"x-a", b"1\r\nx-b: 2")],
    "whitespace at a value's end": [*GOOD, (b"x-a", b"1 ")],
    "host differs from :authority": [*GOOD, (b"host", b"other.example")],
    "no :authority nor host": [GOOD[0], GOOD[1], GOOD[3]],
    ":protocol without extended CONNECT": [
        (b":method", b"CONNECT"), (b":protocol", b"websocket"), *GOOD[1:]],
    "path neither / nor *": [*GOOD[:3], (b":path", b"index.html")],
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_request_is_a_stream_error_and_the_connection_goes_on(peer, name):
    seen: list[dict[str, Any]] = []
    # With WebSocket on, extended CONNECT is advertised (tests/protocol/test_h2_websocket.py)
    options = {"config": Config(None, ws="none")} if "extended CONNECT" in name else {}
    p = peer(scope_app(seen), **options)
    sid = send(p, MALFORMED[name])
    assert p.responses[sid].reset == PROTOCOL_ERROR
    assert p.responses[sid].status is None and seen == []  # no app ran for it
    assert p.terminated is None and not p.closed
    assert p.get("/next").status == 200  # a later stream is served
    assert [s["path"] for s in seen] == ["/next"]


def test_a_malformed_request_with_a_body_is_reset_and_its_data_dropped(peer):
    p = peer(hello)
    sid = send(p, [*GOOD, (b"connection", b"close")], body=b"x" * 1000, end=False)
    assert p.responses[sid].reset == PROTOCOL_ERROR
    # more DATA for the stream that was reset: dropped, the connection goes on
    p.raw(DataFrame(sid, b"y" * 1000, flags=["END_STREAM"]))
    assert p.terminated is None and not p.closed
    assert p.get("/").body == b"hello"


def test_the_good_streams_of_the_same_read_are_served(peer):
    seen: list[dict[str, Any]] = []
    p = peer(scope_app(seen))
    sids = []
    for path in (b"/a", b"/b"):
        sid = p.client.get_next_available_stream_id()
        bad = [(b"x-bad", b"\x00")] if path == b"/a" else []
        p.client.send_headers(sid, [*GOOD[:3], (b":path", path), *bad], end_stream=True)
        sids.append(sid)
    p.pump()
    assert p.responses[sids[0]].reset == PROTOCOL_ERROR
    assert p.responses[sids[1]].status == 200
    assert [s["path"] for s in seen] == ["/b"]


def test_malformed_requests_count_against_the_reset_budget(peer):
    from fastcorn.config import Config

    p = peer(hello, config=Config(None, http2_max_reset_streams=20))
    for _ in range(25):
        p.client.send_headers(p.client.get_next_available_stream_id(),
                              [*GOOD, (b"te", b"gzip")], end_stream=True)
    data = p.client.data_to_send()
    out = p.h.feed(data)
    assert goaway_codes(out) == [ErrorCodes.ENHANCE_YOUR_CALM] and p.closed


@pytest.mark.parametrize("trailers", [
    [(b":path", b"/x")],
    [(b"connection", b"close")],
    [(b"X-Checksum", b"1")],
])
def test_malformed_trailers_reset_the_stream_and_the_app_sees_a_disconnect(peer, trailers):
    messages: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        if messages[-1]["type"] != "http.disconnect":
            await hello(scope, receive, send)

    p = peer(app)
    sid = send(p, [(b":method", b"POST"), *GOOD[1:]], end=False)
    p.client.send_data(sid, b"body")
    p.client.send_headers(sid, trailers, end_stream=True)
    p.pump()
    assert p.responses[sid].reset == PROTOCOL_ERROR
    assert p.responses[sid].status is None
    assert messages[-1]["type"] == "http.disconnect"
    assert p.terminated is None
    assert p.get("/").body == b"hello"


def test_valid_trailers_end_the_body(peer):
    messages: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            messages.append(message)
            if not message.get("more_body"):
                break
        await hello(scope, receive, send)

    p = peer(app)
    sid = send(p, [(b":method", b"POST"), *GOOD[1:], (b"te", b"trailers")], end=False)
    p.client.send_data(sid, b"body")
    p.client.send_headers(sid, [(b"x-checksum", b"1")], end_stream=True)
    p.pump()
    assert p.responses[sid].body == b"hello"
    assert b"".join(m.get("body", b"") for m in messages) == b"body"


def test_cookie_crumbs_are_joined(peer):
    seen: list[dict[str, Any]] = []
    p = peer(scope_app(seen))
    send(p, [*GOOD, (b"cookie", b"a=1"), (b"x-a", b"1"), (b"cookie", b"b=2")])
    assert dict(seen[0]["headers"])[b"cookie"] == b"a=1; b=2"
    assert dict(seen[0]["headers"])[b"host"] == b"example.com"


# -- HPACK errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("block", [
    b"\x82\x86\x84\xff\x80\x01",      # index 255: past the static and dynamic tables
    b"\x82\x86\x84\x41\x81\xff",      # a Huffman string padded with more than 7 bits
    b"\x82\x86\x84\x41\x7f",          # a string length whose integer never ends
    b"\x3f\xe1\xff\x03",              # a table size update above SETTINGS_HEADER_TABLE_SIZE
])
def test_an_hpack_decoding_error_ends_the_connection_with_compression_error(peer, block):
    p = peer(hello)
    p.get("/")
    frame = HeadersFrame(3, block, flags=["END_HEADERS", "END_STREAM"])
    out = p.h.feed(frame.serialize())
    assert goaway_codes(out) == [ErrorCodes.COMPRESSION_ERROR]  # h2's PROTOCOL_ERROR replaced
    goaway = [f for f in frames_of(out) if f.type == 0x7][0]
    assert goaway.last_stream_id == 1  # stream 3 was never opened
    assert p.closed


def test_an_hpack_bomb_is_still_enhance_your_calm(peer):
    p = peer(hello, limit_request_head=8192)
    p.pump()
    send_fields = [*GOOD, *[(b"x-big", b"a" * 4000)] * 10]
    p.client.send_headers(p.client.get_next_available_stream_id(), send_fields)
    out = p.h.feed(p.client.data_to_send())
    assert goaway_codes(out) == [ErrorCodes.ENHANCE_YOUR_CALM]


# -- the header-list limit before the SETTINGS ACK --------------------------------------------


def test_the_header_list_limit_holds_before_the_settings_ack(peer):
    p = peer(hello, limit_request_head=8192, preface=False)
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    # 20 KiB of fields: above the limit, below h2's own 64 KiB default, in the very first
    # read, so the client cannot have acknowledged the server's SETTINGS yet
    client.send_headers(1, [*GOOD, *[(b"x-big", b"a" * 4000)] * 5], end_stream=True)
    out = p.h.feed(client.data_to_send())
    assert goaway_codes(out) == [ErrorCodes.ENHANCE_YOUR_CALM]
    assert p.closed


def test_a_header_list_within_the_limit_before_the_ack_is_served(peer):
    p = peer(hello, limit_request_head=8192, preface=False)
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    client.send_headers(1, [*GOOD, (b"x-big", b"a" * 4000)], end_stream=True)
    out = p.h.feed(client.data_to_send())
    assert goaway_codes(out) == []
    events = client.receive_data(out)
    assert any(getattr(e, "data", None) == b"hello" for e in events)


# -- what the app sends -----------------------------------------------------------------------


def test_the_apps_fields_are_normalised_as_h2_did(peer):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"X-Upper", b"v"), (b"connection", b"keep-alive"), (b"x-pad", b" v "),
            (b"Content-Length", b"5")]})
        await send({"type": "http.response.body", "body": b"hello"})

    p = peer(app)
    r = p.get("/")
    assert r.status == 200 and r.body == b"hello"
    assert r.get(b"x-upper") == b"v" and r.get(b"x-pad") == b"v"
    assert r.get(b"connection") is None and r.get(b"content-length") == b"5"
    assert r.names[:3] == [b"x-upper", b"x-pad", b"content-length"]


@pytest.mark.parametrize("field", [(b"x-bad", b"a\r\nb"), (b"x bad", b"1"), (b"", b"1"),
                                   (b"te", b"gzip"), (b":path", b"/")])
def test_a_field_that_cannot_be_sent_is_the_apps_error(peer, field):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [field]})
        await send({"type": "http.response.body", "body": b"hello"})

    p = peer(app)
    r = p.get("/")
    assert r.status == 500 and r.get(b"x-bad") is None
    assert p.get("/").status == 500  # the connection goes on
    p.h.runtime.errors.clear()


def test_a_bad_trailer_from_the_app_resets_the_stream(peer):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": []})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-a", b"1\n2")]})

    p = peer(app)
    r = p.get("/")
    assert r.body == b"data" and r.reset == ErrorCodes.INTERNAL_ERROR and r.trailers is None
    assert p.terminated is None


def test_content_length_on_1xx_and_204_is_dropped(peer):
    async def app(scope, receive, send):
        await send({"type": "http.response.early_hint", "links": [b"</a.css>; rel=preload"]})
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    p = peer(app)
    r = p.get("/")
    assert r.status == 204 and r.get(b"content-length") is None
    assert r.informational == [[(b":status", b"103"), (b"link", b"</a.css>; rel=preload")]]
