# HPACK (RFC 7541) for h2, in C. See hpack.pxd for where each piece plugs into h2.
#
# Behaviour follows the `hpack` package wherever the RFC leaves a choice, so that h2 sees the
# same results and the same exception classes (h2 turns OversizedHeaderListError into a
# DenialOfServiceError and any other HPACKError into a ProtocolError, both connection errors):
# the same integer length limit, the same header-list accounting, the same table searches, so
# that our blocks are byte for byte hpack's except where noted. Differences, all allowed by
# RFC 7541: a string is Huffman coded only when that is not longer (5.2); several table size
# changes between two blocks are sent as the smallest and the final one (4.2); the encoder's
# table is capped (default 4096, as nghttp2) whatever larger size the peer allows (6.3).

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

from hpack.exceptions import (
    HPACKDecodingError,
    InvalidTableIndex,
    InvalidTableSizeError,
    OversizedHeaderListError,
)
from hpack.struct import HeaderTuple, NeverIndexedHeaderTuple


cdef extern from *:
    """
    /* A 2-tuple of a tuple subclass without a __dict__ (hpack's HeaderTuple and
       NeverIndexedHeaderTuple), made the way tuple.__new__ makes it but without the call. */
    static PyObject* fastcorn_hpack_pair(PyTypeObject* type, PyObject* a, PyObject* b) {
        PyObject* pair = type->tp_alloc(type, 2);
        if (pair == NULL) return NULL;
        Py_INCREF(a);
        Py_INCREF(b);
        PyTuple_SET_ITEM(pair, 0, a);
        PyTuple_SET_ITEM(pair, 1, b);
        return pair;
    }
    """
    tuple fastcorn_hpack_pair(PyTypeObject* type, object a, object b)


DEFAULT_TABLE_SIZE = 4096          # RFC 9113 6.5.2: SETTINGS_HEADER_TABLE_SIZE's initial value
DEFAULT_MAX_HEADER_LIST_SIZE = 65536  # hpack's default, which h2 also sets
cdef Py_ssize_t ENTRY_OVERHEAD = 32   # RFC 7541 4.1
cdef int MAX_INTEGER_OCTETS = 5       # continuation octets hpack reads before refusing

cdef PyTypeObject* HEADER_TUPLE = <PyTypeObject*>HeaderTuple
cdef PyTypeObject* NEVER_INDEXED = <PyTypeObject*>NeverIndexedHeaderTuple
cdef type HeaderTupleType = HeaderTuple
cdef type NeverIndexedType = NeverIndexedHeaderTuple


# -- the static table (RFC 7541 Appendix A) ----------------------------------------------------

STATIC_TABLE = (
    (b":authority", b""), (b":method", b"GET"), (b":method", b"POST"), (b":path", b"/"),
    (b":path", b"/index.html"), (b":scheme", b"http"), (b":scheme", b"https"),
    (b":status", b"200"), (b":status", b"204"), (b":status", b"206"), (b":status", b"304"),
    (b":status", b"400"), (b":status", b"404"), (b":status", b"500"),
    (b"accept-charset", b""), (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""), (b"accept-ranges", b""), (b"accept", b""),
    (b"access-control-allow-origin", b""), (b"age", b""), (b"allow", b""),
    (b"authorization", b""), (b"cache-control", b""), (b"content-disposition", b""),
    (b"content-encoding", b""), (b"content-language", b""), (b"content-length", b""),
    (b"content-location", b""), (b"content-range", b""), (b"content-type", b""),
    (b"cookie", b""), (b"date", b""), (b"etag", b""), (b"expect", b""), (b"expires", b""),
    (b"from", b""), (b"host", b""), (b"if-match", b""), (b"if-modified-since", b""),
    (b"if-none-match", b""), (b"if-range", b""), (b"if-unmodified-since", b""),
    (b"last-modified", b""), (b"link", b""), (b"location", b""), (b"max-forwards", b""),
    (b"proxy-authenticate", b""), (b"proxy-authorization", b""), (b"range", b""),
    (b"referer", b""), (b"refresh", b""), (b"retry-after", b""), (b"server", b""),
    (b"set-cookie", b""), (b"strict-transport-security", b""), (b"transfer-encoding", b""),
    (b"user-agent", b""), (b"vary", b""), (b"via", b""), (b"www-authenticate", b""),
)
cdef Py_ssize_t STATIC_LENGTH = 61

