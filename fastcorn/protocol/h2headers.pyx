# HTTP/2 header checks (RFC 9113 8.2, 8.3) for an h2 connection run with its own four
# validate/normalize passes off. See h2headers.pxd for where each function is called.
#
# The rules are h2's (4.x, h2.utilities), so that the same blocks are refused, with these
# differences, each where RFC 9113 is stricter than h2 or h2 leaves a gap:
#   - inbound: each cookie crumb is checked as received (8.2.1), where h2 joins the crumbs
#     first and checks the joined value, and a pseudo-header field after a cookie is refused
#     (8.3), where h2 moves cookies to the end before looking at the order;
#   - inbound: :protocol is refused unless the caller advertised extended CONNECT (RFC 8441
#     3 and 4; h2 accepts it on any CONNECT);
#   - outbound: names and values are checked for the characters 8.2.1 forbids (h2 sends
#     them), an empty name is refused (h2 fails with an IndexError), and content-length is
#     dropped from 1xx and 204 responses (RFC 9110 8.6).
# Everything is bytes; the fields that pass unchanged are returned as the objects given.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.string cimport memcmp

from h2.exceptions import ProtocolError
from hpack.struct import NeverIndexedHeaderTuple


class HeaderError(ProtocolError):
    """A header block RFC 9113 calls malformed (inbound: a stream error of type
    PROTOCOL_ERROR), or one that cannot be sent (outbound: the app's error). ``str()`` is
    the reason."""


cdef bint NAME_CHAR[256]   # allowed in a field name (RFC 9113 8.2.1; ':' only leads pseudo)
cdef bint BAD_VALUE[256]   # NUL, LF and CR, anywhere in a value
cdef bint EDGE_SPACE[256]  # what h2's outbound normalisation strips: bytes.strip()'s set
cdef int _c
for _c in range(256):
    NAME_CHAR[_c] = 0x20 < _c < 0x7F and not (0x41 <= _c <= 0x5A) and _c != 0x3A
    BAD_VALUE[_c] = _c == 0 or _c == 0x0A or _c == 0x0D
    EDGE_SPACE[_c] = _c == 0x20 or 0x09 <= _c <= 0x0D

cdef bytes COOKIE = b"cookie"
cdef bytes STATUS = b":status"
cdef bytes METHOD = b":method"
cdef bytes SCHEME = b":scheme"
cdef bytes AUTHORITY = b":authority"
cdef bytes PATH = b":path"
cdef bytes CONNECT = b"CONNECT"
cdef bytes COOKIE_SEPARATOR = b"; "   # RFC 9113 8.2.3
# (b":status", b"100") ... (b":status", b"599"), made once
cdef list STATUS_FIELDS = [(STATUS, str(code).encode()) for code in range(100, 600)]


cdef inline object part(object field, Py_ssize_t i):
    """field[i], straight from the tuple's storage when it is one: a tuple subclass such as
    hpack's HeaderTuple is otherwise indexed through a Python-level slot (~10x slower)."""
    if PyTuple_Check(field) and i < PyTuple_GET_SIZE(field):
        return <object>PyTuple_GET_ITEM(field, i)
    return field[i]


cdef inline bint equals(const char* p, Py_ssize_t n, const char* literal, Py_ssize_t size) noexcept:
    return n == size and memcmp(p, literal, size) == 0


cdef Pseudo pseudo_kind(bytes name) noexcept:
    cdef const char* p = PyBytes_AS_STRING(name)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
    if n == 7:
        if memcmp(p, b":method", 7) == 0:
            return P_METHOD
        if memcmp(p, b":scheme", 7) == 0:
            return P_SCHEME
        if memcmp(p, b":status", 7) == 0:
            return P_STATUS
    elif n == 5:
        if memcmp(p, b":path", 5) == 0:
            return P_PATH
    elif n == 10:
        if memcmp(p, b":authority", 10) == 0:
            return P_AUTHORITY
    elif n == 9:
        if memcmp(p, b":protocol", 9) == 0:
            return P_PROTOCOL
    return P_UNKNOWN


