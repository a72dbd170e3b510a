# cython: freethreading_compatible = False, boundscheck = True, wraparound = True
# (parsing untrusted text off the hot path: every index checked)
"""Who is trusted to say who the client is, and what trusted proxies say (see proxy.pxd).

Protocol-neutral: the scope builder (asgi/scope.pyx) asks :meth:`ProxyPolicy.trusts_peer`
once per connection, when it builds the connection's scope template; only a trusted
connection gets a :class:`ProxiedTemplate`, and only for those does each request's scope
pass through :func:`apply_proxy_headers`. An untrusted connection, or a server with proxy
headers off, pays one type check per request.

What a trusted peer may set (all of it ignored when malformed, never an error):

- ``X-Forwarded-For``: ``scope["client"]``, the right-most address that is not itself
  trusted (every proxy appends the address it received the request from, so the
  addresses right of that one are our own proxies and the ones left of it are whatever the
  client made up); the left-most when every address is trusted.
- ``X-Forwarded-Proto``: ``scope["scheme"]``, "http" or "https" ("ws"/"wss" are read as
  those; a WebSocket scope maps http to ws and https to wss from the HTTP form). With one
  value per hop, the one of the chosen hop; else the right-most.
- ``X-Forwarded-Host`` / ``X-Forwarded-Port``: ``scope["server"]``.
- RFC 7239 ``Forwarded`` (``for``, ``proto``, ``host``), used only when no
  ``X-Forwarded-*`` field is present: a proxy that sets one family must overwrite or
  append to it, and the other family is then whatever the client sent.
"""

from ipaddress import ip_address as _ip_address, ip_network as _ip_network

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memcmp

cdef object ip_address = _ip_address
cdef object ip_network = _ip_network

cdef str S_HTTP = "http"
cdef str S_HTTPS = "https"
cdef dict SCHEMES = {"http": S_HTTP, "https": S_HTTPS, "ws": S_HTTP, "wss": S_HTTPS}


cdef str HOST_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~%!$&'()*+,;="


class ProxiedAddress(tuple):
    """A client address a PROXY protocol header gave (fastcorn.protocol.proxy), carrying
    the scheme the client used with the balancer ("https" from the v2 SSL TLV, else None).
    The scope builder takes the scheme and puts a plain tuple in the scope."""

    def __new__(cls, address, scheme=None):
        self = tuple.__new__(cls, address)
        self.scheme = scheme
        return self


