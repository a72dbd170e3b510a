"""A minimal Quart app (``app``): asyncio-only, like Django."""

from __future__ import annotations

from typing import Any

from quart import Quart, websocket

app = Quart(__name__)


@app.route("/hello")
async def hello() -> str:
    return "hello from quart"


@app.route("/json")
async def json() -> dict[str, Any]:
    return {"framework": "quart"}


@app.websocket("/ws")
async def echo() -> None:
    """Echoes text and bytes (Quart's websocket global is this connection's)."""
    await websocket.accept()
    while True:
        data = await websocket.receive()
        await websocket.send(data)
