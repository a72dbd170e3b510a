"""WebSocket over HTTP/2 (RFC 8441) without sockets: an h2 client joined to the HTTP/2 core
(h2util.Peer), with wsproto's frame codec over one stream's DATA.

``H2WebSocket(peer, path)`` sends the extended CONNECT; once the server answered 200,
``send(*events)`` writes wsproto frames as DATA on the stream and ``events()`` reads what
the server wrote back on it. wsproto's ``Connection`` is the part of wsproto that works
after any handshake (HTTP/1.1 or HTTP/2).
"""

from __future__ import annotations

from typing import Any

from h2util import Peer, Response
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Event
from wsproto.extensions import PerMessageDeflate


def connect_fields(path: str = "/", *, version: bytes | None = b"13",
                   subprotocols: list[str] | None = None, deflate: bool = False,
                   scheme: bytes = b"http", protocol: bytes = b"websocket",
                   extra: list[tuple[bytes, bytes]] | None = None) -> list[tuple[bytes, bytes]]:
    """The HEADERS of an extended CONNECT for a WebSocket (RFC 8441 5)."""
    fields = [(b":method", b"CONNECT"), (b":protocol", protocol), (b":scheme", scheme),
              (b":path", path.encode()), (b":authority", b"example.com")]
    if version is not None:
        fields.append((b"sec-websocket-version", version))
    if subprotocols:
        fields.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    if deflate:
        fields.append((b"sec-websocket-extensions",
                       b"permessage-deflate; client_max_window_bits"))
    return fields + (extra or [])


class H2WebSocket:
    """One WebSocket on a stream of ``peer``'s connection."""

    def __init__(self, peer: Peer, path: str = "/", *, deflate: bool = False,
                 fields: list[tuple[bytes, bytes]] | None = None, **options: Any) -> None:
        self.peer = peer
        self.sid: int = peer.client.get_next_available_stream_id()
        self.offer = PerMessageDeflate() if deflate else None
        if fields is None:
            fields = connect_fields(path, deflate=deflate, **options)
        peer.client.send_headers(self.sid, fields, end_stream=False)
        peer.pump()
        self.settle()
        self.read = 0  # of the stream's body, what went into the codec
        self.ws: Connection | None = None
        if self.response.status == 200:
            extensions: list[Any] = []
            agreed = self.response.get(b"sec-websocket-extensions")
            if agreed is not None and self.offer is not None:
                self.offer.finalize(agreed.decode())
                extensions = [self.offer]
            self.ws = Connection(ConnectionType.CLIENT, extensions)

    @property
    def response(self) -> Response:
        return self.peer.response(self.sid)

    def settle(self) -> None:
        """Let the apps run and the two sides talk until both are quiet."""
        for _ in range(1000):
            self.peer.h.runtime.run_ready()
            out = self.peer.h.take()
            self.peer.receive(out)
            data = self.peer.client.data_to_send()
            if data:
                self.peer.receive(self.peer.h.feed(data))
            if not out and not data:
                return

    def send_raw(self, data: bytes, end: bool = False) -> None:
        self.peer.client.send_data(self.sid, data, end_stream=end)
        self.settle()

    def send(self, *events: Event, end: bool = False) -> None:
        assert self.ws is not None
        self.send_raw(b"".join(self.ws.send(event) for event in events), end)

    def events(self) -> list[Event]:
        assert self.ws is not None
        self.settle()
        body = self.response.body
        if len(body) > self.read:
            self.ws.receive_data(body[self.read:])
            self.read = len(body)
        return list(self.ws.events())

    def reset(self, code: int = 8) -> None:
        self.peer.client.reset_stream(self.sid, code)
        self.settle()
