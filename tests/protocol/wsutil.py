"""Helpers for the WebSocket protocol tests: a wsproto client joined to fastcorn's
WebSocket core by an in-memory wire (no event loop, no sockets).

``WSPair(app, request=..., **ws_options)`` makes the upgrade request with wsproto's client
(or takes raw request bytes), gives it to the core as the HTTP/1.1 core would (its HTTP
scope and body), and steps the app by hand (fastcorn.testing.ManualRuntime).
``pair.events()`` are the wsproto events the server's output produced on the client side.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # fastcorn is built in place, not installed
    sys.path.insert(0, str(REPO))

from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import Event, Request  # noqa: E402
from wsproto.extensions import PerMessageDeflate  # noqa: E402

from fastcorn.asgi.cycle import ServerState  # noqa: E402
from fastcorn.config import Config  # noqa: E402
from fastcorn.protocol.websocket import websocket_upgrade  # noqa: E402
from fastcorn.testing import ManualRuntime, MemoryTransport  # noqa: E402

DATE = (b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")


def http_scope(request: bytes, scheme: str = "http") -> tuple[dict[str, Any], bytes]:
    """The HTTP scope and body the HTTP/1.1 core would give the upgrade handler."""
    head, _, body = request.partition(b"\r\n\r\n")
    line, *fields = head.split(b"\r\n")
    method, target, version = line.split(b" ")
    headers = []
    for field in fields:
        name, _, value = field.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    raw_path, _, query = target.partition(b"?")
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": version.decode()[5:], "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000), "scheme": scheme, "method": method.decode(),
        "root_path": "", "path": unquote(raw_path.decode("latin-1")), "raw_path": raw_path,
        "query_string": query, "headers": headers, "state": {}, "extensions": {},
    }
    return scope, body


class WSPair:
    """A wsproto client and fastcorn's WebSocket core on one in-memory connection."""

    def __init__(self, app: Any, request: bytes | None = None, *, target: str = "/",
                 subprotocols: list[str] | None = None, deflate: bool = False,
                 extensions: list[Any] | None = None, extra_headers: list[Any] | None = None,
                 scheme: str = "http", timeout_write: float = 60.0, start: bool = True,
                 **options: Any) -> None:
        self.runtime = ManualRuntime()
        if hasattr(app, "runtime"):
            app.runtime = self.runtime  # a Recorder waits on this runtime's waiters
        self.state = ServerState(app, self.runtime, default_headers=[DATE],
                                 timeout_write=timeout_write)
        self.client = WSConnection(ConnectionType.CLIENT)
        if request is None:
            if deflate:
                extensions = [PerMessageDeflate()]
            request = self.client.send(Request(
                host="localhost", target=target, subprotocols=subprotocols or [],
                extensions=extensions or [], extra_headers=extra_headers or []))
        self.request = request
        scope, body = http_scope(request, scheme)
        self.config = Config(**options)
        core = websocket_upgrade(self.state, self.config)(scope, body)
        assert core is not None
        self.core: Any = core
        self.transport = MemoryTransport(core, ("127.0.0.1", 50000), ("127.0.0.1", 8000))
        core.connection_made(self.transport)
        if start:  # else the app has not run yet: the test steps it (runtime.run_ready)
            self.runtime.run_ready()

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