# What the decoder returns for an indexed static field: shared HeaderTuples, made once.
cdef list STATIC_HEADERS = [fastcorn_hpack_pair(HEADER_TUPLE, n, v) for n, v in STATIC_TABLE]


cdef dict _static_index():
    """name -> (lowest index with that name, {value: index}), what the encoder searches."""
    cdef dict index = {}
    for i, (name, value) in enumerate(STATIC_TABLE, 1):
        index.setdefault(name, (i, {}))[1].setdefault(value, i)
    return index


cdef dict STATIC_INDEX = _static_index()


# -- Huffman code (RFC 7541 Appendix B): (code, bit length) for bytes 0-255 and EOS (256) ----

HUFFMAN_CODES = (
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28), (0xfffffe4, 28), (0xfffffe5, 28),
    (0xfffffe6, 28), (0xfffffe7, 28), (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28), (0xfffffed, 28), (0xfffffee, 28),
    (0xfffffef, 28), (0xffffff0, 28), (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28), (0xffffff8, 28), (0xffffff9, 28),
    (0xffffffa, 28), (0xffffffb, 28), (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11), (0x3fa, 10), (0x3fb, 10),
    (0xf9, 8), (0x7fb, 11), (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6), (0x1a, 6), (0x1b, 6),
    (0x1c, 6), (0x1d, 6), (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10), (0x1ffa, 13), (0x21, 6),
    (0x5d, 7), (0x5e, 7), (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7), (0x67, 7), (0x68, 7),
    (0x69, 7), (0x6a, 7), (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7), (0xfc, 8), (0x73, 7),
    (0xfd, 8), (0x1ffb, 13), (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5), (0x24, 6), (0x5, 5),
    (0x25, 6), (0x26, 6), (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5), (0x2b, 6), (0x76, 7),
    (0x2c, 6), (0x8, 5), (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15), (0x7fc, 11), (0x3ffd, 14),
    (0x1ffd, 13), (0xffffffc, 28), (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23), (0x3fffd6, 22), (0x7fffda, 23),
    (0x7fffdb, 23), (0x7fffdc, 23), (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23), (0xffffee, 24), (0x7fffe1, 23),
    (0x7fffe2, 23), (0x7fffe3, 23), (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24), (0x3fffda, 22), (0x1fffdd, 21),
    (0xfffe9, 20), (0x3fffdb, 22), (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24), (0x1fffdf, 21), (0x3fffdf, 22),
    (0x7fffeb, 23), (0x7fffec, 23), (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23), (0xfffea, 20), (0x3fffe2, 22),
    (0x3fffe3, 22), (0x3fffe4, 22), (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19), (0x3fffe7, 22), (0x7ffff2, 23),
    (0x3fffe8, 22), (0x1ffffec, 25), (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25), (0x7fff2, 19), (0x1fffe3, 21),
    (0x3ffffe6, 26), (0x7ffffe0, 27), (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26), (0xffffffd, 28), (0x7ffffe3, 27),
    (0x7ffffe4, 27), (0x7ffffe5, 27), (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23), (0x3fffea, 22), (0x3fffeb, 22),
    (0x1ffffee, 25), (0x1ffffef, 25), (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26), (0x7ffffe7, 27), (0x7ffffe8, 27),
    (0x7ffffe9, 27), (0x7ffffea, 27), (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26), (0x3fffffff, 30),
)

