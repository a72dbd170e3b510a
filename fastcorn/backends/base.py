"""What the server asks of a backend's runtime, on top of what the cores ask.

The cores' part, :class:`fastcorn.asgi.types.Runtime` (spawn, cancel, create_waiter,
call_soon, cancelled_error, start, time), is declared once at the bottom layer;
:class:`ServerRuntime` extends it with what only the server calls. Each backend's runtime
is typed as a ServerRuntime where it is made, so mypy checks it against both.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, Protocol

from fastcorn.asgi.types import Runtime, Waiter
from fastcorn.backends.tls import TLSListener
from fastcorn.protocol.base import CoreFactory


class ServerRuntime(Runtime, Protocol):
    def call_soon_threadsafe(self, fn: Callable[[], Any], /) -> None:
        """``call_soon`` from another thread (an embedding program's exit request)."""

    async def sleep(self, seconds: float, /) -> None: ...

    async def wait(self, waiter: Waiter, timeout: float, /) -> bool:
        """Until ``waiter`` is set (True) or ``timeout`` seconds pass (False)."""

    async def listen(self, sockets: list[socket.socket], cores: CoreFactory,
                     tls: TLSListener | None = None, /) -> None:
        """Accept on ``sockets``; each connection starts with the core ``cores()`` makes.

        With ``tls``, every connection is TLS: wrapped with ``tls.context`` (whose SNI
        callback picks the current certificate), a first byte other than a TLS handshake
        record answered with ``PLAIN_HTTP_RESPONSE`` and closed, and a handshake not
        completed within ``tls.handshake_timeout`` closed. When ``cores`` is a preamble
        gate (fastcorn.protocol.base.preamble_gate: --proxy-protocol), each connection's
        preamble is read first, within the same timeout, through
        fastcorn.backends.preamble.take_preamble, and its reading makes the first core.
        The server calls ``listen`` once for its TLS sockets and once for its cleartext
        ones (``--insecure-bind``)."""

    def close_listeners(self) -> None:
        """Stop accepting: new connections are refused at once."""

    def abort_all(self) -> None:
        """The shutdown deadline passed: cancel whatever app tasks remain."""

    async def install_signal_handlers(self, handler: Callable[[], None],
                                      reload: Callable[[], None] | None = None, /) -> None:
        """Call ``handler`` on SIGINT/SIGTERM, and ``reload`` (if given) on SIGHUP (main
        thread only)."""
