"""The WebSocket core and the ASGI WebSocket cycle, bytes in and bytes out, with wsproto's
client as the other endpoint (see wsutil.py)."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsutil import Recorder, WSPair, echo_app

from fastcorn.asgi.cycle import ClientDisconnected

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def raw_request(*, method: str = "GET", version: str = "1.1", key: bytes | None = KEY,
                ws_version: bytes | None = b"13", connection: bytes = b"Upgrade",
                extra: bytes = b"", body: bytes = b"") -> bytes:
    lines = [f"{method} /ws HTTP/{version}".encode(), b"Host: localhost",
             b"Upgrade: websocket", b"Connection: " + connection]
    if key is not None:
        lines.append(b"Sec-WebSocket-Key: " + key)
    if ws_version is not None:
        lines.append(b"Sec-WebSocket-Version: " + ws_version)
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n" + body


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True,
          length: int | None = None) -> bytes:
    """A client frame built by hand (for what wsproto's client refuses to send)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_code(events: list[Any]) -> int | None:
    closes = [e for e in events if isinstance(e, CloseConnection)]
    return closes[0].code if closes else None


# -- handshake and echo -------------------------------------------------------------------


def test_echo_text_and_bytes_and_the_scope() -> None:
    app = Recorder()
    pair = WSPair(app, target="/chat%20room?x=1", subprotocols=["v1", "v2"])
    assert isinstance(pair.events()[0], AcceptConnection)
    scope = app.scope
    assert scope["type"] == "websocket" and scope["scheme"] == "ws"
    assert scope["path"] == "/chat room" and scope["raw_path"] == b"/chat%20room"
    assert scope["query_string"] == b"x=1" and scope["http_version"] == "1.1"
    assert scope["subprotocols"] == ["v1", "v2"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert "method" not in scope
    assert scope["client"] == ("127.0.0.1", 50000) and scope["server"] == ("127.0.0.1", 8000)
    pair.send(TextMessage(data="héllo"), BytesMessage(data=b"\x00\xff"))
    assert app.messages[1:] == [{"type": "websocket.receive", "text": "héllo"},
                                {"type": "websocket.receive", "bytes": b"\x00\xff"}]
    pair.send(CloseConnection(code=4001, reason="done"))
    assert app.messages[-1] == {"type": "websocket.disconnect", "code": 4001, "reason": "done"}
    assert close_code(pair.events()) == 4001  # echoed, then the server closes TCP
    assert pair.closed
    pair.assert_clean()


def test_echo_app_round_trip_fragmented_and_many() -> None:
    pair = WSPair(echo_app)
    pair.events()
    pair.send(TextMessage(data="ab", message_finished=False), Ping(b"p"),
              TextMessage(data="cd", message_finished=True))
    events = pair.events()
    assert Pong(b"p") in events  # a ping inside a fragmented message is answered
    assert [e.data for e in events if isinstance(e, TextMessage)] == ["abcd"]
    pair.send(*[BytesMessage(data=bytes([i]) * i) for i in range(50)])
    got = [e.data for e in pair.events() if isinstance(e, BytesMessage)]
    assert got == [bytes([i]) * i for i in range(50)]
    pair.assert_clean()


def test_accept_with_subprotocol_and_headers() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "v2",
                    "headers": [(b"x-extra", b"1"), (b"sec-websocket-accept", b"forged")]})
        await receive()

    pair = WSPair(app, subprotocols=["v1", "v2"])
    out = pair.take()
    assert out.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"x-extra: 1\r\n" in out and b"forged" not in out
    assert b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" not in out  # wsproto key
    pair.client.receive_data(out)
    (accepted,) = list(pair.client.events())
    assert isinstance(accepted, AcceptConnection) and accepted.subprotocol == "v2"
    pair.assert_clean()


def test_accept_token_is_rfc6455s_example() -> None:
    pair = WSPair(echo_app, raw_request())
    out = pair.take()
    assert b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in out  # RFC 6455 1.3
    pair.assert_clean()


def test_subprotocol_not_offered_is_an_app_error_500() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "nope"})

    pair = WSPair(app, subprotocols=["v1"])
    assert pair.take().startswith(b"HTTP/1.1 500 ")
    assert pair.closed
    pair.assert_clean()


def test_data_sent_before_accept_is_delivered_after_it() -> None:
    app = Recorder()
    pair = WSPair(app, raw_request(), start=False)
    # The client's first frame arrives with (or right after) its request, before the app
    # has even run: it is held, then read once the app accepts.
    pair.core.data_received(frame(0x1, b"early"))
    pair.runtime.run_ready()
    assert app.messages[1] == {"type": "websocket.receive", "text": "early"}
    pair.assert_clean()


