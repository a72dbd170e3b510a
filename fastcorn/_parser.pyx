"""The HTTP/1.1 wire in C: request-line scan, target split, header checks, the response
head and chunk writer, status lines and error responses.

See _parser.pxd for who calls what. httptools (llhttp) remains the judge of request
syntax; the scans here only ever agree with it, and exist to spare Python calls on the
common case or to check what llhttp leaves to the server (Host, response headers).
"""

from http import HTTPStatus

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.string cimport memcmp

cdef bytes CRLF = b"\r\n"
cdef bytes H_RETRY_AFTER = b"retry-after: 1\r\n"
cdef bytes H_CLOSE = b"connection: close\r\n"


def _status_lines():
    lines = {}
    for status in range(100, 600):
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines[status] = f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")
    return lines

cdef dict STATUS_LINES = _status_lines()

# What an error response says (and the log line) when the code that chose the status gave
# no more precise reason.
cdef dict ERROR_REASONS = {
    400: "Invalid HTTP request received.",
    408: "Request head not received in time.",
    431: "Request header fields too large.",
    500: "Internal Server Error",
    501: "Transfer coding not implemented.",
    505: "HTTP version not supported.",
    503: "Service Unavailable: too many requests in flight.",
}

# RFC 9110 token characters, for header names the app sends.
cdef unsigned char TOKEN[256]
cdef int _i
for _i in range(256):
    TOKEN[_i] = 0
for _c in "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    TOKEN[ord(_c)] = 1


# Characters of a Host value (RFC 3986 host [":" port]): reg-name (unreserved, sub-delims,
# pct-encoded), IPv4, an IP-literal's brackets, hex digits and colons, the port's colon.
cdef unsigned char HOST_CHAR[256]
for _i in range(256):
    HOST_CHAR[_i] = 0
for _c in ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
           "-._~!$&'()*+,;=%:[]"):
    HOST_CHAR[ord(_c)] = 1


cdef bint valid_host(bytes host):
    """RFC 9112 3.2 / RFC 3986 3.2.2: host [":" port]. Empty is valid (no authority).

    Rejects what a front proxy and the app could read differently: spaces, '/', '@',
    '?', '#', a second port, brackets outside an IP-literal.
    """
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(host)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(host), i, tail
    for i in range(n):
        if not HOST_CHAR[p[i]]:
            return False
    if n == 0:
        return True
    if p[0] == b'[':
        tail = find_char(<const char*>p, n, b']')
        if tail < 2 or find_char(<const char*>p + 1, tail - 1, b'[') >= 0:
            return False
        tail += 1
    else:
        if (find_char(<const char*>p, n, b'[') >= 0
                or find_char(<const char*>p, n, b']') >= 0):
            return False
        tail = find_char(<const char*>p, n, b':')
        if tail < 0:
            return True
        if tail == 0:
            return False  # a port with no host
    if tail == n:
        return True
    if p[tail] != b':':
        return False
    for i in range(tail + 1, n):
        if p[i] < b'0' or p[i] > b'9':
            return False
    return True


cdef RequestVersion scan_request_line(const char* p, Py_ssize_t n,
                                      Py_ssize_t* method_end) noexcept:
    """The version of a plain request line that starts ``p``, and where its method ends.

    Asking httptools costs two Python calls per request; this is a memchr and two
    compares. It only ever agrees with llhttp: anything unusual (no complete line, a
    version other than 1.0/1.1, odd spacing, a method longer than 7) is VERSION_UNKNOWN and
    left to the parser's own answers, and a line llhttp rejects never reaches the scope.
    """
    cdef Py_ssize_t end = find_char(p, n, b'\n'), space
    cdef RequestVersion version
    if end < 10 or p[end - 1] != b'\r':
        return VERSION_UNKNOWN
    # the line must end in " HTTP/1.1\r" or " HTTP/1.0\r"
    if memcmp(p + end - 10, b" HTTP/1.", 8) != 0:
        return VERSION_UNKNOWN
    if p[end - 2] == b'1':
        version = VERSION_11
    elif p[end - 2] == b'0':
        version = VERSION_10
    else:
        return VERSION_UNKNOWN
    space = find_char(p, end, b' ')
    if space <= 0 or space > 7:
        return VERSION_UNKNOWN
    method_end[0] = space
    return version


