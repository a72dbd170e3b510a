"""The WebSocket connection core (RFC 6455) on wsproto, over HTTP/1.1 or an HTTP/2 stream.

:func:`websocket_upgrade` gives the HTTP/1.1 core its Upgrade handler for ``websocket``,
:func:`websocket_connect` the HTTP/2 core its handler for an extended CONNECT with
``:protocol websocket`` (RFC 8441). Either returns a :class:`WebSocketConnection` for the
request's HTTP scope; its transport is the TCP connection (HTTP/1.1 hands it over) or the
HTTP/2 stream (fastcorn.protocol.h2tunnel.StreamTransport: DATA frames under flow
control). What differs between the two is the handshake alone
(fastcorn.protocol.wshandshake: its checks, the 101 or ``:status 200``, the HTTP response
that replaces it). The core checks the handshake as soon as it has the transport: a bad
one gets a 400 and never reaches the app. A good one starts the app's
:class:`fastcorn.asgi.websocket.WebSocketCycle`, for which this core is the
``WebSocketStream``: the app's accept becomes the acceptance, its denial or a close
before accept an HTTP response, and from then on wsproto's
``Connection(ConnectionType.SERVER, extensions)`` reads and writes the frames, except the
common ones: while wsproto is between frames and messages, whole unfragmented data frames
up to 64 KiB are read, and whole messages written, by the compiled lane
(:mod:`fastcorn.protocol.wsframe`; with permessage-deflate, inflated and deflated by the
codec wsproto uses too). ``--ws wsproto`` turns the lane off.

What wsproto leaves to a server is done here and in :mod:`fastcorn.protocol.wscodec`:
message size limits (1009), bounded permessage-deflate, keepalive pings, backpressure both
ways (reading pauses while the app has a long queue or while the transport cannot write;
``send()`` waits while it cannot write; a client that never reads is cut after the write
timeout), and the closing handshake's timeout. Timers are deadlines checked by the
server's once-a-second sweep (``check_timeout``), as in the HTTP/1.1 core.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)

from fastcorn.asgi.cycle import ServerState
from fastcorn.asgi.websocket import WebSocketCycle, websocket_scope
from fastcorn.protocol.base import Core, Transport, UpgradeHandler
from fastcorn.protocol.wscodec import DeflateParameters, MessageCodec, negotiate_deflate
from fastcorn.protocol.wsframe import BAD_UTF8 as LANE_BAD_UTF8
from fastcorn.protocol.wsframe import END as LANE_END
from fastcorn.protocol.wsframe import PARTIAL as LANE_PARTIAL
from fastcorn.protocol.wsframe import read_frames, read_raw_frames, write_frame, write_raw_frame
from fastcorn.protocol.wshandshake import (
    ConnectHandshake,
    Handshake,
    HandshakeError,
    UpgradeHandshake,
    valid_field,
)

if TYPE_CHECKING:
    from fastcorn.config import Config, WebSocketSettings

#: Bytes queued for the app (unread messages) past which reading pauses.
HIGH_WATER = 1024 * 1024
#: Bytes read before the app accepted (a client may send frames right after its request)
#: past which reading pauses until it does.
EARLY_DATA_LIMIT = 64 * 1024
#: Seconds the peer has to answer our close frame before the connection is cut.
CLOSE_TIMEOUT = 5.0
#: The close reasons the server gives for the errors it finds.
_REASONS = {1007: "invalid UTF-8", 1009: "message too big"}
#: The largest frame the compiled lane reads itself; longer ones stream through wsproto.
LANE_FRAME_LIMIT = 64 * 1024

def _wsproto_idle(ws: Connection) -> bool:
    """wsproto holds no part of a frame and no fragmented message: the next bytes start a
    frame the lane may take. (wsproto has no public call for this: its FrameProtocol's
    decoder and message decoder are read, as of wsproto 1.2 and 1.3.)"""
    proto = ws._proto
    decoder = proto._frame_decoder
    return (decoder.header is None and not decoder.buffer.buffer
            and proto._message_decoder.opcode is None)


def websocket_upgrade(state: ServerState, config: Config) -> UpgradeHandler:
    """The HTTP/1.1 Upgrade handler for ``websocket`` connections served with ``state``."""
    settings = config.ws

    def upgrade(scope: dict[str, Any], body: bytes) -> Core | None:
        return WebSocketConnection(state, settings, scope, body)

    return upgrade


def websocket_connect(state: ServerState, config: Config) -> UpgradeHandler:
    """The HTTP/2 core's handler for an extended CONNECT with ``:protocol websocket``
    (RFC 8441): the WebSocket core for that stream, whose transport is the stream."""
    settings = config.ws

    def connect(scope: dict[str, Any], body: bytes) -> Core | None:
        return WebSocketConnection(state, settings, scope, body, ConnectHandshake())

    return connect


class WebSocketConnection:
    """One WebSocket connection after its upgrade request: a Core, and the WebSocketStream
    of its app's cycle."""

    def __init__(self, state: ServerState, settings: WebSocketSettings,
                 scope: dict[str, Any], body: bytes = b"",
                 handshake: Handshake | None = None) -> None:
        self.state = state
        self.settings = settings
        self.http_scope = scope
        self.transport: Transport | None = None
        self.cycle: WebSocketCycle | None = None
        self.ws: Connection | None = None  # wsproto's, once accepted
        self.codec: MessageCodec | None = None
        self.deflate: DeflateParameters | None = None
        self.error: HandshakeError | None = None
        # What depends on the carrying protocol (HTTP/1.1 Upgrade, HTTP/2 CONNECT).
        self.handshake: Handshake = (handshake if handshake is not None
                                     else UpgradeHandshake(lambda: state.default_headers))
        try:
            self.handshake.check(scope, body)
        except HandshakeError as exc:
            self.error = exc
        self.early_data = bytearray()  # read before the app accepted
        self.message_parts: list[Any] = []  # a fragmented message's parts so far
        self.message_size = 0
        self.writing_paused = False
        self.reading_paused = False
        self.closed = False  # the transport is gone
        self.responded = False  # an HTTP response replaced the handshake
        self.failed = False  # a protocol error ended the connection: input is dropped
        self.shutting_down = False
        self.response_open = False  # an HTTP response in place of the handshake is unfinished
        self.write_deadline = 0.0
        self.close_deadline = 0.0
        self.next_ping = 0.0
        self.pong_deadline = 0.0
        self.ping_payload = b""
        self.pending_failure: tuple[int, str] | None = None  # reported after queued messages
        self.lane_held = b""  # the start of a frame the compiled lane takes (wsframe.pyx)
        self.lane_limit = min(LANE_FRAME_LIMIT, settings.max_size)
        # --ws auto: the lane beside wsproto; --ws wsproto: wsproto alone (the reference the
        # lane is tested against).
        self.use_lane = settings.protocol == "auto"
        # The lane may read the next bytes (open, no extension, wsproto between frames and
        # messages); and whole messages may be written by wsframe (open, no extension).
        self.lane_ready = False
        self.fast_send = False

    # -- Core: the transport's side ---------------------------------------------------

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        state = self.state
        if self.handshake.owns_connection:
            state.connections.add(self)
        if self.error is not None:
            reason = str(self.error).encode()
            self._write_response(400, [(b"content-type", b"text/plain; charset=utf-8"),
                                       *self.error.headers], reason, False, True)
            if state.log_rejected is not None:
                scope = self.http_scope
                target = scope["raw_path"].decode("latin-1")
                line = f"{scope['method']} {target} HTTP/{scope['http_version']}"
                state.log_rejected(scope.get("client"), 400, str(self.error), line)
            return
        if state.shutting_down:
            self._write_response(503, [], b"", False, True)
            return
        self.cycle = cycle = WebSocketCycle(state, self, websocket_scope(self.http_scope))
        cycle.task = state.runtime.spawn(cycle.run())

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if self.lane_ready and cycle is not None:
            # The common case, kept short: plain data frames, whole (see _receive).
            if self.lane_held:
                data = self.lane_held + data
                self.lane_held = b""
            if self.codec is not None and self.deflate is not None:
                self._deflate_lane(cycle, data)
                return
            messages, size, used, status = read_frames(data, self.lane_limit)
            if messages:
                cycle.feed_messages(messages, size)
                if cycle.queued_bytes > HIGH_WATER:
                    self._check_queue()
            if status != LANE_END:
                self._lane_stopped(data, used, status)
            return
        if self.closed or self.failed:
            return
        ws = self.ws
        if ws is None:
            if self.responded or self.error is not None:
                return  # answered with HTTP: what follows is dropped until we close
            self.early_data += data
            if len(self.early_data) > EARLY_DATA_LIMIT:
                self._pause_reading()
            return
        if ws.state is ConnectionState.CLOSED:
            return
        self._receive(ws, data)

    def eof_received(self) -> bool:
        return False  # no half-open WebSocket: close, the app hears 1006

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.lane_ready = self.fast_send = False
        self.write_deadline = self.close_deadline = self.pong_deadline = 0.0
        self.state.connection_closed(self)
        if self.cycle is not None:
            self.cycle.disconnect(1006, "")

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.state.timeout_write > 0:
            self.write_deadline = self.state.now + self.state.timeout_write
        # Nothing more is read while nothing can be written: a client that sends pings
        # (each owed a pong) but never reads cannot grow our output buffer.
        self._pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.write_deadline = 0.0
        self._update_reading()
        if self.cycle is not None:
            self.cycle.wake_writer()

    def check_timeout(self, now: float) -> None:
        if self.closed:
            return
        if self.write_deadline and now >= self.write_deadline:
            self.write_deadline = 0.0
            self._abort()  # the client stopped reading
            return
        if self.close_deadline and now >= self.close_deadline:
            self.close_deadline = 0.0
            if self.pending_failure is not None:
                self._fail_pending()  # the app did not read its messages in time
            else:
                self._abort()  # our close frame was never answered
            return
        ws = self.ws
        if ws is None or ws.state is not ConnectionState.OPEN:
            return
        if self.pong_deadline and now >= self.pong_deadline:
            self.pong_deadline = 0.0
            self._fail(1011, "keepalive ping timeout")
            return
        interval = self.settings.ping_interval
        if interval > 0 and not self.pong_deadline:
            if not self.next_ping:
                self.next_ping = now + interval
            elif now >= self.next_ping:
                self.ping_payload = os.urandom(4)
                self._write(ws.send(Ping(self.ping_payload)))
                self.pong_deadline = now + self.settings.ping_timeout
                self.next_ping = now + interval

    def shutdown(self) -> None:
        """Graceful shutdown: an open WebSocket is closed with 1001 (going away)."""
        self.shutting_down = True
        ws = self.ws
        if ws is not None and ws.state is ConnectionState.OPEN and not self.closed:
            self._close_frame(1001, "server shutting down")

    def abort(self) -> None:
        """The graceful-shutdown deadline passed: cut the connection, cancel the app."""
        cycle = self.cycle
        answer = (self.ws is None and not self.responded and not self.closed
                  and self.error is None)
        if answer:  # never answered: a 503, sent before the transport closes
            self._write_response(503, [], b"", False, True, close=False)
        if cycle is not None:
            if cycle.task is not None:
                self.state.runtime.cancel(cycle.task)
            cycle.disconnect(1006, "")
        if answer:
            self._close_transport()
        else:
            self._abort()  # whatever is still queued for a client that is not reading

    # -- WebSocketStream: the cycle's side --------------------------------------------

    def accept(self, subprotocol: str | None, headers: list[tuple[bytes, bytes]]) -> None:
        if self.closed:
            return
        offered = self.cycle.scope["subprotocols"] if self.cycle is not None else []
        if subprotocol is not None and subprotocol not in offered:
            raise RuntimeError(f"subprotocol {subprotocol!r} was not offered by the client")
        for name, value in headers:
            if not valid_field(name, value):
                raise RuntimeError(f"invalid header in websocket.accept: {name!r}: {value!r}")
        fields: list[tuple[bytes, bytes]] = []
        if subprotocol is not None:
            fields.append((b"sec-websocket-protocol", subprotocol.encode()))
        if self.settings.per_message_deflate:
            offers = [v for n, v in self.http_scope["headers"] if n == b"sec-websocket-extensions"]
            self.deflate = negotiate_deflate(offers) if offers else None
            if self.deflate is not None:
                fields.append((b"sec-websocket-extensions", self.deflate.response().encode()))
        reserved = {b"upgrade", b"connection", b"sec-websocket-accept",
                    b"sec-websocket-protocol", b"sec-websocket-extensions"}
        fields.extend((n, v) for n, v in headers if n.lower() not in reserved)
        assert self.transport is not None
        self.handshake.accept(self.transport, fields)
        self._log_access(self.handshake.accepted_status)
        self.codec = MessageCodec(self.settings.max_size, self.deflate)
        self.ws = ws = Connection(ConnectionType.SERVER, [self.codec])
        self.fast_send = self.use_lane
        self._update_lane()
        if self.settings.ping_interval > 0:
            self.next_ping = self.state.now + self.settings.ping_interval
        if self.shutting_down:
            self._close_frame(1001, "server shutting down")
        early = bytes(self.early_data)
        self.early_data = bytearray()
        self._update_reading()
        if early:
            self._receive(ws, early)

    def send_message(self, data: str | bytes) -> None:
        if self.fast_send:
            if self.deflate is None:
                self.transport.write(write_frame(data))  # type: ignore[union-attr]
            else:
                assert self.codec is not None
                if isinstance(data, str):
                    payload, first = self.codec.compress_message(data.encode()), 0xC1
                else:
                    payload, first = self.codec.compress_message(data), 0xC2
                self.transport.write(write_raw_frame(first, payload))  # type: ignore[union-attr]
            return
        ws = self.ws
        if ws is None or self.closed or ws.state is not ConnectionState.OPEN:
            return  # closing: the cycle learns of it by disconnect
        if isinstance(data, str):
            self._write(ws.send(TextMessage(data=data)))
        else:
            self._write(ws.send(BytesMessage(data=data)))

    def close(self, code: int, reason: str) -> None:
        self._close_frame(code, reason)

    def send_response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
                      more_body: bool, first: bool) -> None:
        if first:
            for name, value in headers:
                if not valid_field(name, value):
                    raise RuntimeError(f"invalid header in the denial response: {name!r}")
            self._log_access(status)
        self._write_response(status, headers, body, more_body, first)

    def resume_input(self) -> None:
        self._update_reading()

    def cycle_done(self, cycle: WebSocketCycle) -> None:
        if self.closed:
            return
        if self.ws is None:
            # Never accepted: the handshake's answer is complete (or was cut short).
            if not self.responded or self.response_open:
                self._abort()
            return
        if self.ws.state is ConnectionState.CLOSED and not self.transport_closing():
            self._close_transport()

    # -- frames in ----------------------------------------------------------------------

    def _deflate_lane(self, cycle: WebSocketCycle, data: bytes) -> None:
        """The lane with permessage-deflate: frames read in C, inflated (bounded) by the
        codec wsproto uses too, so its inflate context stays one."""
        codec = self.codec
        assert codec is not None
        frames, used, status = read_raw_frames(data, self.lane_limit)
        messages: list[dict[str, Any]] = []
        size = 0
        for opcode, compressed, payload in frames:
            if compressed:
                inflated = codec.inflate_message(payload)
                if not isinstance(inflated, bytes):
                    cycle.feed_messages(messages, size)
                    self._protocol_error(int(inflated), "")
                    return
                payload = inflated
            size += len(payload)
            if opcode == 1:
                try:
                    text: str = payload.decode("utf-8")
                except UnicodeDecodeError:
                    cycle.feed_messages(messages, size)
                    self._protocol_error(1007, "")
                    return
                messages.append({"type": "websocket.receive", "text": text})
            else:
                messages.append({"type": "websocket.receive", "bytes": payload})
        if messages:
            cycle.feed_messages(messages, size)
            self._check_queue()
        if status != LANE_END:
            self._lane_stopped(data, used, status)

    def _lane_stopped(self, data: bytes, used: int, status: int) -> None:
        """The lane stopped at ``used``: the rest is a frame it takes but has not whole
        (held by us, never by wsproto), a bad text frame (1007), or wsproto's from here."""
        rest = data[used:]
        if status == LANE_PARTIAL:
            self.lane_held = rest
        elif status == LANE_BAD_UTF8:
            self._protocol_error(1007, "")
        else:
            assert self.ws is not None  # lane_ready: open
            self._to_wsproto(self.ws, rest)

    def _receive(self, ws: Connection, data: bytes) -> None:
        """Client bytes in the open state, on the way that is not the lane's fast path:
        through the lane when it may take them (see data_received), else to wsproto."""
        if self.lane_held:
            data = self.lane_held + data
            self.lane_held = b""
        if self.lane_ready:
            self.data_received(data)
        else:
            self._to_wsproto(ws, data)

    def _to_wsproto(self, ws: Connection, data: bytes) -> None:
        """Bytes for wsproto, from a frame boundary or from where it stopped; afterwards the
        lane may take the next bytes again if wsproto stopped between frames."""
        self.lane_ready = False
        ws.receive_data(data)
        self._handle_events(ws)
        self._update_lane()

    def _update_lane(self) -> None:
        ws = self.ws
        self.lane_ready = (self.use_lane and ws is not None
                           and ws.state is ConnectionState.OPEN and not self.failed
                           and not self.closed and self.cycle is not None
                           and _wsproto_idle(ws))

    def _check_queue(self) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.queued_bytes > HIGH_WATER:
            cycle.input_paused = True
            self._pause_reading()

    def _handle_events(self, ws: Connection) -> None:
        cycle = self.cycle
        for event in ws.events():
            if isinstance(event, Message):
                self.message_parts.append(event.data)
                self.message_size += len(event.data)
                if not event.message_finished:
                    continue
                parts = self.message_parts
                data = parts[0] if len(parts) == 1 else parts[0][:0].join(parts)
                self.message_parts = []
                size = self.message_size
                self.message_size = 0
                if cycle is not None:
                    if isinstance(event, TextMessage):
                        cycle.feed_message({"type": "websocket.receive", "text": data}, size)
                    else:
                        cycle.feed_message({"type": "websocket.receive", "bytes": bytes(data)},
                                           size)
            elif isinstance(event, Ping):
                if ws.state is ConnectionState.OPEN:
                    self._write(ws.send(event.response()))
            elif isinstance(event, Pong):
                if event.payload == self.ping_payload:
                    self.pong_deadline = 0.0
            elif isinstance(event, CloseConnection):
                self._on_close(ws, event)
                return
        self._check_queue()

    def _on_close(self, ws: Connection, event: CloseConnection) -> None:
        state = ws.state
        if state not in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED):
            # wsproto found a protocol error (its close event, the state unchanged).
            self._protocol_error(event.code, event.reason or "")
            return
        # Before the transport closes, which tells the cycle 1006 otherwise.
        if self.cycle is not None:
            self.cycle.disconnect(event.code, event.reason or "")
        if state is ConnectionState.REMOTE_CLOSING:
            # The client closes: answer with its code (RFC 6455 5.5.1) and end the TCP
            # connection, which the server does first (7.1.1).
            self._write(ws.send(event.response()))
        self._close_transport()

    def _protocol_error(self, code: int, reason: str) -> None:
        self.lane_ready = False
        # One reason per code whoever found it (the lane or wsproto, whose texts vary).
        reason = _REASONS.get(code, reason)
        cycle = self.cycle
        if cycle is not None and cycle.queue and cycle.disconnect_message is None:
            # Messages before the error are the app's to answer first: fail once it has
            # read them (or after the close timeout); nothing more is read.
            self.failed = True
            self.close_deadline = self.state.now + CLOSE_TIMEOUT
            self.pending_failure = (code, reason)
            cycle.feed_marker(self._fail_pending)
            return
        self._fail(code, reason)

    def _fail_pending(self) -> None:
        if self.pending_failure is not None:
            code, reason = self.pending_failure
            self.pending_failure = None
            self._fail(code, reason)

    def _fail(self, code: int, reason: str) -> None:
        """Fail the WebSocket connection (RFC 6455 7.1.7): a close frame, then TCP close."""
        self.failed = True
        self.lane_ready = self.fast_send = False
        ws = self.ws
        if ws is not None and ws.state in (ConnectionState.OPEN,
                                           ConnectionState.REMOTE_CLOSING) and not self.closed:
            self._write(ws.send(CloseConnection(code=code, reason=reason)))
        if self.cycle is not None:
            self.cycle.disconnect(code, reason)
        self._close_transport()

    # -- writing ------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def _close_frame(self, code: int, reason: str) -> None:
        ws = self.ws
        if ws is None or self.closed or ws.state is not ConnectionState.OPEN:
            return
        self.lane_ready = self.fast_send = False  # closing: wsproto reads the answer
        self._write(ws.send(CloseConnection(code=code, reason=reason)))
        self.close_deadline = self.state.now + CLOSE_TIMEOUT
        self._update_reading()  # the client's answer must be read even past the high mark

    def _write_response(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
                        more_body: bool, first: bool, close: bool = True) -> None:
        """An HTTP response instead of the acceptance; the transport closes after it (on
        HTTP/2: the stream ends)."""
        if self.closed or self.transport is None:
            return
        self.responded = True
        self.response_open = more_body
        self.handshake.respond(self.transport, status, headers, body, more_body, first)
        if not more_body and close:
            self._close_transport()

    def transport_closing(self) -> bool:
        return self.closed or self.transport is None or self.transport.is_closing()

    def _close_transport(self) -> None:
        if not self.transport_closing():
            assert self.transport is not None
            self.transport.close()

    def _abort(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.abort()

    # -- reading ------------------------------------------------------------------------

    def _pause_reading(self) -> None:
        if not self.reading_paused and not self.closed and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def _update_reading(self) -> None:
        """Resume reading unless something still holds it paused."""
        if not self.reading_paused or self.closed or self.transport is None:
            return
        cycle = self.cycle
        closing = self.close_deadline != 0.0
        if self.writing_paused and not closing:
            return
        if self.ws is None and len(self.early_data) > EARLY_DATA_LIMIT:
            return
        if cycle is not None and cycle.input_paused and not closing:
            return
        self.reading_paused = False
        self.transport.resume_reading()

    def _log_access(self, status: int) -> None:
        state = self.state
        if state.access_log and state.log_access is not None:
            scope = self.http_scope
            target = scope["raw_path"].decode("latin-1")
            if scope["query_string"]:
                target += "?" + scope["query_string"].decode("latin-1")
            state.log_access(scope.get("client"), scope.get("method", "GET"), target,
                             scope["http_version"],
                             status, 0, 0.0)