cdef Regular regular_kind(bytes name) noexcept:
    """Which of the fields the checks single out ``name`` is (names are lowercase here)."""
    cdef const char* p = PyBytes_AS_STRING(name)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name)
    if n == 2:
        return R_TE if equals(p, n, b"te", 2) else R_OTHER
    if n == 4:
        return R_HOST if equals(p, n, b"host", 4) else R_OTHER
    if n == 6:
        return R_COOKIE if equals(p, n, b"cookie", 6) else R_OTHER
    if n == 7:
        return R_CONNECTION_SPECIFIC if equals(p, n, b"upgrade", 7) else R_OTHER
    if n == 10:
        if equals(p, n, b"connection", 10) or equals(p, n, b"keep-alive", 10):
            return R_CONNECTION_SPECIFIC
        return R_OTHER
    if n == 13:
        return R_SECURE if equals(p, n, b"authorization", 13) else R_OTHER
    if n == 14:
        return R_CONTENT_LENGTH if equals(p, n, b"content-length", 14) else R_OTHER
    if n == 16:
        return R_CONNECTION_SPECIFIC if equals(p, n, b"proxy-connection", 16) else R_OTHER
    if n == 17:
        return R_CONNECTION_SPECIFIC if equals(p, n, b"transfer-encoding", 17) else R_OTHER
    if n == 19:
        return R_SECURE if equals(p, n, b"proxy-authorization", 19) else R_OTHER
    return R_OTHER


cdef int check_field(bytes name, bytes value) except -1:
    """RFC 9113 8.2.1: a lowercase name of visible ASCII, ':' only as a pseudo-header's
    first character; a value without NUL, CR or LF, nor SP or HTAB at either end."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(name), i
    cdef unsigned char c
    if n == 0:
        raise HeaderError("a field name is empty")
    for i in range(1 if p[0] == 0x3A else 0, n):
        if not NAME_CHAR[p[i]]:
            c = p[i]
            if 0x41 <= c <= 0x5A:
                raise HeaderError(f"field name {name!r} is not lowercase")
            raise HeaderError(f"field name {name!r} has an invalid character")
    p = <const unsigned char*>PyBytes_AS_STRING(value)
    n = PyBytes_GET_SIZE(value)
    if n:
        for i in range(n):
            if BAD_VALUE[p[i]]:
                raise HeaderError(f"field {name!r} has NUL, CR or LF in its value")
        if p[0] == 0x20 or p[0] == 0x09 or p[n - 1] == 0x20 or p[n - 1] == 0x09:
            raise HeaderError(f"field {name!r} has a value with whitespace at an end")
    return 0


cdef bint is_trailers(bytes value) noexcept:
    """``value`` is "trailers" in any case (h2 compares value.lower())."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef Py_ssize_t i
    if PyBytes_GET_SIZE(value) != 8:
        return False
    for i in range(8):
        if (p[i] | 0x20) != (<const unsigned char*>b"trailers")[i]:
            return False
    return True


cdef int check_regular(bytes name, bytes value, Regular kind) except -1:
    """The rules on regular fields, both ways (RFC 9113 8.2.2)."""
    if kind == R_CONNECTION_SPECIFIC:
        raise HeaderError(f"connection-specific field {name!r}")
    if kind == R_TE and not is_trailers(value):
        raise HeaderError(f"te other than trailers: {value!r}")
    return 0


