"""The trio backend: the same protocol cores, fed from trio's socket readiness.

The core writes synchronously. ``TrioTransport.write`` tries a non-blocking ``send`` at
once, which empties the buffer in the common case without a task switch; only a partial
send starts a flusher task that waits for the socket to become writable.

The read loop yields to the scheduler once it has read READ_SIZE bytes without waiting,
so that the app task a request spawned runs before the body is buffered: an app that
answers an upload without reading it (413) gets to do so long before the core's limit.
Small reads (the keep-alive hot path) cost no extra trip through the scheduler.

An HTTP/1.1 connection's apps run on one task of the connection's, one after another
(fastcorn.backends.trio_runner, given to the core by ``TrioRuntime.spawner``), rather
than on a new task per request; HTTP/2 streams and WebSockets get a task each (``spawn``).

TLS keeps that design: :class:`TrioTLSTransport` runs a sans-IO ``ssl.SSLObject`` over two
``ssl.MemoryBIO``s inside the transport. Ciphertext read from the socket goes into the
incoming BIO and the plaintext it yields to the core; ``write`` encrypts at once into the
outgoing BIO and sends that through the same non-blocking send and flusher as cleartext.
(``trio.SSLStream`` would force every write through an awaiting task.) The handshake runs
before the core exists, so its ``connection_made`` sees the negotiated ``ssl_object``.
Under --proxy-protocol, the PROXY preamble is read off the socket before the handshake
(fastcorn.backends.preamble), within the handshake timeout; the ClientHello after it stays
in the socket and reaches the incoming BIO as usual.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from fastcorn.backends.accept import CLOSED, RETRY_NOW, AcceptBackoff
from fastcorn.backends.base import ServerRuntime
from fastcorn.backends.preamble import take_preamble
from fastcorn.backends.tls import PLAIN_HTTP_RESPONSE, TLS_HANDSHAKE_RECORD, TLSListener
from fastcorn.backends.trio_runner import APP_TASK_NAME, AppRunner, run_app
from fastcorn.protocol.base import Core, CoreFactory, PreambleRead, Transport, preamble_gate

READ_SIZE = 65536
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
# After answering plain HTTP on a TLS port: read and drop the client's request for at most
# this long before closing, so that unread input does not turn the close into an RST that
# destroys the answer (nginx's lingering close).
PLAIN_HTTP_LINGER = 1.0

logger = logging.getLogger("fastcorn.error")


class TrioWaiter:
    """The asyncio-Future subset the ASGI cycle waits with: done, set_result, await."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = trio.Event()

    def done(self) -> bool:
        return self.event.is_set()

    def set_result(self, _value: object) -> None:
        self.event.set()

    def __await__(self) -> Any:
        return self.event.wait().__await__()