# -- bad handshakes: 400, the app never called ------------------------------------------


@pytest.mark.parametrize(("request_bytes", "why"), [
    (raw_request(ws_version=b"8"), b"Sec-WebSocket-Version"),
    (raw_request(ws_version=None), b"Sec-WebSocket-Version"),
    (raw_request(key=None), b"Sec-WebSocket-Key"),
    (raw_request(key=b"c2hvcnQ="), b"Sec-WebSocket-Key"),
    (raw_request(key=b"!!notbase64!!!!!!!!!!!!="), b"Sec-WebSocket-Key"),
    (raw_request(method="POST"), b"GET"),
    (raw_request(version="1.0"), b"HTTP/1.1"),
    (raw_request(body=b"hello"), b"body"),
], ids=["version-8", "no-version", "no-key", "short-key", "bad-base64", "post", "http10",
        "body"])
def test_bad_handshake_gets_400(request_bytes: bytes, why: bytes) -> None:
    called = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        called.append(scope)

    pair = WSPair(app, request_bytes)
    out = pair.take()
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert why in out.partition(b"\r\n\r\n")[2]
    assert b"connection: close\r\n" in out
    if b"Version: 8" in request_bytes:
        assert b"sec-websocket-version: 13\r\n" in out
    assert pair.closed and called == []
    pair.assert_clean()


def test_upgrade_without_connection_upgrade_is_plain_http() -> None:
    """Upgrade is only a request to switch when Connection names it (RFC 9110 7.8)."""
    scopes: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})

    pair = WSPair(app, raw_request(connection=b"keep-alive"))
    assert pair.take().startswith(b"HTTP/1.1 204 ")
    assert [scope["type"] for scope in scopes] == ["http"]
    pair.assert_clean()


def test_ws_none_serves_upgrades_as_plain_http() -> None:
    scopes: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})

    pair = WSPair(app, raw_request(), ws="none")
    assert pair.take().startswith(b"HTTP/1.1 204 ")
    assert [scope["type"] for scope in scopes] == ["http"]
    pair.assert_clean()


# -- refusing, denial responses, app errors ------------------------------------------------


def test_close_before_accept_is_403() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close"})

    pair = WSPair(app)
    pair.client.receive_data(pair.take())
    events = list(pair.client.events())
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 403
    assert pair.closed
    pair.assert_clean()


def test_denial_response_whole_and_streamed() -> None:
    async def whole(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"x")]})
        await send({"type": "websocket.http.response.body", "body": b"no entry"})

    pair = WSPair(whole)
    out = pair.take()
    assert out.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"www-authenticate: x\r\n" in out and b"content-length: 8\r\n" in out
    assert out.endswith(b"\r\n\r\nno entry") and pair.closed
    pair.assert_clean()

    async def streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 418})
        await send({"type": "websocket.http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"cd"})

    pair = WSPair(streamed)
    pair.client.receive_data(pair.take())
    events = list(pair.client.events())
    assert isinstance(events[0], RejectConnection) and events[0].status_code == 418
    assert b"".join(e.data for e in events if isinstance(e, RejectData)) == b"abcd"
    assert pair.closed
    pair.assert_clean()


def test_app_error_before_accept_is_500_after_accept_1011() -> None:
    async def early(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise ValueError("boom")

    pair = WSPair(early)
    assert pair.take().startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    pair.assert_clean()

    async def late(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise ValueError("boom")

    pair = WSPair(late)
    pair.events()
    pair.send(TextMessage(data="x"))
    assert close_code(pair.events()) == 1011
    pair.send(CloseConnection(code=1011))  # the client answers; the server closes TCP
    assert pair.closed
    pair.assert_clean()


def test_returning_without_accepting_is_500_and_after_accept_closes_1000() -> None:
    async def nothing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()

    pair = WSPair(nothing)
    assert pair.take().startswith(b"HTTP/1.1 500 ")
    pair.assert_clean()

    async def accept_only(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})

    pair = WSPair(accept_only)
    assert close_code(pair.events()) == 1000
    pair.assert_clean()


def test_server_close_code_reason_then_disconnect_and_send_raises() -> None:
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4321, "reason": "über"})
        seen.append(await receive())
        try:
            await send({"type": "websocket.send", "text": "late"})
        except OSError as exc:
            seen.append(exc)

    pair = WSPair(app)
    events = pair.events()
    (close,) = [e for e in events if isinstance(e, CloseConnection)]
    assert (close.code, close.reason) == (4321, "über")
    assert not pair.closed  # waiting for the client's answer
    pair.send(close.response())
    assert pair.closed
    assert seen[0] == {"type": "websocket.disconnect", "code": 4321, "reason": "über"}
    assert isinstance(seen[1], ClientDisconnected) and isinstance(seen[1], OSError)
    pair.assert_clean()


def test_unanswered_close_is_cut_after_the_close_timeout() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        await receive()

    pair = WSPair(app, ws_ping_interval=0)
    pair.events()
    pair.advance(3)
    assert not pair.closed
    pair.advance(3)
    assert pair.closed and pair.transport.aborted
    pair.assert_clean()


def test_client_gone_gives_1006_and_send_raises() -> None:
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen.append(await receive())
        with pytest.raises(ClientDisconnected):
            await send({"type": "websocket.send", "bytes": b"x"})
        seen.append("raised")

    pair = WSPair(app)
    pair.events()
    pair.disconnect()
    assert seen == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}, "raised"]
    pair.assert_clean()


