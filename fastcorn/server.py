"""Binding, serving and graceful shutdown, once for every backend.

A backend supplies a *runtime*: :class:`fastcorn.backends.base.ServerRuntime`, which is the
cores' :class:`fastcorn.asgi.types.Runtime` plus what the server needs to run (``sleep``,
``wait``, ``listen``, ``close_listeners``, ``abort_all``, signal handling). Everything in
this module is written against that interface; the first core of each connection comes
from :func:`fastcorn.protocol.negotiate.connection_factory`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from email.utils import formatdate
from typing import Any, cast

from fastcorn import backends
from fastcorn.asgi.cycle import ServerState
from fastcorn.asgi.lifespan import Lifespan, LifespanFailure
from fastcorn.backends.base import ServerRuntime
from fastcorn.backends.tls import TLSListener, tls_listener
from fastcorn.config import Config, split_host_port
from fastcorn.importer import load_app
from fastcorn.logging import (
    AppErrorLogger,
    configure_logging,
    debug_enabled,
    log_access,
    log_connection,
    log_rejected,
    trace_app,
    trace_enabled,
)
from fastcorn.protocol.negotiate import alpn_protocols, connection_factory

logger = logging.getLogger("fastcorn.error")

# Exit codes (README, "Exit codes"): 0 after a clean shutdown; 1 when the server cannot
# serve (bind failure, an unexpected error, a second interrupt); 2 for a usage error (the
# CLI's, and a bad --log-config); 3 when the app's lifespan startup failed.
EXIT_BIND_FAILED = 1
EXIT_USAGE = 2
EXIT_STARTUP_FAILED = 3


class BindError(OSError):
    """A listener could not be set up; str() names the address and the reason, and
    ``errno`` is the underlying error's."""

    def __init__(self, what: str, cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        super().__init__(f"{what}: {reason[:1].lower()}{reason[1:]}")
        self.errno = cause.errno


def make_socket(address: str, backlog: int) -> socket.socket:
    """Bind and listen on 'HOST:PORT', '[V6]:PORT' or 'unix:PATH'."""
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
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        set_nodelay(sock)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def set_nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY on a listener, which Linux passes on to every socket it accepts.

    Without it, a response written in more than one piece (a streamed body, pipelined
    answers) waits for the client's delayed ACK: ~40 ms per exchange.
    """
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def describe(sock: socket.socket, tls: bool = False) -> str:
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}" + (" (TLS)" if tls else "")
    scheme = "https" if tls else "http"
    if sock.family == socket.AF_INET6:
        return f"{scheme}://[{name[0]}]:{name[1]}"
    return f"{scheme}://{name[0]}:{name[1]}"

def date_headers(server_header: bool) -> list[tuple[bytes, bytes]]:
    """The server-wide default headers, as fields: each protocol encodes them its own way."""
    date = (b"date", formatdate(usegmt=True).encode("ascii"))
    return [date, (b"server", b"fastcorn")] if server_header else [date]


class Server:
    """One server: its sockets, its state, and the serve / shutdown sequence."""

    def __init__(self, config: Config, tls: TLSListener | None = None) -> None:
        self.config = config
        # Before the app is imported and anything binds: a bad certificate is a usage error.
        self.tls = tls if tls is not None else tls_listener(config.tls, alpn_protocols(config))
        self.app = load_app(config.app, config.server.app_dir, config.server.factory)
        self.sockets: list[socket.socket] = []
        self.insecure: list[socket.socket] = []  # --insecure-bind: cleartext beside TLS
        self.unix_paths: list[str] = []  # unlinked at shutdown (closed sockets forget their names)
        self.state: ServerState | None = None
        self.runtime: ServerRuntime | None = None
        self.exit_waiter: Any = None
        self.exit_requested = False
        self.signals_seen = 0
        self.lifespan_state: dict[str, Any] = {}

    def bind(self) -> None:
        config = self.config.server
        if self.sockets:
            return
        if config.fd is not None:
            try:
                sock = socket.socket(fileno=config.fd)
            except OSError as exc:
                raise BindError(f"Cannot use file descriptor {config.fd}", exc) from exc
            sock.setblocking(False)
            set_nodelay(sock)
            self.sockets.append(sock)
        addresses = list(config.bind)
        if not addresses and config.fd is None:
            host = f"[{config.host}]" if ":" in config.host else config.host
            addresses = [f"{host}:{config.port}"]
        for address in addresses:
            try:
                sock = make_socket(address, config.backlog)
            except OSError as exc:
                raise BindError(f"Cannot bind {address}", exc) from exc
            self.sockets.append(sock)
            if address.startswith("unix:"):
                self.unix_paths.append(address[len("unix:"):])
        for address in config.insecure_bind:
            try:
                sock = make_socket(address, config.backlog)
            except OSError as exc:
                raise BindError(f"Cannot bind {address}", exc) from exc
            self.sockets.append(sock)
            self.insecure.append(sock)
            if address.startswith("unix:"):
                self.unix_paths.append(address[len("unix:"):])

    def reload_tls(self) -> None:
        """SIGHUP: new connections get a context built from the certificate files now."""
        if self.tls is not None:
            self.tls.reload("SIGHUP")

    def request_exit(self) -> None:
        """Begin a graceful shutdown (the first SIGINT/SIGTERM, or the embedding program)."""
        self.exit_requested = True
        if self.exit_waiter is not None and not self.exit_waiter.done():
            self.exit_waiter.set_result(None)

    def request_exit_threadsafe(self) -> None:
        """request_exit() from another thread (an embedding program's, or a test's)."""
        if self.runtime is None:
            self.exit_requested = True
        else:
            self.runtime.call_soon_threadsafe(self.request_exit)

    def on_signal(self) -> None:
        self.signals_seen += 1
        if self.signals_seen > 1:
            logger.warning("Second interrupt: exiting at once.")
            os._exit(1)
        logger.info("Shutting down (interrupt again to exit at once).")
        self.request_exit()

    async def serve(self, runtime: ServerRuntime) -> int:
        """Start up, serve until asked to stop, shut down gracefully; returns the exit code."""
        config = self.config
        self.runtime = runtime
        self.exit_waiter = runtime.create_waiter()
        if self.exit_requested:
            self.exit_waiter.set_result(None)
        # Before anything else: a SIGTERM during startup must still mean a graceful exit.
        await runtime.install_signal_handlers(
            self.on_signal, self.reload_tls if self.tls is not None else None)
        logger.info("Started server process [%d]", os.getpid())
        if debug_enabled():
            logger.debug("Loop %s; options: %s", runtime.name, ", ".join(
                f"{name}={'***' if 'password' in name and value else value!r}"
                for name, value in config.flat().items()))
        # App errors go through it: on trio it turns "this app needs asyncio" into one line.
        app_logger = AppErrorLogger(runtime.name)
        app = trace_app(self.app) if trace_enabled() else self.app  # ASGI messages at trace
        state = ServerState(
            app, runtime,
            root_path=config.server.root_path,
            access_log=config.logging.access_log,
            log_access=log_access if config.logging.access_log else None,
            error_logger=cast(logging.Logger, app_logger),
            timeout_keep_alive=config.timeouts.keep_alive,
            timeout_request_head=config.timeouts.request_head,
            timeout_request_body=config.timeouts.request_body,
            timeout_write=config.timeouts.write,
            limit_request_head=config.http1.limit_request_head,
            limit_concurrency=config.limits.concurrency,
            lifespan_state=self.lifespan_state,
            default_headers=date_headers(config.http1.server_header),
            asgi_version=getattr(self.app, "asgi_version", "3.0"),
            **_log_hooks(),
        )
        self.state = state
        lifespan = Lifespan(app, runtime, config.server.lifespan, self.lifespan_state, app_logger)
        try:
            await lifespan.startup()
        except LifespanFailure as exc:
            logger.error("Application startup failed: %s", exc)
            logger.info("Finished server process [%d]", os.getpid())
            return EXIT_STARTUP_FAILED
        state.now = runtime.time()
        runtime.start(self._tick)
        cores = connection_factory(state, config)
        if self.tls is None:
            await runtime.listen(self.sockets, cores)
        else:
            secure = [sock for sock in self.sockets if sock not in self.insecure]
            await runtime.listen(secure, connection_factory(state, config, tls=True), self.tls)
            if self.insecure:
                await runtime.listen(self.insecure, cores)
        for sock in self.sockets:
            tls = self.tls is not None and sock not in self.insecure
            logger.info("fastcorn listening on %s (loop: %s)", describe(sock, tls),
                        runtime.name)
        # Signal handlers stay in place while draining: a second interrupt exits at once.
        await self.exit_waiter
        await self._drain(runtime, state)
        await lifespan.shutdown()
        logger.info("Finished server process [%d]", os.getpid())
        return 0

    async def _drain(self, runtime: ServerRuntime, state: ServerState) -> None:
        runtime.close_listeners()
        for path in self.unix_paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        state.shutting_down = True
        for conn in list(state.connections):
            conn.shutdown()
        # Wait until no connection, request or app call is left (the state wakes the waiter
        # as the last one goes), up to the deadline. An app may still run after its
        # response completed (background tasks, a framework closing the response in a
        # thread): it is waited for too, so that the loop does not close under it.
        if state.connections or state.active_requests or state.running_apps:
            state.drain_waiter = runtime.create_waiter()
            await runtime.wait(state.drain_waiter, self.config.timeouts.graceful_shutdown)
            state.drain_waiter = None
        if state.connections or state.active_requests or state.running_apps:
            logger.warning("Graceful shutdown timed out: closing %d connection(s).",
                           len(state.connections))
            for conn in list(state.connections):
                conn.abort()
            runtime.abort_all()
            await runtime.sleep(0)

    async def _tick(self) -> None:
        """Once a second: a new Date header, and the sweep that expires connection timeouts."""
        state = self.state
        assert state is not None
        runtime = self.runtime
        assert runtime is not None
        while True:
            await runtime.sleep(1.0 - time.time() % 1.0)
            state.default_headers = date_headers(self.config.http1.server_header)
            state.check_timeouts(runtime.time())
            if self.tls is not None:
                self.tls.check_files()  # certificate rotation by replacing the files


def _log_hooks() -> dict[str, Any]:
    """The compiled core's optional logging hooks, for the ones this build of it takes.

    ``log_rejected`` is always passed (rejections are rare); ``log_connection`` only at
    debug level, so the core's whole cost when debug is off is one ``is None`` test.
    """
    hooks = {
        "log_rejected": log_rejected,
        "log_connection": log_connection if debug_enabled() else None,
    }
    return {name: hook for name, hook in hooks.items() if hasattr(ServerState, name)}


def run(config: Config, tls: TLSListener | None = None) -> int:
    """Serve until shut down; returns the process exit code (the CLI's and fastcorn.run's).

    A bad ``log_config`` file or TLS certificate raises ConfigError (the CLI's exit status
    2). ``tls``: the listener the CLI already built from ``config.tls`` (else built here).
    """
    configure_logging(config.logging.log_level, config.logging.access_log,
                      config.logging.log_config)
    loop = backends.resolve_loop(config.server.loop)
    server = Server(config, tls)
    try:
        server.bind()
    except OSError as exc:
        logger.error("%s", exc if isinstance(exc, BindError) else f"Cannot bind: {exc}")
        return EXIT_BIND_FAILED
    try:
        return backends.run(server, loop)
    except KeyboardInterrupt:
        return 1
    finally:
        for sock in server.sockets:
            sock.close()


async def serve(app: Any, config: Config | None = None, **options: Any) -> int:
    """Serve inside an already running asyncio or trio program; returns the exit code.

    It logs as :func:`run` does, through the ``fastcorn.*`` loggers: with fastcorn's own
    stderr handlers, unless the program configured logging itself or gave ``log_config``.
    """
    if config is None:
        config = Config(app=app, **options)
    elif app is not None:
        config.app = app
    configure_logging(config.logging.log_level, config.logging.access_log,
                      config.logging.log_config)
    server = Server(config)
    try:
        server.bind()
    except OSError as exc:
        for sock in server.sockets:
            sock.close()
        logger.error("%s", exc if isinstance(exc, BindError) else f"Cannot bind: {exc}")
        return EXIT_BIND_FAILED
    try:
        # The backend of the loop running this task (the registry tells which it is).
        return await backends.serve(server)
    finally:
        for sock in server.sockets:
            sock.close()
