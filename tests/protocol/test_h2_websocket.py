"""WebSocket over HTTP/2 (RFC 8441, extended CONNECT), bytes in and bytes out: h2's client is
the HTTP/2 endpoint and wsproto's frame codec runs over the stream's DATA (h2wsutil.py).
The WebSocket core and ASGI cycle are the HTTP/1.1 ones; only the handshake and the
transport (the stream) differ."""

from __future__ import annotations

import zlib
from typing import Any

import h2.connection
import h2.settings
import pytest
from h2.errors import ErrorCodes
from h2util import Gate, Peer, hello
from h2wsutil import H2WebSocket, connect_fields
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsutil import Recorder, echo_app

import fastcorn.protocol.websocket as websocket_core
from fastcorn.config import Config
from fastcorn.protocol.wsframe import read_frames


def texts(events: list[Any]) -> list[Any]:
    """The whole messages among ``events`` (wsproto gives a long one in parts)."""
    messages: list[Any] = []
    parts: list[Any] = []
    for e in events:
        if isinstance(e, Message):
            parts.append(e.data)
            if e.message_finished:
                messages.append(parts[0][:0].join(parts))
                parts = []
    return messages


def both(app: Any) -> Any:
    """``app`` for WebSocket scopes, hello for HTTP ones."""

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await app(scope, receive, send)
        else:
            await hello(scope, receive, send)

    return route


def test_extended_connect_is_advertised_only_with_websocket_on(peer: Any) -> None:
    assert peer(hello).client.remote_settings.enable_connect_protocol == 1
    off = peer(hello, config=Config(None, ws="none"))
    assert off.client.remote_settings.enable_connect_protocol == 0


def test_handshake_accepted_with_200_and_an_http2_scope(peer: Any) -> None:
    app = Recorder()
    p = peer(app)
    app.runtime = p.h.runtime
    ws = H2WebSocket(p, "/chat?room=1")
    r = ws.response
    assert r.status == 200 and not r.ended and r.reset is None
    # no HTTP/1.1 handshake fields, no content-length in a 2xx answer to CONNECT
    assert {b"sec-websocket-accept", b"upgrade", b"connection", b"content-length"}.isdisjoint(
        r.names)
    assert r.get(b"date") is not None  # the server's default fields
    scope = app.scope
    assert scope["type"] == "websocket" and scope["http_version"] == "2"
    assert scope["scheme"] == "ws" and scope["path"] == "/chat"
    assert scope["query_string"] == b"room=1" and scope["raw_path"] == b"/chat"
    assert (b"host", b"example.com") in scope["headers"]
    assert (b"sec-websocket-version", b"13") in scope["headers"]
    assert scope["subprotocols"] == [] and "websocket.http.response" in scope["extensions"]
    assert app.messages == [{"type": "websocket.connect"}]
    ws.send(TextMessage("hi"), BytesMessage(b"\x00\x01"))
    assert app.messages[1:] == [{"type": "websocket.receive", "text": "hi"},
                                {"type": "websocket.receive", "bytes": b"\x00\x01"}]


def test_text_and_binary_echo_through_the_compiled_lane(
        peer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lane_calls = []
    real = read_frames

    def counting(*args: Any) -> Any:
        lane_calls.append(args)
        return real(*args)

    monkeypatch.setattr(websocket_core, "read_frames", counting)
    p = peer(echo_app)
    ws = H2WebSocket(p)
    ws.send(TextMessage("héllo"), BytesMessage(b"\xff" * 300))
    assert texts(ws.events()) == ["héllo", b"\xff" * 300]
    assert lane_calls, "data frames on an HTTP/2 stream go through the compiled lane"
    for i in range(50):
        ws.send(TextMessage(f"m{i}"))
    assert texts(ws.events()) == [f"m{i}" for i in range(50)]


def test_subprotocol_is_negotiated(peer: Any) -> None:
    p = peer(echo_app)
    ws = H2WebSocket(p, subprotocols=["chat.v2", "chat.v1"])
    assert ws.response.status == 200
    assert ws.response.get(b"sec-websocket-protocol") == b"chat.v2"


def test_accept_headers_of_the_app_are_sent(peer: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept",
                    "headers": [(b"X-Extra", b"1"), (b"content-length", b"5")]})
        await receive()

    p = peer(app)
    ws = H2WebSocket(p)
    assert ws.response.status == 200 and ws.response.get(b"x-extra") == b"1"
    assert ws.response.get(b"content-length") is None


