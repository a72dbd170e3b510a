"""The ASGI WebSocket cycle (ASGI WebSocket spec 2.4, with the denial-response extension).

One :class:`WebSocketCycle` runs one WebSocket connection's app. It is written once, for
every protocol that carries WebSocket (HTTP/1.1 Upgrade today, RFC 8441 over an HTTP/2
stream later): the protocol implements :class:`WebSocketStream`, the narrow interface the
cycle writes to, as an HTTP protocol implements :class:`fastcorn.asgi.cycle.Stream` for the
HTTP cycle. Call flow:

    protocol core                                      runtime
      handshake valid: scope = websocket_scope(http scope)
      cycle = WebSocketCycle(state, stream, scope)
      runtime.spawn(cycle.run()) ──────────────────────▶ app: receive() -> websocket.connect
                                                         app: send(accept) ─▶ stream.accept()
      cycle.feed_message(message, size)  (queue) ◀────── app: receive() -> websocket.receive
      pause reading while cycle.queued_bytes > high water; stream.resume_input() once read
      stream.writing_paused / cycle.wake_writer()         app: send(websocket.send) waits
      cycle.disconnect(code, reason)  (close frame, lost connection)
      stream.cycle_done(cycle) ◀── run() ends (always)

Before ``websocket.accept`` the app may instead close (403) or send its own HTTP response
(``websocket.http.response.start`` / ``.body``); an app error gives a 500 before accept and
a close 1011 after it. Waiting goes through ``state.runtime.create_waiter()``, so this
module imports no event loop.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastcorn.asgi.cycle import ClientDisconnected, ServerState
from fastcorn.asgi.types import Waiter

Message = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

#: What one queued message costs beyond its payload (the dict, its strings, the deque slot).
MESSAGE_OVERHEAD = 100

#: The resume mark for reading: once the app has read its queue down to this many bytes.
LOW_WATER = 64 * 1024


class WebSocketStream(Protocol):
    """What a WebSocket cycle writes to: implemented by each protocol's WebSocket core."""

    #: Set by the protocol while its transport asks it to stop writing.
    writing_paused: bool

    def accept(self, subprotocol: str | None, headers: Headers) -> None:
        """Complete the handshake (HTTP/1.1: the 101 response) with the app's choices."""

    def send_message(self, data: str | bytes) -> None:
        """One whole message: text for a str, binary for bytes."""

    def close(self, code: int, reason: str) -> None:
        """Begin the closing handshake (a close frame)."""

    def send_response(self, status: int, headers: Headers, body: bytes, more_body: bool,
                      first: bool) -> None:
        """The HTTP response that replaces the handshake: the app's denial response
        (``first`` on its first body), or the server's 403/500 (whole, ``first``)."""

    def resume_input(self) -> None:
        """The app read its queue down: reading, paused at the high-water mark, may go on."""

    def cycle_done(self, cycle: WebSocketCycle) -> None:
        """The app returned (or failed): whatever is still open is ended by the protocol."""


class Phase(enum.Enum):
    CONNECTING = 0  # websocket.connect not answered yet
    OPEN = 1  # accepted
    RESPONDING = 2  # a denial response started, its body not finished
    CLOSED = 3  # the app closed, or its response is complete


def websocket_scope(http_scope: dict[str, Any]) -> dict[str, Any]:
    """The WebSocket scope of a handshake, from the HTTP scope its protocol built for it:
    the same connection facts, a ws/wss scheme, the offered subprotocols and the
    denial-response extension (beside ``tls`` when the HTTP scope has it)."""
    subprotocols: list[str] = []
    for name, value in http_scope["headers"]:
        if name == b"sec-websocket-protocol":
            subprotocols.extend(
                token.strip() for token in value.decode("latin-1").split(",") if token.strip())
    extensions: dict[str, Any] = {"websocket.http.response": {}}
    tls = http_scope.get("extensions", {}).get("tls")
    if tls is not None:
        extensions["tls"] = tls
    return {
        "type": "websocket",
        "asgi": http_scope["asgi"],
        "http_version": http_scope["http_version"],
        "scheme": "wss" if http_scope["scheme"] in ("https", "wss") else "ws",
        "server": http_scope["server"],
        "client": http_scope["client"],
        "root_path": http_scope["root_path"],
        "path": http_scope["path"],
        "raw_path": http_scope["raw_path"],
        "query_string": http_scope["query_string"],
        "headers": http_scope["headers"],
        "subprotocols": subprotocols,
        "state": http_scope["state"],
        "extensions": extensions,
    }


def _headers(message: Message) -> Headers:
    headers = message.get("headers") or []
    result = []
    for name, value in headers:
        result.append((bytes(name), bytes(value)))
    return result


