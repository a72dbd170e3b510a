"""TLS for the backends: the server-side context every TLS listener uses.

TLS wraps the transport; the protocol cores do not change. asyncio and uvloop use the
loop's own TLS; the trio backend runs a sans-IO ``ssl.SSLObject`` inside its transport.
Both take a :class:`TLSListener`: the context to wrap accepted connections with, and how
long a client has to complete the handshake.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

# What a client that speaks plain HTTP to a TLS port gets (nginx's answer), then a close.
PLAIN_HTTP_RESPONSE = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 45\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"The plain HTTP request was sent to HTTPS port"
)

# The first byte of every TLS connection: a TLS record of type handshake (ClientHello).
TLS_HANDSHAKE_RECORD = 0x16


@dataclass
class TLSListener:
    """What a backend needs to serve TLS on a listener."""

    #: Server-side context: certificate, verification, ALPN, versions. Accepted connections
    #: are wrapped with it; certificate rotation swaps the certificate inside it (its SNI
    #: callback), so a backend holds this one object for the server's lifetime.
    context: ssl.SSLContext
    #: Seconds from accept to a completed handshake (a silent client is cut after it).
    handshake_timeout: float = 10.0
