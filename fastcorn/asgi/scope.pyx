"""Protocol-neutral ASGI scope building (see scope.pxd)."""

from urllib.parse import unquote as _unquote

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memchr

from fastcorn.asgi.cycle cimport ServerState
from fastcorn.asgi.proxy cimport (
    ProxiedTemplate,
    ProxyPolicy,
    apply_proxy_headers,
    proxied_template,
)

from fastcorn.asgi.proxy import ProxiedAddress as _ProxiedAddress

cdef object unquote = _unquote
cdef object ProxiedAddress = _ProxiedAddress
cdef str S_HTTP = "http"
# The ASGI extensions every HTTP stream serves (asgi/files.pyx sends files for all of them,
# zero-copy where the stream and transport allow it), in each request's own extensions
# dict; the empty dicts inside carry nothing and are shared.
cdef dict HTTP_EXTENSIONS = {
    "http.response.pathsend": {},
    "http.response.zerocopysend": {},
}


cdef tuple address(object addr):
    """(host, port) with an int port; None for a unix socket peer (ASGI allows it)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        if type(addr) is ProxiedAddress:
            return <tuple>addr  # from a PROXY header: http_template reads its scheme
        return (addr[0], int(addr[1]))
    if isinstance(addr, str) and addr:
        return (addr, None)
    return None


cdef dict http_template(ServerState state, tuple client, tuple server, str scheme):
    """What every scope of a connection shares. A connection whose peer may speak for the
    client (proxy headers on, the peer among --forwarded-allow-ips) gets a ProxiedTemplate,
    decided here once: every other connection pays nothing per request for proxy headers."""
    cdef dict template
    if type(client) is ProxiedAddress:
        # The PROXY protocol's client: the scheme it used with the balancer (the v2 SSL
        # TLV), and a plain tuple for the scope.
        if client.scheme is not None:
            scheme = client.scheme
        client = (client[0], client[1])
    # Key order is the scope's; the None values are filled per request.
    template = {
        "type": S_HTTP, "asgi": None, "http_version": None, "server": server,
        "client": client, "scheme": scheme, "method": None,
        "root_path": state.root_path, "path": None, "raw_path": None,
        "query_string": None, "headers": None, "state": None, "extensions": None,
    }
    policy = state.proxy
    if policy is not None and (<ProxyPolicy>policy).headers and \
            (<ProxyPolicy>policy).trusts_peer(client, server):
        return proxied_template(<ProxyPolicy>policy, template)
    return template


cdef dict http_scope(ServerState state, dict template, str http_version, str method,
                     bytes raw_path, bytes query, list headers, object tls):
    """One request's scope: its own dict, asgi and state copies (the spec requires them).
    ``tls``: the connection's ASGI tls extension (None in cleartext), in the request's own
    extensions dict."""
    cdef str path
    cdef dict scope
    if memchr(PyBytes_AS_STRING(raw_path), b'%', PyBytes_GET_SIZE(raw_path)) != NULL:
        path = unquote(raw_path.decode("latin-1"))
    else:
        path = raw_path.decode("latin-1")
    root_path = state.root_path
    if root_path:
        path = root_path + path
        raw_path = root_path.encode() + raw_path
    # The template keeps the previous request's version and method (interned strs): on a
    # keep-alive connection they rarely change, and two writes there cost ~350
    # instructions (callgrind, Python 3.13) for every request they spare.
    if template["http_version"] is not http_version:
        template["http_version"] = http_version
    if template["method"] is not method:
        template["method"] = method
    scope = template.copy()
    scope["asgi"] = state.asgi.copy()
    scope["path"] = path
    scope["raw_path"] = raw_path
    scope["query_string"] = query
    scope["headers"] = headers
    scope["state"] = state.lifespan_state.copy()
    # A copy costs ~310 instructions (1% of a request), a dict literal ~560.
    extensions = HTTP_EXTENSIONS.copy()
    if tls is not None:
        extensions["tls"] = (<dict>tls).copy()
    scope["extensions"] = extensions
    if type(template) is not dict:
        # A ProxiedTemplate: the peer is a trusted proxy (see http_template).
        apply_proxy_headers((<ProxiedTemplate>template).policy, scope, headers)
    return scope
