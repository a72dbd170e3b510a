"""HTTP/2 at the frame level: fastcorn's core against the h2 package's client, no sockets.

Negotiation (prior knowledge, a bad preface, h2c upgrade), the ASGI semantics on a
stream (scope, bodies, errors, resets, 204/304/HEAD), flow control both ways, the
write-per-turn rule, the extensions (trailers, early hints, push) and shutdown.
"""

from __future__ import annotations

import base64
from typing import Any

import h2.config
import h2.connection
import h2.events as ev
import pytest
from h2.errors import ErrorCodes
from h2util import (
    PREFACE,
    CountingTransportWrites,
    Gate,
    Peer,
    frames_of,
    hello,
    scope_app,
)
from hyperframe.frame import DataFrame, PingFrame, SettingsFrame

from fastcorn.config import Config
from fastcorn.protocol.h2 import H2Connection, h2c_upgrade
from fastcorn.testing import Harness


def start(status: int = 200, headers: Any = (), **extra: Any) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers), **extra}


def body(data: bytes = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


# -- negotiation ------------------------------------------------------------------------------


def test_prior_knowledge_request_gets_a_response(peer):
    p = peer(hello)
    r = p.get("/")
    assert (r.status, r.body, r.ended) == (200, b"hello", True)
    assert r.get(b"content-length") == b"5"
    assert r.get(b"date") is not None
    assert not p.closed


def test_server_preface_advertises_the_settings():
    p = Peer(hello, config=Config(None, http2_max_concurrent_streams=7,
                                  http2_stream_window=300_000,
                                  http2_connection_window=2_000_000),
             limit_request_head=12345)
    p.pump()
    remote = p.client.remote_settings
    assert remote.max_concurrent_streams == 7
    assert remote.initial_window_size == 300_000
    assert remote.max_header_list_size == 12345
    assert remote.enable_push == 0
    assert p.client.outbound_flow_control_window == 2_000_000


@pytest.mark.parametrize("preface", [
    b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
    b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n",
    b"PRI / HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"x" * 20,
])
def test_a_bad_preface_gets_goaway_protocol_error(preface):
    h = Harness(hello, factory=lambda state: lambda: H2Connection(state, Config(None)))
    h.take()
    out = h.feed(preface)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    events = client.receive_data(out)
    terminated = [e for e in events if isinstance(e, ev.ConnectionTerminated)]
    assert terminated and terminated[0].error_code == ErrorCodes.PROTOCOL_ERROR
    assert h.transport.eof_written and not h.transport.closed  # lingering (close_transport)


def test_a_preface_split_across_reads_is_accepted(peer):
    p = peer(hello, preface=False)
    p.client.initiate_connection()
    data = p.client.data_to_send()
    for i in range(0, len(data), 5):
        p.receive(p.h.feed(data[i:i + 5]))
    assert p.get("/").body == b"hello"


def upgrade_scope(headers: list[tuple[bytes, bytes]], method: str = "GET",
                  scheme: str = "http") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1", "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000), "scheme": scheme, "method": method,
            "root_path": "", "path": "/up", "raw_path": b"/up", "query_string": b"q=1",
            "headers": headers, "state": {}, "extensions": {}}


def settings_header(**values: int) -> bytes:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    return client.initiate_upgrade_connection()


