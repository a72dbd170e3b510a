"""A WebSocket client over raw sockets, for what real clients will not send: bad
handshakes, lying frame headers, compression bombs, unanswered pings."""

from __future__ import annotations

import socket
import struct
from typing import Any

from tests.e2e import rawhttp

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"


def handshake(server: Any, path: str = "/echo", extra: list[tuple[str, str]] | None = None,
              timeout: float = 5.0) -> tuple[socket.socket, bytes]:
    """A connected socket past a 101 (asserted): (socket, the response head)."""
    sock = rawhttp.connect(server, timeout=timeout)
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13"), *(extra or [])]
    sock.sendall(rawhttp.request("GET", path, headers))
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # a byte at a time: frames may follow at once
        data = sock.recv(1)
        assert data, f"closed during the handshake: {head!r}"
        head += data
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock, head


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0,
          length: int | None = None) -> bytes:
    """A masked client frame; ``length`` overrides the declared payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """(opcode, payload) of the next server frame (servers do not mask)."""
    b0, b1 = _exactly(sock, 2)
    assert not b1 & 0x80, "a server frame must not be masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _exactly(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _exactly(sock, 8))
    return b0 & 0x0F, _exactly(sock, n)


def read_close(sock: socket.socket) -> int:
    """Skip frames up to the server's close frame; its code (1005 when it has none)."""
    while True:
        opcode, payload = read_frame(sock)
        if opcode == 0x8:
            return struct.unpack("!H", payload[:2])[0] if payload else 1005


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed the TCP connection (EOF or reset)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
