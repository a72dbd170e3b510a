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


# The HTTP/2 page: 50 fetch() calls in parallel (one connection, 50 streams over h2) and
# one streamed response read chunk by chunk, summarised into #result.
PARALLEL_PAGE = b"""<!doctype html>
<html>
<head><meta charset="utf-8"><title>fastcorn parallel fetches</title></head>
<body>
<p id="result">pending</p>
<p id="progress"></p>
<script>
// What had arrived, for a failure message: "fetched=N headers=H chunks=C".
let fetched = 0, headers = 0, chunks = 0;
function progress() {
  document.getElementById("progress").textContent =
    "fetched=" + fetched + " headers=" + headers + " chunks=" + chunks;
}
const token = new URLSearchParams(location.search).get("token") || "";
// Chromium's virtual time (--virtual-time-budget) stops while a fetch waits for its
// response head, but not while a body streams in: this fetch, answered only once the page
// has reported (/api/done), keeps the DOM from being dumped before the stream has ended.
const hold = fetch("/api/hold?token=" + encodeURIComponent(token));
function report(text) {
  document.getElementById("result").textContent = text;
  fetch("/api/done?token=" + encodeURIComponent(token));
}
const calls = [];
for (let i = 0; i < 50; i++) {
  calls.push(fetch("/api/value?token=" + encodeURIComponent(token + i))
    .then((r) => { if (!r.ok) throw new Error("status " + r.status); return r.json(); })
    .then((data) => { fetched++; progress(); return data; }));
}
async function readStream() {
  const response = await fetch("/api/stream");
  headers++;
  progress();
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "", reads = 0;
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    reads++;
    chunks++;
    progress();
    text += decoder.decode(value, {stream: true});
  }
  return text;
}
Promise.all([Promise.all(calls), readStream()]).then(([values, streamed]) => {
  let good = 0;
  const versions = new Set();
  values.forEach((data, i) => {
    if (data.reversed === (token + i).split("").reverse().join("")) good++;
    versions.add(data.http_version);
  });
  report("good=" + good + " versions=" + [...versions].join(",") + " streamed=" + streamed);
}).catch((error) => {
  report("error: " + error);
});
</script>
</body>
</html>
"""

STREAM_CHUNKS = [b"one;", b"two;", b"three;", b"four;", b"five"]
REPORTED: set[str] = set()  # tokens whose page has written its result (/api/done)
HOLD_SECONDS = 30  # the longest /api/hold waits for its page's report


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
    elif scope["path"] == "/parallel":
        await _respond(send, 200, PARALLEL_PAGE, b"text/html; charset=utf-8")
    elif scope["path"] == "/api/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/plain"), (b"cache-control", b"no-store")]})
        for chunk in STREAM_CHUNKS:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await sleep(0.01)  # each chunk its own write (DATA frame), a moment apart
        await send({"type": "http.response.body", "body": b""})
    elif scope["path"] == "/api/hold":
        token = query.get("token", [""])[0]
        for _ in range(HOLD_SECONDS * 100):
            if token in REPORTED:
                break
            await sleep(0.01)
        REPORTED.discard(token)
        await _respond(send, 200, b"released", b"text/plain")
    elif scope["path"] == "/api/done":
        REPORTED.add(query.get("token", [""])[0])
        await _respond(send, 200, b"ok", b"text/plain")
    elif scope["path"] == "/api/value":
        token = query.get("token", [""])[0]
        data = {"reversed": token[::-1], "scheme": scope.get("scheme"),
                "http_version": scope["http_version"]}
        await _respond(send, 200, json.dumps(data).encode(), b"application/json")
    else:
        await _respond(send, 404, b"not found", b"text/plain; charset=utf-8")


async def sleep(seconds: float) -> None:
    """Sleep on whichever loop serves the app (asyncio, uvloop or trio)."""
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        await trio.sleep(seconds)
    else:
        import asyncio

        await asyncio.sleep(seconds)
