"""A page for a real browser (tests/e2e/test_browser.py): its script ``fetch()``es a JSON
endpoint and writes what it got into the DOM.

``GET /?token=T`` is an HTML page whose script fetches ``/api/value?token=T`` and writes
``reversed=<T reversed> scheme=<scope scheme> http=<HTTP version>`` into ``#result`` (or
``error: ...`` into it if the fetch fails). The reversal is done by the server, so the value
is in the DOM only if the browser's request reached the app and its answer came back.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

PAGE = b"""<!doctype html>
<html>
<head><meta charset="utf-8"><title>fastcorn browser test</title></head>
<body>
<p id="result">pending</p>
<script>
const token = new URLSearchParams(location.search).get("token") || "";
fetch("/api/value?token=" + encodeURIComponent(token), {headers: {"Accept": "application/json"}})
  .then((response) => {
    if (!response.ok) throw new Error("status " + response.status);
    return response.json();
  })
  .then((data) => {
    document.getElementById("result").textContent =
      "reversed=" + data.reversed + " scheme=" + data.scheme + " http=" + data.http_version;
  })
  .catch((error) => {
    document.getElementById("result").textContent = "error: " + error;
  });
</script>
</body>
</html>
"""


async def _respond(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type),
        (b"cache-control", b"no-store"),
    ]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    query = parse_qs(scope["query_string"].decode("latin-1"))
    if scope["path"] == "/":
        await _respond(send, 200, PAGE, b"text/html; charset=utf-8")
    elif scope["path"] == "/api/value":
        token = query.get("token", [""])[0]
        data = {"reversed": token[::-1], "scheme": scope.get("scheme"),
                "http_version": scope["http_version"]}
        await _respond(send, 200, json.dumps(data).encode(), b"application/json")
    else:
        await _respond(send, 404, b"not found", b"text/plain; charset=utf-8")
