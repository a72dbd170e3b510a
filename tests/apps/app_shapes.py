"""ASGI apps of every shape the spec allows, for tests/e2e/test_app_task.py: each is
started as the request's task however the runtime starts it (around the app's own
coroutine on eager runtimes, inside HTTPCycle.run elsewhere)."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Generator
from typing import Any

import sniffio

from tests.apps import basic

VAR: contextvars.ContextVar[str | None] = contextvars.ContextVar("shape_var", default=None)


async def sleep0() -> None:
    if sniffio.current_async_library() == "trio":
        import trio

        await trio.sleep(0)
    else:
        await asyncio.sleep(0)


async def answer(send: Any, status: int, data: Any) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(data).encode()})


class SetsVarWhenCalled:
    """A class whose synchronous ``__call__`` sets a context variable, then returns the
    coroutine that answers: the call must run in the request's own context too."""

    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope["type"] == "lifespan":
            return basic.lifespan(scope, receive, send)
        seen = VAR.get()
        VAR.set(scope["path"])
        return answer(send, 200, {"seen_on_call": seen})


sets_var_when_called = SetsVarWhenCalled()


class Awaitable:
    """Not a coroutine: an object with ``__await__``, which ASGI allows an app to return."""

    def __init__(self, send: Any) -> None:
        self.send = send

    def __await__(self) -> Generator[Any, None, None]:
        return answer(self.send, 200, {"shape": "awaitable"}).__await__()


def returns_awaitable(scope: Any, receive: Any, send: Any) -> Any:
    if scope["type"] == "lifespan":
        return basic.lifespan(scope, receive, send)
    return Awaitable(send)


def raises_when_called(scope: Any, receive: Any, send: Any) -> Any:
    if scope["type"] == "lifespan":
        return basic.lifespan(scope, receive, send)
    if scope["path"] == "/ok":
        return answer(send, 200, {"ok": True})
    raise ValueError("deliberate failure of the call itself")


async def fails(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await basic.lifespan(scope, receive, send)
        return
    path = scope["path"]
    if path == "/exit":
        raise SystemExit("deliberate SystemExit before the first await")
    if path == "/later":
        await sleep0()
        raise ValueError("deliberate failure after an await")
    if path == "/incomplete":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        return  # returns without its body
    await answer(send, 200, {"ok": True})
