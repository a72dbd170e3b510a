"""A plain ASGI 3 app with one route per behaviour the end-to-end tests exercise.

Everything the app observes that a client cannot see directly (disconnects, send errors,
cancellation) is recorded in ``EVENTS[id]`` and read back with ``GET /events?id=...``; the
server process is long-lived, so the record survives the connection that produced it.

Lifespan: startup puts ``{"db": "connected"}`` in the lifespan state (reaching every
request's ``scope["state"]``) and, when ``FASTCORN_TEST_MARKERS`` names a file, appends
``startup`` / ``shutdown`` lines to it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import parse_qsl

import anyio
import sniffio

EVENTS: dict[str, list[str]] = {}
CHUNK = b"x" * 65536
MARKERS_ENV = "FASTCORN_TEST_MARKERS"


def record(key: str, event: str) -> None:
    EVENTS.setdefault(key, []).append(event)


def marker(text: str) -> None:
    path = os.environ.get(MARKERS_ENV)
    if path:
        with open(path, "a") as fh:
            fh.write(text + "\n")


async def respond(
    send: Any, status: int, body: bytes, content_type: bytes = b"text/plain; charset=utf-8",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type), *(headers or [])],
    })
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Any, data: Any, status: int = 200) -> None:
    await respond(send, status, json.dumps(data).encode(), b"application/json")


async def read_body(receive: Any) -> bytes | None:
    """The whole request body, or None if the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def lifespan(scope: Any, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["db"] = "connected"
            marker("startup")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            marker("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


# -- routes ------------------------------------------------------------------------------


async def hello(scope, receive, send, query):
    await respond(send, 200, b"hello")


async def info(scope, receive, send, query):
    await respond_json(send, {
        "method": scope["method"],
        "path": scope["path"],
        "query_string": scope["query_string"].decode("latin-1"),
        "http_version": scope["http_version"],
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "client": scope.get("client"),
        "server": scope.get("server"),
    })


async def echo(scope, receive, send, query):
    body = await read_body(receive)
    if body is None:
        return
    chunked = any(n == b"transfer-encoding" for n, _ in scope["headers"])
    await respond(send, 200, body, b"application/octet-stream", [
        (b"x-received-bytes", str(len(body)).encode()),
        (b"x-request-chunked", b"yes" if chunked else b"no"),
    ])


async def stream(scope, receive, send, query):
    """``n`` body chunks ``chunk-<i>\\n`` and no content-length: the server must chunk it."""
    n = int(query.get("n", "3"))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    for i in range(n):
        await send({"type": "http.response.body", "body": b"chunk-%d\n" % i, "more_body": True})
        await anyio.sleep(0.01)
    await send({"type": "http.response.body", "body": b""})


async def count(scope, receive, send, query):
    """Count the request body; sleep 50 ms per message for the first ``slow`` seconds."""
    slow_until = time.monotonic() + float(query.get("slow", "0"))
    total = messages = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            record(query.get("id", "count"), "disconnect")
            return
        total += len(message.get("body", b""))
        messages += 1
        if not message.get("more_body", False):
            break
        if time.monotonic() < slow_until:
            await anyio.sleep(0.05)
    await respond_json(send, {"bytes": total, "messages": messages})


async def download(scope, receive, send, query):
    """``size`` bytes in ``chunk``-byte messages; with ``length=1`` a content-length is sent."""
    size = int(query["size"])
    chunk = CHUNK[: int(query.get("chunk", str(len(CHUNK))))]
    headers = [(b"content-type", b"application/octet-stream")]
    if query.get("length") == "1":
        headers.append((b"content-length", str(size).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    sent = 0
    while sent < size:
        piece = chunk if size - sent >= len(chunk) else chunk[: size - sent]
        sent += len(piece)
        await send({"type": "http.response.body", "body": piece, "more_body": sent < size})


async def one_body(scope, receive, send, query):
    """``size`` bytes made for this request and sent in one body message: with ``length=1``
    after a content-length, else as one chunk (and an empty last message). The server must
    not copy it (issue 14)."""
    size = int(query["size"])
    headers = [(b"content-type", b"application/octet-stream")]
    length = query.get("length") == "1"
    if length:
        headers.append((b"content-length", str(size).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    body = b"x" * size  # every page touched, so that all of it is resident
    await send({"type": "http.response.body", "body": body, "more_body": not length})
    if not length:
        await send({"type": "http.response.body", "body": b""})


async def wait_disconnect(scope, receive, send, query):
    """Read the body, then keep waiting in receive() until the client goes away."""
    key = query["id"]
    record(key, "started")
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            record(key, f"disconnect after {received} bytes")
            return
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            record(key, f"body complete {received} bytes")


async def endless(scope, receive, send, query):
    """Stream until send() fails (the client went away) or the task is cancelled."""
    key = query.get("id", "endless")
    record(key, "started")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            await anyio.sleep(0.001)
    except OSError as exc:
        record(key, f"send raised {type(exc).__name__}")
        return
    except anyio.get_cancelled_exc_class():
        record(key, "cancelled")
        raise
    record(key, "deadline reached")


async def slow(scope, receive, send, query):
    key = query.get("id", "slow")
    record(key, "started")
    try:
        await anyio.sleep(float(query.get("delay", "1")))
    except anyio.get_cancelled_exc_class():
        record(key, "cancelled")
        raise
    await respond(send, 200, b"done")
    record(key, "finished")


async def events(scope, receive, send, query):
    await respond_json(send, EVENTS.get(query["id"], []))


async def state(scope, receive, send, query):
    await respond_json(send, dict(scope.get("state") or {}))


async def task(scope, receive, send, query):
    library = sniffio.current_async_library()
    if library == "trio":
        import trio

        current = trio.lowlevel.current_task()
    else:
        import asyncio

        current = asyncio.current_task()
    await respond_json(send, {"library": library, "task": current is not None})


async def error(scope, receive, send, query):
    raise RuntimeError("deliberate failure in the app")


ROUTES = {
    "/": hello,
    "/info": info,
    "/echo": echo,
    "/stream": stream,
    "/count": count,
    "/download": download,
    "/one-body": one_body,
    "/wait-disconnect": wait_disconnect,
    "/endless": endless,
    "/slow": slow,
    "/events": events,
    "/state": state,
    "/task": task,
    "/error": error,
}


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    assert scope["type"] == "http"
    handler = ROUTES.get(scope["path"])
    if handler is None:
        await respond(send, 404, b"Not Found")
        return
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    await handler(scope, receive, send, query)
