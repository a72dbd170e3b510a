"""The supervisor: worker processes on listeners bound once, kept serving.

:func:`run` is where the command and :func:`fastcorn.run` end up. With one worker and no
recycling or reload (the default) it is today's single process: no supervisor, nothing
spawned, nothing on the request path. Otherwise the supervisor

- binds every listener before any app code is imported, and starts the workers with the
  ``spawn`` start method (a fresh interpreter each: no state forked from the parent);
  each worker (:mod:`fastcorn.supervised`) imports the app, runs lifespan and serves on
  the inherited sockets. ``--reuse-port`` gives each worker *slot* its own
  ``SO_REUSEPORT`` listener instead; the supervisor keeps the slot's listener, so the
  replacement of a worker inherits its accept queue and no queued connection is lost;
- reads each worker's heartbeat (sent from the worker's event loop) and kills a worker
  whose loop has been blocked longer than ``--timeout-worker-healthcheck``;
- replaces a worker that died at once; one that dies before serving counts as a startup
  failure: the next attempt waits 0.1 s, doubling up to 5 s, and after
  ``--max-startup-failures`` in a row with a slot left empty the supervisor stops with one
  line saying why (exit status 1);
- recycles a worker (``--max-requests`` with jitter, ``--max-worker-memory``) and restarts
  all of them (SIGHUP, ``--reload``) the same way: the replacement starts, and only once it
  serves is the old worker told to stop accepting and drain, so capacity never drops. A
  rolling restart replaces one worker at a time; if a new worker fails to start (a bad
  deploy, a syntax error), the old ones keep serving;
- SIGTERM/SIGINT: every worker shuts down gracefully, then the supervisor exits 0; a
  second one kills the workers and exits 1 at once. SIGTTIN/SIGTTOU add/remove a worker;
- with metrics on, owns ``--metrics-bind`` and the statsd sender: workers count and send
  their counts with each heartbeat, the supervisor sums them, keeps what exited workers
  counted, and counts the workers it restarts (:class:`fastcorn.metrics.FleetMetrics`).

The supervisor is one thread around a ``selectors`` loop (signals arrive through a
wake-up socket; the reload watcher is a thread that writes to it).
"""

from __future__ import annotations

import logging
import os
import random
import selectors
import signal
import socket
import time
from types import FrameType
from typing import Any

from fastcorn import backends
from fastcorn.config import Config, ConfigError, WorkerSettings
from fastcorn.logging import configure_logging
from fastcorn.metrics import FleetMetrics, MetricsListener, StatsdSender
from fastcorn.server import EXIT_BIND_FAILED, describe
from fastcorn.sockets import BindError, Listeners, bind_listeners, make_socket, reuse_port_copy
from fastcorn.supervised import BEAT, READY, RETIRE, SNAPSHOT, WorkerSpec

logger = logging.getLogger("fastcorn.error")

__all__ = ["PidFile", "Supervisor", "check", "run", "wanted"]

STARTING, SERVING, RETIRING = "starting", "serving", "retiring"
ROLLING_RESTART = "rolling restart"
BACKOFF_FIRST = 0.1  # seconds before the attempt after a first startup failure
BACKOFF_MAX = 5.0
KILL_MARGIN = 5.0  # seconds past the graceful timeout before a stopping worker is killed
MEMORY_CHECK_INTERVAL = 1.0
STATSD_INTERVAL = 1.0
MESSAGE_SIZE = 1 << 18  # the largest message read from a worker (a snapshot is ~10 KiB)
# fastcorn_worker_restarts_total{reason} for each reason a worker is replaced.
RESTART_REASON = {"--max-requests": "max_requests", "--max-worker-memory": "max_worker_memory",
                  ROLLING_RESTART: "rolling_restart"}
EXIT_GAVE_UP = 1
EXIT_SECOND_INTERRUPT = 1
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def wanted(settings: WorkerSettings) -> bool:
    """Whether these options need a supervisor (else one process serves, as always)."""
    return (settings.workers > 1 or settings.reload or settings.max_requests > 0
            or settings.max_worker_memory > 0)


