"""The same small service on Starlette (``starlette_app``) and FastAPI (``fastapi_app``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import sniffio
from fastapi import Body, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def current_task() -> dict[str, Any]:
    library = sniffio.current_async_library()
    if library == "trio":
        import trio

        task = trio.lowlevel.current_task()
    else:
        import asyncio

        task = asyncio.current_task()
    return {"library": library, "task": task is not None}


async def numbers(n: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield b"%d\n" % i
        await anyio.sleep(0)


# -- Starlette ---------------------------------------------------------------------------


async def s_json(request: Request) -> JSONResponse:
    return JSONResponse({"framework": "starlette", "ok": True})


async def s_echo(request: Request) -> JSONResponse:
    data = await request.json()
    return JSONResponse({"received": data})


async def s_stream(request: Request) -> StreamingResponse:
    return StreamingResponse(numbers(int(request.query_params.get("n", "5"))),
                             media_type="text/plain")


async def s_task(request: Request) -> JSONResponse:
    return JSONResponse(current_task())


async def s_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


async def ws_echo(websocket: WebSocket) -> None:
    """Echoes text and bytes until the client leaves (Starlette and FastAPI share it)."""
    await websocket.accept(subprotocol="echo" if "echo" in websocket.scope["subprotocols"]
                           else None)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        return


starlette_app = Starlette(routes=[
    WebSocketRoute("/ws", s_ws),
    WebSocketRoute("/ws-echo", ws_echo),
    Route("/json", s_json),
    Route("/echo", s_echo, methods=["POST"]),
    Route("/stream", s_stream),
    Route("/task", s_task),
])


# -- FastAPI -----------------------------------------------------------------------------

fastapi_app = FastAPI()


@fastapi_app.websocket("/ws")
async def f_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


fastapi_app.add_api_websocket_route("/ws-echo", ws_echo)


@fastapi_app.get("/json")
async def f_json() -> dict[str, Any]:
    return {"framework": "fastapi", "ok": True}


@fastapi_app.post("/echo")
async def f_echo(payload: dict[str, Any] = Body()) -> dict[str, Any]:  # noqa: B008
    return {"received": payload}


@fastapi_app.get("/stream")
async def f_stream(n: int = 5) -> StreamingResponse:
    return StreamingResponse(numbers(n), media_type="text/plain")


@fastapi_app.get("/task")
async def f_task() -> dict[str, Any]:
    return current_task()
