# Files as response bodies: ASGI pathsend and zerocopysend (fastcorn/asgi/files.pyx).
#
# Call flow:
#   app: await send({"type": "http.response.pathsend" | "http.response.zerocopysend", ...})
#     HTTPCycle.send ─▶ _send_extension ─▶ send_file_message(cycle, message)
#       checks the message, opens (pathsend) and fstat()s the file, returns send_piece():
#         the head still held?  start_head: its content-length (the file's) and send_head
#         stream.send_file(cycle, fd, offset, count, more_body)
#           an awaitable (HTTP/1.1, plain TCP: the backend's sendfile(2)) ─▶ awaited
#           None (TLS, HTTP/2, chunked)  ─▶ os.pread CHUNK pieces ─▶ cycle.send(body)
#         the last piece completes the response through cycle.send, as a body would.
#
# Its helpers (start_head, carries_no_body, regular_file_size) stay private to the module:
# declared here they would become an exported C API.

from fastcorn.asgi.cycle cimport HTTPCycle

cdef enum:
    # What the read-and-send way holds per step: one piece, beside the transport's own
    # high-water mark (a paused stream makes send() wait before the next read).
    CHUNK = 262144
