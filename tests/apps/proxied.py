"""``tests.apps.proxied:app``: answers with what the scope says about the connection.

Every HTTP request gets a JSON object: ``client``, ``server`` (lists, as JSON has no
tuples), ``scheme``, ``path`` and the request headers by name, so the proxy tests see
what a proxy in front (nginx, HAProxy, a raw socket speaking for one) made of the scope.
A WebSocket connection is accepted and sent the same object as its first message.
"""

from __future__ import annotations

import json
from typing import Any


def facts(scope: dict[str, Any]) -> bytes:
    return json.dumps({
        "client": list(scope["client"]) if scope.get("client") else None,
        "server": list(scope["server"]) if scope.get("server") else None,
        "scheme": scope["scheme"],
        "path": scope["path"],
        "http_version": scope.get("http_version"),
        "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        "client_type": type(scope["client"]).__name__,
    }).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": facts(scope).decode()})
        await send({"type": "websocket.close", "code": 1000})
        return
    message = await receive()  # the request body is read whole (bytes_in counts it)
    while message.get("more_body"):
        message = await receive()
    body = facts(scope)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"x-upstream", b"fastcorn")]})
    await send({"type": "http.response.body", "body": body})