def test_messages_out_of_order_are_app_errors() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "before accept"})

    pair = WSPair(app)
    assert pair.take().startswith(b"HTTP/1.1 500 ")
    pair.assert_clean()


# -- protocol errors ---------------------------------------------------------------------


@pytest.mark.parametrize(("data", "code"), [
    (frame(0x1, b"\xff\xfe"), 1007),  # invalid UTF-8
    (frame(0x1, b"x", mask=False), 1002),  # unmasked client frame
    (frame(0x3, b"x"), 1002),  # reserved opcode
    (frame(0x1, b"x", rsv=0x40), 1002),  # RSV1 without an extension
    (frame(0x0, b"x"), 1002),  # continuation with no message
    (frame(0x9, b"x", fin=False), 1002),  # fragmented control frame
    (frame(0x8, b"\x03\xe8\xff"), 1007),  # close reason not UTF-8
    (frame(0x8, struct.pack("!H", 999)), 1002),  # invalid close code
], ids=["utf8", "unmasked", "opcode", "rsv1", "continuation", "control-fragment",
        "close-utf8", "close-code"])
def test_protocol_errors_close_with_their_code(data: bytes, code: int) -> None:
    app = Recorder()
    pair = WSPair(app)
    pair.events()
    pair.core.data_received(data)
    pair.runtime.run_ready()
    assert close_code(pair.events()) == code
    assert pair.closed
    assert app.messages[-1]["type"] == "websocket.disconnect"
    assert app.messages[-1]["code"] == code
    pair.assert_clean()


def test_utf8_fails_fast_inside_a_fragmented_message() -> None:
    app = Recorder()
    pair = WSPair(app)
    pair.events()
    pair.core.data_received(frame(0x1, b"ok", fin=False) + frame(0x0, b"\xc0\xaf", fin=False))
    assert close_code(pair.events()) == 1007
    pair.assert_clean()


# -- size limits ---------------------------------------------------------------------------


def test_declared_length_over_max_size_closes_1009_before_the_payload() -> None:
    app = Recorder()
    pair = WSPair(app, ws_max_size=1000)
    pair.events()
    # Only the header: a frame declaring 2^62 bytes is refused as soon as it is read.
    pair.core.data_received(frame(0x2, b"", length=1 << 62)[:14])
    assert close_code(pair.events()) == 1009
    assert pair.closed
    pair.assert_clean()


def test_message_exactly_max_size_passes_and_one_more_byte_fails() -> None:
    app = Recorder()
    pair = WSPair(app, ws_max_size=1000)
    pair.events()
    pair.send(BytesMessage(data=b"a" * 600, message_finished=False),
              BytesMessage(data=b"b" * 400))
    assert app.messages[-1] == {"type": "websocket.receive", "bytes": b"a" * 600 + b"b" * 400}
    pair.send(BytesMessage(data=b"a" * 600, message_finished=False),
              BytesMessage(data=b"b" * 401))
    assert close_code(pair.events()) == 1009
    assert app.messages[-1]["code"] == 1009
    pair.assert_clean()