cdef uint32_t HUFF_CODE[257]
cdef uint8_t HUFF_BITS[257]

# Decoding is a finite state machine fed 4 bits at a time (two table reads per input byte).
# A state is an internal node of the code tree (the root is state 0); each entry says which
# state follows a nibble, whether a byte was completed on the way and whether the new state is
# an acceptable end of string: the root, or up to 7 bits of EOS's prefix (all ones) as padding
# (RFC 7541 5.2). Completing EOS, or a code that does not exist, is a failure.
cdef enum:
    HUFF_EMIT = 1
    HUFF_ACCEPT = 2
    HUFF_FAIL = 4

cdef struct HuffStep:
    uint8_t state
    uint8_t flags
    uint8_t symbol

cdef HuffStep HUFF_STEPS[256 * 16]


cdef void _build_huffman() except *:
    cdef int i, bit, node, nodes = 1, depth, s, nibble, sym, flags
    # child[node][bit]: > 0 another internal node, < 0 a leaf holding symbol -child - 1
    cdef int child[256][2]
    cdef int node_depth[256]
    cdef bint all_ones[256]
    for i in range(256):
        child[i][0] = 0
        child[i][1] = 0
    node_depth[0] = 0
    all_ones[0] = True
    for sym in range(257):
        code, bits = HUFFMAN_CODES[sym]
        HUFF_CODE[sym] = code
        HUFF_BITS[sym] = bits
        node = 0
        for depth in range(bits - 1, -1, -1):
            bit = (code >> depth) & 1
            if depth == 0:
                child[node][bit] = -sym - 1
            else:
                if child[node][bit] == 0:
                    child[node][bit] = nodes
                    node_depth[nodes] = node_depth[node] + 1
                    all_ones[nodes] = all_ones[node] and bit == 1
                    nodes += 1
                node = child[node][bit]
    if nodes != 256:
        raise RuntimeError("the Huffman code table is not a complete code")
    for s in range(256):
        for nibble in range(16):
            node = s
            flags = 0
            sym = 0
            for i in range(3, -1, -1):
                bit = (nibble >> i) & 1
                node = child[node][bit]
                if node < 0:
                    if node == -257:  # EOS inside a string
                        flags = HUFF_FAIL
                        node = 0
                        break
                    sym = -node - 1
                    flags |= HUFF_EMIT
                    node = 0
            if not (flags & HUFF_FAIL) and (node == 0 or (node_depth[node] <= 7 and all_ones[node])):
                flags |= HUFF_ACCEPT
            HUFF_STEPS[s * 16 + nibble].state = node
            HUFF_STEPS[s * 16 + nibble].flags = flags
            HUFF_STEPS[s * 16 + nibble].symbol = sym


_build_huffman()


cdef Py_ssize_t huffman_length(const uint8_t* p, Py_ssize_t n) noexcept:
    """Octets the Huffman coding of p[:n] takes."""
    cdef uint64_t bits = 0
    cdef Py_ssize_t i
    for i in range(n):
        bits += HUFF_BITS[p[i]]
    return <Py_ssize_t>((bits + 7) >> 3)


cdef uint8_t* huffman_encode(const uint8_t* p, Py_ssize_t n, uint8_t* out) noexcept:
    cdef uint64_t acc = 0   # pending bits, right-aligned
    cdef int pending = 0    # how many (always < 8 between symbols; codes are at most 30)
    cdef Py_ssize_t i
    cdef uint8_t c
    for i in range(n):
        c = p[i]
        acc = (acc << HUFF_BITS[c]) | HUFF_CODE[c]
        pending += HUFF_BITS[c]
        while pending >= 8:
            pending -= 8
            out[0] = <uint8_t>(acc >> pending)
            out += 1
    if pending:
        # pad with the most significant bits of EOS, all ones
        out[0] = <uint8_t>((acc << (8 - pending)) | (0xFF >> pending))
        out += 1
    return out


