"""The asyncio backend; uvloop is the same code with another loop factory.

asyncio transports already speak the protocol core's interface (write, pause_reading,
resume_reading, close), so the core is itself the asyncio Protocol: no glue per event.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import threading
from collections.abc import Callable
from typing import Any, cast

from fastcorn._parser import H1Connection


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
        self.listeners: list[asyncio.AbstractServer] = []
        self.background: set[asyncio.Task[Any]] = set()
        self.signals: list[int] = []

    # -- the protocol core's interface (with spawn and create_waiter above) --
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

    async def listen(self, sockets: list[Any], state: Any) -> None:
        # H1Connection has asyncio.Protocol's methods without inheriting from it (the core
        # imports no event loop), hence the cast.
        factory = cast(Callable[[], asyncio.Protocol], functools.partial(H1Connection, state))
        for sock in sockets:
            server = await self.loop.create_server(factory, sock=sock, backlog=self.backlog)
            self.listeners.append(server)

    def close_listeners(self) -> None:
        for server in self.listeners:
            server.close()

    def abort_all(self) -> None:
        pass  # each connection's abort() cancelled its app task

    async def install_signal_handlers(self, handler: Callable[[], None]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(sig, handler)
            self.signals.append(sig)

    async def close(self) -> None:
        for task in list(self.background):
            task.cancel()
        for sig in self.signals:
            self.loop.remove_signal_handler(sig)
        self.signals.clear()


async def serve(server: Any, name: str = "asyncio") -> int:
    runtime = AsyncioRuntime(asyncio.get_running_loop(), name, server.config.backlog)
    try:
        return int(await server.serve(runtime))
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
