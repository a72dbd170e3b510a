"""The opening handshake of a WebSocket, per carrying protocol: the seam of the WebSocket core.

The WebSocket core (fastcorn.protocol.websocket) is one for every protocol; what differs
is only how the handshake is checked and answered, which a :class:`Handshake` does:

- :class:`UpgradeHandshake`: HTTP/1.1 Upgrade (RFC 6455 4): a GET with Upgrade,
  Connection, Sec-WebSocket-Key; accepted with ``101 Switching Protocols`` and
  Sec-WebSocket-Accept; refused or denied with an HTTP/1.1 response, after which the
  connection closes.
- :class:`ConnectHandshake`: extended CONNECT on an HTTP/2 stream (RFC 8441 4 and 5): the
  HTTP/2 core checked ``:method CONNECT``, ``:protocol websocket``, ``:scheme``, ``:path``
  and ``:authority``; no key, no accept token; accepted with ``:status 200``; refused or
  denied with an HTTP/2 response on the stream. Its transport is the stream
  (:class:`fastcorn.protocol.h2tunnel.StreamTransport`), which adds ``send_head``.

Both check Sec-WebSocket-Version (13 only) and pass subprotocols and permessage-deflate
through the same fields, which the core builds.
"""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus
from typing import Any, Protocol

from wsproto.utilities import generate_accept_token

from fastcorn.protocol.base import Transport

Fields = list[tuple[bytes, bytes]]

_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                         b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class HandshakeError(Exception):
    """A bad opening handshake: answered with a 400 carrying this message."""

    def __init__(self, reason: str, headers: Fields | None = None) -> None:
        super().__init__(reason)
        self.headers = headers or []


def valid_field(name: bytes, value: bytes) -> bool:
    """A header an app may send: a token name, no CR, LF or NUL in the value."""
    return (bool(name) and all(c in _TOKEN_CHARS for c in name)
            and b"\r" not in value and b"\n" not in value and b"\0" not in value)


def _fields_of(scope: dict[str, Any]) -> dict[bytes, list[bytes]]:
    fields: dict[bytes, list[bytes]] = {}
    for name, value in scope["headers"]:
        fields.setdefault(name, []).append(value)
    return fields


def _tokens(values: list[bytes]) -> set[bytes]:
    return {token.strip().lower() for value in values for token in value.split(b",")}


def _check_version(fields: dict[bytes, list[bytes]]) -> None:
    if [v.strip() for v in fields.get(b"sec-websocket-version", [])] != [b"13"]:
        # RFC 6455 4.4: the error names the versions the server speaks.
        raise HandshakeError("Unsupported Sec-WebSocket-Version (this server speaks 13).",
                             [(b"sec-websocket-version", b"13")])


def check_handshake(scope: dict[str, Any], body: bytes) -> bytes:
    """The Sec-WebSocket-Key of a valid HTTP/1.1 opening handshake (RFC 6455 4.2.1); else
    HandshakeError. Host and the Upgrade token were checked by the HTTP/1.1 core."""
    if scope["method"] != "GET":
        raise HandshakeError("A WebSocket handshake must be a GET request.")
    if scope["http_version"] != "1.1":
        raise HandshakeError("A WebSocket handshake needs HTTP/1.1.")
    if body:
        raise HandshakeError("A WebSocket handshake has no body.")
    fields = _fields_of(scope)
    if b"websocket" not in _tokens(fields.get(b"upgrade", [])):
        raise HandshakeError("Upgrade: websocket is missing.")
    if b"upgrade" not in _tokens(fields.get(b"connection", [])):
        raise HandshakeError("Connection: upgrade is missing.")
    _check_version(fields)
    keys = fields.get(b"sec-websocket-key", [])
    if len(keys) != 1:
        raise HandshakeError("Sec-WebSocket-Key is missing.")
    key = keys[0].strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise HandshakeError("Sec-WebSocket-Key is not 16 bytes in base64.")
    return key


