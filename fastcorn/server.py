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
from collections.abc import Callable
from email.utils import formatdate
from typing import Any, cast

from fastcorn import backends, gcpolicy
from fastcorn.asgi.cycle import ServerState
from fastcorn.asgi.lifespan import Lifespan, LifespanFailure
from fastcorn.asgi.proxy import ProxyPolicy
from fastcorn.backends.base import ServerRuntime
from fastcorn.backends.tls import TLSListener, tls_listener
from fastcorn.config import Config
from fastcorn.envfile import load_env_file
from fastcorn.importer import load_app
from fastcorn.logging import (
    AppErrorLogger,
    access_log_request,
    configure_logging,
    debug_enabled,
    log_access,
    log_connection,
    log_rejected,
    log_request_default,
    trace_app,
    trace_enabled,
)
from fastcorn.metrics import Metrics, MetricsListener, StatsdSender
from fastcorn.metrics import install as install_metrics
from fastcorn.protocol.negotiate import alpn_protocols, connection_factory
from fastcorn.sockets import BindError, bind_listeners, make_socket, set_nodelay

__all__ = ["BindError", "Server", "make_socket", "run", "serve", "set_nodelay"]

logger = logging.getLogger("fastcorn.error")

# Exit codes (README, "Exit codes"): 0 after a clean shutdown; 1 when the server cannot
# serve (bind failure, an unexpected error, a second interrupt); 2 for a usage error (the
# CLI's, and a bad --log-config); 3 when the app's lifespan startup failed.
EXIT_BIND_FAILED = 1
EXIT_USAGE = 2
EXIT_STARTUP_FAILED = 3


def describe(sock: socket.socket, tls: bool = False) -> str:
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}" + (" (TLS)" if tls else "")
    scheme = "https" if tls else "http"
    if sock.family == socket.AF_INET6:
        return f"{scheme}://[{name[0]}]:{name[1]}"
    return f"{scheme}://{name[0]}:{name[1]}"

def date_headers(server_header: bool, date_header: bool = True,
                 extra: tuple[tuple[bytes, bytes], ...] = ()) -> list[tuple[bytes, bytes]]:
    """The server-wide default headers, as fields: each protocol encodes them its own way
    (a new list each second; HTTP/1.1 encodes it once per list). ``extra``: --header."""
    given = {name for name, _ in extra}  # --header server:... replaces ours
    fields = []
    if date_header and b"date" not in given:
        fields.append((b"date", formatdate(usegmt=True).encode("ascii")))
    if server_header and b"server" not in given:
        fields.append((b"server", b"fastcorn"))
    fields.extend(extra)
    return fields


def extra_headers(headers: tuple[str, ...]) -> tuple[tuple[bytes, bytes], ...]:
    """--header NAME:VALUE options as fields (names lowercased, as every protocol sends)."""
    fields = []
    for header in headers:
        name, _, value = header.partition(":")
        fields.append((name.strip().lower().encode("ascii"), value.strip().encode("ascii")))
    return tuple(fields)


class Server:
    """One server: its sockets, its state, and the serve / shutdown sequence."""

    def __init__(self, config: Config, tls: TLSListener | None = None) -> None:
        self.config = config
        # Before the app is imported and anything binds: a bad certificate is a usage error.
        self.tls = tls if tls is not None else tls_listener(config.tls, alpn_protocols(config))
        if config.server.env_file is not None:
            load_env_file(config.server.env_file)  # the CLI did it already: a no-op then
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
        # Set by a worker process (fastcorn.supervised, fastcorn.workers): called with the
        # runtime as soon as the loop runs, and once every listener accepts.
        self.on_loop_start: Callable[[ServerRuntime], None] | None = None
        self.on_serving: Callable[[], None] | None = None
        # Set by a worker whose listeners other worker processes share (fastcorn.supervised):
        # the backends then accept one connection per wake-up.
        self.shared_accept = False
        self._extra_headers = extra_headers(config.http1.header)
        self.metrics_socket: socket.socket | None = None  # --metrics-bind
        self.metrics: Metrics | None = None
        self.statsd: StatsdSender | None = None
        # False in a supervised worker: it counts, the supervisor serves and sends.
        self.reports_metrics = True

    def bind(self) -> None:
        if self.sockets:
            return
        bound = bind_listeners(self.config.server, self.config.processes.reuse_port)
        self.sockets, self.insecure, self.unix_paths = (
            bound.sockets, bound.insecure, bound.unix_paths)
        metrics_bind = self.config.metrics.metrics_bind
        if metrics_bind is not None:
            try:
                self.metrics_socket = make_socket(metrics_bind, 64)
            except OSError as exc:
                raise BindError(f"Cannot bind {metrics_bind} (--metrics-bind)", exc) from exc

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
        if self.on_loop_start is not None:
            self.on_loop_start(runtime)
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
            default_headers=self.default_headers(),
            asgi_version=getattr(self.app, "asgi_version", "3.0"),
            **_log_hooks(),
        )
        if config.logging.access_log and config.logging.access_log_format is not None:
            state.log_request = access_log_request(config.logging.access_log_format)
        metrics_on = config.metrics.metrics_bind is not None or config.metrics.statsd_host
        if metrics_on:
            access_hook = state.log_request
            if access_hook is None and config.logging.access_log:
                access_hook = log_request_default
            self.metrics = install_metrics(state, config.metrics.statsd_host is not None,
                                           access_hook)
            if config.metrics.statsd_host is not None and self.reports_metrics:
                self.statsd = StatsdSender(self.metrics, config.metrics)
        state.proxy = ProxyPolicy(config.proxy.forwarded_allow_ips,
                                  config.proxy.proxy_headers, config.proxy.proxy_protocol)
        self.state = state
        lifespan = Lifespan(app, runtime, config.server.lifespan, self.lifespan_state, app_logger)
        try:
            await lifespan.startup()
        except LifespanFailure as exc:
            logger.error("Application startup failed: %s", exc)
            logger.info("Finished server process [%d]", os.getpid())
            return EXIT_STARTUP_FAILED
        gcpolicy.tune()  # after the app's import and startup: its own GC settings win
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
        listener = None
        if self.metrics_socket is not None and self.metrics is not None:
            listener = MetricsListener(self.metrics_socket, self.metrics)
            listener.start()
            logger.info("Prometheus metrics on %s/metrics", describe(self.metrics_socket))
        if self.on_serving is not None:
            self.on_serving()
        # Signal handlers stay in place while draining: a second interrupt exits at once.
        try:
            await self.exit_waiter
            await self._drain(runtime, state)
        finally:
            if listener is not None:
                listener.stop()
            if self.statsd is not None:
                self.statsd.flush()
                self.statsd.close()
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

    def default_headers(self) -> list[tuple[bytes, bytes]]:
        http1 = self.config.http1
        return date_headers(http1.server_header, http1.date_header, self._extra_headers)

    async def _tick(self) -> None:
        """Once a second: a new Date header, and the sweep that expires connection timeouts."""
        state = self.state
        assert state is not None
        runtime = self.runtime
        assert runtime is not None
        while True:
            await runtime.sleep(1.0 - time.time() % 1.0)
            state.default_headers = self.default_headers()
            state.check_timeouts(runtime.time())
            gcpolicy.follow(len(state.connections))
            if self.statsd is not None:
                self.statsd.flush()
            max_requests = self.config.limits.max_requests
            if (max_requests is not None and state.total_requests >= max_requests
                    and not self.exit_requested):
                logger.info("Served %d requests (--limit-max-requests): shutting down.",
                            state.total_requests)
                self.request_exit()
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
