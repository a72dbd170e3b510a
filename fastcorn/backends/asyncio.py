"""The asyncio backend; uvloop is the same code with another loop factory.

asyncio transports already are the protocol cores' Transport (fastcorn.protocol.base), so
a core is itself the asyncio Protocol: no glue per event, and a hand-over is asyncio's own
``transport.set_protocol``. The connection's first core comes from the factory the server
passes to ``listen``; this module names no protocol.

On asyncio's selector loop, connections are accepted by :class:`Listener`, not by
``loop.create_server``: asyncio's own accept loop, at the file-descriptor limit, logs a
traceback per backlog slot and re-arms itself as many times (a CPU spin and megabytes of
log a second). uvloop keeps its own accept path, in C: libuv survives the limit by itself
(it keeps a spare descriptor, and at EMFILE accepts and closes the waiting connections),
and a Python accept loop there cost 94% more instructions per new connection.

TLS listeners use :class:`Listener` on uvloop too: before a connection is handed to the
loop's own TLS (``connect_accepted_socket(..., ssl=...)``), its first byte is peeked.
A client speaking plain HTTP gets nginx's 400 and a close, one that sends nothing within
the handshake timeout is closed, and only a TLS handshake record reaches the loop's TLS.
A failed handshake is one debug line (never a traceback) and touches no other connection.
Under --proxy-protocol, the PROXY preamble is read off the socket before that first byte
(fastcorn.backends.preamble), within the same handshake timeout, and the ClientHello after
it stays in the socket for the loop's TLS.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import functools
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from fastcorn.backends.accept import CLOSED, RETRY_NOW, AcceptBackoff
from fastcorn.backends.base import ServerRuntime
from fastcorn.backends.preamble import take_preamble
from fastcorn.backends.sendfile import transport_sendfile
from fastcorn.backends.tls import PLAIN_HTTP_RESPONSE, TLS_HANDSHAKE_RECORD, TLSListener
from fastcorn.protocol.base import CoreFactory, PreambleRead, preamble_gate

logger = logging.getLogger("fastcorn.error")


def eager_spawner(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """The runtime's spawn_eager: on Python 3.12+ a task whose first step runs inside the
    call (``eager_start``, what ``asyncio.eager_task_factory`` makes), so that an app
    that answers without waiting never goes through the scheduler, costs no call_soon
    and no loop turn, and is never added to the weak set of all tasks. The task is built
    directly rather than through ``loop.create_task``, so that no other task of the
    server (lifespan, the tick, accept) is started eagerly. It works the same on
    uvloop's loop: asyncio's C Task keeps ``current_task()`` for any loop.
    Before 3.12, ``loop.create_task``."""
    if sys.version_info >= (3, 12):
        return functools.partial(asyncio.Task, loop=loop, eager_start=True)
    return loop.create_task


class AsyncioRuntime:
    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, backlog: int) -> None:
        self.loop = loop
        self.name = name
        self.backlog = backlog
        self.accept_batch = backlog  # connections accepted per readiness event
        # The core calls these per request: bound C methods, no Python frame in between.
        self.create_waiter = loop.create_future
        self.spawn = loop.create_task
        self.spawn_eager = eager_spawner(loop)
        self.call_soon = loop.call_soon
        self.time = loop.time
        # The one exception an app task may let through: this backend cancelling it.
        self.cancelled_error = asyncio.CancelledError
        self.listeners: list[Listener | asyncio.AbstractServer] = []
        self.background: set[asyncio.Task[Any]] = set()
        self.signals: list[int] = []

    # -- the Runtime interface (fastcorn.asgi.types; spawn and create_waiter above) --
    def spawner(self, transport: Any) -> Callable[[Coroutine[Any, Any, Any]], Any]:
        return self.spawn_eager  # an eager task costs no more than a runner would

    def cancel(self, task: asyncio.Task[Any]) -> None:
        task.cancel()

    # -- fastcorn.protocol.base.SendsFiles --
    def sendfile(self, transport: Any, fd: int, offset: int,
                 count: int) -> Awaitable[None] | None:
        return transport_sendfile(self.loop, transport, fd, offset, count)

    # -- the server's --
    def start(self, async_fn: Callable[[], Any]) -> None:
        task = self.loop.create_task(async_fn())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def call_soon_threadsafe(self, fn: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(fn)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, waiter: Any, timeout: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def listen(self, sockets: list[socket.socket], cores: CoreFactory,
                     tls: TLSListener | None = None) -> None:
        # A core has asyncio.Protocol's methods without inheriting from it (the protocol
        # layer imports no event loop), hence the cast.
        factory = cast(Callable[[], asyncio.Protocol], cores)
        for sock in sockets:
            if tls is not None or isinstance(
                    self.loop, asyncio.selector_events.BaseSelectorEventLoop):
                listener = Listener(self.loop, sock, factory, self.backlog, tls,
                                    batch=self.accept_batch)
                listener.start()
                self.listeners.append(listener)
            else:  # uvloop (see the module's docstring)
                server = await self.loop.create_server(factory, sock=sock, backlog=self.backlog)
                self.listeners.append(server)

    def close_listeners(self) -> None:
        for listener in self.listeners:
            listener.close()

    def abort_all(self) -> None:
        pass  # each connection's abort() cancelled its app task

    async def install_signal_handlers(self, handler: Callable[[], None],
                                      reload: Callable[[], None] | None = None) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, handler)
            self.signals.append(sig)
        if reload is not None:
            self.loop.add_signal_handler(signal.SIGHUP, reload)
            self.signals.append(signal.SIGHUP)

    async def close(self) -> None:
        self.close_listeners()
        for task in list(self.background):
            task.cancel()
        for sig in self.signals:
            self.loop.remove_signal_handler(sig)
        self.signals.clear()


class Listener:
    """Accepts the connections of one listening socket, on asyncio's selector loop.

    Each readiness event accepts up to ``backlog`` waiting connections, as asyncio does,
    and hands each to ``loop.connect_accepted_socket`` (the same transport and task that
    ``create_server`` would make). When ``accept()`` fails for want of descriptors or
    memory, the listener stops being watched and is retried after the back-off delay:
    no spin, one log line now and then, and the clients wait in the backlog.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 factory: Callable[[], asyncio.Protocol], backlog: int,
                 tls: TLSListener | None = None, batch: int | None = None) -> None:
        self.loop = loop
        self.tls = tls
        # TLS connections accepted, not yet handed to the loop (their first byte awaited).
        self.pending: dict[int, TLSStart] = {}
        self.handshakes: set[asyncio.Task[Any]] = set()
        self.sock = sock
        self.fd = sock.fileno()
        self.factory = factory
        # --proxy-protocol on a TLS listener: each connection's preamble first.
        self.preamble = preamble_gate(cast(CoreFactory, factory)) if tls is not None else None
        self.batch = backlog if batch is None else batch
        self.backoff = AcceptBackoff()
        self.retry: asyncio.TimerHandle | None = None
        self.closed = False
        sock.setblocking(False)
        sock.listen(backlog)

    def start(self) -> None:
        self.retry = None
        if not self.closed:
            self.loop.add_reader(self.fd, self.accept)

    def accept(self) -> None:
        sock = self.sock
        create_task = self.loop.create_task
        connect = self.loop.connect_accepted_socket
        factory = self.factory
        for _ in range(self.batch):
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in RETRY_NOW:
                    continue
                if self.closed or exc.errno in CLOSED:
                    self.close()
                else:
                    self.loop.remove_reader(self.fd)
                    self.retry = self.loop.call_later(self.backoff.failed(exc), self.start)
                return
            if self.backoff.delay:
                self.backoff.delay = 0.0
            if self.tls is not None:
                TLSStart(self, conn, self.tls)
                continue
            create_task(connect(factory, conn))

    def close(self) -> None:
        """Stop accepting and close the socket: new connections are refused at once."""
        if self.closed:
            return
        self.closed = True
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        self.loop.remove_reader(self.fd)
        self.sock.close()
        for start in list(self.pending.values()):
            start.close()


