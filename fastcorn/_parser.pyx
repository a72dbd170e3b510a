"""The HTTP/1.1 wire in C: request-line scan, target split, header checks, the response
head and chunk writer, status lines and error responses.

See _parser.pxd for who calls what. httptools (llhttp) remains the judge of request
syntax; the scans here only ever agree with it, and exist to spare Python calls on the
common case or to check what llhttp leaves to the server (Host, response headers).
"""

from http import HTTPStatus

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.string cimport memchr, memcmp

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

cdef void char_table(unsigned char* table, str chars):
    """``table[c]`` is 1 for the characters in ``chars``, 0 for every other byte."""
    cdef int i
    for i in range(256):
        table[i] = 0
    for c in chars:
        table[ord(c)] = 1


# RFC 9110 token characters, for header names (the app's, and the fast head scan's).
cdef unsigned char TOKEN[256]
char_table(TOKEN, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


# Characters of a Host value (RFC 3986 host [":" port]): reg-name (unreserved, sub-delims,
# pct-encoded), IPv4, an IP-literal's brackets, hex digits and colons, the port's colon.
cdef unsigned char HOST_CHAR[256]
char_table(HOST_CHAR, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                      "-._~!$&'()*+,;=%:[]")


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


# What scan_simple_head takes in an origin-form target: RFC 3986 pchar, '/', '?' and '%'.
# Anything else ('#', '"', '{', obs-text...) leaves the request to llhttp.
cdef unsigned char TARGET_CHAR[256]
char_table(TARGET_CHAR, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "-._~!$&'()*+,;=:@/?%")

# What it takes in a field value: visible ASCII, SP and HTAB. No obs-text, no controls.
cdef unsigned char VALUE_CHAR[256]
char_table(VALUE_CHAR, "\t" + "".join(map(chr, range(0x20, 0x7f))))


cdef inline bint lower_is(const char* p, Py_ssize_t n, const char* lower,
                          Py_ssize_t m) noexcept:
    return n == m and same_name(p, lower, n)


cdef inline Py_ssize_t simple_method_end(const char* p, Py_ssize_t n) noexcept:
    """Where a common method ends (an SP follows it), else -1. CONNECT is not among them."""
    cdef const char* space = <const char*>memchr(p, b' ', n if n < 8 else 8)
    cdef Py_ssize_t m
    if space == NULL:
        return -1
    m = space - p
    if m == 3 and (memcmp(p, b"GET", 3) == 0 or memcmp(p, b"PUT", 3) == 0):
        return m
    if m == 4 and (memcmp(p, b"POST", 4) == 0 or memcmp(p, b"HEAD", 4) == 0):
        return m
    if (m == 5 and memcmp(p, b"PATCH", 5) == 0) or (m == 6 and memcmp(p, b"DELETE", 6) == 0) \
            or (m == 7 and memcmp(p, b"OPTIONS", 7) == 0):
        return m
    return -1


cdef inline Py_ssize_t length_digits(const char* p, Py_ssize_t n) noexcept:
    """A Content-Length value of 1 to 18 digits (RFC 9110 8.6: 1*DIGIT), else -1."""
    cdef Py_ssize_t i, total = 0
    if n == 0 or n > 18:
        return -1
    for i in range(n):
        if p[i] < b'0' or p[i] > b'9':
            return -1
        total = total * 10 + (p[i] - 48)  # ASCII '0'
    return total


cdef bint scan_simple_head(const char* p, Py_ssize_t n, SimpleHead* head) noexcept:
    """Whether ``p`` starts with a complete request head of the plainest kind, and its spans.

    Going through llhttp costs a Python callback per line (~2,000 instructions for a
    one-field GET, callgrind, Python 3.13); most requests are this simple. It takes a
    strict subset of what llhttp accepts, read the same way, and says no (False) to the
    rest, which llhttp then parses as ever:
    - a common method (not CONNECT), one SP, an origin-form target of TARGET_CHAR, one SP,
      HTTP/1.1 or HTTP/1.0, CRLF;
    - at most SIMPLE_FIELDS_MAX fields, each a token, ':', optional SP/HTAB and a
      non-empty value of VALUE_CHAR without trailing SP/HTAB, CRLF (so no obs-fold, no
      bare CR or LF, no space before the colon);
    - no Transfer-Encoding, Upgrade, Expect or Proxy-Connection; Connection only as
      "keep-alive"; at most one Content-Length, of digits: the request's framing and
      persistence are then plain, and each one llhttp would read otherwise is left to it;
    - persistent: HTTP/1.1, or HTTP/1.0 with Connection: keep-alive (after a request
      that is not, llhttp must see what follows);
    - complete: the blank line is in ``p``. The body is the caller's to check.
    """
    cdef const unsigned char* u = <const unsigned char*>p
    cdef Py_ssize_t i, start, name_end, value_start, length
    cdef bint keep_alive_asked = False
    cdef int k
    i = simple_method_end(p, n)
    if i < 0:
        return False
    head.method_end = i
    i += 1
    if i >= n or p[i] != b'/':
        return False
    while i < n and TARGET_CHAR[u[i]]:
        i += 1
    # " HTTP/1.x\r\n"
    if i + 11 > n or memcmp(p + i, b" HTTP/1.", 8) != 0 \
            or p[i + 9] != b'\r' or p[i + 10] != b'\n':
        return False
    head.target_end = i
    if p[i + 8] == b'1':
        head.version = VERSION_11
    elif p[i + 8] == b'0':
        head.version = VERSION_10
    else:
        return False
    i += 11
    head.fields = 0
    head.content_length = -1
    while True:
        if i + 1 >= n:
            return False  # incomplete
        if p[i] == b'\r':
            if p[i + 1] != b'\n':
                return False
            i += 2
            break
        start = i
        while i < n and TOKEN[u[i]]:
            i += 1
        if i == start or i >= n or p[i] != b':':
            return False
        name_end = i
        i += 1
        while i < n and (p[i] == b' ' or p[i] == b'\t'):
            i += 1
        value_start = i
        while i < n and VALUE_CHAR[u[i]]:
            i += 1
        if i + 1 >= n or p[i] != b'\r' or p[i + 1] != b'\n' or i == value_start \
                or p[i - 1] == b' ' or p[i - 1] == b'\t':
            return False
        k = head.fields
        if k == SIMPLE_FIELDS_MAX:
            return False
        head.name_start[k] = start
        head.name_end[k] = name_end
        head.value_start[k] = value_start
        head.value_end[k] = i
        head.fields = k + 1
        length = name_end - start
        if length == 14 and lower_is(p + start, 14, b"content-length", 14):
            if head.content_length >= 0:
                return False
            head.content_length = length_digits(p + value_start, i - value_start)
            if head.content_length < 0:
                return False
        elif length == 10 and lower_is(p + start, 10, b"connection", 10):
            if not lower_is(p + value_start, i - value_start, b"keep-alive", 10):
                return False
            keep_alive_asked = True
        elif (lower_is(p + start, length, b"transfer-encoding", 17)
                or lower_is(p + start, length, b"upgrade", 7)
                or lower_is(p + start, length, b"expect", 6)
                or lower_is(p + start, length, b"proxy-connection", 16)):
            return False
        i += 2
    if head.version == VERSION_10 and not keep_alive_asked:
        return False
    head.length = i
    return True


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
    cdef Py_ssize_t result = length_digits(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
    if result < 0:
        raise RuntimeError(f"invalid content-length {value!r} in the response headers")
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
