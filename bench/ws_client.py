"""A light WebSocket echo load generator (and the ws correctness probe).

Each of ``--connections`` connections does the opening handshake, then sends a
``--size``-byte binary message (``--text``: a text message) and waits for its echo before
sending the next, for ``--duration`` seconds. ``--deflate`` negotiates permessage-deflate
(RFC 7692) with ``client_no_context_takeover``, so one compressed frame, made up front, is
valid every time; the server compresses its replies with its own context as it likes.
The frame is masked once, up front, and replies are counted by reading frame headers
only, so the client spends little CPU per message; it reports its own CPU use so a
reader can see it was not the bottleneck. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import socket
import struct
import sys
import time
import zlib
from typing import cast

MASK = b"\x37\xfa\x21\x3d"
DEFLATE_OFFER = "permessage-deflate; client_no_context_takeover"
DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.1: stripped from, then added to, messages


def handshake_request(host: str, port: int, path: str, deflate: bool = False) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    extensions = f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n" if deflate else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extensions}\r\n"
    ).encode()


def deflated(payload: bytes) -> bytes:
    """One message compressed on its own (no context kept), tail stripped."""
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[: -len(DEFLATE_TAIL)] if data.endswith(DEFLATE_TAIL) else data


def masked_frame(payload: bytes, opcode: int = 0x2, rsv1: bool = False) -> bytes:
    n = len(payload)
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


def frame_length(buf: bytes | bytearray, pos: int) -> int:
    """Total length of the unmasked frame at ``pos``, or -1 if its header is incomplete."""
    if len(buf) - pos < 2:
        return -1
    n = buf[pos + 1] & 0x7F
    if n < 126:
        return 2 + n
    if n == 126:
        return -1 if len(buf) - pos < 4 else 4 + struct.unpack_from("!H", buf, pos + 2)[0]
    return -1 if len(buf) - pos < 10 else 10 + struct.unpack_from("!Q", buf, pos + 2)[0]


def message(size: int, text: bool) -> bytes:
    """The echoed payload: ``size`` printable ASCII bytes for text, any bytes for binary."""
    if text:
        return (b"fastcorn-" * (size // 9 + 1))[:size]
    return bytes(range(256))[:size] if size <= 256 else os.urandom(size)


def client_frame(payload: bytes, text: bool, deflate: bool) -> bytes:
    opcode = 0x1 if text else 0x2
    if deflate:
        return masked_frame(deflated(payload), opcode, rsv1=True)
    return masked_frame(payload, opcode)


def check(
    host: str,
    port: int,
    path: str,
    size: int,
    timeout: float = 5.0,
    text: bool = False,
    deflate: bool = False,
) -> str | None:
    """Handshake, one echo, byte for byte. Returns None when right, else what went wrong."""
    payload = message(size, text)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(handshake_request(host, port, path, deflate))
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return "closed during handshake"
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                return f"handshake answered {status.decode(errors='replace')!r}"
            if deflate and b"permessage-deflate" not in head.lower():
                return "permessage-deflate not negotiated"
            sock.sendall(client_frame(payload, text, deflate))
            while (n := frame_length(buf, 0)) < 0 or len(buf) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    return "closed before the echo"
                buf += chunk
            header = 2 if n - 2 < 126 else 4
            echoed = buf[header:n]
            if deflate and buf[0] & 0x40:
                echoed = zlib.decompressobj(wbits=-15).decompress(echoed + DEFLATE_TAIL)
            if buf[0] & 0x8F != (0x81 if text else 0x82) or echoed != payload:
                return f"wrong echo frame {buf[:n]!r:.80}"
            sock.sendall(masked_frame(b"\x03\xe8", opcode=0x8))  # close 1000
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


class EchoClient(asyncio.Protocol):
    def __init__(self, stats: Stats, request: bytes, frame: bytes) -> None:
        self.stats = stats
        self.request = request
        self.frame = frame
        self.buf = bytearray()
        self.upgraded = False
        self.sent_at = 0
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter_ns()
        self.transport.write(self.frame)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.stats.errors += 1
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(bytes(buf[:80]).decode()))
                return
            del buf[: end + 4]
            self.upgraded = True
            self.ready.set_result(None)
        pos = 0
        got = 0
        while (n := frame_length(buf, pos)) >= 0 and len(buf) - pos >= n:
            pos += n
            got += 1
        if got:
            del buf[:pos]
            stats = self.stats
            if stats.running:
                stats.messages += got
                if stats.sample_every and stats.messages % stats.sample_every < got:
                    stats.latencies.append(time.perf_counter_ns() - self.sent_at)
                self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stats.running:
            self.stats.errors += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed during handshake"))


class Stats:
    def __init__(self) -> None:
        self.messages = 0
        self.errors = 0
        self.running = False
        self.sample_every = 7  # keep one latency in 7: cheap, and plenty for p99
        self.latencies: list[int] = []


async def load(
    host: str,
    port: int,
    path: str,
    connections: int,
    size: int,
    duration: float,
    text: bool = False,
    deflate: bool = False,
) -> dict:
    loop = asyncio.get_running_loop()
    stats = Stats()
    frame = client_frame(message(size, text), text, deflate)
    request = handshake_request(host, port, path, deflate)
    clients = []
    for _ in range(connections):
        _, client = await loop.create_connection(
            lambda: EchoClient(stats, request, frame), host, port
        )
        clients.append(client)
    await asyncio.gather(*(c.ready for c in clients))
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    stats.running = True
    for c in clients:
        c.send()
    await asyncio.sleep(duration)
    stats.running = False
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    for c in clients:
        if c.transport is not None:
            c.transport.write(masked_frame(b"\x03\xe8", opcode=0x8))
            c.transport.close()
    await asyncio.sleep(0.05)
    lat = sorted(stats.latencies)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] / 1000 if lat else 0.0

    return {
        "requests": stats.messages,
        "duration_us": int(elapsed * 1e6),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "errors": {"socket": stats.errors},
        "client_cpu_util": cpu / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ws")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--text", action="store_true", help="text messages, not binary")
    parser.add_argument("--deflate", action="store_true", help="negotiate permessage-deflate")
    parser.add_argument("--check", action="store_true", help="one echo, byte for byte, then exit")
    args = parser.parse_args()
    if args.check:
        problem = check(
            args.host, args.port, args.path, args.size, text=args.text, deflate=args.deflate
        )
        print(problem or "ok")
        sys.exit(1 if problem else 0)
    coro = load(
        args.host,
        args.port,
        args.path,
        args.connections,
        args.size,
        args.duration,
        args.text,
        args.deflate,
    )
    try:
        import uvloop

        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    print("BENCH_JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