class TLSStart:
    """One accepted TLS connection until its first byte: a handshake record goes to the
    loop's TLS, anything else gets ``PLAIN_HTTP_RESPONSE``, silence past the handshake
    timeout a close. Under --proxy-protocol, the PROXY preamble comes first (``reading``)."""

    __slots__ = ("listener", "conn", "fd", "tls", "deadline", "timer", "peer", "factory",
                 "reading")
    peer: str
    reading: PreambleRead | None

    def __init__(self, listener: Listener, conn: socket.socket, tls: TLSListener) -> None:
        loop = listener.loop
        self.listener = listener
        self.conn = conn
        self.fd = conn.fileno()
        self.tls = tls
        self.factory = listener.factory
        try:
            peername: Any = conn.getpeername()
        except OSError:  # gone already
            peername = None
        try:
            host, port = peername[:2]
            self.peer = f"{host}:{port}"
        except (ValueError, TypeError):  # gone, or a unix socket
            self.peer = "-"
        self.reading = None
        if listener.preamble is not None:
            self.reading = listener.preamble.open_preamble(peername, _sockname(conn))
            if self.reading is None:  # an untrusted peer: closed before reading anything
                conn.close()
                return
        conn.setblocking(False)
        self.deadline = loop.time() + tls.handshake_timeout
        listener.pending[self.fd] = self
        self.timer = loop.call_at(self.deadline, self.expire)
        loop.add_reader(self.fd, self.readable)

    def finish(self) -> None:
        self.listener.loop.remove_reader(self.fd)
        self.timer.cancel()
        self.listener.pending.pop(self.fd, None)

    def close(self) -> None:
        self.finish()
        self.conn.close()

    def expire(self) -> None:
        if self.reading is not None:
            self.reading.refuse(f"no PROXY header within the TLS handshake timeout "
                                f"({self.tls.handshake_timeout:g} s)")
        else:
            logger.debug("TLS connection from %s sent nothing within %g s: closed",
                         self.peer, self.tls.handshake_timeout)
        self.close()

    def readable(self) -> None:
        reading = self.reading
        if reading is not None:
            done = take_preamble(self.conn, reading)
            if not done:
                if done is None:
                    self.close()
                return
            self.factory = cast(Callable[[], asyncio.Protocol], reading.cores())
            self.reading = None  # the TLS handshake record is next, maybe already here
        try:
            first = self.conn.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not first:
            self.close()
            return
        self.finish()
        if first[0] != TLS_HANDSHAKE_RECORD:
            logger.debug("Plain HTTP from %s on a TLS port: answered 400", self.peer)
            PlainRefusal(self.listener.loop, self.conn)
            return
        loop = self.listener.loop
        task = loop.create_task(self.handshake(max(self.deadline - loop.time(), 0.01)))
        self.listener.handshakes.add(task)
        task.add_done_callback(self.listener.handshakes.discard)

    async def handshake(self, timeout: float) -> None:
        listener = self.listener
        try:
            await listener.loop.connect_accepted_socket(
                self.factory, self.conn, ssl=self.tls.context,
                ssl_handshake_timeout=timeout)
        except (OSError, EOFError, asyncio.TimeoutError) as exc:
            # ssl.SSLError, a reset, the handshake timeout: the client's failure only.
            logger.debug("TLS handshake with %s failed: %s", self.peer,
                         str(exc) or type(exc).__name__)
            if self.conn.fileno() != -1:
                self.conn.close()