@pytest.mark.parametrize("with_body", [False, True])
def test_h2c_upgrade_answers_the_request_on_stream_1(with_body):
    seen: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        seen.append(scope)
        message = await receive()
        await send(start(200))
        await send(body(b"got:" + message["body"]))

    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None))
    token = client.initiate_upgrade_connection()
    client.data_to_send()  # the preface goes after the 101
    headers = [(b"host", b"example.com"), (b"connection", b"Upgrade, HTTP2-Settings"),
               (b"upgrade", b"h2c"), (b"http2-settings", token), (b"x-a", b"1")]
    cores: list[Any] = []

    def factory(state):
        def make():
            handler = h2c_upgrade(state, Config(None))
            core = handler(upgrade_scope(headers, "POST" if with_body else "GET"),
                           b"payload" if with_body else b"")
            assert core is not None
            cores.append(core)
            return core
        return make

    h = Harness(app, factory=factory)
    out = h.take()
    h.runtime.run_ready()
    out += h.take()
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    head, _, frames = out.partition(b"\r\n\r\n")
    assert b"upgrade: h2c" in head.lower()
    client.initiate_connection()
    h.feed(client.data_to_send())
    events = client.receive_data(frames + h.take())
    h.runtime.run_ready()
    events += client.receive_data(h.take())
    response = [e for e in events if isinstance(e, ev.ResponseReceived)]
    data = b"".join(e.data for e in events if isinstance(e, ev.DataReceived))
    assert response and response[0].stream_id == 1
    assert data == (b"got:payload" if with_body else b"got:")
    scope = seen[0]
    assert scope["http_version"] == "2"
    names = [n for n, _ in scope["headers"]]
    assert b"connection" not in names and b"http2-settings" not in names
    assert b"upgrade" not in names and (b"x-a", b"1") in scope["headers"]
    h.disconnect()


@pytest.mark.parametrize("headers, scheme", [
    ([(b"connection", b"Upgrade"), (b"upgrade", b"h2c")], "http"),  # no HTTP2-Settings
    ([(b"connection", b"Upgrade"), (b"upgrade", b"h2c"), (b"http2-settings", b"AAMAAABk")],
     "http"),  # HTTP2-Settings not named in Connection
    ([(b"connection", b"Upgrade, HTTP2-Settings"), (b"upgrade", b"h2c"),
      (b"http2-settings", b"AAMAAABk"), (b"http2-settings", b"AAMAAABk")], "http"),
    ([(b"connection", b"Upgrade, HTTP2-Settings"), (b"upgrade", b"h2c"),
      (b"http2-settings", b"%%%")], "http"),  # not base64url
    ([(b"connection", b"Upgrade, HTTP2-Settings"), (b"upgrade", b"h2c"),
      (b"http2-settings", base64.urlsafe_b64encode(b"\x00\x02\x00\x00\x00\x05"))],
     "http"),  # ENABLE_PUSH = 5
    ([(b"connection", b"Upgrade, HTTP2-Settings"), (b"upgrade", b"h2c"),
      (b"http2-settings", b"AAMAAABk")], "https"),  # h2c is cleartext only
])
def test_h2c_upgrade_declined_serves_http11(headers, scheme):
    from fastcorn.asgi.cycle import ServerState
    from fastcorn.testing import ManualRuntime

    handler = h2c_upgrade(ServerState(hello, ManualRuntime()), Config(None))
    assert handler(upgrade_scope(headers, scheme=scheme), b"") is None


def test_h2c_upgrade_accepts_a_valid_settings_header():
    from fastcorn.asgi.cycle import ServerState
    from fastcorn.testing import ManualRuntime

    handler = h2c_upgrade(ServerState(hello, ManualRuntime()), Config(None))
    headers = [(b"connection", b"upgrade, http2-settings"), (b"upgrade", b"h2c"),
               (b"http2-settings", settings_header())]
    assert isinstance(handler(upgrade_scope(headers), b""), H2Connection)


# -- the scope --------------------------------------------------------------------------------


def test_scope_of_a_stream(peer):
    seen: list[dict[str, Any]] = []
    p = peer(scope_app(seen))
    p.request("GET", "/a%20b/c?x=1&y=%20#frag", headers=[
        (b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"x-custom", b"v")])
    scope = seen[0]
    assert scope["http_version"] == "2"
    assert scope["method"] == "GET"
    assert scope["path"] == "/a b/c" and scope["raw_path"] == b"/a%20b/c"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["scheme"] == "http"
    assert scope["client"] == ("127.0.0.1", 50000) and scope["server"] == ("127.0.0.1", 8000)
    headers = scope["headers"]
    assert all(not name.startswith(b":") for name, _ in headers)
    assert headers[0] == (b"host", b"example.com")  # :authority, as the request had no host
    assert (b"cookie", b"a=1; b=2") in [tuple(h) for h in headers]
    assert (b"x-custom", b"v") in [tuple(h) for h in headers]
    ext = scope["extensions"]
    assert "http.response.trailers" in ext and "http.response.early_hint" in ext
    assert "http.response.push" in ext  # the h2 client allows push (the RFC default)


