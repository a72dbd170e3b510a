"""An ASGI 2 (double-callable) app: the current UTC time at ``/``, 404 anywhere else."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


class App:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
            elif kind == "http.request":
                if message.get("more_body", False):
                    continue  # answer once the whole request has arrived
                if self.scope["path"] == "/":
                    status, body = 200, datetime.now(timezone.utc).isoformat().encode()
                else:
                    status, body = 404, b"Not Found"
                await send({
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                })
                await send({"type": "http.response.body", "body": body})
            elif kind == "http.disconnect":
                return
