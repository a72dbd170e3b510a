# cython: freethreading_compatible = False
"""Files as response bodies: the ASGI ``http.response.pathsend`` and
``http.response.zerocopysend`` extensions, for every HTTP stream (see files.pxd).

``http.response.pathsend`` (``{"path": str}``) sends the file at ``path`` as the rest of the
body and completes the response; ``http.response.zerocopysend`` (``{"file": descriptor or
object with fileno(), "offset"?, "count"?, "more_body"?}``) sends part of a descriptor and
may be mixed with ``http.response.body``. The app closes its descriptors, the server closes
what it opened for ``pathsend``.

Each piece of file goes one of two ways:

- ``Stream.send_file``: a stream whose body bytes go on the wire as they are (HTTP/1.1
  framed by content-length or by the close) over a transport the backend can
  ``sendfile(2)`` on (plain TCP) returns an awaitable that sends them without copying them
  through Python.
- Anything else (TLS, HTTP/2 DATA frames, chunked coding) gets the file read in ``CHUNK``
  pieces with ``os.pread``, each handed to the cycle's own ``send()`` as an
  ``http.response.body``: the stream frames it, and ``send()`` waits while the stream is
  paused, so memory stays at one chunk plus the transport's high-water mark however large
  the file and however slow the client.

A response whose head is still held (the app sent ``http.response.start`` and this in the
same loop turn, as Starlette does) gets the file's length as its ``content-length`` unless
the app gave one, so that HTTP/1.1 can use the zero-copy path instead of chunked coding.

Reads are blocking ``pread``/``sendfile`` calls on the loop thread, as is usual for
files in the page cache; a file on a slow disk stalls the loop while it is read.
"""

import os
import stat
from functools import partial

from fastcorn.asgi.cycle cimport HTTPCycle, Stream

from fastcorn.asgi.cycle import ClientDisconnected

cdef object ClientDisconnectedError = ClientDisconnected
cdef str T_PATHSEND = "http.response.pathsend"
cdef str T_BODY = "http.response.body"
cdef bytes EMPTY = b""
cdef bytes H_CONTENT_LENGTH = b"content-length"
cdef object O_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def send_file_message(HTTPCycle cycle, dict message):
    """A pathsend or zerocopysend message; like ``HTTPCycle.send``, it returns an awaitable
    and raises what it can find out at once (a missing file, a bad descriptor) itself."""
    cdef Py_ssize_t offset, count, size
    cdef int fd
    if cycle.disconnected:
        raise ClientDisconnectedError("client disconnected")
    if cycle.status == 0:
        raise RuntimeError(f"{message['type']} sent before http.response.start")
    if cycle.response_complete or cycle.body_ended:
        raise RuntimeError(f"{message['type']} sent after the response completed")
    if message["type"] == T_PATHSEND:
        path = message["path"]
        if not isinstance(path, str):
            raise TypeError(f"http.response.pathsend path must be a str, got {path!r}")
        if not os.path.isabs(path):
            raise RuntimeError(f"http.response.pathsend path must be absolute: {path!r}")
        fd = os.open(path, O_FLAGS)
        try:
            size = regular_file_size(fd, path)
            return send_path(cycle, fd, size)
        except BaseException:
            os.close(fd)
            raise
    file = message["file"]
    fd = file if isinstance(file, int) else file.fileno()
    size = regular_file_size(fd, file)
    given_offset = message.get("offset")
    if given_offset is None:
        offset = os.lseek(fd, 0, os.SEEK_CUR)  # from the descriptor's position, which moves
    else:
        offset = given_offset
    if offset < 0:
        raise RuntimeError(f"http.response.zerocopysend offset must not be negative: {offset}")
    # What the file holds from offset on; a count past its end sends what there is, and
    # the stream then finds the body shorter than its content-length.
    count = max(0, size - offset)
    given_count = message.get("count")
    if given_count is not None:
        if given_count < 0:
            raise RuntimeError(f"http.response.zerocopysend count must not be negative: "
                               f"{given_count}")
        count = min(count, given_count)
    return send_piece(cycle, fd, offset, count, bool(message.get("more_body", False)),
                      given_offset is None)


cdef Py_ssize_t regular_file_size(int fd, object name) except -1:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise RuntimeError(f"not a regular file: {name!r}")
    return info.st_size


async def send_path(HTTPCycle cycle, int fd, Py_ssize_t size):
    try:
        await send_piece(cycle, fd, 0, size, False, False)
    finally:
        os.close(fd)


async def send_piece(HTTPCycle cycle, int fd, Py_ssize_t offset, Py_ssize_t count,
                     bint more_body, bint move_position):
    """``count`` bytes of ``fd`` from ``offset`` as the next part of the body."""
    cdef Stream stream = cycle.stream
    cdef Py_ssize_t start = offset, n
    cdef bytes data
    try:
        if not cycle.response_started:
            start_head(cycle, -1 if more_body else count)
        if carries_no_body(cycle):
            count = 0  # HEAD, 204, 304: the stream would drop the bytes, so none are read
        elif count:
            sending = stream.send_file(cycle, fd, offset, count, more_body)
            if sending is not None:
                try:
                    await sending
                except OSError as exc:
                    # The connection broke under the transfer: what the transport's
                    # connection_lost would tell, told now, so that send() raises from here on.
                    cycle.disconnect()
                    raise ClientDisconnectedError("client disconnected") from exc
                offset += count
                cycle.response_bytes += count
                count = 0
        # What is left goes through send(): read, framed by the stream, paced by its pauses.
        while True:
            n = min(count, CHUNK)
            data = os.pread(fd, n, offset) if n else EMPTY
            if len(data) < n:
                raise RuntimeError(f"the file ended {count - len(data)} bytes early")
            offset += n
            count -= n
            await cycle.send({"type": T_BODY, "body": data,
                              "more_body": more_body or count > 0})
            if count == 0:
                return
            await next_turn(cycle)
    finally:
        if move_position and offset != start:
            os.lseek(fd, offset, os.SEEK_SET)


async def next_turn(HTTPCycle cycle):
    """Let the loop run before the next piece. send() only waits once its stream has
    paused, and a stream that writes from a loop callback (HTTP/2 flushes its frames
    once per turn) cannot pause before that callback has run: without this, the whole
    file would pile up in its buffer within one step of this task. It also lets the
    loop's other connections have their turn between pieces."""
    waiter = cycle.state.runtime.create_waiter()
    cycle.state.call_soon(partial(waiter.set_result, None))
    await waiter


cdef start_head(HTTPCycle cycle, Py_ssize_t length):
    """Send the held head now, with ``length`` as its content-length unless the app gave
    one (a response of unknown length, -1, gets whatever framing its stream picks)."""
    cdef list headers = cycle.pending_headers
    if length >= 0:
        for name, _ in headers:
            if name.lower() == H_CONTENT_LENGTH:
                break
        else:
            # A new list: the app's own (a Response's raw_headers) stays as it gave it.
            headers = headers + [(H_CONTENT_LENGTH, b"%d" % length)]
    cycle.stream.send_head(cycle, cycle.status, headers, EMPTY, True)
    cycle.response_started = True
    cycle.pending_headers = None


cdef bint carries_no_body(HTTPCycle cycle):
    status = cycle.status
    return status == 204 or status == 304 or cycle.scope["method"] == "HEAD"
