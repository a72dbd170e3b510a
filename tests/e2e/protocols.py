"""One test body, two protocols: ``@both_protocols`` parametrizes a test's ``protocol``
("http/1.1", "h2"), and the clients here speak it to a ServerProcess (tests/conftest.py),
so that the ASGI semantics tests (bodies, disconnects, errors, scope) run over HTTP/1.1
and HTTP/2 alike.

HTTP/2 is h2c with prior knowledge on a cleartext server and ALPN "h2" on a TLS one.
``client(server, protocol)`` is an httpx client held to that protocol; ``RawRequest`` is one
request driven by hand (a socket for HTTP/1.1, a stream of an h2 client connection for
HTTP/2), for what httpx cannot do: stop halfway and go away.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import httpx
import pytest

from tests.e2e.rawhttp import connect, read_head, request

PROTOCOLS = ["http/1.1", "h2"]
TIMEOUT = 10.0
both_protocols = pytest.mark.parametrize("protocol", PROTOCOLS)


def client(server: Any, protocol: str, **kwargs: Any) -> httpx.Client:
    """An httpx client of ``server`` that speaks only ``protocol``."""
    h2 = protocol == "h2"
    kwargs.setdefault("timeout", TIMEOUT)
    return httpx.Client(base_url=server.url, http1=not h2, http2=h2, verify=server.verify,
                        **kwargs)


def version(protocol: str) -> str:
    """httpx's ``response.http_version`` for ``protocol``."""
    return "HTTP/2" if protocol == "h2" else "HTTP/1.1"


class RawRequest:
    """One request on a connection of its own, by hand. ``abandon()`` is the client going
    away from it: the connection closed for HTTP/1.1; for HTTP/2 a RST_STREAM (CANCEL) with
    the connection kept open, which ``still_serves()`` then checks by a second stream."""

    def __init__(self, server: Any, protocol: str, method: str, target: str,
                 headers: list[tuple[str, str]] | None = None, body: bytes = b"",
                 end: bool = True) -> None:
        self.protocol = protocol
        self.server = server
        self.buffered = b""
        if protocol == "h2":
            sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
            if server.scheme == "https":
                context = server.tls.client_context()
                context.set_alpn_protocols(["h2"])
                sock = context.wrap_socket(sock, server_hostname=server.host)
                assert sock.selected_alpn_protocol() == "h2"
            self.sock = sock
            self.conn = h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=True, header_encoding=None))
            self.conn.initiate_connection()
            self.stream_id = self.send_request(method, target, headers or [], body, end)
        else:
            self.sock = connect(server)
            self.reader = self.sock.makefile("rb")
            self.sock.sendall(request(method, target, headers, body))

    def __enter__(self) -> RawRequest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP/2 -------------------------------------------------------------------------------

    def send_request(self, method: str, target: str, headers: list[tuple[str, str]],
                     body: bytes, end: bool) -> int:
        sid: int = self.conn.get_next_available_stream_id()
        fields = [(b":method", method.encode()), (b":scheme", self.server.scheme.encode()),
                  (b":authority", f"{self.server.host}:{self.server.port}".encode()),
                  (b":path", target.encode())]
        fields += [(n.lower().encode(), v.encode()) for n, v in headers]
        self.conn.send_headers(sid, fields, end_stream=end and not body)
        if body:
            self.conn.send_data(sid, body, end_stream=end)
        self.sock.sendall(self.conn.data_to_send())
        return sid

    def events(self) -> list[h2.events.Event]:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        events = self.conn.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
        self.sock.sendall(self.conn.data_to_send())
        return events

    # -- both ---------------------------------------------------------------------------------

    def read_status(self) -> int:
        """The response's status (its head read)."""
        if self.protocol != "h2":
            _, status, _ = read_head(self.reader)
            return int(status)
        while True:
            for event in self.events():
                if (isinstance(event, h2.events.ResponseReceived)
                        and event.stream_id == self.stream_id):
                    return int(dict(event.headers)[b":status"])
                if isinstance(event, h2.events.DataReceived) and (
                        event.stream_id == self.stream_id):
                    self.buffered += event.data

    def read_body(self, size: int) -> bytes:
        """``size`` bytes of the response body (after read_status)."""
        if self.protocol != "h2":
            return bytes(self.reader.read(size))
        while len(self.buffered) < size:
            for event in self.events():
                if isinstance(event, h2.events.DataReceived) and (
                        event.stream_id == self.stream_id):
                    self.buffered += event.data
        data, self.buffered = self.buffered[:size], self.buffered[size:]
        return data

    def abandon(self) -> None:
        if self.protocol == "h2":
            self.conn.reset_stream(self.stream_id, h2.errors.ErrorCodes.CANCEL)
            self.sock.sendall(self.conn.data_to_send())
        else:
            self.close()

    def still_serves(self) -> bool:
        """HTTP/2: a new stream on the same connection is answered (the reset stream took
        nothing else down). HTTP/1.1: nothing to check on a closed connection."""
        if self.protocol != "h2":
            return True
        sid = self.send_request("GET", "/", [], b"", True)
        body = b""
        while True:
            for event in self.events():
                if isinstance(event, h2.events.DataReceived) and event.stream_id == sid:
                    body += event.data
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == sid:
                    return body == b"hello"

    def close(self) -> None:
        try:
            if self.protocol != "h2":
                self.reader.close()
            self.sock.close()
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
