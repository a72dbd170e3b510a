"""A lingering close, shared by the HTTP/1.1 and HTTP/2 cores (see linger.pxd)."""


cdef class Lingering:

    cdef drop(self, Py_ssize_t size):
        """Input read and dropped: past LINGER_BYTES, the lingering ends."""
        self.dropped += size
        if self.dropped > LINGER_BYTES:
            self.end()

    cdef due(self, double now):
        """The sweep's clock: at the deadline, the lingering ends."""
        if now >= self.deadline:
            self.end()

    cdef end(self):
        if not self.ended:
            self.ended = True
            self.transport.abort()


cdef Lingering begin_lingering(object transport, double now):
    """Half-close where the transport can and start dropping input; None if the client is
    already gone. asyncio shuts the socket down at once when nothing is queued, and a
    client that already reset the connection makes that raise (ENOTCONN): the caller
    closes, and the transport reports connection_lost."""
    cdef Lingering lingering
    if transport.can_write_eof():
        try:
            transport.write_eof()
        except OSError:
            return None
    lingering = Lingering.__new__(Lingering)
    lingering.transport = transport
    lingering.deadline = now + LINGER_SECONDS
    return lingering
