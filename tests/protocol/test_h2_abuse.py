"""A hostile HTTP/2 client: every abuse h2 leaves unbounded is bounded by fastcorn.

Each test plays the attack at the frame level and checks the answer (GOAWAY
ENHANCE_YOUR_CALM, or a stream error) and the bound (no answers written for the flood,
no app started for a cancelled stream, buffering within the windows).
"""

from __future__ import annotations

from typing import Any

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from h2util import Gate, Peer, frames_of, hello
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from fastcorn.config import Config

CALM = ErrorCodes.ENHANCE_YOUR_CALM



def goaway_codes(data: bytes) -> list[int]:
    return [f.error_code for f in frames_of(data) if f.type == 0x7]


def flood(p: Peer, frame: Any, count: int) -> bytes:
    """Send ``count`` copies of ``frame`` in one read; returns what the server wrote."""
    p.pump()
    return p.h.feed(frame.serialize() * count)


# -- control-frame floods ---------------------------------------------------------------------


@pytest.mark.parametrize("frame", [
    PingFrame(0, b"12345678"),
    SettingsFrame(0),
    WindowUpdateFrame(0, window_increment=1),
    PriorityFrame(3, depends_on=0, stream_weight=16),
    RstStreamFrame(99, error_code=0),
], ids=["PING", "SETTINGS", "WINDOW_UPDATE", "PRIORITY", "RST_STREAM-closed"])
def test_control_frame_flood_gets_enhance_your_calm(peer, frame):
    p = peer(hello)
    out = flood(p, frame, 2000)
    assert goaway_codes(out) == [CALM]
    # Refused before h2 parsed any of it: not one answer (PING ACK, SETTINGS ACK) written.
    assert not [f for f in frames_of(out) if f.type in (0x4, 0x6)]
    assert p.closed


def test_unknown_frame_flood_gets_enhance_your_calm(peer):
    p = peer(hello)
    p.pump()
    unknown = b"\x00\x00\x01\x20\x00\x00\x00\x00\x00x"  # type 0x20, 1 byte, stream 0
    out = p.h.feed(unknown * 2000)
    assert goaway_codes(out) == [CALM]


def test_empty_data_flood_gets_enhance_your_calm(peer):
    gate = Gate()

    async def app(scope, receive, send):
        await gate.wait()

    p = peer(app)
    gate.runtime = p.h.runtime
    sid = p.request("POST", "/", end=False)
    out = flood(p, DataFrame(sid, b""), 2000)
    assert goaway_codes(out) == [CALM]


def test_a_flood_split_over_reads_is_counted_across_them(peer):
    p = peer(hello)
    p.pump()
    ping = PingFrame(0, b"12345678").serialize()
    data = ping * 1500
    out = b""
    for i in range(0, len(data), 1000):  # frame headers split across reads
        out += p.h.feed(data[i:i + 1000])
        if p.closed:
            break
    assert CALM in goaway_codes(out)


def test_the_budget_is_per_window_of_time(peer):
    p = peer(hello)
    p.pump()
    for _ in range(3):
        out = p.h.feed(PingFrame(0, b"12345678").serialize() * 800)
        assert goaway_codes(out) == []
        assert len([f for f in frames_of(out) if f.type == 0x6]) == 800  # each answered
        p.h.advance(11)
    assert not p.closed
    assert p.get("/").body == b"hello"


def test_window_updates_earned_by_a_large_download_are_not_a_flood(peer):
    """A client that acknowledges every DATA frame with two WINDOW_UPDATEs (stream and
    connection) sends far more than the base budget, and is within what it earned."""
    size = 16384 * 1500

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x" * size})

    p = peer(app, auto_ack=False,
             client_settings={SettingCodes.INITIAL_WINDOW_SIZE: 65535})
    p.pump()
    sid = p.request("GET", "/", pump=False)
    out = p.h.feed(p.client.data_to_send())
    received = 0
    for _ in range(3000):
        frames = [f for f in frames_of(out) if f.type == 0x0 and f.stream_id == sid]
        if not frames:
            break
        acks = b""
        for f in frames:
            received += len(f.data)
            acks += (WindowUpdateFrame(sid, window_increment=len(f.data)).serialize()
                     + WindowUpdateFrame(0, window_increment=len(f.data)).serialize())
        out = p.h.feed(acks)
        assert CALM not in goaway_codes(out)
    assert received == size
    assert not p.closed


# -- rapid reset (CVE-2023-44487) -------------------------------------------------------------


