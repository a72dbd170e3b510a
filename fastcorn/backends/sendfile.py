"""``sendfile(2)`` onto an asyncio or uvloop transport's socket (fastcorn.protocol.base.SendsFiles).

asyncio's ``loop.sendfile`` is not used: uvloop does not implement it, and on asyncio's
own loop a transport aborted under it leaves its future pending for good. So both loops
share this: the file goes to a duplicate of the socket's descriptor once the transport's
buffer is empty, in as large pieces as the kernel takes, waiting for writability on that
duplicate (neither loop lets a second watcher onto a transport's own descriptor). The
duplicate is only written while ``transport.is_closing()`` is false, so nothing reaches a
connection the transport has given up; and it is closed as soon as the transfer ends, so
it never holds a closed connection open for long.

While the socket is full the core is told ``pause_writing()``, and ``resume_writing()``
on progress, exactly as a transport does for its buffer, so that its write timeout covers
a client that stops reading. A wait re-checks the transport every RECHECK seconds: a
transport closed under a stalled transfer (that timeout) ends it within that time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import Any

RECHECK = 1.0


def transport_sendfile(loop: asyncio.AbstractEventLoop, transport: Any, fd: int,
                       offset: int, count: int) -> Awaitable[None] | None:
    """The asyncio runtimes' ``sendfile``: None on TLS or where there is no socket."""
    # A wrapper (the PROXY preamble's addresses) keeps the loop's transport as .transport:
    # the file goes to that one's socket, behind that one's buffer.
    transport = getattr(transport, "transport", transport)
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or transport.is_closing():
        return None
    return _send(loop, transport, sock.fileno(), fd, offset, count)


async def _send(loop: asyncio.AbstractEventLoop, transport: Any, sock_fd: int, fd: int,
                offset: int, count: int) -> None:
    out = os.dup(sock_fd)
    protocol = transport.get_protocol()
    paused = False
    try:
        while count > 0:
            if transport.is_closing():
                raise ConnectionResetError("the connection closed while a file was sent")
            if not transport.get_write_buffer_size():  # what was written before goes first
                try:
                    sent = os.sendfile(out, fd, offset, count)
                except BlockingIOError:
                    sent = -1
                except OSError:
                    transport.abort()
                    raise
                if sent == 0:
                    raise EOFError(f"the file ended {count} bytes early")
                if sent > 0:
                    offset += sent
                    count -= sent
                    if paused:
                        paused = False
                        protocol.resume_writing()
                    continue
                if not paused:
                    paused = True
                    protocol.pause_writing()
            await _writable(loop, out)
    finally:
        os.close(out)
        if paused:
            protocol.resume_writing()


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Until ``fd`` can be written or RECHECK seconds have passed."""
    waiter = loop.create_future()
    loop.add_writer(fd, _wake, waiter)
    timer = loop.call_later(RECHECK, _wake, waiter)
    try:
        await waiter
    finally:
        loop.remove_writer(fd)
        timer.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
