"""Helpers for the WebSocket protocol tests: a wsproto client joined to fastcorn's
WebSocket core by an in-memory wire (no event loop, no sockets).

``WSPair(app, request=..., **options)`` makes the upgrade request with wsproto's client
(or takes raw request bytes) and feeds it to a fastcorn.testing.Harness connection whose
factory is the server's (negotiate.connection_factory with a Config of ``options``): the
HTTP/1.1 core reads it and hands over to the WebSocket core.
``pair.events()`` are the wsproto events the server's output produced on the client side.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # fastcorn is built in place, not installed
    sys.path.insert(0, str(REPO))

from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import Event, Request  # noqa: E402
from wsproto.extensions import PerMessageDeflate  # noqa: E402

from fastcorn.config import Config  # noqa: E402
from fastcorn.protocol.negotiate import connection_factory  # noqa: E402
from fastcorn.testing import Harness  # noqa: E402

DATE = (b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")


class WSPair:
    """A wsproto client and fastcorn on one in-memory connection: the upgrade request goes
    through the HTTP/1.1 core, which hands the connection to the WebSocket core."""

    def __init__(self, app: Any, request: bytes | None = None, *, target: str = "/",
                 subprotocols: list[str] | None = None, deflate: bool = False,
                 extensions: list[Any] | None = None, extra_headers: list[Any] | None = None,
                 timeout_write: float = 60.0, start: bool = True, **options: Any) -> None:
        self.client = WSConnection(ConnectionType.CLIENT)
        if request is None:
            if deflate:
                extensions = [PerMessageDeflate()]
            request = self.client.send(Request(
                host="localhost", target=target, subprotocols=subprotocols or [],
                extensions=extensions or [], extra_headers=extra_headers or []))
        self.request = request
        self.config = Config(**options)
        self.harness = Harness(app, factory=lambda state: connection_factory(state, self.config),
                               timeout_write=timeout_write)
        self.runtime = self.harness.runtime
        self.state = self.harness.state
        if hasattr(app, "runtime"):
            app.runtime = self.runtime  # a Recorder waits on this runtime's waiters
        self.transport = self.harness.transport
        self.transport.protocol.data_received(request)
        if start:  # else the app has not run yet: the test steps it (runtime.run_ready)
            self.runtime.run_ready()

    @property
    def core(self) -> Any:
        """The core the connection has now: the WebSocket core once handed over."""
        return self.transport.protocol

    # -- the wire ---------------------------------------------------------------------

    def take(self) -> bytes:
        out = bytes(self.transport.output)
        self.transport.output.clear()
        return out

    def feed(self, data: bytes) -> bytes:
        """Raw bytes from the client; returns the raw output."""
        if data and not self.transport.closed:
            self.core.data_received(data)
        self.runtime.run_ready()
        return self.take()

    def send(self, *events: Event) -> None:
        """Client events to the server (the output stays for events())."""
        data = b"".join(self.client.send(event) for event in events)
        if not self.transport.closed:
            self.core.data_received(data)
        self.runtime.run_ready()

    def events(self) -> list[Event]:
        """What the server wrote since last time, as the wsproto client sees it."""
        self.runtime.run_ready()
        out = self.take()
        if out:
            self.client.receive_data(out)
        return list(self.client.events())

    def advance(self, seconds: float) -> None:
        self.state.check_timeouts(self.state.now + seconds)
        self.runtime.run_ready()

    def disconnect(self) -> None:
        if not self.transport.closed:
            self.transport.closed = True
            self.core.connection_lost(None)
        self.runtime.run_ready()

    @property
    def closed(self) -> bool:
        return self.transport.closed

    def assert_clean(self) -> None:
        self.disconnect()
        assert self.state.connections == set()
        assert self.state.running_apps == 0
        assert self.runtime.errors == []


# -- apps --------------------------------------------------------------------------------


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Accepts (with the first offered subprotocol) and echoes every message."""
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept",
                "subprotocol": scope["subprotocols"][0] if scope["subprotocols"] else None})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "bytes": message.get("bytes"),
                    "text": message.get("text")})


class Recorder:
    """An app that accepts and records what it receives, sending nothing back; with
    ``hold``, it stops reading once accepted until ``release()``."""

    def __init__(self, accept: bool = True, hold: bool = False) -> None:
        self.accept = accept
        self.hold = hold
        self.scope: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self.send: Any = None
        self.gate: Any = None

    def release(self) -> None:
        self.hold = False
        if self.gate is not None and not self.gate.done():
            self.gate.set_result(None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope, self.send = scope, send
        self.messages.append(await receive())
        if self.accept:
            await send({"type": "websocket.accept"})
        if self.hold:
            self.gate = self.runtime.create_waiter()
            await self.gate
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "websocket.disconnect":
                return

    runtime: Any = None