def test_permessage_deflate_is_negotiated_and_used(peer: Any) -> None:
    p = peer(echo_app)
    ws = H2WebSocket(p, deflate=True)
    agreed = ws.response.get(b"sec-websocket-extensions")
    assert agreed is not None and agreed.startswith(b"permessage-deflate")
    message = "compress me " * 200
    before = len(ws.response.body)
    ws.send(TextMessage(message))
    assert texts(ws.events()) == [message]
    frame = ws.response.body[before:]
    assert frame[0] & 0x40, "RSV1: the echo was compressed"
    assert len(frame) < len(message) // 4


def test_permessage_deflate_off(peer: Any) -> None:
    p = peer(echo_app, config=Config(None, ws_per_message_deflate=False))
    ws = H2WebSocket(p, deflate=True)
    assert ws.response.status == 200
    assert ws.response.get(b"sec-websocket-extensions") is None


def test_close_before_accept_is_a_403_and_the_connection_goes_on(peer: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close"})
        else:
            await hello(scope, receive, send)

    p = peer(app)
    ws = H2WebSocket(p)
    assert ws.response.status == 403 and ws.response.ended
    assert p.terminated is None
    assert p.get("/").body == b"hello"


def test_denial_response_is_the_apps_own(peer: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"x-denied", b"yes")]})
        await send({"type": "websocket.http.response.body", "body": b"go ",
                    "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"away"})

    p = peer(app)
    ws = H2WebSocket(p)
    r = ws.response
    assert (r.status, r.get(b"x-denied"), r.body, r.ended) == (401, b"yes", b"go away", True)
    assert r.get(b"connection") is None and r.get(b"transfer-encoding") is None


def test_app_error_before_accept_is_a_500(peer: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    p = peer(app)
    ws = H2WebSocket(p)
    assert ws.response.status == 500 and ws.response.ended
    p.h.runtime.errors.clear()  # the app's own error, logged; not a server fault


@pytest.mark.parametrize(("version", "status"), [(None, 400), (b"8", 400), (b"13, 8", 400)])
def test_a_bad_version_is_a_400_before_the_app(peer: Any, version: bytes | None,
                                                status: int) -> None:
    app = Recorder()
    p = peer(both(app))
    ws = H2WebSocket(p, version=version)
    assert ws.response.status == status and ws.response.ended
    assert ws.response.get(b"sec-websocket-version") == b"13"
    assert app.messages == []
    assert p.get("/").body == b"hello"


def test_an_unknown_protocol_is_a_501(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app))
    ws = H2WebSocket(p, protocol=b"connect-udp")
    assert ws.response.status == 501 and app.messages == []
    assert p.get("/").body == b"hello"


def test_ended_headers_are_a_400(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app))
    sid = p.client.get_next_available_stream_id()
    p.client.send_headers(sid, connect_fields(), end_stream=True)
    p.pump()
    assert p.responses[sid].status == 400 and app.messages == []
    assert p.get("/").body == b"hello"


@pytest.mark.parametrize("drop", [b":path", b":scheme"])
def test_extended_connect_without_path_or_scheme_is_a_stream_error(
        peer: Any, drop: bytes) -> None:
    app = Recorder()
    p = peer(both(app))
    p.client.config.validate_outbound_headers = False
    ws = H2WebSocket(p, fields=[f for f in connect_fields() if f[0] != drop])
    assert ws.response.reset == ErrorCodes.PROTOCOL_ERROR and app.messages == []
    assert p.terminated is None
    assert p.get("/").body == b"hello"


def test_hop_by_hop_fields_are_a_stream_error(peer: Any) -> None:
    p = peer(both(Recorder()))
    p.client.config.validate_outbound_headers = False
    p.client.config.normalize_outbound_headers = False
    ws = H2WebSocket(p, extra=[(b"upgrade", b"websocket")])
    assert ws.response.reset == ErrorCodes.PROTOCOL_ERROR
    assert p.get("/").body == b"hello"


def test_client_close_ends_the_stream_and_the_app_hears_its_code(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app))
    app.runtime = p.h.runtime
    ws = H2WebSocket(p)
    ws.send(CloseConnection(code=4001, reason="bye"))
    events = ws.events()
    assert [(e.code, e.reason) for e in events if isinstance(e, CloseConnection)] == [
        (4001, "bye")]
    assert ws.response.ended  # END_STREAM after the close frame
    assert app.messages[-1] == {"type": "websocket.disconnect", "code": 4001, "reason": "bye"}
    assert p.terminated is None
    assert p.get("/").body == b"hello"  # the connection carries on


