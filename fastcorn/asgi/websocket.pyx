# cython: freethreading_compatible = False
"""The ASGI WebSocket cycle (ASGI WebSocket spec 2.4, with the denial-response extension), compiled.

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

from collections import deque
from typing import Any, Protocol

from fastcorn.asgi.cycle import ClientDisconnected

from fastcorn.asgi.cycle cimport ServerState

cdef object ClientDisconnectedError = ClientDisconnected
cdef object new_deque = deque

Message = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

cdef enum:
    # What one queued message costs beyond its payload (the dict, its strings, the deque slot).
    MESSAGE_OVERHEAD = 100
    # The resume mark for reading: once the app has read its queue down to this many bytes.
    LOW_WATER = 64 * 1024

# Interned keys and values (house rule 3).
cdef str K_TYPE = "type"
cdef str K_BYTES = "bytes"
cdef str K_TEXT = "text"
cdef str T_SEND = "websocket.send"
cdef str T_CLOSE = "websocket.close"
cdef str T_ACCEPT = "websocket.accept"
cdef str T_START = "websocket.http.response.start"
cdef str T_BODY = "websocket.http.response.body"
cdef dict CONNECT = {"type": "websocket.connect"}
cdef tuple NOTHING = ()


cdef class Done:
    """What send() returns when it did not have to wait: awaiting it finishes at once."""

    def __await__(self):
        return iter(NOTHING)


cdef Done DONE = Done()


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

    def cycle_done(self, cycle: Any) -> None:
        """The app returned (or failed): whatever is still open is ended by the protocol."""


# The cycle's phase (WebSocketCycle.phase).
CONNECTING = PHASE_CONNECTING
OPEN = PHASE_OPEN
RESPONDING = PHASE_RESPONDING
CLOSED = PHASE_CLOSED
cdef tuple PHASE_NAMES = ("connecting", "open", "responding", "closed")


def websocket_scope(dict http_scope):
    """The WebSocket scope of a handshake, from the HTTP scope its protocol built for it:
    the same connection facts, a ws/wss scheme, the offered subprotocols and the
    denial-response extension (beside ``tls`` when the HTTP scope has it)."""
    cdef list subprotocols = []
    for name, value in http_scope["headers"]:
        if name == b"sec-websocket-protocol":
            subprotocols.extend(
                token.strip() for token in value.decode("latin-1").split(",") if token.strip())
    cdef dict extensions = {"websocket.http.response": {}}
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


cdef list _headers(dict message):
    headers = message.get("headers") or []
    result = []
    for name, value in headers:
        result.append((bytes(name), bytes(value)))
    return result


cdef class WebSocketCycle:
    """One WebSocket connection's ASGI app call: its receive queue and send state."""

    def __init__(self, ServerState state, stream, dict scope):
        self.state = state
        self.stream = stream
        self.scope = scope
        self.phase = PHASE_CONNECTING
        self.queue = new_deque()
        self.response_headers = []
        cancelled = getattr(state.runtime, "cancelled_error", None)
        self.propagate = (GeneratorExit,) if cancelled is None else (GeneratorExit, cancelled)

    # -- fed by the protocol ------------------------------------------------------------

    @property
    def disconnected(self):
        return self.disconnect_message is not None

    def feed_message(self, dict message, Py_ssize_t size):
        """A whole message from the client (``websocket.receive``); ``size``: its payload."""
        if self.disconnect_message is not None or self.phase == PHASE_CLOSED:
            return  # the app closed: what the client still sends is not for it
        self.queue.append(message)
        self.queued_bytes += size + MESSAGE_OVERHEAD
        if self.receive_waiter is not None:
            self._wake(self.receive_waiter)

    def feed_messages(self, list messages, Py_ssize_t size):
        """Whole messages at once (the compiled lane's); ``size``: their payload bytes."""
        if self.disconnect_message is not None or self.phase == PHASE_CLOSED:
            return
        self.queue.extend(messages)
        self.queued_bytes += size + MESSAGE_OVERHEAD * len(messages)
        if self.receive_waiter is not None:
            self._wake(self.receive_waiter)

    def feed_marker(self, callback):
        """Call ``callback`` once the app has read every message queued before it (and,
        having asked for the next one, answered them): a protocol error found past them
        is reported in order."""
        self.queue.append(callback)
        if self.receive_waiter is not None:
            self._wake(self.receive_waiter)

    def disconnect(self, int code, str reason=""):
        """The connection ended (a close frame either way, a failure, a lost transport):
        receive() returns websocket.disconnect after the queued messages; send() raises."""
        if self.disconnect_message is None:
            self.disconnect_message = {K_TYPE: "websocket.disconnect", "code": code,
                                       "reason": reason}
        if self.receive_waiter is not None:
            self._wake(self.receive_waiter)
        if self.write_waiter is not None:
            self._wake(self.write_waiter)

    def wake_writer(self):
        if self.write_waiter is not None:
            self._wake(self.write_waiter)

    cdef _wake(self, object waiter):
        if not waiter.done():
            waiter.set_result(None)

    # -- the ASGI callables -------------------------------------------------------------

    async def receive(self):
        cdef object message, payload
        while True:
            if not self.connect_delivered:
                self.connect_delivered = True
                return CONNECT.copy()
            if self.queue:
                message = self.queue.popleft()
                if type(message) is not dict:  # a marker (feed_marker)
                    message()
                    continue
                payload = (<dict>message).get(K_BYTES)
                if payload is None:
                    payload = (<dict>message).get(K_TEXT)
                self.queued_bytes -= len(payload) + MESSAGE_OVERHEAD
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

    def send(self, dict message):
        """ASGI send. Returns an awaitable; errors are raised by the call itself."""
        kind = message[K_TYPE]
        cdef int phase = self.phase
        if (self.disconnect_message is not None and phase != PHASE_RESPONDING) or (
                phase == PHASE_CLOSED and (kind == T_SEND or kind == T_CLOSE)):
            # The connection is closed or closing (the app's own close included): ASGI 2.4
            # has send() raise an OSError subclass.
            raise ClientDisconnectedError("websocket connection closed")
        if kind == T_SEND:
            if phase != PHASE_OPEN:
                raise self._out_of_order(kind)
            data = message.get(K_BYTES)
            text = message.get(K_TEXT)
            if (data is None) == (text is None):
                raise RuntimeError("websocket.send needs exactly one of 'bytes' and 'text'")
            if data is not None:
                self.stream.send_message(data if type(data) is bytes else bytes(data))
            else:
                if type(text) is not str:
                    raise TypeError(f"websocket.send 'text' must be a str, got {text!r}")
                self.stream.send_message(text)
            if self.stream.writing_paused:
                return self._drain()
            return DONE
        return self._send_other(message, kind, phase)

    def _send_other(self, dict message, kind, int phase):
        """Every message but websocket.send (rare: once per connection)."""
        if kind == T_ACCEPT:
            if phase != PHASE_CONNECTING:
                raise self._out_of_order(kind)
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and not isinstance(subprotocol, str):
                raise TypeError(f"websocket.accept subprotocol must be a str, got {subprotocol!r}")
            headers = _headers(message)
            self.stream.accept(subprotocol, headers)
            self.phase = PHASE_OPEN
            return DONE
        if kind == T_CLOSE:
            if phase == PHASE_CONNECTING:
                # Closing before accept refuses the handshake: 403 (the spec's choice).
                self.phase = PHASE_CLOSED
                self.response_status = 403
                self.stream.send_response(403, [], b"", False, True)
                return DONE
            if phase != PHASE_OPEN:
                raise self._out_of_order(kind)
            code = message.get("code") or 1000
            reason = message.get("reason") or ""
            if not isinstance(code, int) or not isinstance(reason, str):
                raise TypeError("websocket.close code must be an int and reason a str")
            self.phase = PHASE_CLOSED
            self.stream.close(code, reason)
            return DONE
        if kind == T_START:
            if phase != PHASE_CONNECTING:
                raise self._out_of_order(kind)
            status = message["status"]
            if not isinstance(status, int) or isinstance(status, bool) or not (
                    100 <= status <= 599) or status == 101:
                raise RuntimeError(f"invalid denial response status {status!r}")
            self.response_status = int(status)
            self.response_headers = _headers(message)
            self.response_started = False
            self.phase = PHASE_RESPONDING
            return DONE
        if kind == T_BODY:
            if phase != PHASE_RESPONDING:
                raise self._out_of_order(kind)
            more_body = bool(message.get("more_body", False))
            if not more_body:
                self.phase = PHASE_CLOSED
            first = not self.response_started
            self.response_started = True
            self.stream.send_response(self.response_status, self.response_headers,
                                      bytes(message.get("body", b"")), more_body, first)
            if more_body and self.stream.writing_paused:
                return self._drain()
            return DONE
        raise RuntimeError(f"unexpected ASGI message type {kind!r}")

    cdef _out_of_order(self, kind):
        return RuntimeError(f"{kind} not allowed while the WebSocket is {PHASE_NAMES[self.phase]}")

    async def _drain(self):
        while self.stream.writing_paused and self.disconnect_message is None:
            self.write_waiter = waiter = self.state.runtime.create_waiter()
            try:
                await waiter
            finally:
                self.write_waiter = None
        if self.disconnect_message is not None:
            # Cut while waiting (write timeout, shutdown): what was sent may never arrive.
            raise ClientDisconnectedError("websocket connection closed")

    # -- the task -----------------------------------------------------------------------

    async def run(self):
        cdef ServerState state = self.state
        state.running_apps += 1
        try:
            await state.app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if isinstance(exc, ClientDisconnectedError) and self.disconnect_message is not None:
                pass  # our own signal, let through by the app
            elif isinstance(exc, self.propagate):
                raise
            else:
                self._app_failed("Exception in ASGI application", exc)
        else:
            if self.phase == PHASE_CONNECTING:
                self._app_failed("ASGI application returned without accepting or closing "
                                 "the WebSocket", None)
            elif self.phase == PHASE_OPEN and self.disconnect_message is None:
                self.phase = PHASE_CLOSED
                self.stream.close(1000, "")
        finally:
            state.running_apps -= 1
            if state.drain_waiter is not None:
                # Graceful shutdown may be waiting for this app: let the state check.
                # (connection_closed discards nothing here; it wakes the drain waiter if
                # nothing is left.)
                state.connection_closed(self)
            self.stream.cycle_done(self)

    cdef _app_failed(self, str message, object exc):
        logger = self.state.error_logger
        if logger is not None:
            if exc is None:
                logger.error(message)
            else:
                logger.error(message, exc_info=exc)
        if self.disconnect_message is not None:
            return
        if self.phase == PHASE_CONNECTING:
            self.phase = PHASE_CLOSED
            self.response_status = 500
            self.stream.send_response(500, [], b"", False, True)
        elif self.phase == PHASE_OPEN:
            self.phase = PHASE_CLOSED
            self.stream.close(1011, "")
        # RESPONDING: the response is cut (stream.cycle_done closes the connection).