class TrioTransport:
    """The cores' Transport (fastcorn.protocol.base) over a non-blocking socket.

    ``protocol`` is whichever core has the connection now: a hand-over replaces it, and
    every event goes to the current one.
    """

    def __init__(self, sock: socket.socket, protocol: Core, nursery: trio.Nursery) -> None:
        self.sock = sock
        self.protocol = protocol
        self.nursery = nursery
        self.buffer = bytearray()
        self.flushing = False
        self.closing = False
        self.closed = False
        self.reading_paused = False
        self.resume_event: trio.Event | None = None
        self.writing_paused = False
        self.eof_written = False  # write_eof() was called: shut the write side once flushed
        # Something was written since the connection's loop last read: the peer is in a
        # request-and-response rhythm rather than streaming its input (see serve_connection).
        self.answered = False
        # A file is being sent (sendfile): writes meanwhile wait in the buffer, after it.
        self.sending_file = False
        self.flushed: trio.Event | None = None  # set once the flusher has emptied the buffer
        self.closed_event: trio.Event | None = None  # see wait_closed()
        self.runner = AppRunner(nursery)  # runs the apps of HTTP/1.1 requests in turn
        try:
            self.peername = sock.getpeername()
        except OSError:
            self.peername = None
        self.sockname = sock.getsockname()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.peername
        if name == "sockname":
            return self.sockname
        if name == "socket":
            return self.sock
        return default

    def set_protocol(self, protocol: Core) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Core:
        return self.protocol

    def write(self, data: bytes | bytearray) -> None:
        if self.closed or self.closing:
            return
        if self.eof_written:
            raise RuntimeError("Cannot call write() after write_eof()")  # as asyncio's
        self.answered = True
        if not self.buffer and not self.sending_file:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.abort()
                return
            if sent == len(data):
                return
            self.buffer += memoryview(data)[sent:]
        else:
            self.buffer += data
        if not self.flushing and not self.sending_file:
            self.flushing = True
            self.nursery.start_soon(self._flush)
        if len(self.buffer) > HIGH_WATER and not self.writing_paused:
            self.writing_paused = True
            self.protocol.pause_writing()

    async def _flush(self) -> None:
        try:
            while self.buffer and not self.closed:
                await trio.lowlevel.wait_writable(self.sock)
                try:
                    sent = self.sock.send(self.buffer)
                except BlockingIOError:
                    continue
                except OSError:
                    self.abort()
                    return
                del self.buffer[:sent]
                if self.writing_paused and len(self.buffer) <= LOW_WATER:
                    self.writing_paused = False
                    self.protocol.resume_writing()
        except (trio.ClosedResourceError, OSError):
            self.abort()
        finally:
            self.flushing = False
            if self.flushed is not None:
                self.flushed.set()
        if self.closing:
            self.abort()
        elif self.eof_written and not self.closed:
            self._shutdown_write()

    def sendfile(self, fd: int, offset: int, count: int) -> Awaitable[None] | None:
        """``count`` bytes of ``fd`` from ``offset`` by ``sendfile(2)``, after what is
        buffered (fastcorn.protocol.base.SendsFiles); None once closing."""
        if self.closed or self.closing or self.sending_file:
            return None
        return self._sendfile(fd, offset, count)

    async def _sendfile(self, fd: int, offset: int, count: int) -> None:
        while self.flushing and not self.closed:  # what was written before goes first
            self.flushed = trio.Event()
            await self.flushed.wait()
        self.flushed = None
        self.sending_file = True
        try:
            while count > 0:
                if self.closed:
                    raise ConnectionResetError("the connection closed while a file was sent")
                try:
                    sent = os.sendfile(self.sock.fileno(), fd, offset, count)
                except BlockingIOError:
                    # Full: the core hears of it as of a full buffer (its write timeout).
                    if not self.writing_paused:
                        self.writing_paused = True
                        self.protocol.pause_writing()
                    await trio.lowlevel.wait_writable(self.sock)
                    continue
                except OSError:
                    self.abort()
                    raise
                if sent == 0:
                    raise EOFError(f"the file ended {count} bytes early")
                offset += sent
                count -= sent
                if self.writing_paused:
                    self.writing_paused = False
                    self.protocol.resume_writing()
        except trio.ClosedResourceError as exc:  # aborted under the wait
            raise ConnectionResetError("the connection closed while a file was sent") from exc
        finally:
            self.sending_file = False
            if self.writing_paused and not self.buffer:
                self.writing_paused = False
                self.protocol.resume_writing()
            if self.buffer and not self.closed and not self.flushing:
                self.flushing = True
                self.nursery.start_soon(self._flush)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """Half-close: send what is buffered, then FIN; the read side stays open."""
        if self.closing or self.closed or self.eof_written:
            return
        self.eof_written = True
        if not self.buffer:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the peer is gone: the reader will see it

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False
        if self.resume_event is not None:
            self.resume_event.set()

    def is_closing(self) -> bool:
        return self.closing or self.closed

    def close(self) -> None:
        """Close once everything written has been sent."""
        self.closing = True
        if not self.buffer:
            self.abort()

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.buffer.clear()
        trio.lowlevel.notify_closing(self.sock)  # wakes the reader waiting on it
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.resume_event is not None:
            self.resume_event.set()
        if self.closed_event is not None:
            self.closed_event.set()

    async def wait_closed(self) -> None:
        """Until close() or abort() has closed the socket."""
        if not self.closed:
            self.closed_event = trio.Event()
            await self.closed_event.wait()