def test_server_close_ends_the_stream_after_the_clients_answer(peer: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000, "reason": "done"})
        assert (await receive()) == {"type": "websocket.disconnect", "code": 4000,
                                     "reason": "done"}

    p = peer(both(app))
    ws = H2WebSocket(p)
    (close,) = [e for e in ws.events() if isinstance(e, CloseConnection)]
    assert (close.code, close.reason) == (4000, "done")
    assert not ws.response.ended  # the server waits for the client's close frame
    ws.send(close.response(), end=True)
    assert ws.response.ended
    assert p.get("/").body == b"hello"


def test_server_close_without_the_clients_end_stream_resets_it_with_no_error(
        peer: Any) -> None:
    p = peer(both(echo_app))
    ws = H2WebSocket(p)
    ws.send(CloseConnection(code=1000))
    assert ws.response.ended and ws.response.reset == ErrorCodes.NO_ERROR
    assert p.terminated is None and p.get("/").body == b"hello"


def test_client_end_stream_without_a_close_frame_is_1006(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app))
    app.runtime = p.h.runtime
    ws = H2WebSocket(p)
    ws.send_raw(b"", end=True)
    assert app.messages[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert ws.response.ended


def test_stream_reset_by_the_client_is_1006_to_the_app(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app))
    app.runtime = p.h.runtime
    ws = H2WebSocket(p)
    ws.send(TextMessage("before"))
    ws.reset()
    assert app.messages[-2:] == [{"type": "websocket.receive", "text": "before"},
                                 {"type": "websocket.disconnect", "code": 1006, "reason": ""}]
    assert p.terminated is None and p.get("/").body == b"hello"


def test_send_after_the_reset_raises_oserror(peer: Any) -> None:
    raised: list[BaseException] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        assert (await receive())["code"] == 1006
        try:
            await send({"type": "websocket.send", "text": "late"})
        except OSError as exc:
            raised.append(exc)

    p = peer(both(app))
    H2WebSocket(p).reset()
    assert len(raised) == 1


def test_two_websockets_and_a_request_on_one_connection(peer: Any) -> None:
    p = peer(both(echo_app))
    first, second = H2WebSocket(p, "/a"), H2WebSocket(p, "/b")
    assert first.sid != second.sid
    first.send(TextMessage("one"))
    second.send(BytesMessage(b"two"))
    assert p.get("/").body == b"hello"
    first.send(TextMessage("three"))
    assert texts(first.events()) == ["one", "three"]
    assert texts(second.events()) == [b"two"]
    first.send(CloseConnection(code=1000))
    assert first.response.ended
    second.send(TextMessage("still here"))
    assert texts(second.events()) == ["still here"]


def test_a_message_larger_than_both_windows_flows(peer: Any) -> None:
    # 3 MiB each way: past the server's 1 MiB stream window (it gives the window back as
    # the core reads) and the client's 64 KiB (the server waits for WINDOW_UPDATEs).
    p = peer(echo_app)
    assert p.client.local_settings.initial_window_size == 65535
    ws = H2WebSocket(p)
    big = bytes(range(256)) * (3 * 4096)
    data = ws.ws.send(BytesMessage(big))
    for i in range(0, len(data), 16384):
        p.client.send_data(ws.sid, data[i:i + 16384])
        ws.settle()
    assert texts(ws.events()) == [big]


def test_max_size_is_1009_on_http2(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app), config=Config(None, ws_max_size=1000))
    app.runtime = p.h.runtime
    ws = H2WebSocket(p)
    ws.send(BytesMessage(b"x" * 2000))
    (close,) = [e for e in ws.events() if isinstance(e, CloseConnection)]
    assert close.code == 1009
    assert app.messages[-1]["code"] == 1009
    assert ws.response.ended


def test_inflated_size_is_bounded_on_http2(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app), config=Config(None, ws_max_size=10_000))
    app.runtime = p.h.runtime
    ws = H2WebSocket(p, deflate=True)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = bomb.compress(b"\0" * 1_000_000) + bomb.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]  # RFC 7692 7.2.1
    header = bytes([0xC2, 0xFE]) + len(payload).to_bytes(2, "big") + b"\0\0\0\0"
    ws.send_raw(header + payload)  # masked with a zero key
    (close,) = [e for e in ws.events() if isinstance(e, CloseConnection)]
    assert close.code == 1009


