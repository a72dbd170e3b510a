"""What wsproto leaves to its server: message size limits and a bounded permessage-deflate.

wsproto parses frames and checks the protocol, but has no frame or message size limit (a
frame header may declare 2^63 bytes) and inflates permessage-deflate data without a bound
(one compressed frame can grow ~1000x). Both plug in through wsproto's extension hooks,
which see every inbound frame header (with its declared length) before its payload is
read and every payload chunk as it arrives: :class:`MessageCodec` is one such extension,
always installed, which

- closes with 1009 once a message's declared frame lengths add up past ``max_size``;
- when permessage-deflate (RFC 7692) was negotiated, inflates each chunk with a bound on
  its output (``max_size`` minus what the message inflated to so far), so a compression
  bomb stops at the limit instead of in memory, and compresses outgoing messages.

The offer is chosen here too (:func:`negotiate_deflate`): wsproto's helper accepts every
offer in turn on one extension object, so parameters of a declined offer leak into the
accepted one; RFC 7692 section 5 wants the first acceptable offer, taken whole.
"""

from __future__ import annotations

import zlib

from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

#: The empty stored block a sender strips from each compressed message (RFC 7692 7.2.1).
DEFLATE_TAIL = b"\x00\x00\xff\xff"

_NO_RSV = RsvBits(False, False, False)
_RSV1 = RsvBits(True, False, False)


class DeflateParameters:
    """The permessage-deflate parameters the server answered an offer with."""

    __slots__ = ("server_no_context_takeover", "client_no_context_takeover",
                 "server_max_window_bits", "client_max_window_bits")

    def __init__(self) -> None:
        self.server_no_context_takeover = False
        self.client_no_context_takeover = False
        self.server_max_window_bits: int | None = None
        self.client_max_window_bits: int | None = None

    def response(self) -> str:
        """The Sec-WebSocket-Extensions value that accepts the offer."""
        parts = ["permessage-deflate"]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is not None:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


def _split_offers(values: list[bytes]) -> list[list[tuple[str, str | None]]]:
    """Sec-WebSocket-Extensions values -> offers, each [(name, None), (param, value)...].
    Values may be quoted strings (RFC 6455 9.1); a comma inside quotes does not split."""
    offers: list[list[tuple[str, str | None]]] = []
    for raw in values:
        text = raw.decode("latin-1")
        items: list[str] = []
        current: list[str] = []
        quoted = False
        for char in text:
            if char == '"':
                quoted = not quoted
            if char == "," and not quoted:
                items.append("".join(current))
                current = []
            else:
                current.append(char)
        items.append("".join(current))
        for item in items:
            if not item.strip():
                continue
            params: list[tuple[str, str | None]] = []
            for part in item.split(";"):
                name, eq, value = part.partition("=")
                cleaned = value.strip().strip('"') if eq else None
                params.append((name.strip().lower(), cleaned))
            offers.append(params)
    return offers


