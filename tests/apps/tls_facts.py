"""An app that answers with its scope's TLS facts as JSON (tests/e2e/test_tls.py)."""

from __future__ import annotations

import json
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    tls = scope["extensions"].get("tls")
    body = json.dumps({
        "scheme": scope["scheme"],
        "extensions": sorted(scope["extensions"]),
        "tls": tls,
    }).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