def test_host_header_is_not_doubled(peer):
    seen: list[dict[str, Any]] = []
    p = peer(scope_app(seen))
    p.request("GET", "/", headers=[(b"host", b"example.com")])
    hosts = [v for n, v in seen[0]["headers"] if n == b"host"]
    assert hosts == [b"example.com"]


def test_push_is_advertised_only_when_the_client_allows_it(peer):
    seen: list[dict[str, Any]] = []
    allowing = peer(scope_app(seen))
    allowing.pump()
    allowing.request("GET", "/")
    refusing = peer(scope_app(seen), client_settings={h2.settings.SettingCodes.ENABLE_PUSH: 0})
    refusing.pump()
    refusing.request("GET", "/")
    assert "http.response.push" in seen[0]["extensions"]
    assert "http.response.push" not in seen[1]["extensions"]


def test_protocol_pseudo_header_without_extended_connect_is_a_stream_error(peer):
    # Extended CONNECT is advertised only with WebSocket on (tests/protocol/test_h2_websocket.py)
    p = peer(hello, config=Config(None, ws="none"))
    assert p.client.remote_settings.enable_connect_protocol == 0
    sid = p.request("CONNECT", "/chat", headers=[(b":protocol", b"websocket")], end=False)
    assert p.responses[sid].reset == ErrorCodes.PROTOCOL_ERROR
    assert p.get("/").body == b"hello"  # the connection carries on


# -- bodies -----------------------------------------------------------------------------------


def test_request_body_streams_to_the_app(peer):
    chunks: list[tuple[bytes, bool]] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            chunks.append((message["body"], message["more_body"]))
            if not message["more_body"]:
                break
        await send(start(200))
        await send(body(b"".join(c for c, _ in chunks)))

    p = peer(app)
    sid = p.request("POST", "/", body=b"abc", end=False)
    p.client.send_data(sid, b"def", end_stream=True)
    p.pump()
    assert p.responses[sid].body == b"abcdef"
    assert chunks[-1][1] is False


def test_small_frames_reach_the_app_as_one_chunk(peer):
    """DATA frames that arrive while the app has body unread are joined, not kept as one
    object per frame (a client of 1-byte frames cannot make 60x its window in objects)."""
    cycles: list[Any] = []
    gate = Gate()

    async def app(scope, receive, send):
        cycles.append(receive.__self__)
        await receive()  # the first chunk
        await gate.wait()
        message = await receive()
        await send(start(200))
        await send(body(message["body"]))

    p = peer(app)
    gate.runtime = p.h.runtime
    sid = p.request("POST", "/", body=b"x", end=False)
    for _ in range(100):
        p.client.send_data(sid, b"y")
    p.client.end_stream(sid)
    p.pump()
    cycle = cycles[0]
    assert cycle.body_buffered < 400  # two chunks (one fed, one held), not 100
    gate.open(p)
    assert p.responses[sid].body == b"y" * 100


def test_upload_to_a_slow_app_is_bounded_by_the_stream_window(peer):
    """No WINDOW_UPDATE for the stream until the app reads: the client can send at most
    one window; as the app reads, the window comes back."""
    gate = Gate()
    received: list[int] = []

    async def app(scope, receive, send):
        await gate.wait()
        while True:
            message = await receive()
            received.append(len(message["body"]))
            if not message["more_body"]:
                break
        await send(start(200))
        await send(body(str(sum(received)).encode()))

    window = 100_000
    p = peer(app, config=Config(None, http2_stream_window=window,
                                http2_connection_window=4 * window))
    gate.runtime = p.h.runtime
    p.pump()
    sid = p.request("POST", "/", end=False)
    total = 1_000_000
    sent = 0
    while sent < total:
        room = min(p.client.local_flow_control_window(sid), 16384, total - sent)
        if room == 0:
            break
        p.client.send_data(sid, b"x" * room)
        sent += room
        p.pump()
    assert sent <= window  # blocked by the stream window: the app has read nothing
    gate.open(p)
    while sent < total:
        room = min(p.client.local_flow_control_window(sid), 16384, total - sent)
        assert room > 0, "the app read, but no WINDOW_UPDATE came back"
        p.client.send_data(sid, b"x" * room)
        sent += room
        p.pump()
    p.client.end_stream(sid)
    p.pump()
    assert p.responses[sid].body == str(total).encode()


