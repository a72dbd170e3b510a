"""Helpers for the HTTP/1.1 protocol tests (the ``make`` fixture lives in conftest.py).

Every test here drives ``fastcorn.testing.Harness``: bytes in, bytes out, no event loop, no
sockets. This module adds a small strict HTTP/1.1 *response* parser (so assertions are on
parsed status/headers/body as well as on exact bytes), a few ASGI apps, a ``Gate`` an app
can wait on until the test opens it, ``Conn`` for more connections on one ServerState, and
``assert_clean`` (nothing leaked once a connection closed).
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # fastcorn is built in place, not installed
    sys.path.insert(0, str(REPO))

from fastcorn.asgi.cycle import ServerState  # noqa: E402
from fastcorn.protocol.h1 import H1Connection  # noqa: E402
from fastcorn.testing import Harness, ManualRuntime, MemoryTransport  # noqa: E402

DATE = b"date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"  # what Harness puts in default_headers

# --------------------------------------------------------------------------------------------
# A strict response parser


class ResponseParseError(AssertionError):
    pass


_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) ([^\r\n]*)\r\n")
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+): ?([^\r\n]*?) ?\r\n")


@dataclass
class Response:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]  # names lowercased, in order
    body: bytes
    raw: bytes  # the exact bytes this response occupied on the wire
    chunks: list[bytes] = field(default_factory=list)  # chunk payloads when chunked

    def get_all(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n == name.lower()]

    def get(self, name: bytes) -> bytes | None:
        values = self.get_all(name)
        if len(values) > 1:
            raise ResponseParseError(f"header {name!r} appears {len(values)} times")
        return values[0] if values else None

    def __contains__(self, name: bytes) -> bool:
        return bool(self.get_all(name))

    @property
    def is_chunked(self) -> bool:
        return self.get(b"transfer-encoding") == b"chunked"


def _parse_chunked(data: bytes, pos: int) -> tuple[bytes, list[bytes], int]:
    chunks = []
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            raise ResponseParseError("incomplete chunk size line")
        size_line = data[pos:end].split(b";", 1)[0]
        if not re.fullmatch(rb"[0-9a-fA-F]+", size_line):
            raise ResponseParseError(f"bad chunk size {size_line!r}")
        size = int(size_line, 16)
        pos = end + 2
        if size == 0:
            # trailers until an empty line
            while True:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    raise ResponseParseError("incomplete trailer section")
                line = data[pos:end]
                pos = end + 2
                if not line:
                    return b"".join(chunks), chunks, pos
        if len(data) < pos + size + 2:
            raise ResponseParseError("incomplete chunk")
        chunks.append(data[pos:pos + size])
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise ResponseParseError("chunk data not followed by CRLF")
        pos += size + 2


def parse_one(data: bytes, pos: int = 0, *, head: bool = False) -> tuple[Response, int]:
    """Parse one response starting at ``pos``; return it and the position after it."""
    start = pos
    m = _STATUS_LINE.match(data, pos)
    if not m:
        raise ResponseParseError(f"bad status line at {pos}: {data[pos:pos + 60]!r}")
    status = int(m.group(1))
    reason = m.group(2)
    pos = m.end()
    headers = []
    while True:
        if data.startswith(b"\r\n", pos):
            pos += 2
            break
        h = _HEADER_LINE.match(data, pos)
        if not h:
            raise ResponseParseError(f"bad header line: {data[pos:pos + 60]!r}")
        headers.append((h.group(1).lower(), h.group(2)))
        pos = h.end()
    resp = Response(status, reason, headers, b"", b"")
    te = resp.get(b"transfer-encoding")
    cl = resp.get(b"content-length")
    if te is not None and cl is not None:
        raise ResponseParseError("both transfer-encoding and content-length")
    if head or status < 200 or status in (204, 304):
        body = b""
    elif te is not None:
        if te != b"chunked":
            raise ResponseParseError(f"unexpected transfer-encoding {te!r}")
        body, resp.chunks, pos = _parse_chunked(data, pos)
    elif cl is not None:
        if not cl.isdigit():
            raise ResponseParseError(f"bad content-length {cl!r}")
        n = int(cl)
        if len(data) - pos < n:
            raise ResponseParseError(f"body shorter than content-length {n}")
        body = data[pos:pos + n]
        pos += n
    else:  # close-delimited
        body = data[pos:]
        pos = len(data)
    resp.body = body
    resp.raw = data[start:pos]
    return resp, pos


def parse_responses(data: bytes, methods: Sequence[str] = ()) -> list[Response]:
    """All responses in ``data`` (which must be consumed exactly).

    ``methods`` lists the request methods in order, so HEAD responses are read without a
    body; interim (1xx) responses do not use up a method.
    """
    out = []
    pos = 0
    i = 0
    while pos < len(data):
        method = methods[i] if i < len(methods) else "GET"
        resp, pos = parse_one(data, pos, head=method == "HEAD")
        out.append(resp)
        if resp.status >= 200:
            i += 1
    return out


def parse_response(data: bytes, method: str = "GET") -> Response:
    """Exactly one response, and nothing after it."""
    responses = parse_responses(data, [method])
    assert len(responses) == 1, f"expected one response, got {len(responses)}: {data!r}"
    return responses[0]


# --------------------------------------------------------------------------------------------
# Requests


def request(method: str = "GET", target: str = "/", *, version: str = "1.1",
            headers: Iterable[tuple[str, str]] = (("host", "example.com"),),
            body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/{version}".encode()]
    lines += [f"{n}: {v}".encode("latin-1") for n, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


GET = request()


# --------------------------------------------------------------------------------------------
# Apps


def start(status: int = 200, headers: Iterable[tuple[bytes, bytes]] = ()) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data: bytes = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


def respond(status: int = 200, data: bytes = b"ok",
            headers: Iterable[tuple[bytes, bytes]] = ((b"content-type", b"text/plain"),)):
    """An app that answers every request with one body, without reading the request."""
    headers = list(headers)

    async def app(scope, receive, send):
        await send(start(status, headers))
        await send(body(data))

    return app


async def read_body(receive) -> tuple[bytes, list[dict[str, Any]]]:
    """The whole request body and the messages it came in."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    return b"".join(m.get("body", b"") for m in messages), messages