class TrioTLSTransport(TrioTransport):
    """TrioTransport with TLS inside: an ``ssl.SSLObject`` between the core and the socket.

    ``write`` encrypts into the outgoing BIO and hands the ciphertext to the cleartext
    ``write`` (a non-blocking send, the rest to the flusher), so the core still writes
    synchronously and backpressure counts the TLS bytes not yet sent.
    """

    def __init__(self, sock: socket.socket, protocol: Core, nursery: trio.Nursery,
                 context: ssl.SSLContext, sslobj: ssl.SSLObject,
                 outgoing: ssl.MemoryBIO) -> None:
        super().__init__(sock, protocol, nursery)
        self.context = context
        self.sslobj = sslobj
        self.outgoing = outgoing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        # asyncio's names and values ("sslcontext" is the listener's context, as there).
        if name == "ssl_object":
            return self.sslobj
        if name == "sslcontext":
            return self.context
        if name == "peercert":
            return self.sslobj.getpeercert()
        if name == "cipher":
            return self.sslobj.cipher()
        if name == "compression":
            return self.sslobj.compression()
        return super().get_extra_info(name, default)

    def write(self, data: bytes | bytearray) -> None:
        if self.closed or self.closing:
            return
        if self.eof_written:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        try:
            self.sslobj.write(data)
        except ssl.SSLError:
            self.abort()  # the TLS session is broken: nothing more can be sent on it
            return
        TrioTransport.write(self, self.outgoing.read())

    def flush_tls(self) -> None:
        """Send what the TLS layer wrote on its own (an alert, a key update's answer)."""
        if self.outgoing.pending and not (self.closed or self.closing or self.eof_written):
            TrioTransport.write(self, self.outgoing.read())

    def _close_notify(self) -> None:
        if self.closed or self.closing or self.eof_written:
            return
        try:
            self.sslobj.unwrap()  # queues close_notify; the peer's answer is not waited for
        except (ssl.SSLError, ValueError):
            pass
        if self.outgoing.pending:
            TrioTransport.write(self, self.outgoing.read())

    def write_eof(self) -> None:
        """close_notify, then what is buffered, then FIN; reading goes on."""
        self._close_notify()
        super().write_eof()

    def close(self) -> None:
        """close_notify, then close once everything written has been sent."""
        self._close_notify()
        super().close()


def _peername(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None


def _describe(sock: socket.socket) -> str:
    try:
        peer = sock.getpeername()
    except OSError:
        return "a client"
    if isinstance(peer, tuple):
        return f"{peer[0]}:{peer[1]}"
    return str(peer) or "a unix client"


async def _send_all(sock: socket.socket, data: bytes) -> None:
    """Send everything now (the handshake's flights: there is no core to pause yet)."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
            continue
        view = view[sent:]


async def _answer_plain_http(sock: socket.socket) -> None:
    """nginx's 400 to a client speaking plain HTTP on the TLS port, then a lingering close."""
    try:
        sock.send(PLAIN_HTTP_RESPONSE)  # small: fits in an empty socket buffer
        sock.shutdown(socket.SHUT_WR)
        with trio.move_on_after(PLAIN_HTTP_LINGER):
            while True:
                try:
                    if not sock.recv(READ_SIZE):
                        return  # the client closed: no RST
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(sock)
    except OSError:
        pass


async def _handshake(sock: socket.socket, sslobj: ssl.SSLObject, incoming: ssl.MemoryBIO,
                     outgoing: ssl.MemoryBIO) -> bool:
    """Drive the server side of the handshake; False when the connection is to be closed
    (plain HTTP, the client left, or the handshake failed: one debug line, no traceback)."""
    await trio.lowlevel.wait_readable(sock)
    first = sock.recv(1, socket.MSG_PEEK)
    if not first:
        return False
    if first[0] != TLS_HANDSHAKE_RECORD:
        logger.debug("Plain HTTP request on a TLS port from %s", _describe(sock))
        await _answer_plain_http(sock)
        return False
    while True:
        try:
            sslobj.do_handshake()  # the context's sni_callback (rotation) runs in here
            done = True
        except ssl.SSLWantReadError:
            done = False
        except ssl.SSLError as exc:
            if outgoing.pending:  # the alert saying why
                try:
                    sock.send(outgoing.read())
                except OSError:
                    pass
            logger.debug("TLS handshake with %s failed: %s", _describe(sock),
                         exc.reason or exc)
            return False
        if outgoing.pending:
            await _send_all(sock, outgoing.read())
        if done:
            return True
        try:
            data = sock.recv(READ_SIZE)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)
            continue
        if not data:
            logger.debug("TLS handshake with %s failed: the client closed the connection",
                         _describe(sock))
            return False
        incoming.write(data)