cdef Py_ssize_t huffman_decode(const uint8_t* p, Py_ssize_t n, uint8_t* out) except -1:
    """Decode p[:n] into out (room for n * 8 // 5 octets); the decoded length."""
    cdef uint8_t state = 0, flags = HUFF_ACCEPT
    cdef const HuffStep* step
    cdef uint8_t* start = out
    cdef Py_ssize_t i
    for i in range(n):
        step = &HUFF_STEPS[(state << 4) | (p[i] >> 4)]
        if step.flags & HUFF_FAIL:
            raise HPACKDecodingError("Invalid Huffman string")
        if step.flags & HUFF_EMIT:
            out[0] = step.symbol
            out += 1
        step = &HUFF_STEPS[(step.state << 4) | (p[i] & 0x0F)]
        if step.flags & HUFF_FAIL:
            raise HPACKDecodingError("Invalid Huffman string")
        if step.flags & HUFF_EMIT:
            out[0] = step.symbol
            out += 1
        state = step.state
        flags = step.flags
    if not (flags & HUFF_ACCEPT):
        raise HPACKDecodingError("Incomplete Huffman string")
    return out - start


def huffman_encode_bytes(bytes data):
    """The Huffman coding of ``data`` (for tests and tools)."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef bytes result = PyBytes_FromStringAndSize(NULL, huffman_length(
        <const uint8_t*>PyBytes_AS_STRING(data), n))
    huffman_encode(<const uint8_t*>PyBytes_AS_STRING(data), n,
                   <uint8_t*>PyBytes_AS_STRING(result))
    return result


def huffman_decode_bytes(bytes data):
    """Decode a Huffman-coded string; HPACKDecodingError if it is not a valid one."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef uint8_t* buffer = <uint8_t*>malloc(n * 8 // 5 + 1)
    if buffer == NULL:
        raise MemoryError()
    try:
        n = huffman_decode(<const uint8_t*>PyBytes_AS_STRING(data), n, buffer)
        return PyBytes_FromStringAndSize(<char*>buffer, n)
    finally:
        free(buffer)


# -- integers (RFC 7541 5.1) -------------------------------------------------------------------

