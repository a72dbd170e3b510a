"""An app for the eager start of HTTP/1.1 apps (tests/e2e/test_eager_start.py).

Every route answers JSON about what the app saw: the task it runs in, whether it ran
eagerly (inside the server's read, before the loop's scheduler saw its task: asyncio on
Python 3.12+), and the value of a context variable each request sets, which must never
be seen by the next request on the connection (keep-alive or pipelined) nor by the
server. Lifespan (tests.apps.basic's) runs after setting the same variable in its task.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from typing import Any

import sniffio

from tests.apps import basic

EVENTS: list[str] = []  # what the app saw that no client can (read back at /events)
REQUEST_VAR: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_var", default=None)


def current_task() -> Any:
    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_task()
    return asyncio.current_task()


def running_eagerly(task: Any) -> bool:
    """True inside the first step of an eager asyncio task (its C module keeps the set)."""
    eager = getattr(asyncio.tasks, "_eager_tasks", None)
    return eager is not None and task in eager


async def sleep0() -> None:
    if sniffio.current_async_library() == "trio":
        import trio

        await trio.sleep(0)
    else:
        await asyncio.sleep(0)


def facts(path: str) -> dict[str, Any]:
    """What the app sees on entry; sets the variable for this request."""
    task = current_task()
    seen = REQUEST_VAR.get()
    REQUEST_VAR.set(path)
    coro = task.get_coro() if hasattr(task, "get_coro") else getattr(task, "coro", None)
    return {
        "leaked": seen,
        "task": id(task) if task is not None else None,
        "task_name": getattr(coro, "__qualname__", type(coro).__name__),
        "eager": running_eagerly(task),
    }


async def answer(send: Any, data: dict[str, Any], more: bool = False) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(data).encode(),
                "more_body": more})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        REQUEST_VAR.set("lifespan")  # in the lifespan task's context: seen by no request
        await basic.lifespan(scope, receive, send)
        return
    path = scope["path"]
    data = facts(path)
    if path == "/sync":
        # answers without awaiting anything that suspends
        await answer(send, data)
    elif path == "/raise":
        raise ValueError("deliberate failure before the first await")
    elif path == "/await":
        # suspends first, then answers: the task is the same one after the await
        await sleep0()
        data["same_task"] = id(current_task()) == data["task"]
        data["var_kept"] = REQUEST_VAR.get() == path
        await answer(send, data)
    elif path == "/send-then-await":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"[", "more_body": True})
        await sleep0()
        data["same_task"] = id(current_task()) == data["task"]
        await send({"type": "http.response.body", "body": json.dumps(data).encode() + b"]"})
    elif path == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        data["body"] = body.decode("latin-1")
        await answer(send, data)
    elif path == "/wait-disconnect":
        # answers its head, then waits in receive() for the client to go away
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        EVENTS.append(path)
    elif path == "/events":
        data["events"] = EVENTS
        await answer(send, data)
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})