cdef Py_ssize_t target_query(const char* p, Py_ssize_t n, Py_ssize_t* target_end) noexcept:
    """Split an origin-form target: where its '?' is (-1 for none) and where it ends.

    A fragment is never sent, but if it is, it is cut first: a '?' after '#' is not a query.
    """
    cdef Py_ssize_t q = find_char(p, n, b'#')
    if q >= 0:
        n = q
    target_end[0] = n
    return find_char(p, n, b'?')


cdef Py_ssize_t parse_length(bytes value) except -2:
    """A content-length the app gave: 1*DIGIT, else RuntimeError (RFC 9110 8.6)."""
    cdef const char* p = PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value), i, result = 0
    if n == 0 or n > 18:
        raise RuntimeError(f"invalid content-length {value!r} in the response headers")
    for i in range(n):
        if p[i] < b'0' or p[i] > b'9':
            raise RuntimeError(f"invalid content-length {value!r} in the response headers")
        result = result * 10 + (p[i] - 48)  # ASCII '0'
    return result


cdef inline bint valid_name(bytes name):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name), i
    if n == 0:
        return False
    for i in range(n):
        if not TOKEN[p[i]]:
            return False
    return True


cdef inline bint valid_value(bytes value):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(value), i
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if c == 13 or c == 10 or c == 0:
            return False
    return True


cdef inline bint name_is(bytes name, bytes lowered):
    """Case-insensitive compare against an already lowercased name, cheap on a mismatch."""
    if PyBytes_GET_SIZE(name) != PyBytes_GET_SIZE(lowered):
        return False
    return name == lowered or name.lower() == lowered


cdef int scan_response_headers(list headers, ResponseFraming* framing) except -1:
    """Validate an app's response headers (RuntimeError names the bad one) and learn the
    framing they ask for; ``framing.size`` is what write_headers() will write."""
    cdef bytes name, value
    cdef Py_ssize_t size = 0, declared = -1
    cdef bint has_length = False
    framing.app_chunked = False
    framing.close_asked = False
    for item in headers:
        name, value = item
        if not valid_name(name) or not valid_value(value):
            raise RuntimeError(f"invalid response header {name!r}: {value!r}")
        if name_is(name, b"content-length"):
            if has_length:
                raise RuntimeError("more than one content-length in the response headers")
            has_length = True
            declared = parse_length(value)
        elif name_is(name, b"transfer-encoding"):
            framing.app_chunked = True
            continue  # framing is the connection's: chunked is added by it
        elif name_is(name, b"connection"):
            if value.lower() == b"close":
                framing.close_asked = True
            continue  # the connection's as well
        size += PyBytes_GET_SIZE(name) + PyBytes_GET_SIZE(value) + 4
    framing.size = size
    framing.declared_length = declared
    return 0


cdef char* write_headers(char* out, list headers):
    """Copy headers scanned by scan_response_headers(), less the framing ones, to ``out``."""
    cdef bytes name, value
    for item in headers:
        name, value = item
        if PyBytes_GET_SIZE(name) == 17 or PyBytes_GET_SIZE(name) == 10:
            if name_is(name, b"transfer-encoding") or name_is(name, b"connection"):
                continue
        out = put(out, name)
        out[0] = b':'
        out[1] = b' '
        out = put(out + 2, value)
        out[0] = b'\r'
        out[1] = b'\n'
        out += 2
    return out


cdef bytes status_line(int status):
    line = STATUS_LINES.get(status)
    if line is None:
        return f"HTTP/1.1 {status} Unknown\r\n".encode("ascii")
    return <bytes>line


cdef bytes chunk(bytes body):
    return b"%x\r\n%b\r\n" % (PyBytes_GET_SIZE(body), body)


cdef bytes encode_fields(list fields):
    """Header fields as wire lines: the server-wide defaults, encoded when they change."""
    return b"".join([b"%b: %b\r\n" % (name, value) for name, value in fields])


cdef str error_reason(int status):
    return ERROR_REASONS.get(status, "")


cdef bytes error_response(int status, str reason, bytes defaults):
    """A whole error response the server makes itself; it always ends the connection."""
    body = reason.encode("utf-8")
    head = b"%bcontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % (
        status_line(status), len(body))
    if status == 503:
        head += H_RETRY_AFTER
    return head + defaults + H_CLOSE + CRLF + body


cdef bytes informational(int status, list headers):
    """A 1xx response (100 Continue, 103 Early Hints): status line and fields, no body."""
    if not headers:
        return status_line(status) + CRLF
    return status_line(status) + encode_fields(headers) + CRLF
