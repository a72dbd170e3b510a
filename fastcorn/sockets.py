"""Listening sockets: made once, by the process that owns them.

A single server binds its own listeners (:meth:`fastcorn.server.Server.bind`); the
supervisor binds them before any app is imported and hands them to its workers
(:mod:`fastcorn.supervisor`). Both come here, so a listener is set up one way only:
``SO_REUSEADDR`` and ``TCP_NODELAY`` on TCP, ``IPV6_V6ONLY`` on IPv6, a stale unix socket
file replaced.

With ``--reuse-port`` the supervisor gives every worker slot its own ``SO_REUSEPORT``
listener on the same address (:func:`reuse_port_copy`), so that the kernel spreads new
connections over them by a hash of the connection's addresses. Unix sockets and an
inherited ``--fd`` cannot be duplicated that way and stay shared.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from fastcorn.config import ServerSettings, split_host_port

__all__ = ["BindError", "Listeners", "bind_listeners", "make_socket", "reuse_port_copy",
           "set_nodelay"]


class BindError(OSError):
    """A listener could not be set up; str() names the address and the reason, and
    ``errno`` is the underlying error's."""

    def __init__(self, what: str, cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        super().__init__(f"{what}: {reason[:1].lower()}{reason[1:]}")
        self.errno = cause.errno


def set_nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY on a listener, which Linux passes on to every socket it accepts.

    Without it, a response written in more than one piece (a streamed body, pipelined
    answers) waits for the client's delayed ACK: ~40 ms per exchange.
    """
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def make_socket(address: str, backlog: int, reuse_port: bool = False) -> socket.socket:
    """Bind and listen on 'HOST:PORT', '[V6]:PORT' or 'unix:PATH' (``reuse_port``: with
    ``SO_REUSEPORT``, on TCP only)."""
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
    else:
        host, port = split_host_port(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            set_nodelay(sock)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
        except BaseException:
            sock.close()
            raise
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


@dataclass
class Listeners:
    """The listening sockets of one server (or one worker slot).

    ``insecure`` are the cleartext ones beside TLS (``--insecure-bind``), a subset of
    ``sockets``; ``unix_paths`` the socket files to unlink once nobody serves them.
    """

    sockets: list[socket.socket] = field(default_factory=list)
    insecure: list[socket.socket] = field(default_factory=list)
    unix_paths: list[str] = field(default_factory=list)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def unlink(self) -> None:
        for path in self.unix_paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def bind_listeners(config: ServerSettings, reuse_port: bool = False) -> Listeners:
    """Every listener the options ask for: ``--fd``, ``--bind`` (or ``--host``/``--port``)
    and ``--insecure-bind``. Raises :class:`BindError` naming the address, with nothing
    left open."""
    bound = Listeners()
    try:
        if config.fd is not None:
            try:
                sock = socket.socket(fileno=config.fd)
            except OSError as exc:
                raise BindError(f"Cannot use file descriptor {config.fd}", exc) from exc
            sock.setblocking(False)
            set_nodelay(sock)
            bound.sockets.append(sock)
        addresses = list(config.bind)
        if not addresses and config.fd is None:
            host = f"[{config.host}]" if ":" in config.host else config.host
            addresses = [f"{host}:{config.port}"]
        secure = [(address, False) for address in addresses]
        for address, insecure in secure + [(a, True) for a in config.insecure_bind]:
            try:
                sock = make_socket(address, config.backlog, reuse_port)
            except OSError as exc:
                raise BindError(f"Cannot bind {address}", exc) from exc
            bound.sockets.append(sock)
            if insecure:
                bound.insecure.append(sock)
            if address.startswith("unix:"):
                bound.unix_paths.append(address[len("unix:"):])
    except BaseException:
        bound.close()
        raise
    return bound


def reuse_port_copy(base: Listeners, backlog: int) -> Listeners:
    """One more worker slot's listeners: a new ``SO_REUSEPORT`` listener on the address of
    every TCP listener of ``base`` (bound with ``reuse_port``), the others shared."""
    copy = Listeners(unix_paths=[])
    try:
        for sock in base.sockets:
            reusable = (sock.family in (socket.AF_INET, socket.AF_INET6)
                        and sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))
            if reusable:
                host, port = sock.getsockname()[:2]
                address = f"[{host}]:{port}" if sock.family == socket.AF_INET6 else (
                    f"{host}:{port}")
                try:
                    new = make_socket(address, backlog, reuse_port=True)
                except OSError as exc:
                    raise BindError(f"Cannot bind {address} (SO_REUSEPORT)", exc) from exc
            else:
                new = sock
            copy.sockets.append(new)
            if sock in base.insecure:
                copy.insecure.append(new)
    except BaseException:
        for sock in copy.sockets:
            if sock not in base.sockets:
                sock.close()
        raise
    return copy
