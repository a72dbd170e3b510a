"""The ASGI lifespan protocol, written once for every backend.

It waits through the runtime's future-like waiters (fastcorn.asgi.types.Runtime), so it
imports neither asyncio nor trio.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from fastcorn.asgi.types import Runtime

default_logger = logging.getLogger("fastcorn.error")


class LifespanFailure(RuntimeError):
    """Startup failed; the message is the app's own, when it gave one."""


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Lifespan:
    """Runs the app's lifespan task; every failure is reported once, with one traceback.

    ``logger`` is ``fastcorn.error`` or the server's app-error logger; when it has an
    ``asyncio_needed(exc)`` method (fastcorn.logging.AppErrorLogger on trio), an app that
    fails because it needs asyncio is reported with that one clear line instead.
    """

    def __init__(self, app: Any, runtime: Runtime, mode: str, state: dict[str, Any],
                 logger: Any = None) -> None:
        self.app = app
        self.runtime = runtime
        self.mode = mode
        self.state = state
        self.logger = logger if logger is not None else default_logger
        self.inbox: deque[dict[str, Any]] = deque()
        self.inbox_waiter: Any = None
        self.startup_waiter: Any = None
        self.shutdown_waiter: Any = None
        self.running = False
        self.supported = True
        self.startup_failed: str | None = None
        self.shutdown_failed: str | None = None
        # Set once the server has reported the failure: a later exception is the same one.
        self.startup_reported = False
        self.shutdown_reported = False

    async def startup(self) -> None:
        """Run lifespan.startup; raises LifespanFailure when the app says it failed."""
        if self.mode == "off":
            self.logger.debug("Lifespan protocol off (--lifespan off).")
            return
        self.startup_waiter = self.runtime.create_waiter()
        self.shutdown_waiter = self.runtime.create_waiter()
        self.running = True
        self.runtime.start(self._main)
        self.logger.debug("Waiting for application startup (lifespan.startup).")
        self._post({"type": "lifespan.startup"})
        await self.startup_waiter
        self.startup_reported = True
        if self.startup_failed is not None:
            raise LifespanFailure(self.startup_failed)
        if not self.supported and self.mode == "on":
            raise LifespanFailure("the application does not support the lifespan protocol")
        if self.supported:
            self.logger.debug("Application startup complete.")

    async def shutdown(self) -> None:
        if self.mode == "off" or not self.running or not self.supported:
            return
        self.logger.debug("Waiting for application shutdown (lifespan.shutdown).")
        self._post({"type": "lifespan.shutdown"})
        await self.shutdown_waiter
        self.shutdown_reported = True
        if self.shutdown_failed is not None:
            self.logger.error("Application shutdown failed: %s", self.shutdown_failed)
        else:
            self.logger.debug("Application shutdown complete.")

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": getattr(self.app, "asgi_version", "3.0"), "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            self._failed(exc)
        finally:
            self.running = False
            if not self.startup_waiter.done():
                # Returned (or raised) without answering startup: it does not speak lifespan.
                if self.startup_failed is None:
                    self.supported = False
                self.startup_waiter.set_result(None)
            if not self.shutdown_waiter.done():
                self.shutdown_waiter.set_result(None)

    def _failed(self, exc: Exception) -> None:
        """The lifespan task raised: report it once, whatever the app already sent."""
        log = self.logger
        asyncio_needed = getattr(log, "asyncio_needed", None)
        if asyncio_needed is not None and asyncio_needed(exc):
            # The one clear line is logged; the traceback only at debug level.
            log.debug("Exception in the lifespan protocol", exc_info=exc)
            if not self.startup_waiter.done() or not self.startup_reported:
                self.startup_failed = _summary(exc)
            elif not self.shutdown_reported:
                self.shutdown_failed = _summary(exc)
        elif not self.startup_waiter.done():
            # Raised before answering lifespan.startup.
            if self.mode == "auto":
                self.supported = False
                log.info("ASGI 'lifespan' protocol appears unsupported; serving without it.")
                log.debug("The lifespan call raised", exc_info=exc)
            else:
                self.startup_failed = _summary(exc)
                log.error("Exception in 'lifespan' startup", exc_info=exc)
        elif self.startup_failed is not None:
            # It sent lifespan.startup.failed and then raised the same error (Starlette
            # does, with the traceback as the message): one traceback, one summary line.
            if self.startup_reported:
                log.debug("Exception in 'lifespan' startup", exc_info=exc)
            else:
                self.startup_failed = _summary(exc)
                log.error("Exception in 'lifespan' startup", exc_info=exc)
        elif self.shutdown_failed is not None:
            if self.shutdown_reported:
                log.debug("Exception in 'lifespan' shutdown", exc_info=exc)
            else:
                self.shutdown_failed = _summary(exc)
                log.error("Exception in 'lifespan' shutdown", exc_info=exc)
        else:
            log.error("Exception in the lifespan protocol", exc_info=exc)

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
