# A lingering close, shared by the HTTP/1.1 and HTTP/2 cores.
#
# After an answer that ends the connection (an HTTP/1.1 answer with "connection: close",
# an HTTP/2 GOAWAY), closing a socket with unread input makes the kernel send a RST, and
# the RST can destroy the answer still on its way to the client. So, as nginx does:
#
#   begin_lingering()  half-closes the write side where the transport can (cleartext,
#            and trio's TLS with its close_notify; asyncio's TLS cannot, and there the
#            client closes once it has the answer: HTTP/1.1 lingers there only when
#            input is surely still coming, see H1Connection.linger);
#   then, while the core feeds it,
#   drop()   counts the input read and dropped, and ends the lingering past LINGER_BYTES;
#   due()    ends it at its deadline, LINGER_SECONDS after it began.
#   The client's EOF ends it too: the core's eof_received() lets the transport close.
#
# It ends in an abort, never a close(): a transport's close() waits for what it still
# buffers, and a client that reads nothing would keep the connection open for ever.
cdef enum:
    LINGER_SECONDS = 5
    LINGER_BYTES = 64 * 1024 * 1024


cdef class Lingering:
    cdef object transport
    cdef bint ended
    cdef Py_ssize_t dropped    # bytes read and dropped so far
    cdef double deadline       # the state's clock (ServerState.now)

    cdef drop(self, Py_ssize_t size)
    cdef due(self, double now)
    cdef end(self)


cdef Lingering begin_lingering(object transport, double now)