cdef object take_regular(list items, Py_ssize_t start, list regular, bint request):
    """Check the regular fields items[start:] as received and add them to ``regular``, the
    cookie crumbs joined at the end (RFC 9113 8.2.3; where h2 puts them). For a request, the
    host value (a second one is refused) or None."""
    cdef Py_ssize_t i, count = len(items)
    cdef bytes name, value
    cdef Regular kind
    cdef list cookies = None
    cdef bytes host = None
    for i in range(start, count):
        item = items[i]
        name = part(item, 0)
        value = part(item, 1)
        check_field(name, value)
        if PyBytes_AS_STRING(name)[0] == b":":
            raise HeaderError(f"pseudo-header field {name!r} after a regular field"
                              if request else f"pseudo-header field {name!r} in trailers")
        kind = regular_kind(name)
        if kind == R_COOKIE:
            if cookies is None:
                cookies = [value]
            else:
                cookies.append(value)
            continue
        if kind == R_HOST and request:
            if host is not None:
                raise HeaderError("more than one host field")
            host = value
        elif kind == R_CONNECTION_SPECIFIC or kind == R_TE:
            check_regular(name, value, kind)
        regular.append(item)
    if cookies is not None:
        regular.append((COOKIE, cookies[0] if len(cookies) == 1
                        else COOKIE_SEPARATOR.join(cookies)))
    return host


def check_request_headers(headers, bint allow_connect_protocol=False):
    """Check a received request header block (bytes pairs, as h2 gives them with
    header_encoding=None) as h2's inbound validation and normalisation would, in one pass.

    Returns ``(method, scheme, authority, path, protocol, regular)``: the pseudo-header
    fields' values (None when absent) and the regular fields, cookie crumbs joined into one
    cookie field at the end. ``allow_connect_protocol``: SETTINGS_ENABLE_CONNECT_PROTOCOL was
    sent, so :protocol may come with CONNECT. Raises HeaderError (malformed: RFC 9113 8.1.1
    makes that a stream error of type PROTOCOL_ERROR)."""
    cdef list items = headers if type(headers) is list else list(headers)
    head = check_request(items, allow_connect_protocol)
    return head[:5] + head[6:]


cdef tuple check_request(list items, bint allow_connect_protocol):
    """check_request_headers for the HTTP/2 core, without a Python call: also returns the
    host field's value, ``(method, scheme, authority, path, protocol, host, regular)``."""
    cdef Py_ssize_t i = 0, count = len(items)
    cdef bytes name, value, host = None
    cdef bytes method = None, scheme = None, authority = None, path = None, protocol = None
    cdef int seen = 0
    cdef Pseudo kind
    cdef bint connect
    # the pseudo-header fields lead (RFC 9113 8.3)
    while i < count:
        item = items[i]
        name = part(item, 0)
        if PyBytes_GET_SIZE(name) == 0 or PyBytes_AS_STRING(name)[0] != b":":
            break
        value = part(item, 1)
        check_field(name, value)
        kind = pseudo_kind(name)
        if kind == P_UNKNOWN:
            raise HeaderError(f"unknown pseudo-header field {name!r}")
        if kind == P_STATUS:
            raise HeaderError("response pseudo-header field :status in a request")
        if seen & kind:
            raise HeaderError(f"pseudo-header field {name!r} twice")
        seen |= kind
        if kind == P_METHOD:
            method = value
        elif kind == P_PATH:
            path = value
        elif kind == P_SCHEME:
            scheme = value
        elif kind == P_AUTHORITY:
            authority = value
        else:
            protocol = value
        i += 1
    cdef list regular = []
    host = take_regular(items, i, regular, True)

    if method is None:
        raise HeaderError("request without :method")
    connect = method == CONNECT
    if protocol is not None:
        # extended CONNECT (RFC 8441 4), only where it was advertised (RFC 8441 3)
        if not connect:
            raise HeaderError(":protocol in a request that is not CONNECT")
        if not allow_connect_protocol:
            raise HeaderError(":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL")
    if connect and protocol is None:
        if scheme is not None or path is not None:
            raise HeaderError("CONNECT with :scheme or :path")  # RFC 9113 8.5
    elif scheme is None or path is None:
        raise HeaderError("request without :scheme or :path")
    if path is not None and PyBytes_GET_SIZE(path) == 0:
        raise HeaderError("empty :path")
    if authority is None and host is None:
        raise HeaderError("request without :authority or host")
    if authority is not None and host is not None and authority != host:
        raise HeaderError(f":authority {authority!r} and host {host!r} differ")
    return (method, scheme, authority, path, protocol, host, regular)