class WebSocketCycle:
    """One WebSocket connection's ASGI app call: its receive queue and send state."""

    def __init__(self, state: ServerState, stream: WebSocketStream,
                 scope: dict[str, Any]) -> None:
        self.state = state
        self.stream = stream
        self.scope = scope
        self.phase = Phase.CONNECTING
        self.connect_delivered = False
        self.queue: deque[Message | Callable[[], None]] = deque()  # and markers (feed_marker)
        self.queued_bytes = 0
        #: Set by the protocol when it paused reading because of this queue.
        self.input_paused = False
        #: The websocket.disconnect the app gets once the queue is read, when known.
        self.disconnect_message: Message | None = None
        self.response_status = 0  # the status of a denial response or the server's 403/500
        self.response_headers: Headers = []
        self.response_started = False
        self.receive_waiter: Waiter | None = None
        self.write_waiter: Waiter | None = None
        self.task: Any = None  # what runtime.spawn returned, for cancelling at shutdown
        cancelled = getattr(state.runtime, "cancelled_error", None)
        self.propagate: tuple[type[BaseException], ...] = (
            (GeneratorExit,) if cancelled is None else (GeneratorExit, cancelled))

    # -- fed by the protocol ------------------------------------------------------------

    @property
    def disconnected(self) -> bool:
        return self.disconnect_message is not None

    def feed_message(self, message: Message, size: int) -> None:
        """A whole message from the client (``websocket.receive``); ``size``: its payload."""
        if self.disconnect_message is not None or self.phase is Phase.CLOSED:
            return  # the app closed: what the client still sends is not for it
        self.queue.append(message)
        self.queued_bytes += size + MESSAGE_OVERHEAD
        if self.receive_waiter is not None:
            self._wake(self.receive_waiter)

    def feed_messages(self, messages: list[Message], size: int) -> None:
        """Whole messages at once (the compiled lane's); ``size``: their payload bytes."""
        if self.disconnect_message is not None or self.phase is Phase.CLOSED:
            return
        self.queue.extend(messages)
        self.queued_bytes += size + MESSAGE_OVERHEAD * len(messages)
        if self.receive_waiter is not None:
            self._wake(self.receive_waiter)

    def feed_marker(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the app has read every message queued before it (and,
        having asked for the next one, answered them): a protocol error found past them
        is reported in order."""
        self.queue.append(callback)
        if self.receive_waiter is not None:
            self._wake(self.receive_waiter)

    def disconnect(self, code: int, reason: str = "") -> None:
        """The connection ended (a close frame either way, a failure, a lost transport):
        receive() returns websocket.disconnect after the queued messages; send() raises."""
        if self.disconnect_message is None:
            self.disconnect_message = {"type": "websocket.disconnect", "code": code,
                                       "reason": reason}
        if self.receive_waiter is not None:
            self._wake(self.receive_waiter)
        if self.write_waiter is not None:
            self._wake(self.write_waiter)

    def wake_writer(self) -> None:
        if self.write_waiter is not None:
            self._wake(self.write_waiter)

    @staticmethod
    def _wake(waiter: Waiter) -> None:
        if not waiter.done():
            waiter.set_result(None)

    # -- the ASGI callables -------------------------------------------------------------

    async def receive(self) -> Message:
        while True:
            if not self.connect_delivered:
                self.connect_delivered = True
                return {"type": "websocket.connect"}
            if self.queue:
                message = self.queue.popleft()
                if not isinstance(message, dict):  # a marker (feed_marker)
                    message()
                    continue
                size = message.get("bytes") or message.get("text") or ""
                self.queued_bytes -= len(size) + MESSAGE_OVERHEAD
                if self.input_paused and self.queued_bytes <= LOW_WATER:
                    self.input_paused = False
                    self.stream.resume_input()
                return message
            if self.disconnect_message is not None:
                return self.disconnect_message
            self.receive_waiter = waiter = self.state.runtime.create_waiter()
            try:
                await waiter
            finally:
                self.receive_waiter = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        phase = self.phase
        if (self.disconnect_message is not None and phase is not Phase.RESPONDING) or (
                phase is Phase.CLOSED and kind in ("websocket.send", "websocket.close")):
            # The connection is closed or closing (the app's own close included): ASGI 2.4
            # has send() raise an OSError subclass.
            raise ClientDisconnected("websocket connection closed")
        if kind == "websocket.send":
            if phase is not Phase.OPEN:
                raise self._out_of_order(kind)
            data = message.get("bytes")
            text = message.get("text")
            if (data is None) == (text is None):
                raise RuntimeError("websocket.send needs exactly one of 'bytes' and 'text'")
            if data is not None:
                self.stream.send_message(bytes(data))
            else:
                if not isinstance(text, str):
                    raise TypeError(f"websocket.send 'text' must be a str, got {text!r}")
                self.stream.send_message(text)
            if self.stream.writing_paused:
                await self._drain()
            return
        if kind == "websocket.accept":
            if phase is not Phase.CONNECTING:
                raise self._out_of_order(kind)
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and not isinstance(subprotocol, str):
                raise TypeError(f"websocket.accept subprotocol must be a str, got {subprotocol!r}")
            headers = _headers(message)
            self.stream.accept(subprotocol, headers)
            self.phase = Phase.OPEN
            return
        if kind == "websocket.close":
            if phase is Phase.CONNECTING:
                # Closing before accept refuses the handshake: 403 (the spec's choice).
                self.phase = Phase.CLOSED
                self.response_status = 403
                self.stream.send_response(403, [], b"", False, True)
                return
            if phase is not Phase.OPEN:
                raise self._out_of_order(kind)
            code = message.get("code") or 1000
            reason = message.get("reason") or ""
            if not isinstance(code, int) or not isinstance(reason, str):
                raise TypeError("websocket.close code must be an int and reason a str")
            self.phase = Phase.CLOSED
            self.stream.close(code, reason)
            return
        if kind == "websocket.http.response.start":
            if phase is not Phase.CONNECTING:
                raise self._out_of_order(kind)
            status = message["status"]
            if not isinstance(status, int) or isinstance(status, bool) or not (
                    100 <= status <= 599) or status == 101:
                raise RuntimeError(f"invalid denial response status {status!r}")
            self.response_status = int(status)
            self.response_headers = _headers(message)
            self.response_started = False
            self.phase = Phase.RESPONDING
            return
        if kind == "websocket.http.response.body":
            if phase is not Phase.RESPONDING:
                raise self._out_of_order(kind)
            more_body = bool(message.get("more_body", False))
            if not more_body:
                self.phase = Phase.CLOSED
            first = not self.response_started
            self.response_started = True
            self.stream.send_response(self.response_status, self.response_headers,
                                      bytes(message.get("body", b"")), more_body, first)
            if more_body and self.stream.writing_paused:
                await self._drain()
            return
        raise RuntimeError(f"unexpected ASGI message type {kind!r}")

    def _out_of_order(self, kind: str) -> RuntimeError:
        return RuntimeError(f"{kind} not allowed while the WebSocket is {self.phase.name.lower()}")

    async def _drain(self) -> None:
        while self.stream.writing_paused and self.disconnect_message is None:
            self.write_waiter = waiter = self.state.runtime.create_waiter()
            try:
                await waiter
            finally:
                self.write_waiter = None
        if self.disconnect_message is not None:
            # Cut while waiting (write timeout, shutdown): what was sent may never arrive.
            raise ClientDisconnected("websocket connection closed")

    # -- the task -----------------------------------------------------------------------

    async def run(self) -> None:
        state = self.state
        state.running_apps += 1
        try:
            app: Callable[..., Awaitable[None]] = state.app
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if isinstance(exc, ClientDisconnected) and self.disconnected:
                pass  # our own signal, let through by the app
            elif isinstance(exc, self.propagate):
                raise
            else:
                self._app_failed("Exception in ASGI application", exc)
        else:
            if self.phase is Phase.CONNECTING:
                self._app_failed("ASGI application returned without accepting or closing "
                                 "the WebSocket", None)
            elif self.phase is Phase.OPEN and not self.disconnected:
                self.phase = Phase.CLOSED
                self.stream.close(1000, "")
        finally:
            state.running_apps -= 1
            if state.drain_waiter is not None:
                # Graceful shutdown may be waiting for this app: let the state check.
                # (connection_closed discards nothing here; it wakes the drain waiter if
                # nothing is left.)
                state.connection_closed(self)
            self.stream.cycle_done(self)

    def _app_failed(self, message: str, exc: BaseException | None) -> None:
        logger = self.state.error_logger
        if logger is not None:
            if exc is None:
                logger.error(message)
            else:
                logger.error(message, exc_info=exc)
        if self.disconnected:
            return
        if self.phase is Phase.CONNECTING:
            self.phase = Phase.CLOSED
            self.response_status = 500
            self.stream.send_response(500, [], b"", False, True)
        elif self.phase is Phase.OPEN:
            self.phase = Phase.CLOSED
            self.stream.close(1011, "")
        # RESPONDING: the response is cut (stream.cycle_done closes the connection).