def test_response_waits_for_window_and_resumes_on_window_update(peer):
    progress: list[str] = []

    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"a" * 3000, more=True))
        progress.append("first sent")
        await send(body(b"b" * 3000, more=True))
        progress.append("second sent")
        await send(body(b"c" * 10))

    p = peer(app, auto_ack=False,
             client_settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    p.pump()
    sid = p.request("GET", "/")
    r = p.responses[sid]
    assert len(r.body) == 1000 and progress == []  # send() waits: the window is spent
    p.client.acknowledge_received_data(1000, sid)
    p.client.increment_flow_control_window(10_000, stream_id=sid)
    p.pump()
    assert len(r.body) == 6010 and r.ended
    assert progress == ["first sent", "second sent"]


def test_large_response_is_framed_within_the_max_frame_size(peer):
    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"z" * 200_000))

    p = peer(app)
    frames: list[int] = []
    sid = p.request("GET", "/", pump=False)
    p.pump()
    sizes = [len(e.data) for e in p.events if isinstance(e, ev.DataReceived)]
    frames.extend(sizes)
    assert p.responses[sid].body == b"z" * 200_000
    assert max(frames) <= 16384


# -- one write per read or turn ---------------------------------------------------------------


def test_many_streams_in_one_read_are_answered_in_one_write(peer):
    p = peer(hello)
    p.pump()
    counter = CountingTransportWrites(p.h)
    sids = [p.request("GET", f"/{i}", pump=False) for i in range(10)]
    p.receive(p.h.feed(p.client.data_to_send()))
    assert all(p.responses[s].body == b"hello" for s in sids)
    assert counter.count <= 2  # the read's own (settings ack) and the apps' turn


# -- status codes without a body --------------------------------------------------------------


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_send_no_body_and_no_content_length(peer, status):
    async def app(scope, receive, send):
        await send(start(status, [(b"content-length", b"5"), (b"etag", b"x")]))
        await send(body(b"hello"))

    p = peer(app)
    r = p.get("/")
    assert r.status == status and r.body == b"" and r.ended
    assert r.get(b"content-length") is None


def test_head_keeps_the_content_length_and_sends_no_body(peer):
    async def app(scope, receive, send):
        await send(start(200, [(b"content-length", b"5")]))
        await send(body(b"hello"))

    p = peer(app)
    sid = p.request("HEAD", "/")
    r = p.responses[sid]
    assert r.status == 200 and r.body == b"" and r.ended
    assert r.get(b"content-length") == b"5"


# -- errors and resets ------------------------------------------------------------------------


def test_app_error_before_the_response_is_a_500_and_other_streams_carry_on(peer):
    async def app(scope, receive, send):
        if scope["path"] == "/boom":
            raise ValueError("boom")
        await hello(scope, receive, send)

    p = peer(app)
    r = p.get("/boom")
    assert r.status == 500 and r.ended
    assert b"connection" not in r.names and b"transfer-encoding" not in r.names
    assert p.get("/ok").body == b"hello"
    assert not p.closed


def test_app_error_after_the_response_started_resets_the_stream(peer):
    async def app(scope, receive, send):
        if scope["path"] == "/boom":
            await send(start(200))
            await send(body(b"partial", more=True))
            raise ValueError("boom")
        await hello(scope, receive, send)

    p = peer(app)
    sid = p.request("GET", "/boom")
    assert p.responses[sid].reset == ErrorCodes.INTERNAL_ERROR
    assert p.get("/ok").body == b"hello"
    assert not p.closed


