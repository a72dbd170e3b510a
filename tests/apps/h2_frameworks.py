"""Starlette and FastAPI apps with streaming and file responses, for the HTTP/2 tests.

``FILE`` is a 300 KiB file (written at import, in the temp directory) that both serve, so
that a file response spans many DATA frames and more than the client's first window.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

FILE_CONTENT = bytes(range(256)) * 1200  # 300 KiB
FILE_SHA256 = hashlib.sha256(FILE_CONTENT).hexdigest()
FILE = os.path.join(tempfile.gettempdir(), f"fastcorn-h2-file-{os.getpid()}.bin")
with open(FILE, "wb") as fh:
    fh.write(FILE_CONTENT)


async def lines(n: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield b"line %d\n" % i
        await anyio.sleep(0)


async def s_stream(request: Request) -> StreamingResponse:
    return StreamingResponse(lines(int(request.query_params.get("n", "50"))))


async def s_file(request: Request) -> FileResponse:
    return FileResponse(FILE)


async def s_version(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.scope["http_version"])


starlette_app = Starlette(routes=[
    Route("/stream", s_stream), Route("/file", s_file), Route("/version", s_version),
])

fastapi_app = FastAPI()


@fastapi_app.get("/stream")
async def f_stream(n: int = 50) -> StreamingResponse:
    return StreamingResponse(lines(n))


@fastapi_app.get("/file")
async def f_file() -> FileResponse:
    return FileResponse(FILE)


@fastapi_app.get("/version")
async def f_version(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.scope["http_version"])
