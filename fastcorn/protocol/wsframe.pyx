# cython: freethreading_compatible = False
"""The WebSocket data-frame lane: the common frames in C, everything else to wsproto.

``read_frames`` takes, from the start of what a client sent, only whole, unfragmented,
masked data frames (FIN=1, RSV=0, opcode text or binary, minimal length encoding, at most
``limit`` bytes), unmasks them 8 bytes at a time, decodes text strictly as UTF-8 and
builds the ASGI ``websocket.receive`` messages. It stops at the first frame it does not
take, so the WebSocket core hands that frame and everything after it to wsproto byte for
byte, and wsproto never holds part of a frame the lane knows about (the core only uses
the lane while wsproto is between frames, outside any fragmented message, with no
extension negotiated). ``write_frame`` serialises one whole server message (unmasked).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

# The statuses of read_frames, for Python callers (wsframe.pxd declares them).
END = LANE_END
PARTIAL = LANE_PARTIAL
OTHER = LANE_OTHER
BAD_UTF8 = LANE_BAD_UTF8

cdef str K_TYPE = "type"
cdef str K_TEXT = "text"
cdef str K_BYTES = "bytes"
cdef str T_RECEIVE = "websocket.receive"


cdef void unmask(char* out, const char* data, Py_ssize_t n, const unsigned char* key):
    """XOR ``n`` bytes with the 4-byte key, 8 bytes at a time."""
    cdef uint64_t key8, chunk
    cdef uint8_t k[8]
    cdef Py_ssize_t i = 0
    k[0] = key[0]; k[1] = key[1]; k[2] = key[2]; k[3] = key[3]
    k[4] = key[0]; k[5] = key[1]; k[6] = key[2]; k[7] = key[3]
    memcpy(&key8, k, 8)
    while i + 8 <= n:
        memcpy(&chunk, data + i, 8)
        chunk ^= key8
        memcpy(out + i, &chunk, 8)
        i += 8
    while i < n:
        out[i] = data[i] ^ k[i & 3]
        i += 1


def read_frames(bytes data, Py_ssize_t limit):
    """Parse the plain data frames at the start of ``data``.

    Returns ``(messages, sizes, consumed, status)``: the ``websocket.receive`` messages,
    the total payload bytes they carry, how many bytes of ``data`` they used, and why the
    lane stopped: ``END`` (all of ``data`` used), ``PARTIAL`` (a frame the lane
    takes is not complete yet: keep the rest and call again with more), ``OTHER`` (a
    frame for wsproto starts at ``consumed``), or ``BAD_UTF8`` (the text frame at
    ``consumed`` is not UTF-8: close 1007).
    """
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), pos = 0, length, head, total = 0
    cdef uint8_t b0, b1, opcode
    cdef bytes payload
    cdef list messages = []
    cdef object text
    while True:
        if pos == n:
            return messages, total, pos, <int>LANE_END
        if n - pos < 2:
            return messages, total, pos, <int>LANE_PARTIAL
        b0 = p[pos]
        b1 = p[pos + 1]
        opcode = b0 & 0x0F
        # FIN set, RSV clear, text or binary; masked (a client must mask).
        if (b0 & 0xF0) != 0x80 or (opcode != 1 and opcode != 2) or not (b1 & 0x80):
            return messages, total, pos, <int>LANE_OTHER
        length = b1 & 0x7F
        if length < 126:
            head = 2
        elif length == 126:
            if n - pos < 4:
                return messages, total, pos, <int>LANE_PARTIAL
            length = (<Py_ssize_t>p[pos + 2] << 8) | p[pos + 3]
            if length < 126:
                return messages, total, pos, <int>LANE_OTHER  # not minimal: wsproto's error
            head = 4
        else:
            return messages, total, pos, <int>LANE_OTHER  # 64-bit lengths are never small
        if length > limit:
            return messages, total, pos, <int>LANE_OTHER
        if n - pos < head + 4 + length:
            return messages, total, pos, <int>LANE_PARTIAL
        payload = PyBytes_FromStringAndSize(NULL, length)
        unmask(PyBytes_AS_STRING(payload), <const char*>p + pos + head + 4, length,
               p + pos + head)
        if opcode == 1:
            try:
                text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(payload), length, "strict")
            except UnicodeDecodeError:
                return messages, total, pos, <int>LANE_BAD_UTF8
            messages.append({K_TYPE: T_RECEIVE, K_TEXT: text})
        else:
            messages.append({K_TYPE: T_RECEIVE, K_BYTES: payload})
        total += length
        pos += head + 4 + length


def write_frame(object data):
    """One whole, unmasked server message: text for a str, binary for bytes."""
    if type(data) is str:
        return frame_bytes(0x81, PyUnicode_AsUTF8String(data))
    return frame_bytes(0x82, <bytes>data if type(data) is bytes else bytes(data))


def read_raw_frames(bytes data, Py_ssize_t limit):
    """``read_frames`` for connections with permessage-deflate: the same frames, RSV1 set
    (compressed) or not, unmasked but neither inflated nor decoded (the caller does both).

    Returns ``(frames, consumed, status)``: ``frames`` a list of ``(opcode, compressed,
    payload)``, ``status`` END, PARTIAL or OTHER as for ``read_frames``.
    """
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), pos = 0, length, head
    cdef uint8_t b0, b1, opcode
    cdef bytes payload
    cdef list frames = []
    while True:
        if pos == n:
            return frames, pos, <int>LANE_END
        if n - pos < 2:
            return frames, pos, <int>LANE_PARTIAL
        b0 = p[pos]
        b1 = p[pos + 1]
        opcode = b0 & 0x0F
        # FIN set, RSV2 and RSV3 clear (RSV1: compressed), text or binary, masked.
        if (b0 & 0xB0) != 0x80 or (opcode != 1 and opcode != 2) or not (b1 & 0x80):
            return frames, pos, <int>LANE_OTHER
        length = b1 & 0x7F
        if length < 126:
            head = 2
        elif length == 126:
            if n - pos < 4:
                return frames, pos, <int>LANE_PARTIAL
            length = (<Py_ssize_t>p[pos + 2] << 8) | p[pos + 3]
            if length < 126:
                return frames, pos, <int>LANE_OTHER
            head = 4
        else:
            return frames, pos, <int>LANE_OTHER
        if length > limit:
            return frames, pos, <int>LANE_OTHER
        if n - pos < head + 4 + length:
            return frames, pos, <int>LANE_PARTIAL
        payload = PyBytes_FromStringAndSize(NULL, length)
        unmask(PyBytes_AS_STRING(payload), <const char*>p + pos + head + 4, length,
               p + pos + head)
        frames.append((opcode, (b0 & 0x40) != 0, payload))
        pos += head + 4 + length


def write_raw_frame(int first, bytes payload):
    """One whole, unmasked server frame: ``first`` is its first byte (FIN, RSV, opcode),
    ``payload`` what it carries as is (already compressed, say)."""
    return frame_bytes(<uint8_t>first, payload)


cdef bytes frame_bytes(uint8_t first, bytes payload):
    """The frame header (the shortest length encoding, no mask) and ``payload``, in one
    bytes object: one write."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(payload), head
    cdef int i
    cdef bytes out
    cdef char* o
    if n < 126:
        head = 2
    elif n < 65536:
        head = 4
    else:
        head = 10
    out = PyBytes_FromStringAndSize(NULL, head + n)
    o = PyBytes_AS_STRING(out)
    o[0] = <char>first
    if head == 2:
        o[1] = <char>n
    elif head == 4:
        o[1] = 126
        o[2] = <char><uint8_t>((n >> 8) & 0xFF)
        o[3] = <char><uint8_t>(n & 0xFF)
    else:
        o[1] = 127
        for i in range(8):
            o[2 + i] = <char><uint8_t>((<uint64_t>n >> (56 - 8 * i)) & 0xFF)
    memcpy(o + head, PyBytes_AS_STRING(payload), n)
    return out