async def _read_preamble(sock: socket.socket, reading: PreambleRead) -> CoreFactory | None:
    """The connection's preamble ahead of TLS; the factory of its first core, or None when
    it is to be closed (logged)."""
    while True:
        await trio.lowlevel.wait_readable(sock)
        done = take_preamble(sock, reading)
        if done is None:
            return None
        if done:
            return reading.cores()


async def _wait_for_input(transport: TrioTransport, sock: socket.socket) -> bool:
    """Until the core resumes reading, or the socket is readable; False once it is closed."""
    try:
        if transport.reading_paused:
            transport.resume_event = trio.Event()
            await transport.resume_event.wait()
        else:
            await trio.lowlevel.wait_readable(sock)
    except (trio.ClosedResourceError, OSError):
        return False
    return True


def _end_connection(transport: TrioTransport) -> None:
    transport.abort()
    transport.runner.close()
    transport.protocol.connection_lost(None)
    # As asyncio's transports do: no reference cycle left for the garbage collector.
    transport.protocol = None  # type: ignore[assignment]


async def serve_tls_connection(sock: socket.socket, cores: CoreFactory, nursery: trio.Nursery,
                               tls: TLSListener) -> None:
    reading: PreambleRead | None = None
    gate = preamble_gate(cores)
    if gate is not None:  # --proxy-protocol: the preamble first, from trusted peers only
        reading = gate.open_preamble(_peername(sock), sock.getsockname())
        if reading is None:
            sock.close()
            return
    incoming = ssl.MemoryBIO()
    outgoing = ssl.MemoryBIO()
    sslobj = tls.context.wrap_bio(incoming, outgoing, server_side=True)
    try:
        ok = False
        with trio.move_on_after(tls.handshake_timeout) as scope:
            if reading is not None:
                preambled = await _read_preamble(sock, reading)
                if preambled is not None:
                    cores = preambled
                    reading = None
                    ok = await _handshake(sock, sslobj, incoming, outgoing)
            else:
                ok = await _handshake(sock, sslobj, incoming, outgoing)
        if scope.cancelled_caught:
            if reading is not None:
                reading.refuse(f"no PROXY header within the TLS handshake timeout "
                               f"({tls.handshake_timeout:g} s)")
            else:
                logger.debug("TLS handshake with %s timed out", _describe(sock))
    except OSError as exc:  # a reset mid-handshake
        logger.debug("TLS handshake with %s failed: %s", _describe(sock), exc)
        ok = False
    finally:
        if not ok:  # also when cancelled (shutdown) while handshaking
            sock.close()
    if not ok:
        return
    first = cores()
    transport = TrioTLSTransport(sock, first, nursery, tls.context, sslobj, outgoing)
    checked: Transport = transport  # mypy checks TrioTLSTransport against the interface here
    first.connection_made(checked)  # after the handshake, as asyncio's TLS transport does
    unyielded = 0
    drained = False  # the socket is taken to be empty (see serve_connection)
    try:
        while not transport.closed:
            if not transport.reading_paused:
                # What the incoming BIO still holds first (a paused core leaves some). Not
                # when it is empty: the SSLWantReadError that read() would raise costs
                # about as much as decrypting a small request.
                if not (incoming.pending or incoming.eof or sslobj.pending()):
                    data = None
                else:
                    try:
                        data = sslobj.read(READ_SIZE)
                    except ssl.SSLWantReadError:  # a partial record: wait for the rest
                        data = None
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                        data = b""  # close_notify, or a FIN without one: the client is done
                    except ssl.SSLError as exc:
                        logger.debug("TLS error from %s: %s", _describe(sock),
                                     exc.reason or exc)
                        transport.flush_tls()
                        break
                    if outgoing.pending:
                        transport.flush_tls()
                if data is not None:
                    if not data:
                        if transport.protocol.eof_received():
                            await transport.wait_closed()
                        break
                    transport.protocol.data_received(data)
                    unyielded += len(data)
                    if unyielded >= READ_SIZE:
                        await trio.lowlevel.checkpoint()
                        unyielded = 0
                    continue
                if not drained:
                    try:
                        raw = sock.recv(READ_SIZE)
                    except BlockingIOError:
                        raw = None
                    except OSError:
                        break
                    if raw is not None:
                        if raw:
                            incoming.write(raw)
                            drained = transport.answered and len(raw) < READ_SIZE
                            transport.answered = False
                        else:
                            incoming.write_eof()  # sslobj.read() says how the client ended
                        continue
            drained = False
            unyielded = 0
            if not await _wait_for_input(transport, sock):
                break
    finally:
        _end_connection(transport)


