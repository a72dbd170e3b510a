"""The runtime: what the ASGI layer and the protocol cores may ask of a backend.

Declared here, once, at the bottom layer that needs it; every backend's runtime
(fastcorn.backends.asyncio.AsyncioRuntime, fastcorn.backends.trio.TrioRuntime, the
harness' fastcorn.testing.ManualRuntime) implements it, and mypy checks each one against
it. What only the server needs (listening, sleeping, signals) extends it in
fastcorn.backends.base.ServerRuntime.

There is no timer here: a core stores deadlines against ``ServerState.now`` and the
server's once-a-second sweep calls each core's ``check_timeout(now)``, so re-arming a
timeout per request costs a store, not a loop call.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol


class Waiter(Protocol):
    """The asyncio-Future subset the cycle and lifespan wait with."""

    def done(self) -> bool: ...
    def set_result(self, value: None, /) -> None: ...
    def __await__(self) -> Generator[Any, Any, Any]: ...


class Runtime(Protocol):
    """What a core, a cycle or lifespan calls. Per-request calls are attributes a backend
    may bind to C methods (``loop.create_task``), hence callables rather than methods."""

    #: The loop's name for logs: "asyncio", "uvloop", "trio" (or the harness').
    name: str

    @property
    def cancelled_error(self) -> type[BaseException]:
        """The one exception an app task may let through: this runtime cancelling it."""

    @property
    def spawn(self) -> Callable[[Coroutine[Any, Any, Any]], Any]:
        """Run a request's coroutine as a task; returns what ``cancel`` takes."""

    @property
    def spawn_eager(self) -> Callable[[Coroutine[Any, Any, Any]], Any]:
        """``spawn``, but the coroutine may run its first step inside this call, before it
        returns (an eager task: asyncio on Python 3.12+; elsewhere it is ``spawn``), in
        its own task and its own copy of the caller's context. Only for a caller that
        can be re-entered from that step (protocol.h1's launch): never from inside a
        parser's callback."""

    def spawner(self, transport: Any, /) -> Callable[[Coroutine[Any, Any, Any]], Any]:
        """The ``spawn_eager`` for the apps of the connection on ``transport`` (called once,
        at ``connection_made``), for a core whose apps come mostly one at a time (HTTP/1.1).
        It behaves as ``spawn_eager``; a backend may make it cheaper per request (trio: a
        task per connection that runs its apps in turn while it is free). Elsewhere it is
        ``spawn_eager`` itself."""

    @property
    def create_waiter(self) -> Callable[[], Waiter]:
        """A new waiter: awaitable until ``set_result(None)``."""

    @property
    def call_soon(self) -> Callable[[Callable[[], Any]], Any]:
        """Run ``fn`` from the loop once the current task yields."""

    def cancel(self, task: Any) -> None:
        """Cancel a task ``spawn`` returned (graceful-shutdown deadline)."""

    def start(self, async_fn: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Run a background task for the server's lifetime (lifespan, the tick)."""

    def time(self) -> float:
        """The loop's clock, in seconds."""
