"""Starlette apps for the logging tests.

``app``: ``POST /bgslow`` answers at once and then runs a 3 s BackgroundTask (the access
line must not wait for it), ``GET /admin/login/`` a plain page. ``failing_startup`` and
``failing_shutdown``: lifespans that raise (Starlette reports the error as
``lifespan.*.failed`` with the traceback as its message, then re-raises it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

BACKGROUND_SECONDS = 3.0


async def background_work() -> None:
    await anyio.sleep(BACKGROUND_SECONDS)


async def bgslow(request: Request) -> PlainTextResponse:
    await request.body()
    return PlainTextResponse("accepted", background=BackgroundTask(background_work))


async def login(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"login, then {request.query_params.get('next')}")


app = Starlette(routes=[
    Route("/bgslow", bgslow, methods=["POST"]),
    Route("/admin/login/", login),
])


@asynccontextmanager
async def _startup_fails(app: Any) -> AsyncIterator[None]:
    raise RuntimeError("cannot connect to db")
    yield  # pragma: no cover


@asynccontextmanager
async def _shutdown_fails(app: Any) -> AsyncIterator[None]:
    yield
    raise RuntimeError("cannot flush the queue")


failing_startup = Starlette(lifespan=_startup_fails)
failing_shutdown = Starlette(routes=[Route("/admin/login/", login)], lifespan=_shutdown_fails)