async def serve_connection(sock: socket.socket, cores: CoreFactory,
                           nursery: trio.Nursery, tls: TLSListener | None = None) -> None:
    if tls is not None:
        await serve_tls_connection(sock, cores, nursery, tls)
        return
    first = cores()
    transport = TrioTransport(sock, first, nursery)
    checked: Transport = transport  # mypy checks TrioTransport against the interface here
    first.connection_made(checked)
    unyielded = 0  # bytes read since this task last yielded to the scheduler
    drained = False  # the socket is taken to be empty: wait before reading again
    try:
        while not transport.closed:
            if not transport.reading_paused and not drained:
                try:
                    data = sock.recv(READ_SIZE)
                except BlockingIOError:
                    data = None
                except OSError:
                    break
                if data is not None:
                    if not data:
                        # The client is done sending. The core keeps the connection open
                        # while a response is due (it closes the transport once sent) and
                        # says so; otherwise it is gone. Either way, read no more.
                        if transport.protocol.eof_received():
                            await transport.wait_closed()
                        break
                    # A short read left the socket empty. If the connection answered
                    # between this read and the last, the client is waiting for an answer
                    # in turn: what it sends next replies to a response not written yet,
                    # and a read now fails (EAGAIN). Wait for readiness instead: a syscall
                    # and an exception fewer per request (strace; callgrind, wrk hello:
                    # 122,743 -> 115,633 instructions). A client streaming its input (an
                    # upload, no answer between reads) is read again at once: waiting
                    # for each piece through epoll cost 50% more CPU there.
                    drained = transport.answered and len(data) < READ_SIZE
                    transport.answered = False
                    transport.protocol.data_received(data)
                    unyielded += len(data)
                    if unyielded >= READ_SIZE:
                        # A fast sender: let the app task that a request spawned run (an
                        # app may answer 413 without reading) before reading on.
                        await trio.lowlevel.checkpoint()
                        unyielded = 0
                    continue
            drained = False
            unyielded = 0  # both waits below yield
            if not await _wait_for_input(transport, sock):
                break
    finally:
        _end_connection(transport)


