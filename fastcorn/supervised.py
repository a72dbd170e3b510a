"""One worker process: a :class:`fastcorn.server.Server` on sockets it was handed, which
reports to whoever manages it from its own event loop.

Used by the supervisor (:mod:`fastcorn.supervisor`, whose spawned children start in
:func:`main`) and by the gunicorn worker classes (:mod:`fastcorn.workers`). The parent
bound the listeners; the worker imports the app, runs lifespan and serves on them.

The reports are a task on the server's own runtime (``runtime.start`` / ``runtime.sleep``,
on asyncio, uvloop and trio alike), not a thread: a heartbeat that stops arriving means
the loop itself is blocked, which is what the supervisor's health check is for. Nothing
is added on the request path, except under ``--max-requests``: one counter increment per
request (:class:`RequestCounter`). With metrics on, each heartbeat also carries the
worker's cumulative counts (:meth:`fastcorn.metrics.Metrics.snapshot`), read from what the
compiled recorder counted: the supervisor serves the one endpoint and sends to statsd.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastcorn import backends
from fastcorn.asgi.cycle import ServerState
from fastcorn.backends.base import ServerRuntime
from fastcorn.config import Config
from fastcorn.importer import AppImportError
from fastcorn.logging import configure_logging, name_worker_process
from fastcorn.server import EXIT_USAGE, Server

logger = logging.getLogger("fastcorn.error")

# What a worker tells its supervisor: one message each on a SOCK_SEQPACKET pair (which
# keeps their boundaries), one byte but for a snapshot.
READY = b"r"  # every listener accepts
BEAT = b"h"  # the event loop ran (sent every heartbeat interval)
RETIRE = b"m"  # --max-requests reached: please start my replacement, then stop me
SNAPSHOT = b"s"  # followed by the worker's metrics (every heartbeat, and once drained)

# Seconds between a worker closing its listeners and closing its idle connections.
SETTLE = 0.1


class RequestCounter:
    """The app, counting the requests it is called for (only under ``--max-requests``).

    A plain callable returning the app's own coroutine: no extra frame awaits per request.
    """

    __slots__ = ("app", "count", "asgi_version")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0
        self.asgi_version = getattr(app, "asgi_version", "3.0")

    def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope["type"] != "lifespan":
            self.count += 1
        return self.app(scope, receive, send)


class WorkerServer(Server):
    """A server whose shutdown is the supervisor's to decide.

    Ctrl-C in a terminal reaches every process of the foreground group, and the
    supervisor then sends SIGTERM as well: both mean one graceful shutdown here. A worker
    is never told twice to stop; the supervisor kills it when it wants it gone at once.
    """

    def on_signal(self) -> None:
        if not self.exit_requested:
            logger.info("Shutting down.")
            self.request_exit()

    async def _drain(self, runtime: ServerRuntime, state: ServerState) -> None:
        # The other workers keep serving the listeners: a connection this one accepted just
        # before closing its copy is a client already served by no one else. Give such
        # connections a moment to deliver their first request (then answered with
        # ``connection: close``) before idle connections are closed: closing one whose
        # request sits unread resets it (a recycled worker under load did).
        runtime.close_listeners()
        await runtime.sleep(SETTLE)
        await super()._drain(runtime, state)


class Reporter:
    """A worker's reports, sent from its event loop: ``on_loop_start`` starts the
    heartbeat task, ``on_serving`` says ready. ``send(message)`` delivers one report;
    ``lost()`` is called once if the manager is gone (the worker then shuts down)."""

    def __init__(self, server: Server, interval: float, send: Callable[[bytes], bool],
                 counter: RequestCounter | None = None, max_requests: int = 0,
                 on_max_requests: Callable[[], None] | None = None,
                 publish: Callable[[], None] | None = None) -> None:
        self.server = server
        self.interval = interval
        self.send = send
        self.counter = counter
        self.max_requests = max_requests
        self.on_max_requests = on_max_requests
        self.publish = publish  # sends the metrics, after each heartbeat
        self.runtime: ServerRuntime | None = None
        self.retire_asked = False
        server.on_loop_start = self.start
        server.on_serving = self.serving

    def start(self, runtime: ServerRuntime) -> None:
        self.runtime = runtime
        runtime.start(self.beat)

    def serving(self) -> None:
        self.report(READY)

    def report(self, message: bytes) -> None:
        if not self.send(message) and not self.server.exit_requested:
            logger.warning("The supervisor is gone: shutting down.")
            self.server.request_exit()

    async def beat(self) -> None:
        runtime = self.runtime
        assert runtime is not None
        while True:
            self.report(BEAT)
            if self.publish is not None:
                self.publish()
            counter = self.counter
            if (counter is not None and not self.retire_asked
                    and counter.count >= self.max_requests):
                self.retire_asked = True
                logger.info("Served %d requests (--max-requests %d): asking for a "
                            "replacement.", counter.count, self.max_requests)
                if self.on_max_requests is not None:
                    self.on_max_requests()
                else:
                    self.report(RETIRE)
            await runtime.sleep(self.interval)


@dataclass
class WorkerSpec:
    """What the supervisor hands a worker it spawns (pickled; the sockets travel as
    inherited file descriptors)."""

    app: str
    options: dict[str, Any]  # Config's flat options
    sockets: list[socket.socket]
    insecure: list[int]  # indices in ``sockets`` of the cleartext listeners beside TLS
    channel: socket.socket  # this worker's end of its (SOCK_SEQPACKET) pair
    heartbeat: float  # seconds between heartbeats
    max_requests: int  # 0: no limit (the supervisor applied the jitter)


def _channel_sender(channel: socket.socket) -> Callable[[bytes], bool]:
    def send(message: bytes) -> bool:
        try:
            channel.send(message)
        except BlockingIOError:
            pass  # the supervisor is behind; the next beat says the same
        except OSError:
            return False  # the supervisor's end is closed: it is gone
        return True

    return send


def _metrics_publisher(server: Server, channel: socket.socket) -> Callable[[], None]:
    def publish() -> None:
        if server.metrics is None:
            return  # not yet serving
        try:
            channel.send(SNAPSHOT + server.metrics.snapshot())
        except OSError:
            pass  # behind: the next one has the same totals; gone: the heartbeat says so

    return publish


def run_worker(spec: WorkerSpec) -> int:
    """Serve as one of the supervisor's workers; returns the exit code."""
    # The supervisor decides when a worker stops: the terminal's Ctrl-C during the import
    # must not end it with a KeyboardInterrupt traceback (the server's own handlers replace
    # this once the loop runs); SIGTTIN/SIGTTOU are the supervisor's (their default stops
    # the process), and SIGHUP is a rolling restart there (without TLS, nothing to reload).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTTIN, signal.SIGTTOU, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    config = Config(spec.app, **spec.options)
    configure_logging(config.logging.log_level, config.logging.access_log,
                      config.logging.log_config)
    name_worker_process()
    try:
        server = WorkerServer(config)
    except AppImportError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    except Exception as exc:
        traceback.print_exc()
        logger.error("Importing app %r raised %s: %s", spec.app, type(exc).__name__, exc)
        return EXIT_USAGE
    server.sockets = list(spec.sockets)
    # Listeners shared with the other workers (not --reuse-port): the backends accept one
    # connection per wake-up, so a burst spreads over the workers.
    server.shared_accept = not config.processes.reuse_port
    server.insecure = [spec.sockets[index] for index in spec.insecure]
    server.unix_paths = []  # the supervisor's to unlink: other workers still serve them
    counter = None
    if spec.max_requests:
        counter = RequestCounter(server.app)
        server.app = counter
    spec.channel.setblocking(False)
    server.reports_metrics = False  # the supervisor serves them and sends them to statsd
    metrics_on = config.metrics.metrics_bind is not None or config.metrics.statsd_host
    publish = _metrics_publisher(server, spec.channel) if metrics_on else None
    Reporter(server, spec.heartbeat, _channel_sender(spec.channel), counter,
             spec.max_requests, publish=publish)
    try:
        return backends.run(server, backends.resolve_loop(config.server.loop))
    finally:
        for sock in server.sockets:
            sock.close()
        if publish is not None:
            # Drained: these are the final counts, which the supervisor keeps in its totals.
            spec.channel.settimeout(1.0)
            publish()
        spec.channel.close()


def main(spec: WorkerSpec) -> None:
    """The spawned worker process' entry point."""
    sys.exit(run_worker(spec))