cdef Py_ssize_t read_int(const uint8_t* p, Py_ssize_t n, Py_ssize_t* pos, int prefix) except -1:
    """The integer at p[pos] with a ``prefix``-bit prefix; pos moves past it. Refuses what
    hpack refuses: a truncated integer, or more than 5 continuation octets."""
    cdef Py_ssize_t i = pos[0]
    cdef Py_ssize_t limit = (1 << prefix) - 1
    cdef Py_ssize_t number = p[i] & limit
    cdef int shift = 0, octets = 0
    cdef uint8_t b
    i += 1
    if number == limit:
        while True:
            if i >= n:
                raise HPACKDecodingError("Unable to decode HPACK integer representation")
            b = p[i]
            i += 1
            octets += 1
            number += <Py_ssize_t>(b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if octets >= MAX_INTEGER_OCTETS:
                raise HPACKDecodingError("Variable integer representation is too long")
    pos[0] = i
    return number


cdef inline Py_ssize_t entry_size(tuple entry) noexcept:
    return (ENTRY_OVERHEAD + PyBytes_GET_SIZE(<object>PyTuple_GET_ITEM(entry, 0))
            + PyBytes_GET_SIZE(<object>PyTuple_GET_ITEM(entry, 1)))


cdef class DynamicTable:

    def __cinit__(self):
        self.entries = []
        self.first = 0
        self.size = 0
        self.maxsize = DEFAULT_TABLE_SIZE

    cdef Py_ssize_t count(self) noexcept:
        return PyList_GET_SIZE(self.entries) - self.first

    cdef tuple get(self, Py_ssize_t i):
        return <tuple>PyList_GET_ITEM(self.entries, PyList_GET_SIZE(self.entries) - 1 - i)

    cdef int add(self, tuple entry) except -1:
        cdef Py_ssize_t size = entry_size(entry)
        if size > self.maxsize:
            # RFC 7541 4.4: an entry larger than the table empties it and is not added
            self.entries = []
            self.first = 0
            self.size = 0
            return 0
        self.entries.append(entry)
        self.size += size
        return self.evict()

    cdef int resize(self, Py_ssize_t maxsize) except -1:
        self.maxsize = maxsize
        return self.evict()

    cdef int evict(self) except -1:
        cdef list entries = self.entries
        while self.size > self.maxsize:
            self.size -= entry_size(<tuple>PyList_GET_ITEM(entries, self.first))
            entries[self.first] = None
            self.first += 1
        if self.first > 32 and self.first * 2 > PyList_GET_SIZE(entries):
            del entries[:self.first]
            self.first = 0
        return 0

    cdef list newest_first(self):
        return self.entries[self.first:][::-1]


cdef inline object part(object field, Py_ssize_t i):
    """field[i], straight from the tuple's storage when it is one: a tuple subclass such as
    hpack's HeaderTuple is otherwise indexed through a Python-level slot (~10x slower)."""
    if PyTuple_Check(field) and i < PyTuple_GET_SIZE(field):
        return <object>PyTuple_GET_ITEM(field, i)
    return field[i]


cdef inline bytes as_bytes(object value):
    """hpack's _to_bytes: bytes as they are, str as UTF-8, anything else through str()."""
    if type(value) is bytes:
        return <bytes>value
    if type(value) is not str:
        value = str(value)
    return (<str>value).encode("utf-8")


cdef class Encoder:
    """An HPACK encoder with the interface of ``hpack.Encoder``."""

    def __cinit__(self):
        self.table = DynamicTable()
        self.table_size_cap = DEFAULT_TABLE_SIZE
        self.signalled = DEFAULT_TABLE_SIZE
        self.smallest_since = DEFAULT_TABLE_SIZE
        self.out_cap = 256
        self.out_len = 0
        self.out = <unsigned char*>malloc(self.out_cap)
        if self.out == NULL:
            raise MemoryError()

    def __init__(self, Py_ssize_t max_table_size=DEFAULT_TABLE_SIZE):
        """``max_table_size``: the largest dynamic table used, whatever the peer allows."""
        if max_table_size < 0:
            raise ValueError(f"a header table size cannot be negative: {max_table_size}")
        self.table_size_cap = max_table_size
        if max_table_size < DEFAULT_TABLE_SIZE:
            self.header_table_size = max_table_size

    def __dealloc__(self):
        free(self.out)

    @property
    def header_table_size(self):
        """The dynamic table's size; setting it (h2 does, from the peer's
        SETTINGS_HEADER_TABLE_SIZE) evicts now and sends a size update with the next block.
        Sizes above the encoder's cap use the cap (RFC 7541 allows any size up to the peer's)."""
        return self.table.maxsize

    @header_table_size.setter
    def header_table_size(self, value):
        cdef Py_ssize_t size = int(value)
        if size < 0:
            raise ValueError(f"a header table size cannot be negative: {size}")
        size = min(size, self.table_size_cap)
        self.table.resize(size)
        if size < self.smallest_since:
            self.smallest_since = size

    def table_entries(self):
        """The dynamic table, newest entry first, as (name, value) tuples."""
        return self.table.newest_first()

    @property
    def table_size(self):
        """The dynamic table's current size in RFC 7541 4.1 terms."""
        return self.table.size

    def encode(self, headers, huffman=True):
        """One HPACK header block for ``headers``: an iterable of (name, value) or (name, value,
        sensitive) tuples, HeaderTuple/NeverIndexedHeaderTuple, or a dict; names and values
        bytes or str. Sensitive and never-indexed fields are sent never-indexed."""
        cdef bint use_huffman = huffman
        cdef bint sensitive
        cdef Py_ssize_t final = self.table.maxsize
        cdef type kind
        self.out_len = 0
        # RFC 7541 4.2: the smallest size since the last block (entries the decoder must evict
        # too), then the final one, if either differs from what the decoder knows.
        if self.smallest_since < self.signalled:
            self.reserve(12)
            self.put_int(0x20, 5, self.smallest_since)
            if final != self.smallest_since:
                self.put_int(0x20, 5, final)
        elif final != self.signalled:
            self.reserve(6)
            self.put_int(0x20, 5, final)
        self.signalled = final
        self.smallest_since = final

        if isinstance(headers, dict):
            # hpack's order for a dict: pseudo-header fields first
            headers = [(key, headers[key]) for key in sorted(
                headers, key=lambda k: not as_bytes(k).startswith(b":"))]
        for header in headers:
            kind = type(header)
            if kind is tuple:
                sensitive = len(<tuple>header) > 2 and bool((<tuple>header)[2])
            elif kind is HeaderTupleType:
                sensitive = False
            elif kind is NeverIndexedType:
                sensitive = True
            elif isinstance(header, HeaderTupleType):
                sensitive = not header.indexable
            else:
                sensitive = len(header) > 2 and bool(header[2])
            self.add(as_bytes(part(header, 0)), as_bytes(part(header, 1)), sensitive, use_huffman)
        return PyBytes_FromStringAndSize(<char*>self.out, self.out_len)

    cdef int reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t need = self.out_len + extra
        cdef unsigned char* grown
        if need > self.out_cap:
            need = max(need, self.out_cap * 2)
            grown = <unsigned char*>realloc(self.out, need)
            if grown == NULL:
                raise MemoryError()
            self.out = grown
            self.out_cap = need
        return 0

    cdef void put_int(self, unsigned char first_bits, int prefix, Py_ssize_t value) noexcept:
        """RFC 7541 5.1, at most 1 + 10 octets (reserved by the caller)."""
        cdef Py_ssize_t limit = (1 << prefix) - 1
        cdef unsigned char* out = self.out + self.out_len
        if value < limit:
            out[0] = first_bits | <unsigned char>value
            self.out_len += 1
            return
        out[0] = first_bits | <unsigned char>limit
        out += 1
        value -= limit
        while value >= 128:
            out[0] = <unsigned char>((value & 0x7F) | 0x80)
            out += 1
            value >>= 7
        out[0] = <unsigned char>value
        self.out_len = out + 1 - self.out

    cdef void put_string(self, bytes data, bint huffman) noexcept:
        """RFC 7541 5.2; the caller reserved 11 + len(data) octets."""
        cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t coded
        if huffman:
            coded = huffman_length(p, n)
            if coded <= n:
                self.put_int(0x80, 7, coded)
                self.out_len = huffman_encode(p, n, self.out + self.out_len) - self.out
                return
        self.put_int(0, 7, n)
        memcpy(self.out + self.out_len, p, n)
        self.out_len += n

    cdef int add(self, bytes name, bytes value, bint sensitive, bint huffman) except -1:
        cdef Py_ssize_t partial = 0, i, count
        cdef tuple found, entry
        cdef object values, index
        self.reserve(24 + PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value))
        found = STATIC_INDEX.get(name)
        if found is not None:
            index = (<dict>found[1]).get(value)
            if index is not None:
                self.put_int(0x80, 7, <Py_ssize_t>index)
                return 0
            partial = <Py_ssize_t>found[0]
        count = self.table.count()
        for i in range(count):
            entry = self.table.get(i)
            if <bytes>PyTuple_GET_ITEM(entry, 0) == name:
                if <bytes>PyTuple_GET_ITEM(entry, 1) == value:
                    self.put_int(0x80, 7, STATIC_LENGTH + 1 + i)
                    return 0
                if partial == 0:
                    partial = STATIC_LENGTH + 1 + i
        if partial:
            if sensitive:
                self.put_int(0x10, 4, partial)  # literal never indexed, indexed name
            else:
                self.put_int(0x40, 6, partial)  # literal with incremental indexing
        else:
            self.out[self.out_len] = 0x10 if sensitive else 0x40
            self.out_len += 1
            self.put_string(name, huffman)
        self.put_string(value, huffman)
        if not sensitive:
            self.table.add((name, value))
        return 0