def _sockname(conn: socket.socket) -> Any:
    try:
        return conn.getsockname()
    except OSError:
        return None


class PlainRefusal:
    """Send nginx's 400 to a plain-HTTP client of a TLS port, half-close, and drop its
    input until its EOF (at most 2 s), so the client reads the answer, not a reset."""

    __slots__ = ("loop", "conn", "fd", "timer", "dropped")

    def __init__(self, loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
        self.loop = loop
        self.conn = conn
        self.fd = conn.fileno()
        self.dropped = 0
        try:
            conn.send(PLAIN_HTTP_RESPONSE)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            conn.close()
            return
        self.timer = loop.call_later(2.0, self.close)
        loop.add_reader(self.fd, self.drain)

    def drain(self) -> None:
        try:
            data = self.conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self.dropped += len(data)
        if not data or self.dropped > 1 << 20:
            self.close()

    def close(self) -> None:
        self.timer.cancel()
        self.loop.remove_reader(self.fd)
        self.conn.close()


async def serve(server: Any, name: str = "asyncio") -> int:
    runtime = AsyncioRuntime(asyncio.get_running_loop(), name, server.config.server.backlog)
    if getattr(server, "shared_accept", False):
        # Workers share these listeners: take one connection per wake-up, so that a worker
        # woken first does not empty the backlog of a burst while the others look on.
        runtime.accept_batch = 1
    checked: ServerRuntime = runtime  # mypy checks AsyncioRuntime against the interface
    try:
        return int(await server.serve(checked))
    finally:
        await runtime.close()


def run(server: Any, name: str) -> int:
    loop: asyncio.AbstractEventLoop
    if name == "uvloop":
        if getattr(server, "shared_accept", False):
            # libuv's accept loop, which serves uvloop's cleartext listeners, takes one
            # connection per wake-up and yields the CPU when this is set (it is read when
            # the first listener starts): worker processes sharing a listener then split a
            # burst of new connections instead of one of them taking it all.
            os.environ["UV_TCP_SINGLE_ACCEPT"] = "1"
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(serve(server, name))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
