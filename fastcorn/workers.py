"""gunicorn worker classes, for teams that keep gunicorn as their process manager.

    gunicorn app:app -k fastcorn.workers.FastcornWorker          # asyncio
    gunicorn app:app -k fastcorn.workers.FastcornUVLoopWorker    # uvloop
    gunicorn app:app -k fastcorn.workers.FastcornTrioWorker      # trio

gunicorn binds and forks; each worker serves the app on gunicorn's sockets with
fastcorn's server. From gunicorn's settings come ``--keep-alive``, ``--graceful-timeout``,
``--backlog``, ``--max-requests`` (with jitter; the worker then shuts down gracefully and
gunicorn starts another), the TLS files and the access log (``--access-logfile``).
The worker notifies gunicorn from its event loop (as fastcorn's own workers beat), so
gunicorn's ``--timeout`` kills a worker whose loop is blocked, not just a dead one.
fastcorn's loggers write through gunicorn's handlers.

fastcorn's own ``--workers`` needs no gunicorn and does more (the replacement serves
before the old worker drains, rolling SIGHUP, memory recycling): see the README.
"""

from __future__ import annotations

import logging
import os
import signal
import ssl
import sys
from typing import Any

from gunicorn.workers.base import Worker

from fastcorn import backends
from fastcorn.config import Config
from fastcorn.supervised import Reporter, RequestCounter, WorkerServer

__all__ = ["FastcornTrioWorker", "FastcornUVLoopWorker", "FastcornWorker"]

_CERT_REQS = {ssl.CERT_NONE: "none", ssl.CERT_OPTIONAL: "optional",
              ssl.CERT_REQUIRED: "required"}


class FastcornWorker(Worker):  # type: ignore[misc]  # gunicorn is untyped
    """A gunicorn worker serving an ASGI app with fastcorn, on asyncio."""

    loop_name = "asyncio"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, source in (("fastcorn.error", self.log.error_log),
                             ("fastcorn.access", self.log.access_log)):
            logger = logging.getLogger(name)
            logger.handlers = source.handlers
            logger.setLevel(source.level)
            logger.propagate = False

    def init_signals(self) -> None:
        # fastcorn's server installs its own SIGINT/SIGTERM handlers on the loop (graceful
        # shutdown); gunicorn's are reset so that they do not swallow them.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, self._quit)  # gunicorn's quick shutdown
        signal.signal(signal.SIGUSR1, self.handle_usr1)  # reopen the log files
        signal.siginterrupt(signal.SIGUSR1, False)

    def _quit(self, signum: int, frame: Any) -> None:
        os._exit(0)

    def config(self) -> Config:
        cfg = self.cfg
        options: dict[str, Any] = {
            "loop": self.loop_name,
            "backlog": cfg.backlog,
            "timeout_keep_alive": float(cfg.keepalive),
            "timeout_graceful_shutdown": float(cfg.graceful_timeout),
            "access_log": bool(cfg.accesslog),
        }
        if cfg.is_ssl:
            options.update(
                ssl_certfile=cfg.certfile, ssl_keyfile=cfg.keyfile or None,
                ssl_ca_certs=cfg.ca_certs or None,
                ssl_cert_reqs=_CERT_REQS.get(cfg.cert_reqs, "none"))
            if cfg.ciphers:
                options["ssl_ciphers"] = cfg.ciphers
        return Config(app=self.wsgi, **options)

    def _notify(self, message: bytes) -> bool:
        """Tell gunicorn this worker's loop runs; False once gunicorn is gone."""
        self.notify()
        return bool(os.getppid() == self.ppid)

    def run(self) -> None:
        config = self.config()
        server = WorkerServer(config)
        server.sockets = [getattr(sock, "sock", sock) for sock in self.sockets]
        server.unix_paths = []  # gunicorn's to unlink
        counter = None
        max_requests = self.max_requests if self.max_requests < sys.maxsize else 0
        if max_requests:
            counter = RequestCounter(server.app)
            server.app = counter
        interval = min(1.0, self.timeout / 4) if self.timeout else 1.0
        Reporter(server, interval, self._notify, counter, max_requests,
                 on_max_requests=server.request_exit)
        code = backends.run(server, backends.resolve_loop(self.loop_name))
        # 3 is also gunicorn's WORKER_BOOT_ERROR: a failed lifespan startup stops gunicorn
        # instead of a respawn loop.
        sys.exit(code)


class FastcornUVLoopWorker(FastcornWorker):
    """A gunicorn worker serving an ASGI app with fastcorn, on uvloop."""

    loop_name = "uvloop"


class FastcornTrioWorker(FastcornWorker):
    """A gunicorn worker serving an ASGI app with fastcorn, on trio."""

    loop_name = "trio"
