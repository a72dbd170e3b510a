"""Worker processes under the supervisor (``--workers``), on every backend.

Real processes, real signals, real load: ``Load`` runs client threads that each send
``GET`` on a new connection (``connection: close``) as fast as they can, and records
which worker answered (the app answers ``PID VERSION``) and every failure. A new
connection per request is what tests the listeners: a refused or reset connection is a
failure, whichever worker it would have reached.

Timeouts are passed short (``--timeout-worker-healthcheck 1`` is a heartbeat every
0.25 s) so that the whole file stays fast on two cores.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from tests.conftest import _ALL_PROCESSES, REPO, ServerProcess, server_env

pytestmark = pytest.mark.timeout(60)

APP_SOURCE = (REPO / "tests" / "apps" / "workers.py").read_text()
FAST = ["--timeout-worker-healthcheck", "1", "--timeout-graceful-shutdown", "5"]


def get(port: int, path: str = "/", timeout: float = 10.0) -> tuple[int, str]:
    """One request on a new connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        raise ConnectionError("closed without an answer")
    return int(head.split()[1]), body.decode()


class Load:
    """Client threads requesting ``path`` until stopped; ``pids`` and ``versions`` count the
    answers, ``failures`` holds every error and non-200."""

    def __init__(self, port: int, threads: int = 4, path: str = "/") -> None:
        self.port = port
        self.path = path
        self.pids: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.pids.values())

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                status, body = get(self.port, self.path)
            except OSError as exc:
                with self.lock:
                    self.failures.append(repr(exc))
                continue
            with self.lock:
                if status != 200:
                    self.failures.append(f"status {status}: {body[:200]}")
                    continue
                pid, version = body.split()
                self.pids[int(pid)] += 1
                self.versions[version] += 1

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        start = self.total
        while self.total < start + count:
            assert time.monotonic() < deadline, f"only {self.total - start} requests answered"
            time.sleep(0.02)


def wait_serving(server: ServerProcess, count: int, since: int = 0,
                 timeout: float = 20.0) -> str:
    return server.wait_for_output(rf"serving \({count} of {count}\)", timeout, since)