def test_deflate_bomb_closes_1009_without_inflating_it() -> None:
    app = Recorder()
    pair = WSPair(app, deflate=True, ws_max_size=64 * 1024)
    events = pair.events()
    assert isinstance(events[0], AcceptConnection) and events[0].extensions
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\0" * (64 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 100_000  # 64 MiB of zeros
    pair.core.data_received(frame(0x2, bomb[:-4], rsv=0x40))
    assert close_code(pair.events()) == 1009
    assert all(m.get("bytes") is None for m in app.messages)
    pair.assert_clean()


def test_compressed_messages_both_ways_with_context_takeover() -> None:
    pair = WSPair(echo_app, deflate=True)
    (accepted,) = pair.events()
    assert isinstance(accepted, AcceptConnection)
    for text in ["hello " * 100, "hello " * 100, "x", ""]:
        pair.send(TextMessage(data=text))
        out = pair.take()
        pair.client.receive_data(out)
        (echo,) = list(pair.client.events())
        assert echo.data == text
        assert out[0] & 0x40  # RSV1: the server compressed its answer
    pair.assert_clean()


# -- permessage-deflate negotiation -------------------------------------------------------


def negotiated(offer: bytes, **options: Any) -> bytes | None:
    pair = WSPair(echo_app, raw_request(extra=b"Sec-WebSocket-Extensions: " + offer + b"\r\n"),
                  **options)
    out = pair.take()
    pair.assert_clean()
    for line in out.split(b"\r\n"):
        if line.startswith(b"sec-websocket-extensions: "):
            return line.split(b": ", 1)[1]
    return None