def _window_bits(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 2:
        return None
    bits = int(value)
    return bits if 8 <= bits <= 15 else None


def negotiate_deflate(values: list[bytes]) -> DeflateParameters | None:
    """The parameters accepting the first acceptable permessage-deflate offer, or None.

    Offers with unknown or repeated parameters or bad values are declined (RFC 7692 5.1).
    ``server_max_window_bits=8`` is declined as well: zlib cannot deflate with a 256-byte
    window (it silently uses 512, which the client could not inflate).
    """
    for offer in _split_offers(values):
        if offer[0][0] != "permessage-deflate" or offer[0][1] is not None:
            continue
        accepted = DeflateParameters()
        seen: set[str] = set()
        ok = True
        for name, value in offer[1:]:
            if name in seen:
                ok = False
                break
            seen.add(name)
            if name == "server_no_context_takeover" and value is None:
                accepted.server_no_context_takeover = True
            elif name == "client_no_context_takeover" and value is None:
                accepted.client_no_context_takeover = True
            elif name == "server_max_window_bits":
                bits = _window_bits(value)
                if bits is None or bits < 9:
                    ok = False
                    break
                accepted.server_max_window_bits = bits
            elif name == "client_max_window_bits":
                if value is None:
                    continue  # the client may limit its window; we inflate with any
                bits = _window_bits(value)
                if bits is None:
                    ok = False
                    break
                accepted.client_max_window_bits = bits
            else:
                ok = False
                break
        if ok:
            return accepted
    return None


class MessageCodec(Extension):
    """Inbound size limits, and permessage-deflate when ``deflate`` is given (see module)."""

    name = "permessage-deflate"

    def __init__(self, max_size: int, deflate: DeflateParameters | None = None) -> None:
        self.max_size = max_size
        self.deflate = deflate
        self.message_length = 0  # declared payload bytes of the message in progress
        self.inflated = 0  # what its compressed payload has inflated to so far
        self.compressed = False  # the message in progress has RSV1 set
        self.data_frame = False  # the frame in progress is a data frame
        self.decompressor: zlib._Decompress | None = None
        self.compressor: zlib._Compress | None = None
        self.server_bits = 15
        if deflate is not None and deflate.server_max_window_bits is not None:
            self.server_bits = deflate.server_max_window_bits

    def enabled(self) -> bool:
        return True  # wsproto keeps only enabled extensions

    def offer(self) -> bool | str:
        return False  # a server never offers

    # -- inbound ------------------------------------------------------------------------

    def frame_inbound_header(self, proto: FrameDecoder | FrameProtocol, opcode: Opcode,
                             rsv: RsvBits, payload_length: int) -> CloseReason | RsvBits:
        if opcode.iscontrol():
            self.data_frame = False
            if rsv.rsv1:
                return CloseReason.PROTOCOL_ERROR
            return _RSV1 if self.deflate is not None else _NO_RSV
        self.data_frame = True
        if opcode is Opcode.CONTINUATION:
            if rsv.rsv1:
                return CloseReason.PROTOCOL_ERROR
        else:
            self.message_length = 0
            self.inflated = 0
            self.compressed = rsv.rsv1 and self.deflate is not None
        self.message_length += payload_length
        # A compressed message is bounded by what it inflates to; its compressed size only
        # by the same limit plus deflate's worst-case growth for incompressible data.
        limit = self.max_size + (self.max_size >> 8) + 64 if self.compressed else self.max_size
        if self.message_length > limit:
            return CloseReason.MESSAGE_TOO_BIG
        return _RSV1 if self.deflate is not None else _NO_RSV

    def frame_inbound_payload_data(self, proto: FrameDecoder | FrameProtocol,
                                   data: bytes) -> bytes | CloseReason:
        if not (self.compressed and self.data_frame):
            return data
        return self._inflate(data)

    def frame_inbound_complete(self, proto: FrameDecoder | FrameProtocol,
                               fin: bool) -> bytes | CloseReason | None:
        if not (fin and self.compressed and self.data_frame):
            return None
        self.compressed = False
        return self._inflate(DEFLATE_TAIL)

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        if self.decompressor is None:
            # A 32 KiB window inflates whatever window the client deflated with.
            self.decompressor = zlib.decompressobj(-15)
        room = self.max_size - self.inflated
        try:
            out = self.decompressor.decompress(data, room + 1)  # max_length 0 is "no bound"
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        if len(out) > room or self.decompressor.unconsumed_tail:
            return CloseReason.MESSAGE_TOO_BIG
        self.inflated += len(out)
        return out

    def inflate_message(self, payload: bytes) -> bytes | CloseReason:
        """A whole compressed message's payload (the lane's), inflated within the limit:
        what the inbound hooks do for one frame with FIN and RSV1 set."""
        self.inflated = 0
        out = self._inflate(payload)
        if isinstance(out, CloseReason):
            return out
        tail = self._inflate(DEFLATE_TAIL)
        if isinstance(tail, CloseReason):
            return tail
        return out + tail if tail else out

    def compress_message(self, data: bytes) -> bytes:
        """A whole message's payload, compressed as frame_outbound does (RSV1 is the
        caller's to set)."""
        if self.compressor is None:
            self.compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.server_bits)
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        if out.endswith(DEFLATE_TAIL):
            out = out[:-4]
        if self.deflate is not None and self.deflate.server_no_context_takeover:
            self.compressor = None
        return out

    # -- outbound -----------------------------------------------------------------------

    def frame_outbound(self, proto: FrameDecoder | FrameProtocol, opcode: Opcode,
                       rsv: RsvBits, data: bytes, fin: bool) -> tuple[RsvBits, bytes]:
        if self.deflate is None or opcode.iscontrol():
            return rsv, data
        if self.compressor is None:
            self.compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.server_bits)
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        if fin:
            if out.endswith(DEFLATE_TAIL):
                out = out[:-4]
            if self.deflate.server_no_context_takeover:
                self.compressor = None
        if opcode is not Opcode.CONTINUATION:
            rsv = RsvBits(True, rsv.rsv2, rsv.rsv3)
        return rsv, out
