# The HTTP/1.1 wire in C: what the HTTP/1.1 connection (fastcorn/protocol/h1.pyx) reads off
# the wire beyond what httptools parses, and the bytes it writes. No state, no I/O, no
# protocol decisions (keep-alive, framing choice, pipelining: those are h1's).
#
#   h1 (state machine)                       _parser (wire)
#   at a request boundary           ──────▶  scan_request_line: method span, version 1.0/1.1
#                                            scan_simple_head: a whole plain head, or no
#   a request head complete         ──────▶  valid_host (Host / target authority)
#                                            target_query: fragment cut, '?' split
#   app's http.response.start       ──────▶  scan_response_headers: validate, learn framing
#                                            status_line + write_headers: the head, one buffer
#   a chunked body                  ──────▶  chunk
#   a request refused (4xx/5xx)     ──────▶  error_response (reason from error_reason)
#   100 Continue, 103 Early Hints   ──────▶  informational
#   server-wide default headers     ──────▶  encode_fields (once per change, not per request)

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memchr, memcpy


cdef enum RequestVersion:
    VERSION_UNKNOWN = 0   # not a plain request line: the parser's own answers decide
    VERSION_10 = 10
    VERSION_11 = 11


cdef enum:
    # Fields a head may have and still be read by scan_simple_head; more go to llhttp.
    SIMPLE_FIELDS_MAX = 40


cdef struct SimpleHead:
    # A complete request head of the plainest kind, as spans of the bytes scanned.
    Py_ssize_t method_end       # the method is [0, method_end); one SP follows it
    Py_ssize_t target_end       # the origin-form target is [method_end + 1, target_end)
    RequestVersion version
    Py_ssize_t length           # the head's bytes, through the blank line
    Py_ssize_t content_length   # -1 when it has none
    int fields
    Py_ssize_t name_start[SIMPLE_FIELDS_MAX]
    Py_ssize_t name_end[SIMPLE_FIELDS_MAX]
    Py_ssize_t value_start[SIMPLE_FIELDS_MAX]
    Py_ssize_t value_end[SIMPLE_FIELDS_MAX]


cdef struct ResponseFraming:
    # What an app's response headers say, learnt while they are validated.
    Py_ssize_t size             # bytes the headers written take ("name: value\r\n" each)
    Py_ssize_t declared_length  # the app's content-length, -1 when it gave none
    bint app_chunked            # it sent transfer-encoding: framing is ours, so dropped
    bint close_asked            # it sent connection: close (also dropped: ours to send)


cdef inline Py_ssize_t find_char(const char* p, Py_ssize_t n, char c) noexcept:
    cdef const char* hit = <const char*>memchr(p, c, n)
    return -1 if hit == NULL else hit - p


cdef inline bint same_name(const char* p, const char* lower, Py_ssize_t n) noexcept:
    """The n bytes at p, ASCII-lowercased as bytes.lower() does, are ``lower``."""
    cdef Py_ssize_t i
    cdef char c
    for i in range(n):
        c = p[i]
        if b'A' <= c <= b'Z':
            c = c + 32
        if c != lower[i]:
            return False
    return True


cdef inline char* put(char* out, bytes data) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    memcpy(out, PyBytes_AS_STRING(data), n)
    return out + n


cdef bint valid_host(bytes host)
cdef RequestVersion scan_request_line(const char* p, Py_ssize_t n, Py_ssize_t* method_end) noexcept
cdef bint scan_simple_head(const char* p, Py_ssize_t n, SimpleHead* head) noexcept
cdef Py_ssize_t target_query(const char* p, Py_ssize_t n, Py_ssize_t* target_end) noexcept
cdef int scan_response_headers(list headers, ResponseFraming* framing) except -1
cdef char* write_headers(char* out, list headers)
cdef bytes status_line(int status)
cdef bytes chunk(bytes body)
cdef bytes encode_fields(list fields)
cdef str error_reason(int status)
cdef bytes error_response(int status, str reason, bytes defaults)
cdef bytes informational(int status, list headers)
