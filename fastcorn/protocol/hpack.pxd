# HPACK (RFC 7541) in C: the header compression an h2.connection.H2Connection uses, as drop-in
# replacements for the `hpack` package's Encoder and Decoder (same methods, attributes and
# exception classes, so h2's error handling works unchanged). install(conn) swaps them in.
#
#   h2 (H2Connection)                          hpack (this module)
#   send_headers / push_stream           ──▶   Encoder.encode(headers): one header block
#   remote SETTINGS_HEADER_TABLE_SIZE    ──▶   Encoder.header_table_size = n: a size update
#                                              leads the next block
#   HEADERS / PUSH_PROMISE received      ──▶   Decoder.decode(block, raw=True): HeaderTuple
#                                              list, hpack's exceptions on hostile input
#   local SETTINGS acknowledged          ──▶   Decoder.max_header_list_size (the HPACK bomb
#                                              limit), Decoder.max_allowed_table_size
#
# Strings are bytes end to end; the only per-header objects made are the ones returned (a
# decoded header that comes from a table is the table's own tuple, not a copy).


cdef class DynamicTable:
    # RFC 7541 2.3.2: newest entry first. Stored oldest first in a list with a moving start
    # so that adding and evicting cost O(1) amortised and index i is one list access.
    cdef list entries         # 2-tuples (name, value); entries[first:] are live, newest last
    cdef Py_ssize_t first     # index of the oldest live entry
    cdef Py_ssize_t size      # sum of entry sizes (RFC 7541 4.1: 32 + name + value)
    cdef Py_ssize_t maxsize   # the table's current maximum size

    cdef Py_ssize_t count(self) noexcept
    cdef tuple get(self, Py_ssize_t i)  # 0 is the newest entry
    cdef int add(self, tuple entry) except -1
    cdef int resize(self, Py_ssize_t maxsize) except -1
    cdef int evict(self) except -1
    cdef list newest_first(self)


cdef class Encoder:
    cdef DynamicTable table
    cdef Py_ssize_t table_size_cap   # the largest table we use whatever the peer allows
    cdef Py_ssize_t signalled        # table size the peer's decoder was last told
    cdef Py_ssize_t smallest_since   # smallest size set since then (must be told first)
    cdef unsigned char* out          # the block being built, reused across calls
    cdef Py_ssize_t out_len
    cdef Py_ssize_t out_cap

    cdef int reserve(self, Py_ssize_t extra) except -1
    cdef void put_int(self, unsigned char first_bits, int prefix, Py_ssize_t value) noexcept
    cdef void put_string(self, bytes data, bint huffman) noexcept
    cdef int add(self, bytes name, bytes value, bint sensitive, bint huffman) except -1


cdef class Decoder:
    cdef DynamicTable table
    cdef public Py_ssize_t max_header_list_size    # refuse a block that inflates past this
    cdef public Py_ssize_t max_allowed_table_size  # the SETTINGS_HEADER_TABLE_SIZE we sent
    cdef unsigned char* scratch                    # Huffman output, reused across calls
    cdef Py_ssize_t scratch_cap

    cdef tuple lookup(self, Py_ssize_t index)
    cdef bytes read_string(self, const unsigned char* p, Py_ssize_t n, Py_ssize_t* pos)