def test_app_returning_without_a_response_is_a_500(peer):
    async def app(scope, receive, send):
        pass

    p = peer(app)
    assert p.get("/").status == 500


def test_content_length_mismatch_resets_the_stream(peer):
    async def app(scope, receive, send):
        await send(start(200, [(b"content-length", b"3")]))
        await send(body(b"ab", more=True))
        await send(body(b"cd"))

    p = peer(app)
    sid = p.request("GET", "/")
    assert p.responses[sid].reset == ErrorCodes.INTERNAL_ERROR
    assert p.get("/").status is not None


def test_client_reset_reaches_the_app_as_disconnect_and_send_raises(peer):
    log: list[Any] = []

    async def app(scope, receive, send):
        await send(start(200))
        await send(body(b"first", more=True))
        message = await receive()
        log.append(message["type"])  # the body (empty, complete)
        message = await receive()
        log.append(message["type"])
        try:
            await send(body(b"more", more=True))
        except OSError as exc:
            log.append(type(exc).__name__)

    p = peer(app)
    sid = p.request("GET", "/")
    p.client.reset_stream(sid, ErrorCodes.CANCEL)
    p.pump()
    assert log == ["http.request", "http.disconnect", "ClientDisconnected"]
    assert p.get("/next").status == 200


def test_late_frames_for_a_closed_stream_do_not_break_the_connection(peer):
    p = peer(hello)
    sid = p.request("GET", "/")
    assert p.responses[sid].ended
    p.raw(DataFrame(sid, b"late", flags=["END_STREAM"]))
    p.raw(DataFrame(sid, b"late again"))
    assert p.terminated is None
    assert p.get("/after").body == b"hello"


def test_request_body_after_the_response_is_dropped_and_the_stream_stopped(peer):
    p = peer(hello)
    sid = p.request("POST", "/", body=b"part", end=False)
    r = p.responses[sid]
    assert r.body == b"hello" and r.ended
    assert r.reset == ErrorCodes.NO_ERROR  # RFC 9113 8.1: stop sending, we answered
    assert p.get("/").body == b"hello"


def test_limit_concurrency_answers_503_per_stream(peer):
    gate = Gate()

    async def app(scope, receive, send):
        if scope["path"] == "/hold":
            await gate.wait()
        await hello(scope, receive, send)

    p = peer(app, limit_concurrency=1)
    gate.runtime = p.h.runtime
    held = p.request("GET", "/hold")
    r = p.get("/other")
    assert r.status == 503 and r.ended
    gate.open(p)
    assert p.responses[held].body == b"hello"
    assert p.get("/again").status == 200


# -- extensions -------------------------------------------------------------------------------


def test_trailers(peer):
    async def app(scope, receive, send):
        assert "http.response.trailers" in scope["extensions"]
        await send(start(200, [(b"trailer", b"x-checksum")], trailers=True))
        await send(body(b"data", more=True))
        await send(body(b"!"))
        await send({"type": "http.response.trailers",
                    "headers": [(b"x-checksum", b"abc")], "more_trailers": False})

    p = peer(app)
    r = p.get("/")
    assert r.body == b"data!" and r.ended
    assert r.trailers == [(b"x-checksum", b"abc")]