def check(config: Config) -> None:
    """Raise ConfigError (one line) for worker options that cannot work; the command checks
    this before anything binds and before the app is imported."""
    settings = config.processes
    if settings.max_requests_jitter and not settings.max_requests:
        raise ConfigError("--max-requests-jitter needs --max-requests")
    if settings.reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--reuse-port: this system has no SO_REUSEPORT")
    if not wanted(settings):
        return
    if not isinstance(config.app, str):
        raise ConfigError(
            "--workers, --reload, --max-requests and --max-worker-memory need the app as an "
            "import string 'module:attribute' (each worker imports it)")
    if settings.reload:
        from fastcorn.reload import check_reload

        problem = check_reload(settings.reload_dir)
        if problem is not None:
            raise ConfigError(problem)
    if settings.max_worker_memory and not os.path.exists("/proc/self/statm"):
        raise ConfigError("--max-worker-memory reads /proc/PID/statm, which this system "
                          "does not have")


class PidFile:
    """``--pid PATH``: the process' PID in PATH while it runs (written whole, by rename),
    removed at exit if it still names this process."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def __enter__(self) -> PidFile:
        if self.path is not None:
            temporary = f"{self.path}.{os.getpid()}.tmp"
            try:
                with open(temporary, "w") as fh:
                    fh.write(f"{os.getpid()}\n")
                os.replace(temporary, self.path)
            except OSError as exc:
                raise ConfigError(f"--pid: cannot write {self.path}: {exc.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.path is None:
            return
        try:
            with open(self.path) as fh:
                if fh.read().strip() != str(os.getpid()):
                    return
            os.unlink(self.path)
        except OSError:
            pass


def run(config: Config) -> int:
    """Serve ``config``: in this process, or with a supervisor when the worker options ask
    for one; returns the exit code. Raises ConfigError for a bad option (exit status 2)."""
    check(config)
    if not wanted(config.processes):
        from fastcorn import server

        with PidFile(config.processes.pid):
            return server.run(config)
    configure_logging(config.logging.log_level, config.logging.access_log,
                      config.logging.log_config)
    # TLS files are checked before anything binds, as in one process (each worker builds
    # its own context: a rolling restart picks up new certificates).
    from fastcorn.backends.tls import tls_listener

    tls_listener(config.tls)
    metrics_socket = None
    try:
        listeners = bind_listeners(config.server, config.processes.reuse_port)
        metrics_bind = config.metrics.metrics_bind
        if metrics_bind is not None:
            try:
                metrics_socket = make_socket(metrics_bind, 64)
            except OSError as exc:
                listeners.close()
                raise BindError(f"Cannot bind {metrics_bind} (--metrics-bind)", exc) from exc
    except OSError as exc:
        logger.error("%s", exc if isinstance(exc, BindError) else f"Cannot bind: {exc}")
        return EXIT_BIND_FAILED
    try:
        with PidFile(config.processes.pid):
            return Supervisor(config, listeners, metrics_socket).run()
    finally:
        listeners.close()
        listeners.unlink()
        if metrics_socket is not None:
            metrics_socket.close()


class Worker:
    """One worker process as the supervisor sees it."""

    def __init__(self, process: Any, channel: socket.socket, slot: int, generation: int,
                 now: float) -> None:
        self.process = process
        self.pid: int = process.pid
        self.channel = channel
        self.slot = slot
        self.generation = generation
        self.state = STARTING
        self.started = now
        self.last_beat = now
        self.deadline = 0.0  # retiring: killed if still alive then
        self.replaces: Worker | None = None  # the worker retired once this one serves
        self.replaced_by: Worker | None = None  # the replacement starting for this one
        self.wants_replacement: str | None = None  # why, until a replacement serves
        self.kill_reason: str | None = None  # why the supervisor killed it

    @property
    def current(self) -> bool:
        """Serving (or about to) its slot: not stopping, not being replaced."""
        return self.state != RETIRING and self.replaced_by is None


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Supervisor:
    """Runs ``config.processes.workers`` workers on ``listeners`` until told to stop."""

    def __init__(self, config: Config, listeners: Listeners,
                 metrics_socket: socket.socket | None = None) -> None:
        self.config = config
        self.settings = config.processes
        self.target = self.settings.workers
        self.listeners = listeners
        self.slots: dict[int, Listeners] = {0: listeners}  # --reuse-port: one per slot
        self.options = config.flat()
        self.heartbeat = min(1.0, self.settings.timeout_worker_healthcheck / 4)
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.selector = selectors.DefaultSelector()
        self.workers: list[Worker] = []
        self.signals: list[int] = []
        self.generation = 0
        self.failures = 0  # workers in a row that exited before serving
        self.retry_at = 0.0
        self.waiting_for_change = False  # --reload: a worker failed to start
        self.stopping = False
        self.stop_deadline = 0.0
        self.exit_code = 0
        self.killed = False  # a second interrupt: the workers were killed, exit now
        self.memory_checked = 0.0
        self.watcher: Any = None
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, self._drain_wakeups)
        self.lost: dict[int, str] = {}  # slot -> why its worker died (a restart's reason)
        # Metrics: the workers' sum (the endpoint and statsd are the supervisor's).
        self.metrics_socket = metrics_socket
        self.metrics: FleetMetrics | None = None
        self.metrics_listener: MetricsListener | None = None
        self.statsd: StatsdSender | None = None
        self.statsd_flushed = 0.0
        statsd = config.metrics.statsd_host is not None
        if metrics_socket is not None or statsd:
            self.metrics = FleetMetrics(self._serving_count, keep_samples=statsd)
            if statsd:
                self.statsd = StatsdSender(self.metrics, config.metrics)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        previous = self._install_signals()
        try:
            self._announce()
            self._start_metrics()
            if self.settings.reload:
                self._start_watcher()
            for slot in range(self.target):
                self._spawn(slot)
            while self.workers or not self.stopping:
                for key, _ in self.selector.select(self._timeout()):
                    key.data()
                self._handle_signals()
                if self.killed:
                    break
                self._tick(time.monotonic())
        finally:
            self._kill_all()
            self._stop_metrics()
            if self.watcher is not None:
                self.watcher.stop()
            signal.set_wakeup_fd(-1)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.selector.close()
            self.wake_r.close()
            self.wake_w.close()
            for slot, listeners in self.slots.items():
                if slot:
                    listeners.close()
        logger.info("Finished supervisor process [%d]", os.getpid())
        return self.exit_code

    def _announce(self) -> None:
        loop = backends.resolve_loop(self.config.server.loop)
        tls = self.config.tls.certfile is not None
        for sock in self.listeners.sockets:
            secure = tls and sock not in self.listeners.insecure
            logger.info("Supervisor listening on %s", describe(sock, secure))
        mode = ("one SO_REUSEPORT listener per worker" if self.settings.reuse_port
                else "shared listeners")
        logger.info("Started supervisor process [%d]: %d worker%s (loop: %s, %s)",
                    os.getpid(), self.target, "s" if self.target > 1 else "", loop, mode)

    def _start_metrics(self) -> None:
        if self.metrics is None or self.metrics_socket is None:
            return
        self.metrics_listener = MetricsListener(self.metrics_socket, self.metrics)
        self.metrics_listener.start()
        logger.info("Prometheus metrics of every worker on %s/metrics",
                    describe(self.metrics_socket))

    def _stop_metrics(self) -> None:
        if self.metrics_listener is not None:
            self.metrics_listener.stop()
            self.metrics_listener = None
        if self.statsd is not None:
            self.statsd.flush()  # the workers' final counts
            self.statsd.close()
            self.statsd = None

    def _serving_count(self) -> int:
        return sum(1 for worker in list(self.workers) if worker.state == SERVING)

    def _timeout(self) -> float:
        timeout = min(self.heartbeat, 0.5)
        now = time.monotonic()
        if self.retry_at > now:
            timeout = min(timeout, self.retry_at - now)
        return max(timeout, 0.0)

    def _tick(self, now: float) -> None:
        if self.statsd is not None and now - self.statsd_flushed >= STATSD_INTERVAL:
            self.statsd_flushed = now
            self.statsd.flush()
        if self.stopping:
            if now >= self.stop_deadline and self.workers:
                logger.warning("Workers still running %g s after the graceful-shutdown "
                               "timeout: killing them.", KILL_MARGIN)
                self._kill_all()
            return
        if self.watcher is not None:
            changed = self.watcher.take()
            if changed:
                self._reload(changed)
        for worker in list(self.workers):
            if worker.state == SERVING and worker.kill_reason is None:
                silent = now - worker.last_beat
                if silent > self.settings.timeout_worker_healthcheck:
                    worker.kill_reason = (
                        f"its event loop sent no heartbeat for {silent:.1f} s "
                        f"(--timeout-worker-healthcheck "
                        f"{self.settings.timeout_worker_healthcheck:g})")
                    logger.error("Worker [%d] is not responding: %s; killing it.",
                                 worker.pid, worker.kill_reason)
                    self._signal(worker, signal.SIGKILL)
            elif worker.state == RETIRING and now >= worker.deadline:
                logger.warning("Worker [%d] still running %g s after the graceful-shutdown "
                               "timeout: killing it.", worker.pid, KILL_MARGIN)
                worker.deadline = float("inf")
                self._signal(worker, signal.SIGKILL)
        if self.settings.max_worker_memory and now - self.memory_checked >= min(
                MEMORY_CHECK_INTERVAL, self.heartbeat):
            self.memory_checked = now
            self._check_memory()
        self._fill(now)

    # -- starting workers -------------------------------------------------------------------

    def _fill(self, now: float) -> None:
        """Start a worker for every empty slot, and the replacements asked for (one at a
        time for a rolling restart); after a startup failure, one attempt at a time."""
        if self.waiting_for_change or now < self.retry_at:
            return
        probing = self.failures > 0
        starting = sum(1 for worker in self.workers if worker.state == STARTING)
        for slot in range(self.target):
            if probing and starting:
                return
            if not any(worker.slot == slot and worker.current for worker in self.workers):
                self._spawn(slot)
                starting += 1
        rolling = any(worker.state == STARTING and worker.replaces is not None
                      and worker.replaces.wants_replacement == ROLLING_RESTART
                      for worker in self.workers)
        for worker in list(self.workers):
            if probing and starting:
                return
            if (worker.state == SERVING and worker.wants_replacement is not None
                    and worker.replaced_by is None):
                if worker.wants_replacement == ROLLING_RESTART:
                    if rolling:
                        continue
                    rolling = True
                self._spawn(worker.slot, replaces=worker)
                starting += 1

    def _slot_listeners(self, slot: int) -> Listeners:
        if not self.settings.reuse_port:
            return self.listeners
        if slot not in self.slots:
            self.slots[slot] = reuse_port_copy(self.listeners, self.config.server.backlog)
        return self.slots[slot]

    def _spawn(self, slot: int, replaces: Worker | None = None) -> None:
        from fastcorn import supervised

        now = time.monotonic()
        listeners = self._slot_listeners(slot)
        # SOCK_SEQPACKET: a worker's messages arrive whole and one at a time.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        max_requests = self.settings.max_requests
        if max_requests:
            max_requests += random.randint(0, self.settings.max_requests_jitter)
        spec = WorkerSpec(
            app=str(self.config.app), options=self.options, sockets=listeners.sockets,
            insecure=[index for index, sock in enumerate(listeners.sockets)
                      if sock in listeners.insecure],
            channel=theirs, heartbeat=self.heartbeat, max_requests=max_requests)
        process = self.context.Process(target=supervised.main, args=(spec,),
                                       name=f"fastcorn-worker-{slot}")
        try:
            process.start()
        except OSError as exc:
            ours.close()
            logger.error("Cannot start a worker: %s", exc)
            self.failures += 1
            self.retry_at = now + self._backoff()
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        worker = Worker(process, ours, slot, self.generation, now)
        if replaces is not None:
            worker.replaces = replaces
            replaces.replaced_by = worker
            reason: str | None = RESTART_REASON.get(replaces.wants_replacement or "")
        else:
            reason = self.lost.pop(slot, None)  # None: a first start, or SIGTTIN
        if reason is not None and self.metrics is not None:
            self.metrics.restarted(reason)
        self.workers.append(worker)
        self.selector.register(process.sentinel, selectors.EVENT_READ,
                               lambda: self._exited(worker))
        self.selector.register(ours, selectors.EVENT_READ, lambda: self._message(worker))
        if replaces is not None:
            logger.info("Started worker [%d] to replace worker [%d] (%s)", worker.pid,
                        replaces.pid, replaces.wants_replacement)
        else:
            logger.info("Started worker [%d]", worker.pid)

    def _backoff(self) -> float:
        return float(min(BACKOFF_FIRST * 2 ** (self.failures - 1), BACKOFF_MAX))

    # -- what workers say -------------------------------------------------------------------

    def _message(self, worker: Worker) -> None:
        """Read every message the worker sent so far."""
        while worker.channel.fileno() != -1:  # -1: reaped earlier in this turn
            try:
                data = worker.channel.recv(MESSAGE_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the worker is exiting; its sentinel tells when it is gone
                self.selector.unregister(worker.channel)
                worker.channel.close()
                return
            now = time.monotonic()
            if data == BEAT:
                worker.last_beat = now
            elif data.startswith(SNAPSHOT):
                if self.metrics is not None:
                    self.metrics.update(worker.pid, data[len(SNAPSHOT):])
            elif data == READY and worker.state == STARTING:
                self._serving(worker, now)
            elif (data == RETIRE and worker.state == SERVING
                  and worker.wants_replacement is None):
                worker.wants_replacement = "--max-requests"

    def _serving(self, worker: Worker, now: float) -> None:
        worker.state = SERVING
        worker.last_beat = now
        self.failures = 0
        self.retry_at = 0.0
        old = worker.replaces
        worker.replaces = None
        if worker.generation < self.generation and worker.wants_replacement is None:
            worker.wants_replacement = ROLLING_RESTART  # a SIGHUP came while it started
        was_rolling = old is not None and old.wants_replacement == ROLLING_RESTART
        if old is not None:
            self._retire(old, f"replaced by worker [{worker.pid}]")
        serving = sum(1 for each in self.workers if each.state == SERVING and each.current)
        logger.info("Worker [%d] serving (%d of %d)", worker.pid, serving, self.target)
        if was_rolling and not any(each.current and each.wants_replacement == ROLLING_RESTART
                                   for each in self.workers):
            logger.info("Rolling restart complete: %d workers serving", serving)

    def _exited(self, worker: Worker) -> None:
        if worker not in self.workers:
            return  # already handled (its sentinel and a kill in one turn)
        self.workers.remove(worker)
        # The sentinel is readable once the process closed its descriptors, a moment
        # before it can be reaped.
        worker.process.join(1.0)
        status = describe_exit(worker.process.exitcode)
        self.selector.unregister(worker.process.sentinel)
        self._message(worker)  # its last words: the final snapshot may still be unread
        if self.metrics is not None:
            self.metrics.worker_exited(worker.pid)
        if worker.channel.fileno() != -1:
            self.selector.unregister(worker.channel)
            worker.channel.close()
        if worker.process.exitcode is not None:
            worker.process.close()
        old, new = worker.replaces, worker.replaced_by
        if old is not None:
            old.replaced_by = None  # the replacement died before serving: the old one stays
        if new is not None:
            new.replaces = None  # the old one died first: its replacement has the slot
        if self.stopping or worker.state == RETIRING:
            logger.info("Worker [%d] exited (%s)", worker.pid, status)
            if worker.slot >= self.target and worker.slot and not any(
                    each.slot == worker.slot for each in self.workers):
                self._close_slot(worker.slot)
        elif worker.state == STARTING:
            if old is None:
                self.lost[worker.slot] = "startup_failed"
            self._startup_failed(worker, status, old)
        else:
            if new is None:
                self.lost[worker.slot] = "unresponsive" if worker.kill_reason else "died"
            reason = worker.kill_reason or status
            logger.warning("Worker [%d] died (%s): starting a replacement.", worker.pid,
                           reason)

    def _startup_failed(self, worker: Worker, status: str, old: Worker | None) -> None:
        self.failures += 1
        limit = self.settings.max_startup_failures
        if self.settings.reload:
            logger.error("Worker [%d] failed to start (%s): waiting for a file change.",
                         worker.pid, status)
            self.waiting_for_change = True
            return
        empty = [slot for slot in range(self.target)
                 if not any(each.slot == slot and each.current for each in self.workers)]
        if self.failures < limit:
            delay = self._backoff()
            self.retry_at = time.monotonic() + delay
            logger.warning("Worker [%d] failed to start (%s): trying again in %.1f s "
                           "(%d of %d).", worker.pid, status, delay, self.failures, limit)
            return
        if empty:
            logger.error("Giving up: %d workers in a row failed to start (the last: %s); "
                         "see the worker's output above.", self.failures, status)
            self.exit_code = EXIT_GAVE_UP
            self._stop()
            return
        # Only replacements failed: the workers running the old code keep serving.
        logger.error("Not replacing workers: %d in a row failed to start (the last: %s); "
                     "the %d running workers keep serving.", self.failures, status,
                     len(self.workers))
        for each in self.workers:
            each.wants_replacement = None
        self.failures = 0

    def _check_memory(self) -> None:
        limit = self.settings.max_worker_memory
        for worker in self.workers:
            if worker.state != SERVING or worker.wants_replacement is not None:
                continue
            try:
                with open(f"/proc/{worker.pid}/statm") as fh:
                    rss = int(fh.read().split()[1]) * _PAGE_SIZE / (1 << 20)
            except (OSError, ValueError, IndexError):
                continue
            if rss > limit:
                logger.warning("Worker [%d] uses %.0f MiB of memory (--max-worker-memory "
                               "%g): replacing it.", worker.pid, rss, limit)
                worker.wants_replacement = "--max-worker-memory"

    # -- stopping workers -------------------------------------------------------------------

    def _signal(self, worker: Worker, sig: int) -> None:
        try:
            os.kill(worker.pid, sig)
        except ProcessLookupError:
            pass

    def _retire(self, worker: Worker, why: str) -> None:
        """Tell a worker to stop accepting, drain and exit (SIGTERM)."""
        if worker.state == RETIRING:
            return
        worker.state = RETIRING
        worker.deadline = (time.monotonic() + self.config.timeouts.graceful_shutdown
                           + KILL_MARGIN)
        logger.info("Stopping worker [%d] gracefully: %s", worker.pid, why)
        self._signal(worker, signal.SIGTERM)

    def _close_slot(self, slot: int) -> None:
        listeners = self.slots.pop(slot, None)
        if listeners is not None:
            for sock in listeners.sockets:
                if sock not in self.listeners.sockets:
                    sock.close()

    def _stop(self) -> None:
        self.stopping = True
        self.stop_deadline = (time.monotonic() + self.config.timeouts.graceful_shutdown
                              + KILL_MARGIN)
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        for worker in self.workers:
            worker.state = RETIRING
            self._signal(worker, signal.SIGTERM)

    def _kill_all(self) -> None:
        for worker in self.workers:
            self._signal(worker, signal.SIGKILL)
        for worker in list(self.workers):
            worker.process.join(5)
            self._exited(worker)

    # -- signals and reload -----------------------------------------------------------------

    def _install_signals(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN,
                    signal.SIGTTOU):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)

    def _drain_wakeups(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if sig in (signal.SIGINT, signal.SIGTERM):
                if self.stopping:
                    logger.warning("Second interrupt: killing the workers and exiting.")
                    self.exit_code = EXIT_SECOND_INTERRUPT
                    self.killed = True
                    self._kill_all()
                    return
                logger.info("Shutting down %d workers (%s; interrupt again to exit at "
                            "once).", len(self.workers), signal.Signals(sig).name)
                self._stop()
            elif self.stopping:
                continue
            elif sig == signal.SIGHUP:
                self._rolling_restart("SIGHUP")
            elif sig == signal.SIGTTIN:
                self.target += 1
                logger.info("SIGTTIN: %d workers", self.target)
            elif sig == signal.SIGTTOU:
                if self.target == 1:
                    logger.info("SIGTTOU: keeping the last worker")
                    continue
                self.target -= 1
                self.lost.pop(self.target, None)
                logger.info("SIGTTOU: %d workers", self.target)
                for worker in self.workers:
                    if worker.slot >= self.target:
                        self._retire(worker, "SIGTTOU")
                # --reuse-port: the slot's listener leaves the kernel's group now, not once
                # the worker is gone, so that no new connection waits in it meanwhile.
                self._close_slot(self.target)

    def _rolling_restart(self, why: str) -> None:
        self.generation += 1
        self.waiting_for_change = False
        self.failures = 0
        self.retry_at = 0.0
        marked = 0
        for worker in self.workers:
            if worker.current:
                worker.wants_replacement = ROLLING_RESTART
                marked += 1
        logger.info("Rolling restart of %d workers (%s)", marked, why)

    def _start_watcher(self) -> None:
        from fastcorn.reload import Watcher, watch_dirs

        dirs = watch_dirs(self.settings.reload_dir, self.config.server.app_dir)
        self.watcher = Watcher(dirs, self.settings.reload_include,
                               self.settings.reload_exclude, self._wake)
        self.watcher.start()
        logger.info("Watching for file changes in %s", ", ".join(dirs))

    def _wake(self) -> None:
        try:
            self.wake_w.send(b"w")
        except OSError:
            pass

    def _reload(self, changed: list[str]) -> None:
        shown = ", ".join(os.path.relpath(path) for path in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        self._rolling_restart(f"changed: {shown}{more}")

