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
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any, cast

from fastcorn.backends.accept import CLOSED, RETRY_NOW, AcceptBackoff
from fastcorn.backends.base import ServerRuntime
from fastcorn.protocol.base import CoreFactory


class AsyncioRuntime:
    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, backlog: int) -> None:
        self.loop = loop
        self.name = name
        self.backlog = backlog
        # The core calls these per request: bound C methods, no Python frame in between.
        self.create_waiter = loop.create_future
        self.spawn = loop.create_task
        self.call_soon = loop.call_soon
        self.time = loop.time
        # The one exception an app task may let through: this backend cancelling it.
        self.cancelled_error = asyncio.CancelledError
        self.listeners: list[Listener | asyncio.AbstractServer] = []
        self.background: set[asyncio.Task[Any]] = set()
        self.signals: list[int] = []

    # -- the Runtime interface (fastcorn.asgi.types; spawn and create_waiter above) --
    def cancel(self, task: asyncio.Task[Any]) -> None:
        task.cancel()

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

    async def listen(self, sockets: list[socket.socket], cores: CoreFactory) -> None:
        # A core has asyncio.Protocol's methods without inheriting from it (the protocol
        # layer imports no event loop), hence the cast.
        factory = cast(Callable[[], asyncio.Protocol], cores)
        for sock in sockets:
            if isinstance(self.loop, asyncio.selector_events.BaseSelectorEventLoop):
                listener = Listener(self.loop, sock, factory, self.backlog)
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

    async def install_signal_handlers(self, handler: Callable[[], None]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, handler)
            self.signals.append(sig)

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
                 factory: Callable[[], asyncio.Protocol], backlog: int) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.factory = factory
        self.batch = backlog
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


async def serve(server: Any, name: str = "asyncio") -> int:
    runtime = AsyncioRuntime(asyncio.get_running_loop(), name, server.config.server.backlog)
    checked: ServerRuntime = runtime  # mypy checks AsyncioRuntime against the interface
    try:
        return int(await server.serve(checked))
    finally:
        await runtime.close()


def run(server: Any, name: str) -> int:
    loop: asyncio.AbstractEventLoop
    if name == "uvloop":
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
