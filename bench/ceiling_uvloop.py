"""Ceiling server on uvloop (or ``--loop asyncio``): an ``asyncio.Protocol``
that parses nothing and answers each request head with a canned response."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import cast

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ceiling import HeadCounter, parse_args, response_from_args


class CeilingProtocol(asyncio.Protocol):
    def __init__(self, response: bytes, body_size: int) -> None:
        self.response = response
        self.counter = HeadCounter(body_size)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        count = self.counter.feed(data)
        if count and self.transport is not None:
            self.transport.write(self.response * count)


async def serve(host: str, port: int, response: bytes, body_size: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CeilingProtocol(response, body_size), host, port, backlog=2048
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    args = parse_args(__doc__ or "", loops=("uvloop", "asyncio"))
    coro = serve(args.host, args.port, response_from_args(args), args.request_body)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


if __name__ == "__main__":
    main()
