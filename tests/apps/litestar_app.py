"""A minimal Litestar app (``app``): built on anyio, so it runs on trio too."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Litestar, get


@get("/hello")
async def hello() -> dict[str, Any]:
    await anyio.sleep(0)
    return {"framework": "litestar"}


app = Litestar([hello])