def test_rapid_reset_in_one_read_starts_no_app_and_gets_enhance_your_calm(peer):
    started: list[str] = []

    async def app(scope, receive, send):
        started.append(scope["path"])
        await hello(scope, receive, send)

    p = peer(app)
    p.pump()
    for _ in range(300):
        sid = p.client.get_next_available_stream_id()
        p.client.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"http"),
                                    (b":authority", b"x"), (b":path", b"/r")])
        p.client.reset_stream(sid, ErrorCodes.CANCEL)
    out = p.h.feed(p.client.data_to_send())
    assert started == []  # cancelled before the read was handled: never started
    assert goaway_codes(out) == [CALM]
    assert p.closed


def test_reset_streams_hold_their_place_until_their_app_is_cancelled(peer):
    """Streams reset one by one (each in its own read) start their apps; those keep their
    place against the stream limit until they return, and are cancelled at the sweep."""
    gate = Gate()
    cancelled: list[int] = []

    async def app(scope, receive, send):
        try:
            await gate.wait()
        except GeneratorExit:
            cancelled.append(1)
            raise

    p = peer(app, config=Config(None, http2_max_concurrent_streams=10,
                                http2_max_reset_streams=1000))
    gate.runtime = p.h.runtime
    p.pump()
    for _ in range(10):
        sid = p.request("GET", "/", pump=True)
        p.client.reset_stream(sid, ErrorCodes.CANCEL)
        p.pump()
    sid = p.request("GET", "/over")
    assert p.responses[sid].reset == ErrorCodes.REFUSED_STREAM
    assert cancelled == []
    p.advance(1)
    p.advance(1)
    assert len(cancelled) == 10
    gate.waiters.clear()
    sid = p.request("GET", "/again")
    assert p.responses.get(sid) is None or p.responses[sid].reset is None  # accepted


# -- streams above the limit ------------------------------------------------------------------


def test_streams_above_the_limit_are_refused(peer):
    gate = Gate()

    async def app(scope, receive, send):
        await gate.wait()
        await hello(scope, receive, send)

    p = peer(app, config=Config(None, http2_max_concurrent_streams=2), preface=False)
    gate.runtime = p.h.runtime
    # Sent before the server's SETTINGS reached the client (it assumes no limit yet).
    p.client.initiate_connection()
    sids = [p.request("GET", f"/{i}", pump=False) for i in range(4)]
    p.receive(p.h.feed(p.client.data_to_send()))
    p.pump()
    assert [p.responses.get(s).reset if s in p.responses else None for s in sids] == [
        None, None, ErrorCodes.REFUSED_STREAM, ErrorCodes.REFUSED_STREAM]
    gate.open(p)
    assert [p.responses[s].body for s in sids[:2]] == [b"hello", b"hello"]
    assert not p.closed


def test_far_too_many_streams_in_one_read_end_the_connection(peer):
    gate = Gate()

    async def app(scope, receive, send):
        await gate.wait()

    p = peer(app, config=Config(None, http2_max_concurrent_streams=2), preface=False)
    gate.runtime = p.h.runtime
    p.client.initiate_connection()
    for i in range(300):
        p.request("GET", f"/{i}", pump=False)
    out = p.h.feed(p.client.data_to_send())
    assert goaway_codes(out) and p.closed


# -- header blocks ----------------------------------------------------------------------------


def test_continuation_flood_ends_the_connection(peer):
    p = peer(hello)
    p.pump()
    frames = [HeadersFrame(1, b"\x82", flags=[])]  # :method GET, no END_HEADERS
    frames += [ContinuationFrame(1, b"\x84") for _ in range(200)]
    out = p.h.feed(b"".join(f.serialize() for f in frames))
    assert goaway_codes(out) and p.closed


def test_hpack_bomb_is_stopped_at_the_header_list_limit(peer):
    p = peer(hello, limit_request_head=8192)
    p.pump()
    big = [(b"x-big", b"a" * 4000)] * 100  # indexed after the first: tiny on the wire
    sid = p.client.get_next_available_stream_id()
    p.client.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"http"),
                                (b":authority", b"x"), (b":path", b"/"), *big])
    wire = p.client.data_to_send()
    assert len(wire) < 8192
    out = p.h.feed(wire)
    assert goaway_codes(out) == [CALM]


def test_header_list_within_the_limit_is_served(peer):
    seen: list[Any] = []

    async def app(scope, receive, send):
        seen.append(scope)
        await hello(scope, receive, send)

    p = peer(app, limit_request_head=8192)
    p.get("/", headers=[(b"x-a", b"b" * 4000)])
    assert seen and not p.closed


