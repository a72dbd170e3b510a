"""A connection that starts with a one-line preamble, then hands over to HTTP/1.1.

``Preamble`` is a real protocol core (fastcorn.protocol.base.Core) standing in for the
PROXY-protocol reader still to come: it reads ``HELLO <tag>\\r\\n``, then gives the live
connection, with every byte it read past that line, to the core the real factory makes
(HTTP/1.1) through ``fastcorn.protocol.hand_over``. The protocol tests drive it with the
harness; as an app module (``tests.apps.handover:app``) it makes the server's factory
start every connection with it, so the e2e tests run the hand-over on every backend.
"""

from __future__ import annotations

from typing import Any

from fastcorn.asgi.cycle import ServerState
from fastcorn.protocol.base import CoreFactory, Transport, hand_over
from fastcorn.protocol.negotiate import connection_factory

LIMIT = 64  # a preamble line longer than this closes the connection


class Preamble:
    def __init__(self, state: ServerState, then: CoreFactory) -> None:
        self.state = state
        self.then = then
        self.buffer = b""
        self.transport: Transport | None = None
        self.handed_over = False

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        self.state.connections.add(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        assert not self.handed_over, "the transport still feeds the old core"
        self.buffer += data
        end = self.buffer.find(b"\r\n")
        if end < 0:
            if len(self.buffer) > LIMIT:
                self.transport.close()
            return
        line, rest = self.buffer[:end], self.buffer[end + 2:]
        if not line.startswith(b"HELLO "):
            self.transport.write(b"BAD PREAMBLE\r\n")
            self.transport.close()
            return
        self.handed_over = True
        self.state.connection_closed(self)
        hand_over(self.transport, self.then(), rest)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.state.connection_closed(self)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def check_timeout(self, now: float) -> None:
        pass

    def shutdown(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def preamble_factory(state: ServerState, config: Any = None, tls: bool = False) -> CoreFactory:
    """Like connection_factory: every connection starts with a Preamble, then the core the
    real factory makes."""
    then = connection_factory(state, config, tls)
    return lambda: Preamble(state, then)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["path"].encode()})

