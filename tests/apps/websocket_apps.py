"""Raw ASGI WebSocket apps for the end-to-end WebSocket tests, routed by path (and, over
HTTP, ``/page``: a browser's WebSocket client, and ``/report``, which logs its result).

- ``/echo``: accepts (with the first subprotocol offered when ``?subprotocol=1``) and
  echoes every message; answers the text ``"scope"`` with the scope as JSON;
- ``/reject``: closes before accepting (403);
- ``/deny``: the denial-response extension: 401 with its own body and header;
- ``/error-before`` / ``/error-after``: raises before accepting (500) / after (close 1011);
- ``/close``: accepts, reads one text message ``"CODE REASON"`` and closes with them;
- ``/flood?n=N&size=S``: accepts and sends N binary messages of S bytes as fast as
  ``send()`` lets it, then ``"done"`` (a client that does not read pushes back; logs
  ``flood cut after N messages`` when send() raises);
- ``/hold``: accepts and never reads (the server must stop reading from the client);
- ``/disconnect``: accepts, waits for websocket.disconnect and logs its code and reason.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

logger = logging.getLogger("fastcorn.error")

# /page: a browser opens a WebSocket to /echo on the page's own origin (ws: or wss:),
# sends a text and a binary message, and reports the echoes and the negotiated extensions
# both in the DOM and to /report (which the server logs). An iframe of /wait, answered once
# the page has reported, holds the page's load event (and so Chromium's --dump-dom) until
# then. Not a pending fetch() under --virtual-time-budget: headless Chromium pauses virtual
# time while a fetch is pending, and on a loaded machine many pages' WebSockets (any
# backend) then made no progress at all, no message sent nor the server's ping answered,
# until the fetch ended.
PAGE = b"""<!doctype html>
<html><body><p id="result">pending</p><script>
const token = new URLSearchParams(location.search).get("token");
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const hold = document.createElement("iframe");
hold.src = "/wait?token=" + token;
document.body.appendChild(hold);
const ws = new WebSocket(scheme + location.host + "/echo");
ws.binaryType = "arraybuffer";
const got = [];
ws.onopen = () => { ws.send("text " + token); ws.send(new Uint8Array([1, 2, 3, 250])); };
ws.onmessage = (event) => {
  got.push(typeof event.data === "string" ? event.data
           : Array.from(new Uint8Array(event.data)).join(","));
  if (got.length === 2) {
    const result = got.join("|") + " ext=" + ws.extensions;
    document.getElementById("result").textContent = result;
    ws.close(1000, "done");
    fetch("/report?" + new URLSearchParams({token: token, result: result}));
  }
};
ws.onerror = () => { document.getElementById("result").textContent = "error"; };
</script></body></html>
"""


def _scope_json(scope: dict[str, Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.decode("latin-1")
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return json.dumps({k: plain(v) for k, v in scope.items() if k not in ("state",)})


_REPORTS: dict[str, Any] = {}


def _reported(token: str) -> Any:
    """The event /report sets for ``token`` (an anyio.Event: asyncio and trio alike)."""
    import anyio

    if token not in _REPORTS:
        _REPORTS[token] = anyio.Event()
    return _REPORTS[token]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        if scope["path"] == "/page":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8")]})
            await send({"type": "http.response.body", "body": PAGE})
            return
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if scope["path"] == "/report":
            logger.info("browser report: %s", query.get("result"))
            _reported(query.get("token", "")).set()
        if scope["path"] == "/wait":
            # Held until the page reports (at most 30 s): the page's iframe of it keeps
            # the load event, and so headless Chromium, waiting while the WebSocket talks.
            import anyio

            with anyio.move_on_after(30):
                await _reported(query.get("token", "")).wait()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"plain http"})
        return
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    path = scope["path"]
    assert (await receive())["type"] == "websocket.connect"
    if path == "/reject":
        await send({"type": "websocket.close"})
        return
    if path == "/deny":
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain"), (b"x-denied", b"yes")]})
        await send({"type": "websocket.http.response.body", "body": b"go away"})
        return
    if path == "/error-before":
        raise RuntimeError("failing before accept")
    subprotocol = None
    if query.get("subprotocol") and scope["subprotocols"]:
        subprotocol = scope["subprotocols"][0]
    await send({"type": "websocket.accept", "subprotocol": subprotocol,
                "headers": [(b"x-accepted", b"yes")]})
    if path == "/error-after":
        await receive()
        raise RuntimeError("failing after accept")
    if path == "/close":
        message = await receive()
        code, _, reason = message["text"].partition(" ")
        await send({"type": "websocket.close", "code": int(code), "reason": reason})
        return
    if path == "/flood":
        chunk = b"x" * int(query.get("size", "65536"))
        for i in range(int(query.get("n", "1000"))):
            try:
                await send({"type": "websocket.send", "bytes": chunk})
            except OSError:
                logger.info("flood cut after %d messages", i)
                return
        await send({"type": "websocket.send", "text": "done"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    if path == "/hold":
        await receive()  # the first message only; then the server must stop reading
        logger.info("holding")
        while True:
            import anyio

            await anyio.sleep(3600)
    if path == "/disconnect":
        message = await receive()
        logger.info("disconnect code=%s reason=%s", message.get("code"), message.get("reason"))
        return
    while True:  # /echo
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "scope":
            await send({"type": "websocket.send", "text": _scope_json(scope)})
            continue
        await send({"type": "websocket.send", "bytes": message.get("bytes"),
                    "text": message.get("text")})
