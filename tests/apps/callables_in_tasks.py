"""An app that hands its ASGI callables to tasks (tests/e2e/test_app_task.py).

anyio's ``start_soon(send, message)`` and asyncio's ``create_task(receive())`` take
coroutines; fastcorn's send() and receive() return cheaper awaitables that must pass
for coroutines there, as ``async def`` callables do on other servers. The body says
what worked: each step appends a word, or the error it met.
"""

from __future__ import annotations

from typing import Any

import anyio
import sniffio

from tests.apps import basic


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await basic.lifespan(scope, receive, send)
        return
    errors: list[str] = []
    start = {"type": "http.response.start", "status": 200,
             "headers": [(b"content-type", b"text/plain")]}
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, start)
    except Exception as exc:  # (the start went out anyway: the error is told in the body)
        errors.append(f"start_soon(send): {exc!r}")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, {"type": "http.response.body", "body": b"start_soon",
                                 "more_body": True})
    except Exception as exc:
        errors.append(f"start_soon(send) body: {exc!r}")
    if sniffio.current_async_library() == "asyncio":
        import asyncio

        try:
            message = await asyncio.create_task(receive())
            await asyncio.create_task(send({"type": "http.response.body",
                                            "body": b" create_task:" + message["body"],
                                            "more_body": True}))
        except Exception as exc:
            errors.append(f"create_task: {exc!r}")
    else:
        message = await receive()
        await send({"type": "http.response.body", "body": b" awaited:" + message["body"],
                    "more_body": True})
    await send({"type": "http.response.body", "body": "".join(
        f" error: {error}" for error in errors).encode()})
