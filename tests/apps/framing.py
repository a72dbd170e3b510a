"""Routes for the request-framing and robustness tests (tests/e2e/test_framing.py).

What the app sees and the client cannot (paths served, code run after the last send(),
send errors) is recorded in ``EVENTS[id]`` and read back with ``GET /events?id=...``.

- ``/public``, ``/admin/...``: echo the body, record the path served under ``paths``.
- ``/headers``: answers the request headers as JSON.
- ``/big?size=N&id=K``: one body of N bytes in a single send(), then records ``after``.
- ``/exit?kind=system|keyboard``: raises SystemExit or KeyboardInterrupt.
- ``/reject``: 413 without reading the upload.
- ``/badlength?id=K``: a body longer than its content-length; ``/swallow?id=K``: an app
  that catches its own send() error and returns.
- ``/stream?id=K``: streams 64 KiB chunks until send() fails; records ``send failed``.
- ``/hold?seconds=S``: answers after S seconds (graceful shutdown tests).
- ``/gate``: never answers until the client goes away (memory tests hold requests open).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import anyio

EVENTS: dict[str, list[str]] = {}


def record(key: str, event: str) -> None:
    EVENTS.setdefault(key, []).append(event)


async def respond(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/octet-stream")]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    path = scope["path"]
    key = query.get("id", "")
    if path == "/events":
        await respond(send, 200, json.dumps(EVENTS.get(key, [])).encode())
    elif path == "/public" or path.startswith("/admin"):
        record("paths", path)
        await respond(send, 200, await read_body(receive))
    elif path == "/headers":
        await read_body(receive)
        headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]]
        await respond(send, 200, json.dumps(headers).encode())
    elif path == "/big":
        await respond(send, 200, b"b" * int(query["size"]))
        record(key, "after")
    elif path == "/exit":
        raise SystemExit(3) if query.get("kind") == "system" else KeyboardInterrupt()
    elif path == "/badlength":
        # declares 4 bytes, sends 10 in two pieces: must never reach the client as 10
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"4")]})
        try:
            await send({"type": "http.response.body", "body": b"abc", "more_body": True})
            await send({"type": "http.response.body", "body": b"defghij"})
        except RuntimeError:
            record(key, "send refused")
    elif path == "/swallow":
        # an app that catches its own send() error and returns
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"x-bad", b"a\r\nb")]})
            await send({"type": "http.response.body", "body": b"x"})
        except Exception:
            record(key, "swallowed")
    elif path == "/reject":
        await respond(send, 413, b"too large")
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"s" * 65536,
                            "more_body": True})
        except OSError:
            record(key, "send failed")
    elif path == "/background":
        # answers at once, then works on after its response (like Starlette's BackgroundTasks)
        await respond(send, 200, b"accepted")
        await anyio.sleep(float(query.get("seconds", "0.5")))
        with open(query["file"], "a") as fh:
            fh.write("background done\n")
    elif path == "/hold":
        await anyio.sleep(float(query.get("seconds", "5")))
        await respond(send, 200, b"held")
    elif path == "/gate":
        while (await receive())["type"] != "http.disconnect":
            pass
    else:
        await respond(send, 200, b"hello")
