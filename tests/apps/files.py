"""Files as response bodies (tests/e2e/test_files.py): Starlette's FileResponse and raw
ASGI apps sending ``http.response.pathsend`` and ``http.response.zerocopysend``.

Files are served from the directory named by ``FASTCORN_TEST_FILES``. ``os.sendfile`` is
wrapped at import so that ``GET /stats`` tells how many bytes the server sent with it:
the tests see which way (zero-copy or read-and-send) each transport took.

Raw routes (query parameters):
- ``/raw/pathsend?name=N``: pathsend with no content-length (the server adds it).
- ``/raw/zerocopy?name=N&offset=O&count=C&length=1``: ``<`` + zerocopysend(offset, count)
  + ``>``, with a content-length when ``length`` is given (else chunked on HTTP/1.1).
- ``/raw/position?name=N``: the descriptor at 10, then two zerocopysends of 100 bytes
  without an offset: they read on from the descriptor's position.
- ``/raw/missing``: pathsend of a file that does not exist (a 500).
- ``/raw/scope``: the scope's extension names, as JSON.
Everything else goes to the Starlette app: ``/static/N`` is ``FileResponse``.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route

FILES = os.environ.get("FASTCORN_TEST_FILES", "/nonexistent")
SENT = {"sendfile_bytes": 0, "sendfile_calls": 0}
_sendfile = os.sendfile


def counting_sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
    sent = _sendfile(out_fd, in_fd, offset, count)
    SENT["sendfile_bytes"] += sent
    SENT["sendfile_calls"] += 1
    return sent


os.sendfile = counting_sendfile


def file_path(name: str) -> str:
    return os.path.join(FILES, os.path.basename(name))


async def static(request: Request) -> FileResponse:
    return FileResponse(file_path(request.path_params["name"]))


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(SENT)


starlette_app = Starlette(routes=[
    Route("/static/{name}", static, methods=["GET", "HEAD"]),
    Route("/stats", stats),
])


async def raw(scope: Any, receive: Any, send: Any) -> None:
    query = {key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()}
    route = scope["path"].removeprefix("/raw/")
    if route == "scope":
        body = json.dumps(sorted(scope["extensions"])).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    elif route == "pathsend":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        await send({"type": "http.response.pathsend", "path": file_path(query["name"])})
    elif route == "missing":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": file_path("no-such-file")})
    elif route == "zerocopy":
        offset, count = int(query["offset"]), int(query["count"])
        headers = []
        if "length" in query:
            headers.append((b"content-length", str(count + 2).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with open(file_path(query["name"]), "rb") as file:
            await send({"type": "http.response.body", "body": b"<", "more_body": True})
            await send({"type": "http.response.zerocopysend", "file": file, "offset": offset,
                        "count": count, "more_body": True})
            await send({"type": "http.response.body", "body": b">"})
    elif route == "position":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        fd = os.open(file_path(query["name"]), os.O_RDONLY)
        try:
            os.lseek(fd, 10, os.SEEK_SET)
            await send({"type": "http.response.zerocopysend", "file": fd, "count": 100,
                        "more_body": True})
            await send({"type": "http.response.zerocopysend", "file": fd, "count": 100})
        finally:
            os.close(fd)
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no such route"})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"].startswith("/raw/"):
        await raw(scope, receive, send)
    else:
        await starlette_app(scope, receive, send)
