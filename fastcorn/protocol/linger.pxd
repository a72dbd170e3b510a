# The bounds of a lingering close, shared by the HTTP/1.1 and HTTP/2 cores (declarations
# only: there is no module behind this file).
#
# After an answer that ends the connection (an HTTP/1.1 error, an HTTP/2 GOAWAY), input is
# read and dropped for at most this long and this much, or until the client's EOF: closing
# a socket with unread input makes the kernel send a RST, which can destroy the answer
# still on its way to the client.
cdef enum:
    LINGER_SECONDS = 5
    LINGER_BYTES = 64 * 1024 * 1024