def worker_pids(server: ServerProcess) -> set[int]:
    """The supervisor's live worker processes (one that exited and is not reaped yet, a
    zombie, or gone between the listing and the look at its command line, is not one)."""
    pids = set()
    for child in psutil.Process(server.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                pids.add(child.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass
    return pids


def wait_gone(server: ServerProcess, pids: set[int], timeout: float = 15.0) -> None:
    """Until none of ``pids`` is a worker any more (a retired worker drains first)."""
    deadline = time.monotonic() + timeout
    while worker_pids(server) & pids:
        assert time.monotonic() < deadline, f"workers {pids} still running"
        time.sleep(0.05)


def app_copy(directory: Path, name: str, version: str, extra: str = "") -> str:
    """The test app as ``directory/name.py`` answering ``version``; returns 'name:app'."""
    source = APP_SOURCE.replace('VERSION = "v1"', f'VERSION = "{version}"') + extra
    path = directory / f"{name}.py"
    path.write_text(source)
    # A new mtime even within the filesystem's timestamp granularity.
    os.utime(path, (time.time() + 1, time.time() + 1))
    return f"{name}:app"


# -- spreading and respawning -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["shared", "reuse-port"])
def test_requests_spread_over_workers(serve, mode):
    args = ["--reuse-port"] if mode == "reuse-port" else []
    server = serve("tests.apps.workers:app", "--workers", "2", *args, *FAST,
                   "--no-access-log")
    wait_serving(server, 2)
    with Load(server.port, threads=8) as load:
        load.wait_for(400)
    assert not load.failures, load.failures[:5]
    assert set(load.pids) == worker_pids(server)
    shares = sorted(count / sum(load.pids.values()) for count in load.pids.values())
    print(f"spread over 2 workers ({mode}): {[f'{share:.0%}' for share in shares]}")
    assert shares[0] > 0.05, load.pids
    assert server.stop() == 0


def test_killed_worker_is_replaced_within_a_second(serve):
    server = serve("tests.apps.workers:app", "--workers", "2", *FAST, "--no-access-log")
    wait_serving(server, 2)
    victim, survivor = sorted(worker_pids(server))
    with Load(server.port) as load:
        load.wait_for(50)
        mark = server.mark()
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        server.wait_for_output(rf"Worker \[{victim}\] died \(killed by SIGKILL\): starting a "
                               r"replacement", 5, mark)
        detected_in = time.monotonic() - killed
        # Serving needs a fresh interpreter to import the app: that start-up time is the
        # machine's (and slow on a loaded CI box), so it gets a generous bound; what the
        # supervisor owes is noticing the death and starting the replacement at once.
        wait_serving(server, 2, mark, timeout=15)
        load.wait_for(50)
    (replacement,) = worker_pids(server) - {survivor}
    assert replacement != victim
    assert detected_in < 1.5, f"replacement started after {detected_in:.2f}s"
    # Connections are never refused (the listener outlives any worker); only a request
    # the killed worker had in flight may fail, at most one per client thread.
    assert len(load.failures) <= 4, load.failures
    assert not any("Refused" in failure for failure in load.failures), load.failures
    assert load.pids[replacement] > 0
    assert server.stop() == 0


# -- recycling ------------------------------------------------------------------------------


def test_max_requests_recycles_without_a_failed_request(serve):
    server = serve("tests.apps.workers:app", "--workers", "2", "--max-requests", "40",
                   "--max-requests-jitter", "10", *FAST, "--no-access-log")
    wait_serving(server, 2)
    with Load(server.port) as load:
        deadline = time.monotonic() + 30
        while server.stderr.count("replaced by worker") < 3:
            assert time.monotonic() < deadline, server.stderr
            time.sleep(0.05)
        load.wait_for(20)
    assert not load.failures, load.failures[:5]
    assert len(load.pids) >= 4  # the first two workers and at least two replacements
    assert "(--max-requests)" in server.stderr
    assert server.stop() == 0


def test_max_worker_memory_replaces_a_leaking_worker(serve):
    server = serve("tests.apps.workers:app", "--workers", "1", "--max-worker-memory", "80",
                   *FAST, "--no-access-log")
    wait_serving(server, 1)
    (leaker,) = worker_pids(server)
    mark = server.mark()
    for _ in range(4):
        assert get(server.port, "/leak?mib=25")[0] == 200
    server.wait_for_output(rf"Worker \[{leaker}\] uses \d+ MiB of memory "
                           r"\(--max-worker-memory 80\): replacing it", 10, mark)
    server.wait_for_output(rf"Stopping worker \[{leaker}\] gracefully: replaced by", 20, mark)
    server.wait_for_output(rf"Worker \[{leaker}\] exited \(exit status 0\)", 10, mark)
    status, body = get(server.port)
    assert status == 200 and int(body.split()[0]) != leaker
    assert server.stop() == 0


def test_blocked_worker_is_killed_and_replaced(serve):
    server = serve("tests.apps.workers:app", "--workers", "2", *FAST, "--no-access-log")
    wait_serving(server, 2)
    mark = server.mark()
    blocked = threading.Thread(target=lambda: pytest.raises(OSError, get, server.port,
                                                            "/block?seconds=30"), daemon=True)
    blocked.start()
    line = server.wait_for_output(r"Worker \[(\d+)\] is not responding: its event loop sent "
                                  r"no heartbeat for [\d.]+ s \(--timeout-worker-healthcheck "
                                  r"1\); killing it", 10, mark)
    pid = int(re.search(r"Worker \[(\d+)\]", line).group(1))  # type: ignore[union-attr]
    server.wait_for_output(rf"Worker \[{pid}\] died \(.*heartbeat.*\): starting a replacement",
                           5, mark)
    wait_serving(server, 2, mark, timeout=10)
    blocked.join(5)
    assert pid not in worker_pids(server)
    assert get(server.port)[0] == 200
    assert server.stop() == 0


# -- signals --------------------------------------------------------------------------------


def test_sigterm_finishes_requests_in_flight_and_exits_zero(serve):
    server = serve("tests.apps.workers:app", "--workers", "2", *FAST)
    wait_serving(server, 2)
    results: list[tuple[int, str] | Exception] = []

    def slow() -> None:
        try:
            results.append(get(server.port, "/slow?delay=1.5"))
        except Exception as exc:
            results.append(exc)

    clients = [threading.Thread(target=slow) for _ in range(6)]
    for client in clients:
        client.start()
    time.sleep(0.5)  # the requests are in the workers' hands
    started = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=15) == 0
    for client in clients:
        client.join(5)
    assert [result[0] if isinstance(result, tuple) else result for result in results] == (
        [200] * 6)
    assert time.monotonic() - started < 5
    assert "Finished supervisor process" in server.stderr


def test_sighup_rolls_to_new_code_with_zero_failed_requests(serve, tmp_path):
    app = app_copy(tmp_path, "rolling_app", "v1")
    server = serve(app, "--app-dir", str(tmp_path), "--workers", "2", *FAST,
                   "--no-access-log")
    wait_serving(server, 2)
    old = worker_pids(server)
    with Load(server.port) as load:
        load.wait_for(50)
        app_copy(tmp_path, "rolling_app", "v2")
        mark = server.mark()
        server.send_signal(signal.SIGHUP)
        server.wait_for_output(r"Rolling restart complete: 2 workers serving", 30, mark)
        wait_gone(server, old)
        load.wait_for(50)
    assert not load.failures, load.failures[:5]
    for _ in range(10):
        assert get(server.port)[1].endswith(" v2")
    assert load.versions["v1"] and load.versions["v2"]
    assert server.stop() == 0


def test_sighup_with_broken_new_code_keeps_the_old_workers(serve, tmp_path):
    app = app_copy(tmp_path, "broken_roll", "v1")
    server = serve(app, "--app-dir", str(tmp_path), "--workers", "2", "--max-startup-failures",
                   "2", *FAST)
    wait_serving(server, 2)
    old = worker_pids(server)
    (tmp_path / "broken_roll.py").write_text("raise RuntimeError('bad deploy')\n")
    mark = server.mark()
    server.send_signal(signal.SIGHUP)
    server.wait_for_output(r"Not replacing workers: 2 in a row failed to start .*the 2 "
                           r"running workers keep serving", 20, mark)
    assert worker_pids(server) == old
    assert get(server.port)[1].endswith(" v1")
    assert server.proc.poll() is None
    assert server.stop() == 0


def test_sigttin_and_sigttou_change_the_worker_count(serve):
    server = serve("tests.apps.workers:app", "--workers", "1", "--max-requests", "100000",
                   *FAST, "--no-access-log")
    wait_serving(server, 1)
    mark = server.mark()
    server.send_signal(signal.SIGTTIN)
    wait_serving(server, 2, mark)
    assert len(worker_pids(server)) == 2
    mark = server.mark()
    server.send_signal(signal.SIGTTOU)
    server.wait_for_output(r"Stopping worker \[\d+\] gracefully: SIGTTOU", 5, mark)
    server.wait_for_output(r"Worker \[\d+\] exited \(exit status 0\)", 10, mark)
    assert len(worker_pids(server)) == 1
    server.send_signal(signal.SIGTTOU)
    server.wait_for_output(r"SIGTTOU: keeping the last worker", 5, mark)
    assert get(server.port)[0] == 200
    assert server.stop() == 0


# -- startup failures -------------------------------------------------------------------------


def test_app_failing_at_import_makes_the_supervisor_give_up(serve, tmp_path):
    (tmp_path / "crashing_app.py").write_text("raise RuntimeError('cannot start')\n")
    server = serve("crashing_app:app", "--app-dir", str(tmp_path), "--workers", "2",
                   "--max-startup-failures", "4", ready=False)
    started = time.monotonic()
    assert server.wait(30) == 1
    elapsed = time.monotonic() - started
    log = server.stderr
    assert "trying again in 0.1 s (1 of 4)" in log and "trying again in 0.2 s" in log, log
    (give_up,) = [line for line in log.splitlines() if "Giving up" in line]
    assert give_up.startswith("[fastcorn] ERROR: Giving up: 4 workers in a row failed to "
                              "start (the last: exit status 2)")
    assert "RuntimeError: cannot start" in log
    assert elapsed < 20


def test_lifespan_failure_gives_up_with_the_workers_status(serve):
    server = serve("tests.apps.workers:app", "--workers", "2", "--max-startup-failures", "2",
                   env={"FASTCORN_TEST_FAIL_STARTUP": "1"}, ready=False)
    assert server.wait(30) == 1
    assert "Application startup failed: no database" in server.stderr
    assert "Giving up: 2 workers in a row failed to start (the last: exit status 3)" in (
        server.stderr)


# -- reload ---------------------------------------------------------------------------------


def test_reload_restarts_on_change_and_survives_a_syntax_error(serve, tmp_path):
    app = app_copy(tmp_path, "reloading_app", "v1")
    server = serve(app, "--app-dir", str(tmp_path), "--reload", "--reload-dir", str(tmp_path),
                   *FAST)
    wait_serving(server, 1)
    server.wait_for_output("Watching for file changes in", 5)
    assert get(server.port)[1].endswith(" v1")
    old = worker_pids(server)

    mark = server.mark()
    app_copy(tmp_path, "reloading_app", "v2")
    server.wait_for_output(r"Rolling restart of 1 workers \(changed: .*reloading_app.py\)",
                           10, mark)
    server.wait_for_output(r"Rolling restart complete", 20, mark)
    wait_gone(server, old)
    assert get(server.port)[1].endswith(" v2")
    old = worker_pids(server)

    mark = server.mark()
    app_copy(tmp_path, "reloading_app", "v3", extra="\ndef broken(:\n")
    server.wait_for_output(r"failed to start \(exit status 2\): waiting for a file change",
                           20, mark)
    assert "SyntaxError" in server.output_since(mark)
    assert get(server.port)[1].endswith(" v2")  # the old worker still serves

    mark = server.mark()
    app_copy(tmp_path, "reloading_app", "v4")
    server.wait_for_output(r"Rolling restart complete", 20, mark)
    wait_gone(server, old)
    assert get(server.port)[1].endswith(" v4")
    assert server.stop() == 0


# -- pid file, unix sockets, inherited descriptors -----------------------------------------------


def test_pid_file_names_the_supervisor(serve, tmp_path, backend):
    if backend != "asyncio":
        pytest.skip("the supervisor's behaviour; one backend is enough")
    pid_file = tmp_path / "run" / "fastcorn.pid"
    pid_file.parent.mkdir()
    unix = tmp_path / "s.sock"
    server = serve("tests.apps.workers:app", "--workers", "2", "--pid", str(pid_file),
                   "--bind", f"unix:{unix}", "--bind", "127.0.0.1:0", *FAST)
    wait_serving(server, 2)
    assert pid_file.read_text() == f"{server.pid}\n"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(unix))
        sock.sendall(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert server.stop() == 0
    assert not pid_file.exists()
    assert not unix.exists()


def test_pid_file_of_a_single_process(serve, tmp_path, backend):
    if backend != "asyncio":
        pytest.skip("no supervisor involved; one backend is enough")
    pid_file = tmp_path / "fastcorn.pid"
    server = serve("tests.apps.workers:app", "--pid", str(pid_file))
    assert pid_file.read_text() == f"{server.pid}\n"
    assert "supervisor" not in server.stderr
    assert worker_pids(server) == set()
    assert server.stop() == 0
    assert not pid_file.exists()


def test_inherited_fd_shared_by_workers(serve, backend):
    if backend != "trio":
        pytest.skip("--fd through the supervisor; one backend is enough")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        fd = listener.fileno()
        server = serve("tests.apps.workers:app", "--fd", str(fd), "--workers", "2", *FAST,
                       "--no-access-log", pass_fds=(fd,))
        wait_serving(server, 2)
        port = listener.getsockname()[1]
        with Load(port) as load:
            load.wait_for(100)
        assert not load.failures
        assert len(load.pids) == 2
        assert server.stop() == 0


# -- gunicorn ---------------------------------------------------------------------------------


GUNICORN_CLASSES = {"asyncio": "FastcornWorker", "uvloop": "FastcornUVLoopWorker",
                    "trio": "FastcornTrioWorker"}


def test_gunicorn_worker_class_serves(backend, tmp_path):
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
    if gunicorn is None:
        pytest.skip("gunicorn is not installed (the test extra has it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker_class = f"fastcorn.workers.{GUNICORN_CLASSES[backend]}"
    argv = [gunicorn, "tests.apps.workers:app", "-k", worker_class, "-w", "2",
            "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", "--max-requests", "30",
                    "--control-socket", str(tmp_path / "gunicorn.ctl")]
    proc = subprocess.Popen(argv, cwd=REPO, env=server_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    _ALL_PROCESSES.append(proc)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _ = get(port)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (
                    proc.stdout.read().decode() if proc.poll() is not None else "timeout")
                time.sleep(0.1)
        assert status == 200
        with Load(port) as load:
            # --max-requests 30: the workers stop after their share (checked every
            # heartbeat) and gunicorn starts others.
            deadline = time.monotonic() + 20
            while len(load.pids) < 3:
                assert time.monotonic() < deadline, load.pids
                time.sleep(0.05)
        assert not load.failures, load.failures[:5]
        os.kill(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
        assert proc.returncode == 0, output
        assert f"Using worker: {worker_class}" in output
        assert f"fastcorn listening on http://127.0.0.1:{port} (loop: {backend})" in output
        assert "Traceback" not in output
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
