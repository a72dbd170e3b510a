"""A WebSocket client over HTTP/2 (RFC 8441) on a real socket, for the end-to-end tests.

No common Python client library speaks RFC 8441, so this one is made of the two sans-IO
pieces the server also builds on: ``h2`` for the connection (TLS with ALPN ``h2``, or
cleartext with prior knowledge) and wsproto's ``Connection`` as the frame codec over each
stream's DATA. Several WebSockets and plain requests share the one connection.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events as ev
from wsproto.connection import Connection, ConnectionType
from wsproto.events import Event, Message
from wsproto.extensions import PerMessageDeflate


class _Connection(h2.connection.H2Connection):
    """h2's client, which after a graceful GOAWAY goes on with the streams in flight, as
    RFC 9113 6.8 has it (h2 itself refuses every later frame)."""

    def _receive_goaway_frame(self, frame: Any) -> Any:
        result = super()._receive_goaway_frame(frame)
        if frame.error_code == 0:
            self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return result


@dataclass
class Stream:
    status: int | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None
    ws: Connection | None = None
    events: list[Event] = field(default_factory=list)


class H2Client:
    """One HTTP/2 connection to ``server`` (the conftest ServerProcess)."""

    def __init__(self, server: Any, timeout: float = 10.0) -> None:
        sock = socket.create_connection((server.host, server.port), timeout=timeout)
        if server.tls is not None:
            context = server.tls.client_context()
            context.set_alpn_protocols(["h2"])
            tls = context.wrap_socket(sock, server_hostname=server.host)
            assert tls.selected_alpn_protocol() == "h2"
            self.sock: socket.socket | ssl.SSLSocket = tls
        else:
            self.sock = sock  # prior knowledge
        self.conn = _Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.streams: dict[int, Stream] = {}
        self.terminated: ev.ConnectionTerminated | None = None
        self.flush()
        self.until(lambda: self.settings_received)

    settings_received = False

    # -- the wire -------------------------------------------------------------------

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def read(self) -> bool:
        """One read; False when the server closed the connection."""
        data = self.sock.recv(65536)
        if not data:
            return False
        for event in self.conn.receive_data(data):
            self.record(event)
        self.flush()
        return True

    def until(self, done: Any, reads: int = 10_000) -> None:
        for _ in range(reads):
            if done():
                return
            if not self.read():
                break
        assert done(), "the server did not answer in time"

    def record(self, event: Any) -> None:
        if isinstance(event, ev.RemoteSettingsChanged):
            self.settings_received = True
        if isinstance(event, ev.ConnectionTerminated):
            self.terminated = event
        sid = getattr(event, "stream_id", None)
        if sid is None or sid not in self.streams:
            return
        s = self.streams[sid]
        if isinstance(event, ev.ResponseReceived):
            s.headers = dict(event.headers)
            s.status = int(s.headers.pop(b":status"))
        elif isinstance(event, ev.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
            if s.ws is not None:
                if event.data:
                    s.ws.receive_data(event.data)
                s.events.extend(s.ws.events())
            else:
                s.body += event.data
        elif isinstance(event, ev.StreamEnded):
            s.ended = True
        elif isinstance(event, ev.StreamReset):
            s.reset = event.error_code

    # -- requests -------------------------------------------------------------------

    @property
    def extended_connect(self) -> bool:
        return bool(self.conn.remote_settings.enable_connect_protocol)

    def request(self, path: str, method: str = "GET") -> Stream:
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = s = Stream()
        self.conn.send_headers(sid, [(b":method", method.encode()), (b":scheme", self.scheme),
                                     (b":authority", b"localhost"), (b":path", path.encode())],
                               end_stream=True)
        self.flush()
        self.until(lambda: s.ended or s.reset is not None)
        return s

    @property
    def scheme(self) -> bytes:
        return b"https" if isinstance(self.sock, ssl.SSLSocket) else b"http"

    def websocket(self, path: str, subprotocols: list[str] | None = None,
                  deflate: bool = False) -> tuple[int, Stream]:
        """Open a WebSocket (extended CONNECT); the stream's codec is set once accepted."""
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = s = Stream()
        fields = [(b":method", b"CONNECT"), (b":protocol", b"websocket"),
                  (b":scheme", self.scheme), (b":path", path.encode()),
                  (b":authority", b"localhost"), (b"sec-websocket-version", b"13")]
        if subprotocols:
            fields.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
        offer = PerMessageDeflate() if deflate else None
        if offer is not None:
            fields.append((b"sec-websocket-extensions",
                           b"permessage-deflate; client_max_window_bits"))
        self.conn.send_headers(sid, fields, end_stream=False)
        self.flush()
        self.until(lambda: s.status is not None or s.reset is not None)
        if s.status == 200:
            extensions: list[Any] = []
            agreed = s.headers.get(b"sec-websocket-extensions")
            if offer is not None and agreed is not None:
                offer.finalize(agreed.decode())
                extensions = [offer]
            s.ws = Connection(ConnectionType.CLIENT, extensions)
        else:
            self.until(lambda: s.ended or s.reset is not None)
        return sid, s

    def send(self, sid: int, *events: Event, end: bool = False) -> None:
        ws = self.streams[sid].ws
        assert ws is not None
        data = b"".join(ws.send(event) for event in events)
        # within the windows: h2 refuses to overrun them, so wait for WINDOW_UPDATEs
        while data:
            window = min(self.conn.local_flow_control_window(sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self.read()
                continue
            chunk, data = data[:window], data[window:]
            self.conn.send_data(sid, chunk, end_stream=end and not data)
            self.flush()
        if end and not events:
            self.conn.end_stream(sid)
            self.flush()

    def receive(self, sid: int, count: int = 1) -> list[Any]:
        """The next ``count`` whole messages of the stream (wsproto gives long ones in parts)."""
        s = self.streams[sid]
        messages: list[Any] = []

        def complete() -> bool:
            while s.events and len(messages) < count:
                parts = []
                for i, event in enumerate(s.events):
                    if isinstance(event, Message):
                        parts.append(event.data)
                        if event.message_finished:
                            messages.append(parts[0][:0].join(parts))
                            del s.events[:i + 1]
                            break
                    else:
                        return True  # something else first (a close): the caller looks
                else:
                    return False
            return len(messages) >= count

        self.until(complete)
        return messages

    def next_event(self, sid: int) -> Event:
        s = self.streams[sid]
        self.until(lambda: bool(s.events))
        return s.events.pop(0)

    def close(self) -> None:
        self.sock.close()