cdef class Decoder:
    """An HPACK decoder with the interface of ``hpack.Decoder``."""

    def __cinit__(self):
        self.table = DynamicTable()
        self.max_header_list_size = DEFAULT_MAX_HEADER_LIST_SIZE
        self.max_allowed_table_size = DEFAULT_TABLE_SIZE
        self.scratch_cap = 0
        self.scratch = NULL

    def __init__(self, Py_ssize_t max_header_list_size=DEFAULT_MAX_HEADER_LIST_SIZE):
        self.max_header_list_size = max_header_list_size

    def __dealloc__(self):
        free(self.scratch)

    @property
    def header_table_size(self):
        """The dynamic table's maximum size (set by the peer's size updates)."""
        return self.table.maxsize

    @header_table_size.setter
    def header_table_size(self, value):
        cdef Py_ssize_t size = int(value)
        if size < 0:
            raise ValueError(f"a header table size cannot be negative: {size}")
        self.table.resize(size)

    def table_entries(self):
        """The dynamic table, newest entry first, as (name, value) tuples."""
        return self.table.newest_first()

    @property
    def table_size(self):
        """The dynamic table's current size in RFC 7541 4.1 terms."""
        return self.table.size

    cdef tuple lookup(self, Py_ssize_t index):
        if 0 < index <= STATIC_LENGTH:
            return <tuple>PyList_GET_ITEM(STATIC_HEADERS, index - 1)
        if STATIC_LENGTH < index <= STATIC_LENGTH + self.table.count():
            return self.table.get(index - STATIC_LENGTH - 1)
        raise InvalidTableIndex(f"Invalid table index {index}")

    cdef bytes read_string(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t* pos):
        cdef bint huffman
        cdef Py_ssize_t length, room
        cdef unsigned char* grown
        if pos[0] >= n:
            raise HPACKDecodingError("Unable to decode HPACK integer representation")
        huffman = p[pos[0]] & 0x80
        length = read_int(p, n, pos, 7)
        if length > n - pos[0]:
            raise HPACKDecodingError("Truncated header block")
        p += pos[0]
        pos[0] += length
        if not huffman:
            return PyBytes_FromStringAndSize(<const char*>p, length)
        room = length * 8 // 5 + 1
        if room > self.scratch_cap:
            grown = <unsigned char*>realloc(self.scratch, room)
            if grown == NULL:
                raise MemoryError()
            self.scratch = grown
            self.scratch_cap = room
        length = huffman_decode(p, length, self.scratch)
        return PyBytes_FromStringAndSize(<const char*>self.scratch, length)

    def decode(self, data, raw=False):
        """Decode one header block into a list of HeaderTuple (NeverIndexedHeaderTuple for
        never-indexed fields): bytes if ``raw``, else str. Raises what hpack raises:
        OversizedHeaderListError past max_header_list_size (counted as each field is added,
        so a bomb stops there), InvalidTableIndex, InvalidTableSizeError, HPACKDecodingError."""
        cdef bytes block = data if type(data) is bytes else bytes(data)
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(block)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(block), pos = 0, inflated = 0, size
        cdef list headers = []
        cdef tuple header
        cdef bytes name, value
        cdef list decoded = []
        cdef type kind
        cdef unsigned char c, index_bits
        cdef int prefix
        cdef bint never
        while pos < n:
            c = p[pos]
            if c & 0x80:
                # indexed field (RFC 7541 6.1)
                header = self.lookup(read_int(p, n, &pos, 7))
            elif c & 0x40 or not (c & 0x20):
                # literal with incremental indexing (6.2.1), without indexing (6.2.2) or never
                # indexed (6.2.3); its name indexed, or a literal when the index bits are 0
                if c & 0x40:
                    index_bits = c & 0x3F
                    prefix = 6
                    never = False
                else:
                    index_bits = c & 0x0F
                    prefix = 4
                    never = c & 0x10
                if index_bits:
                    name = <bytes>PyTuple_GET_ITEM(self.lookup(read_int(p, n, &pos, prefix)), 0)
                else:
                    pos += 1
                    name = self.read_string(p, n, &pos)
                value = self.read_string(p, n, &pos)
                header = fastcorn_hpack_pair(NEVER_INDEXED if never else HEADER_TUPLE,
                                             name, value)
                if c & 0x40:
                    self.table.add(header)
            else:
                # dynamic table size update (6.3): only before the first field
                if headers:
                    raise HPACKDecodingError("Table size update not at the start of the block")
                size = read_int(p, n, &pos, 5)
                if size > self.max_allowed_table_size:
                    raise InvalidTableSizeError("Encoder exceeded max allowable table size")
                self.table.resize(size)
                continue
            headers.append(header)
            inflated += entry_size(header)
            if inflated > self.max_header_list_size:
                raise OversizedHeaderListError(
                    f"A header list larger than {self.max_header_list_size} has been received")
        # a SETTINGS_HEADER_TABLE_SIZE we lowered must have been followed by the peer
        if self.table.maxsize > self.max_allowed_table_size:
            raise InvalidTableSizeError("Encoder did not shrink table size to within the max")
        if raw:
            return headers
        try:
            for item in headers:
                kind = type(item)
                decoded.append(fastcorn_hpack_pair(<PyTypeObject*>kind,
                                                   (<bytes>part(item, 0)).decode("utf-8"),
                                                   (<bytes>part(item, 1)).decode("utf-8")))
            return decoded
        except UnicodeDecodeError as error:
            raise HPACKDecodingError("Unable to decode headers as UTF-8") from error


