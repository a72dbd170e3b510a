"""A cleartext preamble ahead of TLS (the PROXY protocol on a TLS listener), off the socket.

The listener's factory is then a gate (fastcorn.protocol.base.preamble_gate); each backend
asks it at accept whether the peer may send a preamble, then, each time the socket is
readable, calls :func:`take_preamble` until the preamble is whole, and only then starts the
TLS handshake as it always does, with the factory the reading gives. What the bytes mean is
the protocol layer's (fastcorn.protocol.proxy.PreambleRead, the same parser as on
cleartext); this module is the one non-blocking I/O step both backends share.

Peeking (``MSG_PEEK``) and then taking exactly the preamble's bytes leaves a ClientHello
that came in the same segment in the socket, where the loop's TLS (asyncio, uvloop) or the
``SSLObject`` (trio) reads it as if no preamble had been there: no bytes to hand over, and
the TLS path of listeners without --proxy-protocol is untouched.
"""

from __future__ import annotations

import socket

from fastcorn.protocol.base import PreambleRead

# Peeked per readable event: a v1 line (107 bytes at most) or a v2 header with its TLVs
# fits at once; a longer v2 header is taken in several steps.
PEEK_SIZE = 4096


def take_preamble(sock: socket.socket, reading: PreambleRead) -> bool | None:
    """One non-blocking step: True once the preamble is whole (``reading.cores()`` makes
    the first core), False to wait until the socket is readable again, None to close the
    connection (a malformed or missing preamble, logged; or the client left)."""
    try:
        peeked = sock.recv(PEEK_SIZE, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return None
    if not peeked:
        reading.refuse("the connection closed before its PROXY header ended")
        return None
    take = reading.feed(peeked)
    if take is None:
        return None
    try:
        taken = sock.recv(take) if take else b""
    except OSError:
        return None
    if len(taken) != take:  # cannot happen: the bytes were peeked and nobody else reads
        reading.refuse("the socket lost peeked bytes")
        return None
    return reading.header is not None
