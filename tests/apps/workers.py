"""The app of the worker-process tests: every answer names the worker that gave it.

``GET /`` answers ``PID VERSION``; ``/slow?delay=S`` sleeps S seconds on the loop first;
``/block?seconds=S`` blocks the loop (``time.sleep``: what the health check must catch);
``/leak?mib=N`` keeps N more MiB for good (what ``--max-worker-memory`` must catch).
The tests copy this file under another name and change ``VERSION`` to see which code a
worker runs. Lifespan startup fails when ``FASTCORN_TEST_FAIL_STARTUP`` is set.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import parse_qsl

import anyio

VERSION = "v1"
LEAKED: list[bytes] = []


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if os.environ.get("FASTCORN_TEST_FAIL_STARTUP"):
                await send({"type": "lifespan.startup.failed", "message": "no database"})
                return
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    query = dict(parse_qsl(scope["query_string"].decode()))
    path = scope["path"]
    if path == "/slow":
        await anyio.sleep(float(query.get("delay", "1")))
    elif path == "/block":
        time.sleep(float(query.get("seconds", "1")))
    elif path == "/leak":
        LEAKED.append(b"x" * (int(query.get("mib", "1")) << 20))  # filled: resident
    body = f"{os.getpid()} {VERSION}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
