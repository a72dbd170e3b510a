"""Ceiling server on trio: trio streams that parse nothing and answer each
request head with a canned response."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import trio

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ceiling import HeadCounter, parse_args, response_from_args


async def handle(response: bytes, body_size: int, stream: trio.SocketStream) -> None:
    counter = HeadCounter(body_size)
    try:
        async with stream:
            while data := await stream.receive_some(65536):
                count = counter.feed(data)
                if count:
                    await stream.send_all(response * count)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


async def serve(host: str, port: int, response: bytes, body_size: int) -> None:
    await trio.serve_tcp(partial(handle, response, body_size), port, host=host, backlog=2048)


def main() -> None:
    args = parse_args(__doc__ or "")
    trio.run(serve, args.host, args.port, response_from_args(args), args.request_body)


if __name__ == "__main__":
    main()