class TrioRuntime:
    name = "trio"

    def __init__(self, system: trio.Nursery, connections: trio.Nursery) -> None:
        self.system = system
        self.connections = connections
        # One per accept loop (a CancelScope can be entered only once): listen() may be
        # given several sockets, and is called again for the cleartext ones beside TLS.
        self.accept_scopes: list[trio.CancelScope] = []
        self.accept_one = False  # set when worker processes share the listeners
        self.listeners: list[socket.socket] = []
        self.token = trio.lowlevel.current_trio_token()
        # The one exception an app task may let through: this backend cancelling it.
        self.cancelled_error = trio.Cancelled
        # call_soon(fn): runs fn from the run loop once the current task yields.
        self.call_soon = self.token.run_sync_soon
        # spawn(coroutine): called per request, so a partial with no Python frame of ours.
        # trio >= 0.23 types start_soon(fn, *args) with a TypeVarTuple that mypy binds to the
        # partial's given arguments only (none), so it rejects the one-argument run_app.
        # The task's name is given: trio would otherwise format "module.qualname" of
        # run_app for every request.
        self.spawn = functools.partial(connections.start_soon, run_app,  # type: ignore[arg-type]
                                       name=APP_TASK_NAME)
        self.spawn_eager = self.spawn  # trio has no eager tasks

    # -- the Runtime interface (fastcorn.asgi.types; spawn is bound in __init__) --

    def spawner(self, transport: Any) -> Callable[[Any], Any]:
        # HTTP/1.1's apps come one at a time: the connection's runner task runs them
        # (fastcorn.backends.trio_runner), not a new task each.
        transport = getattr(transport, "transport", transport)  # the PROXY preamble's wrapper
        if isinstance(transport, TrioTransport):
            return transport.runner.spawn
        return self.spawn_eager

    def cancel(self, task: Any) -> None:
        pass  # app tasks are cancelled together, with the connections nursery

    def create_waiter(self) -> TrioWaiter:
        return TrioWaiter()

    # -- fastcorn.protocol.base.SendsFiles --
    def sendfile(self, transport: Any, fd: int, offset: int,
                 count: int) -> Awaitable[None] | None:
        # A wrapper (the PROXY preamble's addresses) keeps the real one as .transport.
        transport = getattr(transport, "transport", transport)
        # A TrioTLSTransport encrypts in Python: the kernel cannot send its file.
        if type(transport) is not TrioTransport:
            return None
        return transport.sendfile(fd, offset, count)

    # -- the server's --
    def start(self, async_fn: Callable[[], Any]) -> None:
        self.system.start_soon(async_fn)

    def call_soon_threadsafe(self, fn: Callable[[], Any]) -> None:
        self.token.run_sync_soon(fn)

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def wait(self, waiter: Any, timeout: float) -> bool:
        with trio.move_on_after(timeout):
            await waiter
            return True
        return False

    def time(self) -> float:
        return trio.current_time()

    async def listen(self, sockets: list[socket.socket], cores: CoreFactory,
                     tls: TLSListener | None = None) -> None:
        """Accept on ``sockets``; with ``tls``, every connection is TLS (its context and
        handshake timeout)."""
        for sock in sockets:
            self.listeners.append(sock)
            scope = trio.CancelScope()
            self.accept_scopes.append(scope)
            self.connections.start_soon(self._accept_loop, sock, cores, tls, scope)

    async def _accept_loop(self, listener: socket.socket, cores: CoreFactory,
                           tls: TLSListener | None, scope: trio.CancelScope) -> None:
        tcp = listener.family in (socket.AF_INET, socket.AF_INET6)
        backoff = AcceptBackoff()
        with scope:
            while True:
                try:
                    sock, _ = listener.accept()
                except BlockingIOError:
                    try:
                        await trio.lowlevel.wait_readable(listener)
                    except (trio.ClosedResourceError, OSError):
                        return  # close_listeners() closed it
                    continue
                except OSError as exc:
                    if exc.errno in RETRY_NOW:
                        continue
                    if exc.errno in CLOSED or listener.fileno() == -1:
                        return
                    # Out of descriptors or memory: the listener stays readable, so wait.
                    await trio.sleep(backoff.failed(exc))
                    continue
                if backoff.delay:
                    backoff.delay = 0.0
                sock.setblocking(False)
                if tcp:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connections.start_soon(serve_connection, sock, cores, self.connections,
                                            tls)
                if self.accept_one:
                    # Workers share this listener: one connection per wake-up (see
                    # asyncio's accept_batch), the next once the loop has turned.
                    await trio.lowlevel.checkpoint()

    def close_listeners(self) -> None:
        """Stop accepting and close the listening sockets: new connections are refused
        at once, not left in the backlog until the process exits."""
        for scope in self.accept_scopes:
            scope.cancel()
        for sock in self.listeners:
            if sock.fileno() != -1:
                trio.lowlevel.notify_closing(sock)  # wakes an accept loop waiting on it
                sock.close()
        self.listeners.clear()

    def abort_all(self) -> None:
        self.connections.cancel_scope.cancel()

    async def install_signal_handlers(self, handler: Callable[[], None],
                                      reload: Callable[[], None] | None = None) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        # start(), not start_soon(): the handlers are in place when this returns.
        await self.system.start(self._watch_signals, handler, reload)

    async def _watch_signals(self, handler: Callable[[], None],
                             reload: Callable[[], None] | None = None,
                             task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        watched = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if reload else ())
        with trio.open_signal_receiver(*watched) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP and reload is not None:
                    reload()
                else:
                    handler()


async def _connections_nursery(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    # Connections and their apps live here, apart from serve() itself, so that cancelling
    # them at the graceful-shutdown deadline leaves lifespan shutdown to run.
    async with trio.open_nursery() as nursery:
        task_status.started(nursery)
        await trio.sleep_forever()


async def serve(server: Any, name: str = "trio") -> int:
    async with trio.open_nursery() as system:
        connections = await system.start(_connections_nursery)
        # Typed as the interface: mypy checks TrioRuntime against ServerRuntime here.
        trio_runtime = TrioRuntime(system, connections)
        trio_runtime.accept_one = getattr(server, "shared_accept", False)
        runtime: ServerRuntime = trio_runtime
        code = await server.serve(runtime)
        system.cancel_scope.cancel()
    return int(code)


def run(server: Any, name: str) -> int:
    return trio.run(serve, server)