def test_graceful_shutdown_closes_websockets_with_1001(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app))
    app.runtime = p.h.runtime
    ws = H2WebSocket(p)
    p.h.state.shutting_down = True
    p.h.protocol.shutdown()
    (close,) = [e for e in ws.events() if isinstance(e, CloseConnection)]
    assert close.code == 1001
    # h2's client stops sending at a GOAWAY; the server still reads the open streams
    p.client.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
    ws.send(close.response(), end=True)
    assert app.messages[-1]["code"] == 1001
    assert ws.response.ended
    # h2's client drops its PING ACK at the GOAWAY; the server goes on without it after
    # 2 s, and closes with its last stream gone
    p.advance(3)
    assert p.closed


def test_ping_interval_and_timeout_on_http2(peer: Any) -> None:
    p = peer(echo_app, config=Config(None, ws_ping_interval=5, ws_ping_timeout=5))
    ws = H2WebSocket(p)
    p.advance(6)
    events = ws.events()
    pings = [e for e in events if isinstance(e, Ping)]
    assert len(pings) == 1
    ws.send(pings[0].response())  # answered: no close
    p.advance(4)
    assert not [e for e in ws.events() if isinstance(e, CloseConnection)]
    p.advance(2)  # the next ping, never answered
    assert [e for e in ws.events() if isinstance(e, Ping)]
    p.advance(6)
    (close,) = [e for e in ws.events() if isinstance(e, CloseConnection)]
    assert close.code == 1011


def test_client_pings_are_answered(peer: Any) -> None:
    p = peer(echo_app)
    ws = H2WebSocket(p)
    ws.send(Ping(b"abc"))
    assert [e.payload for e in ws.events() if isinstance(e, Pong)] == [b"abc"]


def test_a_client_that_does_not_read_makes_send_wait(peer: Any) -> None:
    sent: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for i in range(200):
            await send({"type": "websocket.send", "bytes": b"x" * 16384})
            sent.append(i)

    p = peer(app, auto_ack=False)
    ws = H2WebSocket(p)
    assert ws.response.status == 200
    # 64 KiB of window, then 64 KiB queued: send() waits, nothing grows
    assert 4 <= len(sent) <= 10, len(sent)
    r = ws.response
    p.client.acknowledge_received_data(len(r.body), ws.sid)
    ws.settle()
    assert len(sent) > 4


def test_reading_pauses_while_the_app_does_not_read(peer: Any) -> None:
    app = Recorder(hold=True)
    p = peer(app)
    app.runtime = p.h.runtime
    ws = H2WebSocket(p)
    chunk = ws.ws.send(BytesMessage(b"y" * 16000))
    for _ in range(200):  # 3.2 MB offered; the server stops giving the window back
        if p.client.local_flow_control_window(ws.sid) < len(chunk):
            break
        p.client.send_data(ws.sid, chunk)
        ws.settle()
    window = p.client.local_flow_control_window(ws.sid)
    assert window < len(chunk), "the stream window was never withheld"
    app.release()
    ws.settle()
    assert p.client.local_flow_control_window(ws.sid) > window
    assert len([m for m in app.messages if m["type"] == "websocket.receive"]) >= 64


def test_limit_of_concurrent_streams_counts_websockets(peer: Any) -> None:
    p = peer(both(echo_app), config=Config(None, http2_max_concurrent_streams=2))
    H2WebSocket(p)
    H2WebSocket(p)
    # h2's client keeps to the server's limit itself: lift it to see the server's answer
    p.client.remote_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = 100
    p.client.remote_settings.acknowledge()
    third = H2WebSocket(p)
    assert third.response.reset == ErrorCodes.REFUSED_STREAM


def test_connection_loss_is_1006(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app))
    app.runtime = p.h.runtime
    H2WebSocket(p)
    p.h.disconnect()
    assert app.messages[-1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}


def test_shutdown_deadline_aborts_websockets(peer: Any) -> None:
    app = Recorder()
    p = peer(both(app))
    app.runtime = p.h.runtime
    ws = H2WebSocket(p)
    p.h.protocol.abort()
    ws.settle()
    assert ws.response.reset == ErrorCodes.CANCEL
    assert p.closed and p.h.state.running_apps == 0  # the app was cancelled


def test_a_client_setting_does_not_turn_it_on(peer: Any) -> None:
    # The client's own ENABLE_CONNECT_PROTOCOL says nothing about the server's.
    p = peer(hello, config=Config(None, ws="none"),
             client_settings={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
    p.client.config.validate_outbound_headers = False
    sid = p.client.get_next_available_stream_id()
    p.client.send_headers(sid, connect_fields(), end_stream=False)
    p.pump()
    assert p.responses[sid].reset == ErrorCodes.PROTOCOL_ERROR


_ = (Gate, Peer)
