"""Routes for the HTTP/1.1 hardening tests (tests/e2e/test_hardening.py).

- ``/`` answers ``hello``; ``/slow?delay=S`` sleeps first, then answers ``done``.
- ``/first-body`` takes one ``receive()`` as soon as it runs and answers with the size of
  that message's body: how much of an upload the server had buffered before the app got
  to run.
- ``/reject`` answers 413 at once without reading the upload.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import anyio


async def respond(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # lifespan: not supported, which the server accepts
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    path = scope["path"]
    if path == "/slow":
        await anyio.sleep(float(query.get("delay", "0.3")))
        await respond(send, 200, b"done")
    elif path == "/first-body":
        message = await receive()
        body = json.dumps({"type": message["type"], "bytes": len(message.get("body", b""))})
        await respond(send, 200, body.encode())
    elif path == "/reject":
        await respond(send, 413, b"too large")
    else:
        await respond(send, 200, b"hello")