# -- a client that does not read --------------------------------------------------------------


def test_a_client_that_does_not_read_pauses_reading_and_the_apps(peer):
    progress: list[int] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(5):
            await send({"type": "http.response.body", "body": b"x" * 1000, "more_body": True})
            progress.append(i)
        await send({"type": "http.response.body", "body": b""})

    p = peer(app)
    p.pump()
    core = p.h.protocol
    core.pause_writing()  # the transport's buffer is full: the client is not reading
    assert p.h.transport.reading_paused
    sid = p.request("GET", "/")
    assert progress == []  # its first body was taken, and its send() waits
    core.resume_writing()
    p.h.runtime.run_ready()
    p.receive(p.h.take())
    p.pump()
    assert not p.h.transport.reading_paused
    assert progress == [0, 1, 2, 3, 4]
    assert p.responses[sid].ended and len(p.responses[sid].body) == 5000


def test_a_client_that_never_reads_is_cut_at_the_write_timeout(peer):
    p = peer(hello, timeout_write=5)
    p.pump()
    p.h.protocol.pause_writing()
    p.h.advance(3)
    assert not p.h.transport.aborted
    p.h.advance(3)
    assert p.h.transport.aborted


def test_a_client_that_never_opens_its_window_gets_no_more_than_the_window(peer):
    progress: list[int] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(100):
            await send({"type": "http.response.body", "body": b"x" * 10000, "more_body": True})
            progress.append(i)
        await send({"type": "http.response.body", "body": b""})

    p = peer(app, auto_ack=False)
    p.pump()
    sid = p.request("GET", "/")
    assert len(p.responses[sid].body) == 65535  # the client's default window
    assert len(progress) <= 7  # the app waits: what it sent beyond the window is one body
    assert p.h.protocol.h2.local_flow_control_window(sid) == 0


# -- the lingering close after a GOAWAY ---------------------------------------------------------

PING = PingFrame(0, b"12345678")


def test_a_cut_flood_is_read_and_dropped_until_the_clients_eof(peer):
    """Closing on unread input would reset the connection, and the GOAWAY with it."""
    p = peer(hello)
    assert goaway_codes(flood(p, PING, 2000)) == [CALM]
    t = p.h.transport
    assert t.eof_written and not t.closed and not t.reading_paused
    for _ in range(10):
        assert p.h.feed(PING.serialize() * 4000) == b""  # dropped: no PING ACK, no error
    assert not t.closed and p.h.state.connections == {p.h.protocol}
    p.h.feed_eof()
    assert t.closed and p.h.state.connections == set()


def test_a_lingering_close_is_bounded_in_time(peer):
    p = peer(hello)
    flood(p, PING, 2000)
    p.h.feed(b"more of the flood")
    p.h.advance(4)
    assert not p.h.transport.closed
    p.h.advance(2)
    # Aborted, not closed: a transport's close() would wait for what it still buffers, for
    # ever if the client reads nothing.
    assert p.h.transport.closed and p.h.transport.aborted


def test_a_lingering_close_is_bounded_in_size(peer):
    p = peer(hello)
    flood(p, PING, 2000)
    for _ in range(70):
        if p.h.transport.closed:
            break
        p.h.feed(b"\x00" * (1024 * 1024))
    assert p.h.transport.closed and p.h.transport.aborted


def test_an_app_sees_the_disconnect_when_the_lingering_starts(peer):
    seen: list[str] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect":
                return

    p = peer(app)
    p.request("POST", "/", end=False)
    assert goaway_codes(flood(p, PING, 2000)) == [CALM]
    assert not p.h.transport.closed
    assert seen[-1:] == ["http.disconnect"]
    p.h.feed_eof()


def test_a_transport_that_cannot_half_close_still_lingers(peer):
    """TLS on asyncio: no write_eof. Input is still drained until the client's EOF."""
    p = peer(hello)
    p.h.transport.can_write_eof = lambda: False  # type: ignore[method-assign]
    assert goaway_codes(flood(p, PING, 2000)) == [CALM]
    t = p.h.transport
    assert not t.eof_written and not t.closed
    assert p.h.feed(PING.serialize() * 4000) == b""
    p.h.feed_eof()
    assert t.closed


def test_shutdown_leaves_a_lingering_connection_and_its_deadline_closes_it(peer):
    p = peer(hello)
    flood(p, PING, 2000)
    p.h.protocol.shutdown()  # nothing more is written after the half-close
    assert p.h.take() == b"" and not p.h.transport.closed
    p.h.protocol.abort()
    assert p.h.transport.closed and p.h.transport.aborted
