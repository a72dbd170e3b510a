"""The one plain ASGI 3 application every server in the suite runs.

Routes (by path):

- ``/`` and ``/hello``: 200, ``Hello, world!`` (13 bytes) with Content-Length.
- ``/echo``: the whole request body echoed back with Content-Length.
- ``/big``: a 100 KiB body with Content-Length.
- ``/seed``: the "simple echo application" of the article that introduced trio
  support in hypercorn: GET echoes the query string, POST echoes the body.
- ``/ws``: WebSocket echo (text and bytes) until the client disconnects.

Lifespan is accepted and acknowledged, so no server needs a special flag.
"""

from __future__ import annotations

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
