"""The one connection interface: what a protocol core receives and what a transport offers.

Every protocol (HTTP/1.1 now; HTTP/2, WebSocket and the PROXY preamble next) is a *core*:
fed bytes by a backend, answering through a narrow *transport*, never awaiting and never
importing an event loop. The names are asyncio's Protocol and Transport methods, so an
asyncio (or uvloop) transport drives a core with no glue; the trio backend and the test
harness implement the same Transport.

A core may hand its live connection to another core (an Upgrade to WebSocket or h2c, a
PROXY preamble read, an HTTP/2 preface seen on the cleartext port) with :func:`hand_over`,
passing the bytes it read past its own part. Backends never name a core: they ask the
factory of :mod:`fastcorn.protocol.negotiate` for a connection's first one, and always
call whichever core the transport holds now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Transport(Protocol):
    """What a core may call on its connection (asyncio.Transport's names)."""

    def write(self, data: bytes, /) -> None:
        """Queue bytes; never blocks. Past the transport's high-water mark it calls the
        core's ``pause_writing()``, and ``resume_writing()`` once drained."""

    def write_eof(self) -> None:
        """Half-close: send what is queued, then FIN; reading goes on."""

    def can_write_eof(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def is_closing(self) -> bool: ...

    def close(self) -> None:
        """Close once what is queued has been sent; the core gets ``connection_lost``."""

    def abort(self) -> None:
        """Close now, dropping what is queued."""

    def get_extra_info(self, name: str, default: Any = None, /) -> Any:
        """'peername', 'sockname', 'socket', 'sslcontext', 'ssl_object'..."""

    def set_protocol(self, protocol: Any, /) -> None:
        """Deliver every later event to ``protocol`` (the hand-over)."""

    def get_protocol(self) -> Any: ...


class SendsFiles(Protocol):
    """What a backend's runtime may offer beside fastcorn.asgi.types.Runtime: ``sendfile``.

    It lives on the runtime rather than on the Transport because an asyncio or uvloop
    transport is the loop's own object, which cannot grow a method; the runtime knows its
    loop and its transports. A core looks it up with ``getattr(runtime, "sendfile", None)``
    (the harness' runtime has none) and only for a body its framing leaves as raw bytes.
    """

    def sendfile(self, transport: Transport, fd: int, offset: int, count: int,
                 /) -> Awaitable[None] | None:
        """Send ``count`` bytes of the file ``fd`` from ``offset`` after everything written
        to ``transport`` so far, without reading them into Python (``sendfile(2)``).

        None when this transport cannot (TLS: the kernel never sees the plaintext); the
        caller then reads and writes the bytes itself. Otherwise an awaitable that is done
        once the kernel has taken every byte. It raises ``OSError`` (and has aborted the
        transport) when the connection breaks or is closed under it, and ``EOFError`` when
        the file ends early. While the socket is full it calls the core's
        ``pause_writing()``, and ``resume_writing()`` on progress, as a transport does for
        its buffer: the core's write timeout applies. The core writes nothing else until
        the awaitable is done.
        """


class Core(Protocol):
    """What a backend (or the harness) calls on a connection's core."""

    def connection_made(self, transport: Transport, /) -> None: ...
    def data_received(self, data: bytes, /) -> None: ...

    def eof_received(self) -> bool:
        """The client half-closed; True keeps the connection open to finish answering."""

    def connection_lost(self, exc: BaseException | None, /) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...

    def check_timeout(self, now: float, /) -> None:
        """The server's once-a-second sweep (ServerState.check_timeouts)."""

    def shutdown(self) -> None:
        """Graceful shutdown: finish what is in flight, take nothing new."""

    def abort(self) -> None:
        """The graceful-shutdown deadline passed: answer what can be (503) and close."""


class HandsOverAtOnce:
    """The rest of a Core for one that hands its connection over in ``connection_made``,
    before any byte is read (the ALPN choice, a TLS connection's PROXY header already
    read): no other event ever reaches it."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:  # pragma: no cover
        raise RuntimeError(f"{type(self).__name__} received data before handing over")

    def eof_received(self) -> bool:  # pragma: no cover
        return False

    def connection_lost(self, exc: BaseException | None) -> None:  # pragma: no cover
        pass

    def pause_writing(self) -> None:  # pragma: no cover
        pass

    def resume_writing(self) -> None:  # pragma: no cover
        pass

    def check_timeout(self, now: float) -> None:  # pragma: no cover
        pass

    def shutdown(self) -> None:  # pragma: no cover
        pass

    def abort(self) -> None:  # pragma: no cover
        pass


#: Makes a connection's first core; called once per accepted connection.
CoreFactory = Callable[[], Core]


class PreambleRead(Protocol):
    """One connection's cleartext preamble ahead of TLS, read by a backend (sans-IO)."""

    header: Any  # set once the preamble is whole

    def feed(self, peeked: bytes, /) -> int | None:
        """How many of ``peeked`` (the socket's unread bytes, peeked) to take off the
        socket: the preamble's and never more; None: refused (logged), close."""

    def cores(self) -> CoreFactory:
        """The connection's first core after the handshake (once ``header`` is set)."""

    def refuse(self, why: str, /) -> None:
        """Log why the backend closes the connection (the handshake timeout)."""


class PreambleGate(Protocol):
    """A TLS listener's factory when its connections start with a cleartext preamble
    ahead of the handshake (the PROXY protocol: fastcorn.protocol.proxy.TLSPreambleGate)."""

    def __call__(self) -> Core: ...

    def open_preamble(self, peername: Any, sockname: Any, /) -> PreambleRead | None:
        """Called at accept, before reading: the reading of this connection's preamble, or
        None when the peer may not send one (logged): close it unread."""


def preamble_gate(cores: CoreFactory) -> PreambleGate | None:
    """The gate a TLS backend must pass each connection through before its handshake,
    when the listener's factory is one; None (the common case) otherwise."""
    return cores if callable(getattr(cores, "open_preamble", None)) else None  # type: ignore[return-value]


#: Where the HTTP/1.1 core may hand a connection on an ``Upgrade`` request, keyed by the
#: Upgrade header's lowercased token (``b"websocket"``, ``b"h2c"``). Called once that
#: request has been read whole, with the HTTP scope the HTTP/1.1 core built for it (every
#: header, ``http_version`` "1.1" or "1.0", the connection's ``tls`` extension) and its body
#: (``b""`` when it had none); returns the core to hand the connection to, which answers
#: the request itself (``101 Switching Protocols``, or a refusal), or None to have it
#: served as plain HTTP/1.1.
#:
#: The HTTP/1.1 core only calls it for the one request in flight on its connection, with a
#: body framed by Content-Length of at most 1 MiB and no ``Expect: 100-continue``; any
#: other upgrade request is served as plain HTTP/1.1 (RFC 9110 7.8 lets a server ignore
#: Upgrade). It hands over with every byte read after the request.
UpgradeHandler = Callable[[dict[str, Any], bytes], "Core | None"]


def hand_over(transport: Transport, core: Core, data: bytes = b"") -> None:
    """Give a live connection to ``core``, with ``data``: bytes read past the old core's part.

    The old core calls this as its last act: it has stopped its timers, released what it
    registered (``ServerState.connection_closed``) and left reading resumed. From here on
    the transport delivers every event to the new core, which is told the connection is
    made (it registers itself and arms its own timers) and then gets ``data`` as if just
    read.
    """
    transport.set_protocol(core)
    core.connection_made(transport)
    if data:
        core.data_received(data)