def check_trailers(headers):
    """Check received trailers (no pseudo-header fields, the rules on regular fields); the
    fields, cookie crumbs joined. Raises HeaderError."""
    cdef list items = headers if type(headers) is list else list(headers)
    cdef list regular = []
    take_regular(items, 0, regular, False)
    return regular


cdef int add_outbound(list out, headers, bint trailers, bint drop_content_length) except -1:
    """The app's fields, normalised as h2's normalize_outbound_headers does (names
    lowercased, names and values stripped, connection-specific fields dropped, credentials
    never indexed) and checked (RFC 9113 8.2); appended to ``out``."""
    cdef bytes name, value
    cdef const unsigned char* p
    cdef Py_ssize_t n, i
    cdef Regular kind
    cdef bint changed
    for item in headers:
        name = part(item, 0)
        value = part(item, 1)
        changed = False
        p = <const unsigned char*>PyBytes_AS_STRING(name)
        n = PyBytes_GET_SIZE(name)
        for i in range(n):
            if 0x41 <= p[i] <= 0x5A:
                name = name.lower()
                changed = True
                break
        if n and (EDGE_SPACE[p[0]] or EDGE_SPACE[p[n - 1]]):
            name = name.strip()
            changed = True
        p = <const unsigned char*>PyBytes_AS_STRING(value)
        n = PyBytes_GET_SIZE(value)
        if n and (EDGE_SPACE[p[0]] or EDGE_SPACE[p[n - 1]]):
            value = value.strip()
            changed = True
        kind = regular_kind(name)
        if kind == R_CONNECTION_SPECIFIC:
            continue  # the connection's business, as h2 does
        if PyBytes_GET_SIZE(name) and PyBytes_AS_STRING(name)[0] == b":":
            raise HeaderError(f"pseudo-header field {name!r} in the app's headers")
        check_field(name, value)
        if kind == R_TE:
            check_regular(name, value, kind)
        elif kind == R_CONTENT_LENGTH and drop_content_length:
            continue
        if kind == R_SECURE or (kind == R_COOKIE and PyBytes_GET_SIZE(value) < 20):
            # kept out of the compression context (h2's _secure_headers)
            out.append(NeverIndexedHeaderTuple(name, value))
        elif changed:
            out.append((name, value))
        else:
            out.append(item)
    return 0


def check_response_headers(int status, headers):
    """The header block to send for a response (or a 1xx) with the app's ``headers``:
    :status first, then the fields normalised and checked as h2's outbound passes do; no
    content-length on 1xx and 204. Raises HeaderError for fields that cannot be sent."""
    if status < 100 or status > 999:
        raise HeaderError(f"invalid status {status}")
    cdef list out = [STATUS_FIELDS[status - 100] if status < 600
                     else (STATUS, str(status).encode())]
    add_outbound(out, headers, False, status < 200 or status == 204)
    return out


def check_response_trailers(headers):
    """Trailers to send: the app's fields normalised and checked. Raises HeaderError."""
    cdef list out = []
    add_outbound(out, headers, True, False)
    return out


def check_push_request_headers(bytes method, bytes scheme, bytes authority, bytes path,
                               headers):
    """The request header block of a PUSH_PROMISE: the four pseudo-header fields, then the
    app's fields normalised and checked. Raises HeaderError."""
    if PyBytes_GET_SIZE(path) == 0:
        raise HeaderError("empty :path")
    cdef list out = [(METHOD, method), (SCHEME, scheme), (AUTHORITY, authority), (PATH, path)]
    add_outbound(out, headers, False, False)
    cdef bytes host = None
    for item in out[4:]:
        if regular_kind(part(item, 0)) == R_HOST:
            if host is not None:
                raise HeaderError("more than one host field")
            host = part(item, 1)
            if host != authority:
                raise HeaderError(f":authority {authority!r} and host {host!r} differ")
    return out
