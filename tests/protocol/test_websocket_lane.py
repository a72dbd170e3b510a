"""The compiled data-frame lane (fastcorn/protocol/wsframe.pyx) against wsproto alone:
generated client frame streams, cut into random reads, go to a server with the lane
(``--ws auto``) and to one without it (``--ws wsproto``); the app must receive the same
messages and the client the same bytes (echoes, pongs, close frames)."""

from __future__ import annotations

import os
import random
import struct
import zlib
from typing import Any

import pytest
from wsutil import Recorder, WSPair, echo_app

from fastcorn.protocol import wsframe

TEXTS = ["", "a", "héllo wörld", "日本語テキスト", "🙂" * 40, "x" * 125, "y" * 126, "z" * 65535]


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0,
          encoding: str = "minimal", mask: bool = True) -> bytes:
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    bit = 0x80 if mask else 0
    if encoding == "minimal":
        encoding = "7" if n < 126 else "16" if n < 65536 else "64"
    if encoding == "7":
        head += bytes([bit | n])
    elif encoding == "16":
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def random_text(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return rng.choice(TEXTS).encode()
    alphabet = "abc é中🙂\n"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400))).encode()


class Deflater:
    """The client side of permessage-deflate with context takeover (RFC 7692 7.2.1)."""

    def __init__(self) -> None:
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, -15)

    def message(self, data: bytes) -> bytes:
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4]


def random_stream(rng: random.Random, deflate: bool = False) -> bytes:
    """A client's frames: mostly plain messages, with fragments, pings, long frames and,
    sometimes, one protocol error (after which nothing matters). With ``deflate``, most
    data messages are compressed (RSV1 on their first frame)."""
    frames = []
    deflater = Deflater()

    def data_frames(opcode: int, data: bytes, pieces: int = 1) -> list[bytes]:
        rsv = 0
        if deflate and rng.random() < 0.7:
            data, rsv = deflater.message(data), 0x40
        if pieces == 1:
            return [frame(opcode, data, rsv=rsv)]
        cut_at = rng.randrange(0, len(data) + 1)
        first = frame(opcode, data[:cut_at], fin=False, rsv=rsv)
        middle = [frame(9, os.urandom(rng.randrange(0, 126)))] if rng.random() < 0.5 else []
        return [first, *middle, frame(0, data[cut_at:])]

    for _ in range(rng.randrange(1, 30)):
        kind = rng.random()
        if kind < 0.35:
            frames += data_frames(1, random_text(rng))
        elif kind < 0.6:
            size = rng.choice([0, 1, 64, 125, 126, 1000, 65536])
            payload = os.urandom(size) if rng.random() < 0.5 else b"ab" * (size // 2)
            frames += data_frames(2, payload)
        elif kind < 0.7:
            frames += data_frames(2, os.urandom(rng.randrange(65537, 100_000)))  # 64-bit length
        elif kind < 0.8:
            opcode = rng.choice([1, 2])
            data = random_text(rng) if opcode == 1 else os.urandom(rng.randrange(0, 300))
            frames += data_frames(opcode, data, pieces=2)
        elif kind < 0.9:
            frames.append(frame(rng.choice([9, 10]), os.urandom(rng.randrange(0, 126))))
        else:
            frames.append(rng.choice([
                frame(1, b"ok \xff\xfe bad"),  # invalid UTF-8
                frame(1, "é".encode()[:1]),  # truncated UTF-8
                frame(2, b"x" * 10, encoding="16"),  # non-minimal length
                frame(2, b"x" * 300, encoding="64"),  # non-minimal length
                frame(2, b"x", rsv=0x40),  # RSV1 with no extension
                frame(3, b"x"),  # reserved opcode
                frame(2, b"x", mask=False),  # unmasked
                frame(0, b"x"),  # nothing to continue
                frame(8, struct.pack("!H", 4000) + b"bye"),  # a clean close
                frame(2, zlib.compress(b"\0" * 300_000)[2:-4], rsv=0x40),  # a bomb (deflate)
                frame(1, Deflater().message(b"\xff\xfe"), rsv=0x40),  # bad UTF-8 inside
            ]))
            break
    return b"".join(frames)


def cut(rng: random.Random, data: bytes) -> list[bytes]:
    pieces = []
    pos = 0
    while pos < len(data):
        size = rng.choice([1, 2, 7, 64, 1000, 4096, 65536, len(data)])
        pieces.append(data[pos:pos + size])
        pos += size
    return pieces


REQUEST = (b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


DEFLATE_REQUEST = REQUEST[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"


def run(app: Any, protocol: str, pieces: list[bytes],
        deflate: bool = False) -> tuple[bytes, list[Any]]:
    pair = WSPair(app() if isinstance(app, type) else app,
                  DEFLATE_REQUEST if deflate else REQUEST, ws=protocol, ws_ping_interval=0,
                  ws_max_size=200_000)
    out = pair.take()
    for piece in pieces:
        out += pair.feed(piece)
    messages = getattr(pair.harness.state.app, "messages", [])
    pair.assert_clean()
    return out, messages


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("seed", range(100))
def test_lane_matches_wsproto(seed: int, deflate: bool) -> None:
    rng = random.Random(seed)
    stream = random_stream(rng, deflate)
    pieces = cut(rng, stream)
    for app in (Recorder, echo_app):
        with_lane = run(app, "auto", pieces, deflate)
        alone = run(app, "wsproto", pieces, deflate)
        assert with_lane[1] == alone[1]
        assert with_lane[0] == alone[0]


def test_the_lane_takes_plain_frames_and_stops_at_anything_else() -> None:
    data = frame(1, "é".encode()) + frame(2, b"\x00" * 200)
    messages, size, used, status = wsframe.read_frames(data, 65536)
    assert messages == [{"type": "websocket.receive", "text": "é"},
                        {"type": "websocket.receive", "bytes": b"\x00" * 200}]
    assert (size, used, status) == (202, len(data), wsframe.END)
    for other in (frame(9, b""), frame(2, b"x", fin=False), frame(2, b"x", rsv=0x40),
                  frame(2, b"x" * 10, encoding="16"), frame(2, b"x" * 70000),
                  frame(2, b"x", mask=False), frame(0, b"x")):
        assert wsframe.read_frames(data + other, 65536)[2:] == (len(data), wsframe.OTHER)
    assert wsframe.read_frames(data + frame(2, b"x" * 300)[:-1], 65536)[2:] == (
        len(data), wsframe.PARTIAL)
    assert wsframe.read_frames(frame(2, b"x" * 300), 299)[2:] == (0, wsframe.OTHER)
    assert wsframe.read_frames(frame(1, b"\xed\xa0\x80"), 65536)[2:] == (
        0, wsframe.BAD_UTF8)  # a UTF-16 surrogate is not UTF-8


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 125, 126, 65535, 65536, 100_000])
def test_write_frame_matches_wsproto(n: int) -> None:
    from wsproto.frame_protocol import FrameProtocol

    proto = FrameProtocol(client=False, extensions=[])
    data = os.urandom(n)
    assert wsframe.write_frame(data) == bytes(proto.send_data(data))
    text = "é" * (n // 2)
    assert wsframe.write_frame(text) == bytes(proto.send_data(text))
