"""The ASGI lifespan protocol, written once for every backend.

It waits through the backend's future-like waiters, so it imports neither asyncio nor trio.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Protocol

logger = logging.getLogger("fastcorn.error")


class Runtime(Protocol):
    def create_waiter(self) -> Any: ...
    def start(self, async_fn: Any) -> None: ...


class LifespanFailure(RuntimeError):
    """Startup failed; the message is the app's own, when it gave one."""


class Lifespan:
    def __init__(self, app: Any, runtime: Runtime, mode: str, state: dict[str, Any]) -> None:
        self.app = app
        self.runtime = runtime
        self.mode = mode
        self.state = state
        self.inbox: deque[dict[str, Any]] = deque()
        self.inbox_waiter: Any = None
        self.startup_waiter: Any = None
        self.shutdown_waiter: Any = None
        self.running = False
        self.supported = True
        self.startup_failed: str | None = None
        self.shutdown_failed: str | None = None

    async def startup(self) -> None:
        """Run lifespan.startup; raises LifespanFailure when the app says it failed."""
        if self.mode == "off":
            return
        self.startup_waiter = self.runtime.create_waiter()
        self.shutdown_waiter = self.runtime.create_waiter()
        self.running = True
        self.runtime.start(self._main)
        self._post({"type": "lifespan.startup"})
        await self.startup_waiter
        if self.startup_failed is not None:
            raise LifespanFailure(self.startup_failed)
        if not self.supported and self.mode == "on":
            raise LifespanFailure("the application does not support the lifespan protocol")

    async def shutdown(self) -> None:
        if self.mode == "off" or not self.running or not self.supported:
            return
        self._post({"type": "lifespan.shutdown"})
        await self.shutdown_waiter
        if self.shutdown_failed is not None:
            logger.error("Application shutdown failed: %s", self.shutdown_failed)

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": getattr(self.app, "asgi_version", "3.0"), "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            if self.startup_waiter.done():
                logger.error("Exception in the lifespan protocol", exc_info=exc)
            elif self.mode == "auto":
                self.supported = False
                logger.info("ASGI 'lifespan' protocol appears unsupported; serving without it.")
            else:
                self.startup_failed = f"{type(exc).__name__}: {exc}"
                logger.error("Exception in 'lifespan' startup", exc_info=exc)
        finally:
            self.running = False
            if not self.startup_waiter.done():
                # Returned (or raised) without answering startup: it does not speak lifespan.
                if self.startup_failed is None:
                    self.supported = False
                self.startup_waiter.set_result(None)
            if not self.shutdown_waiter.done():
                self.shutdown_waiter.set_result(None)

    def _post(self, message: dict[str, Any]) -> None:
        self.inbox.append(message)
        if self.inbox_waiter is not None and not self.inbox_waiter.done():
            self.inbox_waiter.set_result(None)

    async def _receive(self) -> dict[str, Any]:
        while not self.inbox:
            self.inbox_waiter = self.runtime.create_waiter()
            await self.inbox_waiter
        return self.inbox.popleft()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self.startup_waiter.set_result(None)
        elif kind == "lifespan.startup.failed":
            self.startup_failed = message.get("message") or "startup failed"
            self.startup_waiter.set_result(None)
        elif kind == "lifespan.shutdown.complete":
            self.shutdown_waiter.set_result(None)
        elif kind == "lifespan.shutdown.failed":
            self.shutdown_failed = message.get("message") or "shutdown failed"
            self.shutdown_waiter.set_result(None)
        else:
            raise RuntimeError(f"unexpected lifespan message type {kind!r}")