@pytest.mark.parametrize(("offer", "answer"), [
    (b"permessage-deflate; client_max_window_bits", b"permessage-deflate"),
    (b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    (b"permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
     b"permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"),
    (b'permessage-deflate; server_max_window_bits="11"',
     b"permessage-deflate; server_max_window_bits=11"),
    # the first acceptable offer wins; declined ones leave nothing behind
    (b"permessage-deflate; server_max_window_bits=8, permessage-deflate; "
     b"server_no_context_takeover, permessage-deflate",
     b"permessage-deflate; server_no_context_takeover"),
    (b"permessage-deflate; unknown=1, permessage-deflate", b"permessage-deflate"),
    (b"permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
    (b"permessage-deflate; client_max_window_bits=16", None),
    (b"x-webkit-deflate-frame", None),
])
def test_deflate_offers(offer: bytes, answer: bytes | None) -> None:
    assert negotiated(offer) == answer


def test_deflate_can_be_turned_off() -> None:
    assert negotiated(b"permessage-deflate", ws_per_message_deflate=False) is None


@pytest.mark.parametrize("takeover", [True, False])
def test_deflate_parameters_hold_across_messages(takeover: bool) -> None:
    from wsproto.extensions import PerMessageDeflate

    ext = PerMessageDeflate(server_no_context_takeover=not takeover,
                            client_no_context_takeover=not takeover,
                            server_max_window_bits=9, client_max_window_bits=9)
    pair = WSPair(echo_app, extensions=[ext])
    pair.events()
    for i in range(5):
        pair.send(BytesMessage(data=b"repeat me " * 50 + bytes([i])))
        (echo,) = pair.events()
        assert echo.data == b"repeat me " * 50 + bytes([i])
    pair.assert_clean()


# -- keepalive -----------------------------------------------------------------------------


def test_server_pings_and_closes_1011_without_a_pong() -> None:
    pair = WSPair(Recorder(), ws_ping_interval=5, ws_ping_timeout=3)
    pair.events()
    pair.advance(5)
    (ping,) = pair.events()
    assert isinstance(ping, Ping)
    pair.send(ping.response())  # answered: the connection stays
    pair.advance(4)
    assert not pair.closed
    pair.advance(1)
    (ping,) = pair.events()
    assert isinstance(ping, Ping)
    pair.advance(3)  # not answered
    assert close_code(pair.events()) == 1011
    assert pair.closed
    pair.assert_clean()


def test_client_pings_are_answered() -> None:
    pair = WSPair(Recorder(), ws_ping_interval=0)
    pair.events()
    pair.send(Ping(b"abc"))
    assert pair.events() == [Pong(b"abc")]
    pair.advance(100)
    assert pair.events() == []  # no server pings with the interval at 0
    pair.assert_clean()


# -- backpressure ----------------------------------------------------------------------------


def test_reading_pauses_while_the_app_has_a_long_queue() -> None:
    app = Recorder(hold=True)
    pair = WSPair(app)
    pair.events()
    for _ in range(20):
        pair.send(BytesMessage(data=b"x" * 100_000))
    assert pair.transport.reading_paused
    app.release()
    pair.runtime.run_ready()
    assert not pair.transport.reading_paused
    assert len(app.messages) == 21
    pair.assert_clean()


def test_reading_pauses_while_writing_is_paused() -> None:
    pair = WSPair(Recorder(), timeout_write=10)
    pair.events()
    pair.core.pause_writing()
    assert pair.transport.reading_paused  # nothing read while nothing can be written
    pair.core.resume_writing()
    assert not pair.transport.reading_paused
    pair.assert_clean()


def test_paused_send_waits_then_write_timeout_aborts() -> None:
    progress: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the test pauses the transport meanwhile
        try:
            await send({"type": "websocket.send", "bytes": b"x"})
            progress.append("sent")
            await send({"type": "websocket.send", "bytes": b"y"})
            progress.append("sent again")
        except OSError:
            progress.append("disconnected")

    pair = WSPair(app, timeout_write=10, ws_ping_interval=0)
    pair.events()
    pair.core.pause_writing()
    pair.core.data_received(pair.client.send(TextMessage(data="go")))
    pair.runtime.run_ready()
    assert progress == []  # the first send() waits for the transport
    pair.core.resume_writing()
    pair.runtime.run_ready()
    assert progress == ["sent", "sent again"]
    pair.assert_clean()

    progress.clear()
    pair = WSPair(app, timeout_write=10, ws_ping_interval=0)
    pair.events()
    pair.core.pause_writing()
    pair.core.data_received(pair.client.send(TextMessage(data="go")))
    pair.advance(5)
    assert not pair.closed and progress == []
    pair.advance(6)
    assert pair.closed and pair.transport.aborted
    assert progress == ["disconnected"]
    pair.assert_clean()


# -- graceful shutdown ---------------------------------------------------------------------


def test_shutdown_closes_1001_and_abort_cuts() -> None:
    app = Recorder()
    pair = WSPair(app)
    pair.events()
    pair.state.shutting_down = True
    pair.core.shutdown()
    assert close_code(pair.events()) == 1001
    pair.send(CloseConnection(code=1001))
    assert pair.closed
    assert app.messages[-1]["type"] == "websocket.disconnect"
    pair.assert_clean()

    app = Recorder()
    pair = WSPair(app)
    pair.events()
    pair.core.shutdown()
    pair.events()
    pair.core.abort()  # the client never answered: cut at the deadline, the app cancelled
    pair.runtime.run_ready()
    assert pair.closed and pair.transport.aborted
    assert pair.state.running_apps == 0
    pair.assert_clean()


def test_abort_before_accept_answers_503_and_cancels_the_app() -> None:
    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await receive()  # never accepts

    pair = WSPair(slow)
    assert pair.take() == b""
    pair.core.abort()
    assert pair.take().startswith(b"HTTP/1.1 503 ")
    assert pair.closed
    pair.assert_clean()


def test_messages_before_a_protocol_error_are_answered_first() -> None:
    """One read holds a message and then a bad frame: the app's echo goes out before the
    close (Autobahn 3.2, 4.x, 5.15 mark the other order NON-STRICT)."""
    pair = WSPair(echo_app)
    pair.events()
    pair.core.data_received(frame(0x1, b"first") + frame(0x5, b"") + frame(0x9, b"ping"))
    events = pair.events()
    assert [type(e).__name__ for e in events] == ["TextMessage", "CloseConnection"]
    assert events[0].data == "first" and events[1].code == 1002
    assert pair.closed
    pair.assert_clean()


def test_a_pending_protocol_error_is_reported_even_if_the_app_never_reads() -> None:
    app = Recorder(hold=True)
    pair = WSPair(app, ws_ping_interval=0)
    pair.events()
    pair.core.data_received(frame(0x1, b"first") + frame(0x5, b""))
    assert pair.events() == []  # waiting for the app to read "first"
    pair.advance(6)
    assert close_code(pair.events()) == 1002
    assert pair.closed
    app.release()
    pair.assert_clean()


def test_send_or_close_after_the_apps_own_close_raises_oserror() -> None:
    raised: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        for message in ({"type": "websocket.send", "text": "x"}, {"type": "websocket.close"}):
            try:
                await send(message)
            except OSError as exc:
                raised.append(type(exc))

    pair = WSPair(app)
    assert close_code(pair.events()) == 1000
    assert raised == [ClientDisconnected, ClientDisconnected]
    pair.send(CloseConnection(code=1000))
    pair.assert_clean()