class Handshake(Protocol):
    """What the WebSocket core asks of its carrying protocol."""

    #: The status an accepted handshake is logged with (101, 200).
    accepted_status: int
    #: The core owns its connection (HTTP/1.1): it registers with the server, which sweeps
    #: its timers and shuts it down. False on an HTTP/2 stream: the HTTP/2 core does that.
    owns_connection: bool

    def check(self, scope: dict[str, Any], body: bytes) -> None:
        """Raise HandshakeError (a 400 before the app runs) for a bad handshake."""

    def accept(self, transport: Transport, fields: Fields) -> None:
        """Write the acceptance with ``fields`` (subprotocol, extensions, the app's)."""

    def respond(self, transport: Transport, status: int, headers: Fields, body: bytes,
                more_body: bool, first: bool) -> None:
        """Write (part of) an HTTP response in place of the acceptance; the core closes
        the transport after the last part."""


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("ascii"))


def _encode_fields(fields: Fields) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in fields)


class UpgradeHandshake:
    """RFC 6455 over HTTP/1.1: the 101 response, or an HTTP/1.1 response and a close."""

    accepted_status = 101
    owns_connection = True

    def __init__(self, default_headers: Any) -> None:
        self.default_headers = default_headers  # () -> the server's default fields
        self.key = b""
        self.chunked = False  # the response is sent with chunked coding

    def check(self, scope: dict[str, Any], body: bytes) -> None:
        self.key = check_handshake(scope, body)

    def accept(self, transport: Transport, fields: Fields) -> None:
        head = [(b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
                (b"sec-websocket-accept", generate_accept_token(self.key)), *fields,
                *self.default_headers()]
        transport.write(b"HTTP/1.1 101 Switching Protocols\r\n" + _encode_fields(head) + b"\r\n")

    def respond(self, transport: Transport, status: int, headers: Fields, body: bytes,
                more_body: bool, first: bool) -> None:
        if first:
            fields = list(headers)
            names = {name.lower() for name, _ in fields}
            if b"content-length" not in names:
                if more_body:
                    self.chunked = True
                    fields.append((b"transfer-encoding", b"chunked"))
                else:
                    fields.append((b"content-length", b"%d" % len(body)))
            fields.append((b"connection", b"close"))
            fields.extend(self.default_headers())
            head = _status_line(status) + _encode_fields(fields) + b"\r\n"
        else:
            head = b""
        if self.chunked:
            out = head + (b"%x\r\n%s\r\n" % (len(body), body) if body else b"")
            if not more_body:
                out += b"0\r\n\r\n"
                self.chunked = False
        else:
            out = head + body
        transport.write(out)


class HeadTransport(Transport, Protocol):
    """An HTTP/2 stream's transport (fastcorn.protocol.h2tunnel.StreamTransport)."""

    def send_head(self, status: int, fields: Fields, end_stream: bool, /) -> None:
        """The response's HEADERS frame (the server's default fields added)."""


class ConnectHandshake:
    """RFC 8441 over an HTTP/2 stream: ``:status 200``, or an HTTP/2 response on the
    stream. The HTTP/2 core checked the request's pseudo-header fields."""

    accepted_status = 200
    owns_connection = False

    def check(self, scope: dict[str, Any], body: bytes) -> None:
        # No Upgrade, Connection, Sec-WebSocket-Key or -Accept (RFC 8441 5): a key sent
        # anyway is ignored. The version is as in RFC 6455.
        _check_version(_fields_of(scope))

    def accept(self, transport: Transport, fields: Fields) -> None:
        head: HeadTransport = transport  # type: ignore[assignment]
        head.send_head(200, fields, False)

    def respond(self, transport: Transport, status: int, headers: Fields, body: bytes,
                more_body: bool, first: bool) -> None:
        head: HeadTransport = transport  # type: ignore[assignment]
        if first:
            fields = list(headers)
            if not more_body and b"content-length" not in {n.lower() for n, _ in fields}:
                fields.append((b"content-length", b"%d" % len(body)))
            head.send_head(status, fields, not body and not more_body)
        if body:
            transport.write(body)