class Recorder:
    """An app that keeps each scope and received message, reads the body, echoes it back."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.messages: list[list[dict[str, Any]]] = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        data, messages = await read_body(receive)
        self.messages.append(messages)
        await send(start(200, [(b"content-type", b"application/octet-stream")]))
        await send(body(data))


class Gate:
    """Something an app awaits until the test opens it (for the harness' manual runtime)."""

    def __init__(self, runtime: ManualRuntime) -> None:
        self.runtime = runtime
        self.opened = False
        self.waiters: list[Any] = []

    async def wait(self) -> None:
        if not self.opened:
            waiter = self.runtime.create_waiter()
            self.waiters.append(waiter)
            await waiter

    def open(self) -> None:
        self.opened = True
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)


# --------------------------------------------------------------------------------------------
# Connections


class Conn:
    """A second (third, ...) connection on an existing harness' ServerState and runtime."""

    def __init__(self, h: Harness, peer: tuple[str, int] = ("127.0.0.1", 50001)) -> None:
        self.h = h
        self.state: ServerState = h.state
        self.protocol = H1Connection(h.state)
        self.transport = MemoryTransport(self.protocol, peer, ("127.0.0.1", 8000))
        self.protocol.connection_made(self.transport)

    def feed(self, data: bytes) -> bytes:
        if data:
            self.protocol.data_received(data)
        self.h.runtime.run_ready()
        out = bytes(self.transport.output)
        self.transport.output.clear()
        return out

    def disconnect(self) -> None:
        if not self.transport.closed:
            self.transport.closed = True
            self.protocol.connection_lost(None)
        self.h.runtime.run_ready()

    def feed_eof(self) -> None:
        """The client half-closes (see Harness.feed_eof)."""
        if not self.transport.closed and not self.protocol.eof_received():
            self.transport.close()
        self.h.runtime.run_ready()

    @property
    def closed(self) -> bool:
        return self.transport.closed or self.transport.eof_written


def count_writes(h: Harness) -> list[bytes]:
    """Record every transport.write() call from now on (the data still reaches h.feed)."""
    calls: list[bytes] = []
    h.transport.write_observers.append(lambda data: calls.append(bytes(data)))
    return calls


def assert_clean(h: Harness) -> None:
    """Nothing left behind once the connection (and every other on its state) closed.

    A connection the server half-closed (lingering close) ends when the client, having read
    the answer, closes its side too: that EOF is delivered here first.
    """
    assert h.closed
    if not h.transport.closed:
        h.feed_eof()
        assert h.transport.closed, "a lingering connection did not close on the client's EOF"
    assert h.state.connections == set()
    assert h.state.active_requests == 0
    assert h.runtime.errors == []


def mutate(rng: random.Random, data: bytes, nasty: Sequence[bytes]) -> bytes:
    """``data`` with one to four random edits: a byte changed, one of ``nasty`` inserted, a
    few bytes cut, a prefix repeated (the fuzz tests' mutations, seeded by ``rng``)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        pos = rng.randrange(len(buf) + 1)
        if choice < 0.3 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif choice < 0.6:
            buf[pos:pos] = rng.choice(nasty)
        elif choice < 0.8 and buf:
            del buf[pos:pos + rng.randint(1, 8)]
        else:
            buf[pos:pos] = buf[: rng.randint(0, len(buf))]  # repeat a prefix
    return bytes(buf)


def split(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` cut at up to four random places, as reads may deliver it."""
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 4))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

