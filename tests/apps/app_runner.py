"""An app for the apps of one connection run in turn (tests/e2e/test_app_runner.py).

Every JSON answer says what the app saw: its task (id and coroutine name), the value of a
context variable every request sets (which no later request may see), and on trio how
many tasks are alive; ``?count=1`` adds the number of objects the garbage collector
tracks. Routes that keep running (after their response, or until the client leaves, or
until cancelled) record what happened to them under ``?id=``, read back at /events;
a cancellation is also written to stderr, which outlives the server's exit. /hold keeps
an object in its context only, and /held says whether it outlived the request.
"""

from __future__ import annotations

import contextvars
import gc
import json
import sys
import weakref
from typing import Any
from urllib.parse import parse_qs

import sniffio

from tests.apps import basic
from tests.apps.eager import answer, current_task

EVENTS: dict[str, list[str]] = {}
REQUEST_VAR: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "runner_request_var", default=None)


async def sleep(seconds: float) -> None:
    if sniffio.current_async_library() == "trio":
        import trio

        await trio.sleep(seconds)
    else:
        import asyncio

        await asyncio.sleep(seconds)


def facts(scope: Any, query: dict[str, str]) -> dict[str, Any]:
    task = current_task()
    seen = REQUEST_VAR.get()
    REQUEST_VAR.set(scope["path"] + "?" + scope["query_string"].decode())
    coro = task.get_coro() if hasattr(task, "get_coro") else getattr(task, "coro", None)
    data: dict[str, Any] = {
        "leaked": seen,
        "task": id(task),
        "task_name": getattr(coro, "__qualname__", type(coro).__name__),
    }
    if sniffio.current_async_library() == "trio":
        import trio

        data["tasks_living"] = trio.lowlevel.current_statistics().tasks_living
    if query.get("count"):
        gc.collect()
        data["objects"] = len(gc.get_objects())
    return data


class Marker:
    """An object a request keeps only in its context (weakly referable)."""


HELD: dict[str, weakref.ref[Marker]] = {}
MARKER_VAR: contextvars.ContextVar[Marker | None] = contextvars.ContextVar(
    "runner_marker_var", default=None)


def record(key: str, event: str) -> None:
    EVENTS.setdefault(key, []).append(event)


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await basic.lifespan(scope, receive, send)
        return
    path = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    key = query.get("id", "")
    data = facts(scope, query)
    if path == "/facts":
        await answer(send, data)
    elif path == "/background":
        # answers at once, then works on (a background task after the last send)
        await answer(send, data)
        record(key, "answered")
        await sleep(float(query["delay"]))
        data["leaked_later"] = REQUEST_VAR.get() != scope["path"] + "?" + scope[
            "query_string"].decode()
        record(key, "done" if not data["leaked_later"] else "context changed under it")
    elif path == "/raise-after":
        await answer(send, data)
        raise RuntimeError("deliberate failure after the response")
    elif path == "/raise-before":
        raise RuntimeError("deliberate failure before the response")
    elif path == "/until-disconnect":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting", "more_body": True})
        record(key, "started")
        while (await receive())["type"] != "http.disconnect":
            pass
        record(key, "disconnected")
    elif path == "/forever":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps(data).encode() + b"\n",
                    "more_body": True})
        try:
            await sleep(3600)
        except BaseException as exc:
            print(f"app {key} ended by {type(exc).__name__}", file=sys.stderr, flush=True)
            raise
    elif path == "/hold":
        # a value only this request's context holds; /held says whether it is still alive
        marker = Marker()
        HELD[key] = weakref.ref(marker)
        MARKER_VAR.set(marker)
        await answer(send, data)
    elif path == "/held":
        gc.collect()
        ref = HELD[key]
        await answer(send, {"alive": ref() is not None})
    elif path == "/events":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body",
                    "body": json.dumps(EVENTS.get(key, [])).encode()})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})
