"""The one plain ASGI 3 application every server in the suite runs.

Routes (by path):

- ``/`` and ``/hello``: 200, ``Hello, world!`` (13 bytes) with Content-Length.
- ``/echo``: the whole request body echoed back with Content-Length.
- ``/big``: a 100 KiB body with Content-Length.
- ``/seed``: the "simple echo application" of the article that introduced trio
  support in hypercorn: GET echoes the query string, POST echoes the body.
- ``/ws``: WebSocket echo (text and bytes) until the client disconnects.
- ``/file``: a 10 MiB file (FILE_PATH, written at import when missing) with
  Content-Length: by ``http.response.pathsend`` where the server advertises it (fastcorn,
  granian), else read in 64 KiB pieces and sent as body messages (what Starlette's
  FileResponse does, without its worker thread).

Lifespan is accepted and acknowledged, so no server needs a special flag.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HELLO = b"Hello, world!"
BIG = b"x" * (100 * 1024)
_TEXT = [(b"content-type", b"text/plain")]


def _headers(length: int) -> list[tuple[bytes, bytes]]:
    return [*_TEXT, (b"content-length", str(length).encode())]


_HELLO_HEADERS = _headers(len(HELLO))
FILE_BODY = b"fastcorn-bench!\n" * (10 * 1024 * 1024 // 16)  # 10 MiB
FILE_PATH = os.path.join(tempfile.gettempdir(), "fastcorn-bench-10MiB.bin")
_FILE_HEADERS = [(b"content-type", b"application/octet-stream"),
                 (b"content-length", str(len(FILE_BODY)).encode())]  # fmt: skip
_FILE_PIECE = 65536


def _write_file() -> None:
    try:
        if os.path.getsize(FILE_PATH) == len(FILE_BODY):
            return
    except OSError:
        pass
    part = f"{FILE_PATH}.{os.getpid()}"
    with open(part, "wb") as fh:
        fh.write(FILE_BODY)
    os.replace(part, FILE_PATH)  # atomic: servers starting together never read half a file


_write_file()


async def _send_file(scope: Scope, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _FILE_HEADERS})
    if "http.response.pathsend" in scope.get("extensions", {}):
        await send({"type": "http.response.pathsend", "path": FILE_PATH})
        return
    with open(FILE_PATH, "rb") as fh:
        while piece := fh.read(_FILE_PIECE):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
_BIG_HEADERS = _headers(len(BIG))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _respond(send: Send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _headers(len(body))})
    await send({"type": "http.response.body", "body": body})


async def _websocket(receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        if message.get("bytes") is not None:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
        else:
            await send({"type": "websocket.send", "text": message.get("text", "")})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        path = scope["path"]
        if path == "/" or path == "/hello":
            await send({"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS})
            await send({"type": "http.response.body", "body": HELLO})
        elif path == "/echo":
            await _respond(send, await _read_body(receive))
        elif path == "/big":
            await send({"type": "http.response.start", "status": 200, "headers": _BIG_HEADERS})
            await send({"type": "http.response.body", "body": BIG})
        elif path == "/file":
            await _send_file(scope, send)
        elif path == "/seed":
            if scope["method"] == "POST":
                await _respond(send, await _read_body(receive))
            else:
                await _respond(send, scope["query_string"])
        else:
            await send({"type": "http.response.start", "status": 404, "headers": _headers(9)})
            await send({"type": "http.response.body", "body": b"Not Found"})
    elif kind == "websocket":
        await _websocket(receive, send)
    elif kind == "lifespan":
        await _lifespan(receive, send)