def test_trailers_without_a_body(peer):
    async def app(scope, receive, send):
        await send(start(200, trailers=True))
        await send(body(b""))
        await send({"type": "http.response.trailers", "headers": [(b"x-a", b"1")],
                    "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"x-b", b"2")]})

    p = peer(app)
    r = p.get("/")
    assert r.trailers == [(b"x-a", b"1"), (b"x-b", b"2")] and r.ended


def test_early_hints(peer):
    async def app(scope, receive, send):
        assert "http.response.early_hint" in scope["extensions"]
        await send({"type": "http.response.early_hint",
                    "links": [b"</style.css>; rel=preload; as=style"]})
        await hello(scope, receive, send)

    p = peer(app)
    r = p.get("/")
    assert r.informational == [[(b":status", b"103"),
                                (b"link", b"</style.css>; rel=preload; as=style")]]
    assert r.status == 200 and r.body == b"hello"


def test_server_push(peer):
    seen: list[str] = []

    async def app(scope, receive, send):
        seen.append(scope["path"])
        if scope["path"] == "/":
            await send({"type": "http.response.push", "path": "/style.css",
                        "headers": [(b"accept", b"text/css")]})
            await send(start(200))
            await send(body(b"page"))
        else:
            await send(start(200, [(b"content-type", b"text/css")]))
            await send(body(b"css"))

    p = peer(app)
    p.pump()
    r = p.get("/")
    assert r.body == b"page"
    assert len(p.pushed) == 1
    promised = p.pushed[0].pushed_stream_id
    assert dict(p.pushed[0].headers)[b":path"] == b"/style.css"
    assert p.responses[promised].body == b"css"
    assert seen == ["/", "/style.css"]


# -- shutdown and timeouts --------------------------------------------------------------------


def goaways(data: bytes) -> list[tuple[int, int]]:
    """(last_stream_id, error_code) of each GOAWAY in the server's bytes."""
    return [(f.last_stream_id, f.error_code) for f in frames_of(data) if f.type == 0x7]


def test_graceful_shutdown_is_two_goaways_and_in_flight_streams_finish(peer):
    gate = Gate()

    async def app(scope, receive, send):
        await gate.wait()
        await hello(scope, receive, send)

    p = peer(app)
    gate.runtime = p.h.runtime
    sid = p.request("GET", "/")
    p.h.protocol.shutdown()
    first = p.h.take()
    assert goaways(first) == [(2**31 - 1, 0)]
    pings = [f for f in frames_of(first) if f.type == 0x6]
    assert len(pings) == 1
    # (the h2 client stops at a GOAWAY: the rest is spoken in frames)
    final = p.h.feed(PingFrame(0, pings[0].opaque_data, flags=["ACK"]).serialize())
    assert goaways(final) == [(sid, 0)]
    assert not p.closed  # the stream in flight is still served
    for waiter in gate.waiters:
        waiter.set_result(None)
    p.h.runtime.run_ready()
    frames = frames_of(p.h.take())
    assert [f.type for f in frames] == [0x1, 0x0]  # its HEADERS and DATA
    assert frames[1].data == b"hello" and "END_STREAM" in frames[1].flags
    assert p.closed


def test_graceful_shutdown_without_a_ping_ack_still_sends_the_final_goaway(peer):
    p = peer(hello)
    p.get("/")
    p.h.protocol.shutdown()
    out = p.h.take()
    assert goaways(out) == [(2**31 - 1, 0)]
    out = p.h.advance(3)
    assert goaways(out) == [(1, 0)]
    assert p.closed


def test_idle_connection_is_closed_after_the_keep_alive_timeout(peer):
    p = peer(hello, timeout_keep_alive=5)
    p.get("/")
    assert not p.closed
    p.h.advance(3)
    assert not p.closed
    out = p.h.advance(3)
    assert goaways(out) == [(1, 0)]
    assert p.closed


def test_abort_answers_503_and_cancels_the_apps(peer):
    cancelled: list[bool] = []
    gate = Gate()

    async def app(scope, receive, send):
        try:
            await gate.wait()
        except GeneratorExit:
            cancelled.append(True)
            raise

    p = peer(app)
    gate.runtime = p.h.runtime
    sid = p.request("GET", "/")
    p.h.protocol.abort()
    p.receive(p.h.take())
    assert p.responses[sid].status == 503
    assert cancelled == [True]
    assert p.closed


def test_settings_frame_from_the_wire_is_acknowledged(peer):
    p = peer(hello)
    p.pump()
    events = p.raw(SettingsFrame(0, settings={4: 70000}))
    assert any(isinstance(e, ev.SettingsAcknowledged) for e in events)
    assert PREFACE  # the helper's constant is what the client sent first
