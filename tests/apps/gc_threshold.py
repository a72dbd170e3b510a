"""Reports the garbage collector's thresholds as the server left them (fastcorn.gcpolicy).

With FASTCORN_TEST_APP_GC set ("1234,5,5"), the app sets its own thresholds at import, as
an app tuning its collector would; with "off" it disables the collector.
"""

from __future__ import annotations

import gc
import json
import os
from typing import Any

OWN = os.environ.get("FASTCORN_TEST_APP_GC")
if OWN == "off":
    gc.disable()
elif OWN:
    young, middle, old = (int(part) for part in OWN.split(","))
    gc.set_threshold(young, middle, old)


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps({"threshold": gc.get_threshold(), "enabled": gc.isenabled()}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