def trusted_entries(str text):
    """The entries of a ``--forwarded-allow-ips`` value, checked: ``*``, an IP address, a
    network in CIDR form, ``unix`` (every unix-socket connection) or ``unix:PATH`` (those
    accepted on the socket at PATH). ValueError names the first bad entry."""
    entries = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*" or entry == "unix" or entry == "unix:":
            entries.append("unix" if entry.startswith("unix") else entry)
        elif entry.startswith("unix:"):
            entries.append(entry)
        elif "/" in entry:
            try:
                entries.append(str(ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(f"not an IP network: {entry!r}") from None
        else:
            try:
                entries.append(str(ip_address(entry)))
            except ValueError:
                raise ValueError(
                    f"not an IP address, CIDR network, '*' or unix[:PATH]: {entry!r}") from None
    return tuple(entries)


cdef class ProxyPolicy:
    """The server's proxy options: --proxy-headers, --proxy-protocol, --forwarded-allow-ips."""

    def __init__(self, trusted="127.0.0.1", bint headers=True, bint protocol=False):
        cdef list networks = []
        cdef set addresses = set()
        cdef set unix_paths = set()
        self.headers = headers
        self.protocol = protocol
        entries = trusted_entries(trusted) if isinstance(trusted, str) else tuple(trusted)
        for entry in entries:
            if entry == "*":
                self.trust_all = True
            elif entry == "unix":
                self.trust_unix = True
            elif entry.startswith("unix:"):
                unix_paths.add(entry[5:])
            elif "/" in entry:
                network = ip_network(entry, strict=False)
                if network.num_addresses == 1:
                    addresses.add(str(network.network_address))
                else:
                    networks.append(network)
            else:
                addresses.add(str(ip_address(entry)))
        self.addresses = frozenset(addresses)
        self.networks = tuple(networks)
        self.unix_paths = frozenset(unix_paths)

    cpdef bint trusts_host(self, str host):
        """Whether an address (as a socket or a proxy header gives it) is trusted."""
        if self.trust_all or host in self.addresses:
            return True
        if not self.networks and ":" not in host:
            return False
        try:
            ip = ip_address(host)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 on a dual-stack socket is 10.0.0.1
            if str(ip) in self.addresses:
                return True
        elif str(ip) in self.addresses:  # an IPv6 address written in another form
            return True
        for network in self.networks:
            if ip in network:
                return True
        return False

    cpdef bint trusts_peer(self, tuple client, tuple server):
        """Whether a connection's peer is trusted: its address (TCP), or the socket it came
        in on (unix: ``client`` is None, ``server`` is ``(path, None)``)."""
        if self.trust_all:
            return True
        if client is None or client[1] is None:
            if self.trust_unix:
                return True
            return server is not None and server[0] in self.unix_paths
        return self.trusts_host(<str>client[0])


cdef class ProxiedTemplate(dict):
    """The scope template of a connection whose peer is trusted (a plain dict otherwise)."""

    def __init__(self, ProxyPolicy policy, dict items):
        dict.__init__(self, items)
        self.policy = policy


cdef dict proxied_template(ProxyPolicy policy, dict template):
    return ProxiedTemplate(policy, template)


# -- parsing what proxies send ----------------------------------------------------------------

cdef object parse_node(str text):
    """``(host, port)`` of an address as proxies write it, or None: ``192.0.2.1``,
    ``192.0.2.1:80``, ``2001:db8::1``, ``[2001:db8::1]`` or ``[2001:db8::1]:80``; port 0
    when none is given."""
    cdef str host, port = ""
    cdef Py_ssize_t end
    if not text:
        return None
    if text[0] == "[":
        end = text.find("]")
        if end < 0:
            return None
        host = text[1:end]
        rest = text[end + 1:]
        if rest:
            if rest[0] != ":":
                return None
            port = rest[1:]
        try:
            ip = ip_address(host)
        except ValueError:
            return None
        if ip.version != 6:
            return None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        try:
            ip = ip_address(host)
        except ValueError:
            return None
        if ip.version != 4:
            return None
    else:
        try:
            ip = ip_address(text)
        except ValueError:
            return None
    if port:
        if not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535:
            return None
        return (str(ip), int(port))
    return (str(ip), 0)


cdef object parse_authority(str text):
    """``(host, port or 0)`` of a Host-like value, or None when it is not one."""
    cdef str host, port = ""
    cdef Py_ssize_t end
    if not text or len(text) > 255:
        return None
    if text[0] == "[":
        end = text.find("]")
        if end < 0:
            return None
        host = text[:end + 1]
        try:
            ip_address(text[1:end])
        except ValueError:
            return None
        rest = text[end + 1:]
        if rest:
            if rest[0] != ":":
                return None
            port = rest[1:]
    else:
        host, _, port = text.partition(":")
        if not host:
            return None
        for char in host:
            if char not in HOST_CHARS:
                return None
    if port:
        if not (port.isascii() and port.isdigit()) or len(port) > 5 or int(port) > 65535:
            return None
        return (host, int(port))
    return (host, 0)


cdef object parse_port(str text):
    text = text.strip()
    if not text or not (text.isascii() and text.isdigit()) or len(text) > 5:
        return None
    port = int(text)
    if port > 65535:
        return None
    return port


cdef list split_values(bytes joined):
    return [part.strip() for part in joined.decode("latin-1").split(",")]


cdef Py_ssize_t choose_hop(ProxyPolicy policy, list nodes):
    """The index of the right-most node that is not trusted (0 when all are)."""
    cdef Py_ssize_t i
    if policy.trust_all:
        return 0
    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        if node is None or not policy.trusts_host(<str>(<tuple>node)[0]):
            return i
    return 0


cdef object pick(list values, Py_ssize_t hop, Py_ssize_t hops):
    """A per-hop field's value for hop ``hop`` of ``hops``: the same hop when the field
    has one value per hop, else the right-most (what the nearest proxy said)."""
    if len(values) == hops and hops > 0:
        return values[hop]
    return values[len(values) - 1]


cdef void set_server(dict scope, object host_value, object port_value):
    """scope["server"] from a forwarded host (and port); the port of the scheme when neither
    says one."""
    authority = parse_authority(host_value) if host_value is not None else None
    port = parse_port(port_value) if port_value is not None else None
    if host_value is not None and authority is None:
        return  # a malformed host: leave the server as it is
    if port_value is not None and port is None:
        return
    if authority is None:
        if port is None:
            return
        server = scope["server"]
        if server is None:
            return
        scope["server"] = (server[0], port)
        return
    host = (<tuple>authority)[0]
    if port is None:
        port = (<tuple>authority)[1] or (443 if scope["scheme"] == S_HTTPS else 80)
    if host.startswith("["):
        host = host[1:-1]
    scope["server"] = (host, port)


cdef void apply_x_forwarded(ProxyPolicy policy, dict scope, object xff, object proto,
                            object host, object port):
    cdef list nodes = []
    cdef Py_ssize_t hop = 0, hops = 0
    if xff is not None:
        nodes = [parse_node(part) for part in split_values(xff)]
        hops = len(nodes)
        hop = choose_hop(policy, nodes)
        node = nodes[hop]
        if node is None:
            return  # a malformed or unknown address: the whole header is ignored
        scope["client"] = node
    if proto is not None:
        scheme = SCHEMES.get(pick(split_values(proto), hop, hops).lower())
        if scheme is not None:
            scope["scheme"] = scheme
    if host is not None or port is not None:
        set_server(scope,
                   pick(split_values(host), hop, hops) if host is not None else None,
                   pick(split_values(port), hop, hops) if port is not None else None)


cdef object parse_forwarded(str text):
    """RFC 7239 elements as a list of {name: value} dicts, or None when malformed."""
    cdef list elements = []
    cdef dict element = {}
    cdef Py_ssize_t i = 0, n = len(text), start
    cdef str name, value
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in "=;, \t":
            i += 1
        name = text[start:i].lower()
        if not name or i >= n or text[i] != "=":
            return None
        i += 1
        if i < n and text[i] == '"':
            i += 1
            chars = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                return None
            i += 1
            value = "".join(chars)
        else:
            start = i
            while i < n and text[i] not in ";, \t":
                i += 1
            value = text[start:i]
            if not value:
                return None
        if name in element:
            return None  # RFC 7239 4: a parameter at most once per element
        element[name] = value
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        if text[i] == ";":
            i += 1
        elif text[i] == ",":
            elements.append(element)
            element = {}
            i += 1
        else:
            return None
    if element:
        elements.append(element)
    elif elements:
        return None  # a trailing comma
    return elements or None


cdef void apply_forwarded(ProxyPolicy policy, dict scope, bytes joined):
    cdef list nodes
    cdef Py_ssize_t hop
    cdef dict chosen
    elements = parse_forwarded(joined.decode("latin-1"))
    if elements is None:
        return
    nodes = [parse_node(element.get("for", "")) for element in elements]
    hop = choose_hop(policy, nodes)
    chosen = elements[hop]
    if nodes[hop] is not None:
        scope["client"] = nodes[hop]
    proto = chosen.get("proto")
    if proto is not None:
        scheme = SCHEMES.get(proto.lower())
        if scheme is not None:
            scope["scheme"] = scheme
    host = chosen.get("host")
    if host is not None:
        set_server(scope, host, None)


cdef inline bytes join(object seen, bytes value):
    return value if seen is None else <bytes>seen + b"," + value


cdef void apply_proxy_headers(ProxyPolicy policy, dict scope, list headers):
    """What a trusted peer's headers say, into one request's scope (see the module doc).
    A value this cannot read is ignored; nothing a header holds makes the request fail."""
    try:
        read_headers(policy, scope, headers)
    except Exception:
        pass  # unreachable by design (every parse is checked); a bad header is never a 500


cdef enum:
    F_NONE, F_XFF, F_XFPROTO, F_XFHOST, F_XFPORT, F_FORWARDED


cdef int field_kind(object name):
    """Which forwarding field a (lowercase) header name is. Its length rules out nearly
    every other name before a byte is compared: comparing each name with the five field
    names cost ~150 instructions per header, on every request from a trusted peer."""
    cdef Py_ssize_t n
    cdef const char* p
    if type(name) is not bytes:
        return F_NONE
    n = PyBytes_GET_SIZE(name)
    p = PyBytes_AS_STRING(name)
    if n == 9:
        return F_FORWARDED if memcmp(p, b"forwarded", 9) == 0 else F_NONE
    if n < 15 or n > 17 or memcmp(p, b"x-forwarded-", 12) != 0:
        return F_NONE
    if n == 15:
        return F_XFF if memcmp(p + 12, b"for", 3) == 0 else F_NONE
    if n == 17:
        return F_XFPROTO if memcmp(p + 12, b"proto", 5) == 0 else F_NONE
    if memcmp(p + 12, b"host", 4) == 0:
        return F_XFHOST
    return F_XFPORT if memcmp(p + 12, b"port", 4) == 0 else F_NONE


cdef void read_headers(ProxyPolicy policy, dict scope, list headers) except *:
    cdef int kind
    xff = proto = host = port = forwarded = None
    for field in headers:
        kind = field_kind((<tuple>field)[0] if type(field) is tuple else field[0])
        if kind == F_NONE:
            continue
        value = field[1]
        if kind == F_XFF:
            xff = join(xff, value)
        elif kind == F_XFPROTO:
            proto = join(proto, value)
        elif kind == F_XFHOST:
            host = join(host, value)
        elif kind == F_XFPORT:
            port = join(port, value)
        else:
            forwarded = join(forwarded, value)
    if xff is not None or proto is not None or host is not None or port is not None:
        apply_x_forwarded(policy, scope, xff, proto, host, port)
    elif forwarded is not None:
        apply_forwarded(policy, scope, forwarded)
