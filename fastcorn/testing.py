"""Drive a connection's protocol cores with plain bytes: no event loop, no sockets.

    h = Harness(app)
    out = h.feed(b"GET / HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n")   # the bytes the server wrote

The connection's first core comes from the same factory the backends use
(fastcorn.protocol.negotiate), and a core that hands the connection over is followed:
``protocol`` is always the core the transport holds now. The runtime here steps the
app's coroutines by hand (they only ever wait on this module's
waiters), and ``advance(seconds)`` moves the server clock and runs the timeout sweep, so
timeouts are tested without sleeping. Protocol tests and bench/instructions.py use it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from fastcorn.asgi.cycle import ServerState
from fastcorn.asgi.types import Runtime
from fastcorn.protocol.base import Core, CoreFactory, Transport
from fastcorn.protocol.negotiate import connection_factory


class ManualWaiter:
    """The asyncio-Future subset the ASGI cycle waits with."""

    __slots__ = ("runtime", "is_set", "task")

    def __init__(self, runtime: ManualRuntime) -> None:
        self.runtime = runtime
        self.is_set = False
        self.task: Coroutine[Any, Any, Any] | None = None

    def done(self) -> bool:
        return self.is_set

    def set_result(self, _value: object) -> None:
        self.is_set = True
        if self.task is not None:
            self.runtime.ready.append(self.task)
            self.task = None

    def __await__(self) -> Generator[ManualWaiter, None, None]:
        if not self.is_set:
            yield self


class ManualRuntime:
    """The runtime (fastcorn.asgi.types.Runtime) for the cores, run by hand."""

    name = "manual"
    cancelled_error: type[BaseException] = GeneratorExit  # what closing a coroutine raises

    def __init__(self) -> None:
        self.ready: deque[Coroutine[Any, Any, Any]] = deque()
        self.callbacks: deque[Callable[[], Any]] = deque()
        self.errors: list[BaseException] = []

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
        self.ready.append(coro)
        return coro

    spawn_eager = spawn  # run by run_ready, as every task here

    def spawner(self, transport: Any) -> Callable[[Coroutine[Any, Any, Any]], Any]:
        return self.spawn_eager

    def cancel(self, task: Coroutine[Any, Any, Any]) -> None:
        task.close()

    def create_waiter(self) -> ManualWaiter:
        return ManualWaiter(self)

    def call_soon(self, fn: Callable[[], Any]) -> None:
        self.callbacks.append(fn)

    def start(self, async_fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.ready.append(async_fn())

    def time(self) -> float:
        return 0.0  # the harness moves ServerState.now itself (Harness.advance)

    def run_ready(self) -> None:
        """Step every runnable task, then run the callbacks they scheduled; until quiet."""
        while self.ready or self.callbacks:
            if not self.ready:
                self.callbacks.popleft()()
                continue
            coro = self.ready.popleft()
            try:
                waiter = coro.send(None)
            except StopIteration:
                continue
            except BaseException as exc:  # surfaced to the test, never swallowed
                self.errors.append(exc)
                continue
            if not isinstance(waiter, ManualWaiter):
                raise RuntimeError(f"app awaited {waiter!r}, which the manual runtime cannot run")
            if waiter.is_set:
                self.ready.append(coro)
            else:
                waiter.task = coro


class MemoryTransport:
    """The Transport (fastcorn.protocol.base) of one in-memory connection, writing into a
    bytearray."""

    def __init__(self, protocol: Core, peer: tuple[str, int], local: tuple[str, int]) -> None:
        self.protocol = protocol
        self.output = bytearray()
        self.reading_paused = False
        self.closed = False
        self.eof_written = False  # the server half-closed (lingering close)
        self.aborted = False
        self.extra: dict[str, Any] = {"peername": peer, "sockname": local}
        # Called with each write's data, after it is buffered (tests count and inspect
        # writes here: a core binds ``write`` once, so replacing it later is not seen).
        self.write_observers: list[Callable[[Any], None]] = []

    def write(self, data: bytes | bytearray) -> None:
        if self.closed or self.eof_written:
            raise AssertionError("write after close")
        self.output += data
        for observe in self.write_observers:
            observe(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.protocol.connection_lost(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def set_protocol(self, protocol: Core) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Core:
        return self.protocol


class Harness:
    """One in-memory connection to ``app``, its first core from the backends' factory.

    ``factory`` replaces that factory (a test of a core that hands over, say).
    """

    def __init__(self, app: Any, *, peer: tuple[str, int] = ("127.0.0.1", 50000),
                 local: tuple[str, int] = ("127.0.0.1", 8000),
                 factory: Callable[[ServerState], CoreFactory] = connection_factory,
                 **state_options: Any) -> None:
        self.runtime = ManualRuntime()
        runtime: Runtime = self.runtime  # checked by mypy against the one Runtime interface
        state_options.setdefault("default_headers",
                                 [(b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")])
        self.state = ServerState(app, runtime, **state_options)
        core = factory(self.state)()
        self.transport = MemoryTransport(core, peer, local)
        transport: Transport = self.transport  # checked against the one Transport interface
        core.connection_made(transport)

    @property
    def protocol(self) -> Any:
        """The core the connection has now (a hand-over replaces it)."""
        return self.transport.protocol

    def feed(self, data: bytes) -> bytes:
        """Deliver bytes from the client; run the app as far as it goes; return the output."""
        if data:
            self.transport.protocol.data_received(data)  # no property call per feed
        self.runtime.run_ready()
        return self.take()

    def take(self) -> bytes:
        out = bytes(self.transport.output)
        self.transport.output.clear()
        return out

    def feed_eof(self) -> bytes:
        """The client half-closes (shutdown SHUT_WR), as an asyncio transport reports it."""
        if not self.transport.closed and not self.transport.protocol.eof_received():
            self.transport.close()
        self.runtime.run_ready()
        return self.take()

    def disconnect(self) -> bytes:
        """The client goes away."""
        if not self.transport.closed:
            self.transport.closed = True
            self.transport.protocol.connection_lost(None)
        self.runtime.run_ready()
        return self.take()

    def advance(self, seconds: float) -> bytes:
        """Move the virtual clock on and run the server's timeout sweep, as its tick would."""
        self.state.check_timeouts(self.state.now + seconds)
        self.runtime.run_ready()
        return self.take()

    @property
    def closed(self) -> bool:
        """The server ended the connection: closed it, or half-closed it to linger."""
        return self.transport.closed or self.transport.eof_written
