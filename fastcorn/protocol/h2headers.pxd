# HTTP/2 header checks in C (RFC 9113 8.2 and 8.3): what h2's validate_headers,
# normalize_inbound_headers, validate_outbound_headers and normalize_outbound_headers do, one
# call per header block, so that an H2Connection can run with those four passes turned off.
#
#   h2 core (server side)                      h2headers (this module)
#   RequestReceived.headers             ──▶    check_request_headers: the pseudo-header
#                                              fields apart, regular fields, cookies joined
#   TrailersReceived.headers            ──▶    check_trailers
#   app's http.response.start           ──▶    check_response_headers: :status first,
#                                              names lowercased, framing fields dropped
#   app's http.response.trailers        ──▶    check_response_trailers
#   app's http.response.push            ──▶    check_push_request_headers
#
# Inbound, a malformed block raises HeaderError (an h2 ProtocolError: RFC 9113 8.1.1 makes it
# a stream error of type PROTOCOL_ERROR, so the core resets the stream, where h2's own checks
# would end the whole connection). Outbound, HeaderError is the app's error.

cdef enum Pseudo:
    # the pseudo-header fields a request or response may carry, as bits of a seen-set
    P_NONE = 0
    P_METHOD = 1
    P_SCHEME = 2
    P_AUTHORITY = 4
    P_PATH = 8
    P_PROTOCOL = 16
    P_STATUS = 32
    P_UNKNOWN = 64


cdef enum Regular:
    # regular fields the checks single out
    R_OTHER = 0
    R_CONNECTION_SPECIFIC = 1   # connection, keep-alive, proxy-connection, transfer-encoding,
                                # upgrade (RFC 9113 8.2.2)
    R_TE = 2
    R_HOST = 3
    R_COOKIE = 4
    R_CONTENT_LENGTH = 5
    R_SECURE = 6                # authorization, proxy-authorization: never indexed


cdef Pseudo pseudo_kind(bytes name) noexcept      # P_UNKNOWN for any other name
cdef Regular regular_kind(bytes name) noexcept    # R_OTHER for any other name
cdef int check_field(bytes name, bytes value) except -1   # RFC 9113 8.2.1 characters
cdef bint is_trailers(bytes value) noexcept       # te's one allowed value, any case
cdef int check_regular(bytes name, bytes value, Regular kind) except -1
# inbound regular fields from items[start:] into regular, cookies joined; a request's host
cdef object take_regular(list items, Py_ssize_t start, list regular, bint request)
# check_request_headers, for the core: (method, scheme, authority, path, protocol, host,
# regular fields); raises HeaderError
cdef tuple check_request(list items, bint allow_connect_protocol)
# outbound: the app's fields normalised as h2 does, then checked
cdef int add_outbound(list out, headers, bint trailers, bint drop_content_length) except -1