def install(conn):
    """Replace an h2.connection.H2Connection's HPACK encoder and decoder with these.

    Call it right after making the connection (before or after initiate_connection()); what
    the old objects already hold moves over: their dynamic tables, a table size change not
    yet sent, the header-list limit and the allowed table size that h2 set from SETTINGS.
    Idempotent."""
    old_encoder = conn.encoder
    old_decoder = conn.decoder
    if type(old_encoder) is not Encoder:
        conn.encoder = encoder_like(old_encoder)
    if type(old_decoder) is not Decoder:
        conn.decoder = decoder_like(old_decoder)


cdef Encoder encoder_like(old):
    """An Encoder in the state of hpack's ``old``."""
    cdef Encoder encoder = Encoder(max(DEFAULT_TABLE_SIZE, old.header_table_size))
    cdef list changes = list(old.table_size_changes)
    encoder.table.maxsize = old.header_table_size
    for name, value in reversed(old.header_table.dynamic_entries):
        encoder.table.add((bytes(name), bytes(value)))
    if changes:
        # the peer's decoder has not been told yet: the smallest, then the final size
        encoder.signalled = min(changes) + 1  # forces both to be sent
        encoder.smallest_since = min(changes)
    else:
        encoder.signalled = encoder.table.maxsize
        encoder.smallest_since = encoder.table.maxsize
    return encoder


cdef Decoder decoder_like(old):
    """A Decoder in the state of hpack's ``old``."""
    cdef Decoder decoder = Decoder(old.max_header_list_size)
    decoder.max_allowed_table_size = old.max_allowed_table_size
    decoder.table.maxsize = old.header_table_size
    for name, value in reversed(old.header_table.dynamic_entries):
        decoder.table.add(fastcorn_hpack_pair(HEADER_TUPLE, bytes(name), bytes(value)))
    return decoder
