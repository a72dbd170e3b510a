# The ASGI scope, built the same way for every protocol (HTTP/1.1 now; HTTP/2 and
# WebSocket reuse it). A protocol reads its own wire (a request line, :path and friends)
# and hands over plain values; percent-decoding, root_path and the per-request copies the
# spec requires happen here, once.
#
#   connection_made            ─▶ http_template(state, client, server, scheme)
#                                 what every scope of the connection shares, built once
#   each request head complete ─▶ http_scope(state, template, version, method,
#                                            raw_path, query, headers, tls)
#                                 tls: the connection's ASGI tls extension dict
#                                 (fastcorn/asgi/tls.py, built once per connection) or None

from fastcorn.asgi.cycle cimport ServerState

cdef dict http_template(ServerState state, tuple client, tuple server, str scheme)
cdef dict http_scope(ServerState state, dict template, str http_version, str method,
                     bytes raw_path, bytes query, list headers, object tls)
cdef tuple address(object addr)
