"""Helpers for the HTTP/2 protocol tests: the h2 package's client is the other endpoint.

``Peer(app)`` joins an h2 client connection to fastcorn's HTTP/2 core through the
harness (fastcorn.testing.Harness: bytes in, bytes out, apps stepped by hand): what the
client sends is fed to the core, what the core writes is fed back to the client, and
the client's events are collected per stream. ``raw(frame...)`` feeds frames the client
state machine would never send (floods, frames for closed streams).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events as ev  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402
from hyperframe.frame import Frame  # noqa: E402

from fastcorn.config import Config  # noqa: E402
from fastcorn.protocol.h2 import H2Connection  # noqa: E402
from fastcorn.testing import Harness  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass
class Response:
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    informational: list[list[tuple[bytes, bytes]]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[bytes, bytes]] | None = None
    ended: bool = False
    reset: int | None = None  # the RST_STREAM error code

    def get(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n == name]
        assert len(values) <= 1, (name, values)
        return values[0] if values else None

    @property
    def names(self) -> list[bytes]:
        return [n for n, _ in self.headers]


class CountingTransportWrites:
    """Counts the core's transport.write calls (one per read or loop turn is the rule)."""

    def __init__(self, harness: Harness) -> None:
        self.count = 0
        transport = harness.transport
        original = transport.write

        def write(data: bytes) -> None:
            self.count += 1
            original(data)

        transport.write = write  # type: ignore[method-assign]


class Peer:
    """An h2 client connected to fastcorn's HTTP/2 core over an in-memory wire."""

    def __init__(self, app: Any, *, config: Config | None = None, preface: bool = True,
                 client_settings: dict[int, int] | None = None, auto_ack: bool = True,
                 core: Any = None, **state_options: Any) -> None:
        self.config = config if config is not None else Config(None)
        if core is not None:
            factory = lambda state: (lambda: core(state))  # noqa: E731
        else:
            factory = lambda state: functools.partial(  # noqa: E731
                H2Connection, state, self.config)
        self.h = Harness(app, factory=factory, **state_options)
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        if client_settings:
            self.client.local_settings = h2.settings.Settings(
                client=True, initial_values=client_settings)
        self.events: list[ev.Event] = []
        self.responses: dict[int, Response] = {}
        self.auto_ack = auto_ack
        self.terminated: ev.ConnectionTerminated | None = None
        self.pushed: list[ev.PushedStreamReceived] = []
        if preface:
            self.client.initiate_connection()
        self.received = self.receive(self.h.take()) if preface else []

    # -- the wire -------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[ev.Event]:
        """Bytes the server wrote, into the client."""
        if not data:
            return []
        events = self.client.receive_data(data)
        for event in events:
            self.record(event)
        self.events.extend(events)
        return events

    def record(self, event: ev.Event) -> None:
        sid = getattr(event, "stream_id", None)
        if isinstance(event, ev.ResponseReceived):
            r = self.response(sid)
            r.headers = [(n, v) for n, v in event.headers if n != b":status"]
            r.status = int(dict(event.headers)[b":status"])
        elif isinstance(event, ev.InformationalResponseReceived):
            self.response(sid).informational.append(list(event.headers))
        elif isinstance(event, ev.DataReceived):
            self.response(sid).body += event.data
            if self.auto_ack:
                self.client.acknowledge_received_data(event.flow_controlled_length, sid)
        elif isinstance(event, ev.TrailersReceived):
            self.response(sid).trailers = list(event.headers)
        elif isinstance(event, ev.StreamEnded):
            self.response(sid).ended = True
        elif isinstance(event, ev.StreamReset):
            self.response(sid).reset = event.error_code
        elif isinstance(event, ev.ConnectionTerminated):
            self.terminated = event
        elif isinstance(event, ev.PushedStreamReceived):
            self.pushed.append(event)

    def response(self, sid: int) -> Response:
        return self.responses.setdefault(sid, Response())

    def pump(self, rounds: int = 20) -> None:
        """Exchange bytes both ways until neither side has anything to say."""
        for _ in range(rounds):
            data = self.client.data_to_send()
            out = self.h.feed(data)
            if not data and not out:
                return
            self.receive(out)

    def raw(self, *frames: Frame | bytes) -> list[ev.Event]:
        """Feed frames as the client state machine would never send them."""
        self.pump()
        data = b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames)
        out = self.h.feed(data)
        try:
            return self.receive(out)
        except h2.exceptions.ProtocolError:
            return []

    def advance(self, seconds: float) -> None:
        self.receive(self.h.advance(seconds))
        self.pump()

    # -- requests -------------------------------------------------------------------------

    def request(self, method: str = "GET", path: str = "/", headers: Any = (),
                body: bytes | None = None, end: bool = True, pump: bool = True,
                authority: bytes = b"example.com") -> int:
        sid: int = self.client.get_next_available_stream_id()
        fields = [(b":method", method.encode()), (b":scheme", b"http"),
                  (b":authority", authority), (b":path", path.encode()), *headers]
        self.client.send_headers(sid, fields, end_stream=end and body is None)
        if body is not None:
            self.client.send_data(sid, body, end_stream=end)
        if pump:
            self.pump()
        return sid

    def get(self, path: str = "/", **kwargs: Any) -> Response:
        sid = self.request("GET", path, **kwargs)
        return self.responses.get(sid, Response())

    @property
    def closed(self) -> bool:
        """The server is done with the connection: closed, or half-closed and lingering
        (it reads and drops input until the client's EOF; see H2Connection.close_transport)."""
        return self.h.transport.closed or self.h.transport.eof_written


def scope_app(seen: list[dict[str, Any]]) -> Any:
    """An app that records each scope and answers 200 "ok"."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the whole request body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


GATES: list[Gate] = []


def release_gates() -> None:
    """Teardown: let every app still waiting at a gate go on (and meet its disconnect)."""
    while GATES:
        gate = GATES.pop()
        for waiter in gate.waiters:
            task = getattr(waiter, "task", None)
            if task is not None and task.cr_frame is None:
                continue  # its app was cancelled (the coroutine closed)
            waiter.set_result(None)
        if gate.runtime is not None:
            gate.runtime.run_ready()


class Gate:
    """Something an app awaits until the test opens it (``peer.gate()`` binds the runtime)."""

    def __init__(self) -> None:
        self.runtime: Any = None
        self.waiters: list[Any] = []
        GATES.append(self)

    async def wait(self) -> None:
        assert self.runtime is not None, "bind the gate to the peer's runtime first"
        waiter = self.runtime.create_waiter()
        self.waiters.append(waiter)
        await waiter

    def open(self, peer: Peer) -> None:
        for waiter in self.waiters:
            waiter.set_result(None)
        self.waiters = []
        peer.h.runtime.run_ready()
        peer.receive(peer.h.take())
        peer.pump()


def frames_of(data: bytes) -> list[Any]:
    """The frames in bytes the server wrote (for what the h2 client cannot take, such as
    frames after a GOAWAY)."""
    from hyperframe.frame import Frame as F

    found = []
    pos = 0
    while pos + 9 <= len(data):
        frame, length = F.parse_frame_header(memoryview(data[pos:pos + 9]))
        frame.parse_body(memoryview(data[pos + 9:pos + 9 + length]))
        found.append(frame)
        pos += 9 + length
    return found
