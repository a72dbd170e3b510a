"""fastcorn as PID 1, the way a container runs it (docs/deployment.md: Docker, Kubernetes).

No Docker engine or cluster runs on the test machines, so the part of those recipes that is
fastcorn's own behaviour is tested here: the server is PID 1 of a new PID namespace
(``unshare --pid``, what a container is), and SIGTERM comes from outside the namespace,
as ``docker stop`` and the kubelet send it. The kernel drops a signal sent to a
namespace's PID 1 from outside unless PID 1 installed a handler for it; a server that only
relied on the default action would never stop and would be SIGKILLed at the end of the
grace period, cutting every request in flight.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.rawhttp import slow_request_in_flight, wait_events

pytestmark = pytest.mark.timeout(40)

UNSHARE = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child")


def pid_namespaces_missing() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return f"cannot create a PID namespace here: {probe.stderr.decode().strip()}"
    return None


pytestmark = [pytestmark, pytest.mark.skipif(bool(pid_namespaces_missing()),
                                             reason=pid_namespaces_missing() or "")]


def namespace_init(unshare_pid: int) -> psutil.Process:
    """The process that is PID 1 inside the namespace unshare made (unshare's child)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for child in psutil.Process(unshare_pid).children():
            status = Path(f"/proc/{child.pid}/status").read_text()
            nspid = next(line.split()[1:] for line in status.splitlines()
                         if line.startswith("NSpid:"))
            if nspid[-1] == "1":
                return child
        time.sleep(0.05)
    raise AssertionError("no PID 1 found under unshare")


@pytest.mark.parametrize("workers", [1, 2], ids=["single", "workers"])
def test_pid1_sigterm_from_outside_finishes_in_flight_and_exits_zero(serve, workers):
    server = serve("tests.apps.basic:app", "--timeout-graceful-shutdown", "10",
                   *(["--workers", str(workers)] if workers > 1 else []),
                   wrap=UNSHARE, tls=None)
    init = namespace_init(server.pid)
    assert "python" in init.name() or "fastcorn" in " ".join(init.cmdline())
    assert "Started server process [1]" in server.stderr or workers > 1

    thread, results = slow_request_in_flight(server, delay=1.5)
    started = time.monotonic()
    init.send_signal(signal.SIGTERM)  # from the host's namespace, as docker stop does
    # The listener closes at once: a Kubernetes readiness probe fails from here on.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            httpx.get(server.url + "/", timeout=0.5)
        except httpx.TransportError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("still accepting new connections 3 s after SIGTERM")
    code = server.wait(15)
    thread.join(15)
    assert "error" not in results, results
    response = results["response"]
    assert isinstance(response, httpx.Response)
    assert (response.status_code, response.text) == (200, "done")
    assert code == 0, server.stderr
    assert time.monotonic() - started < 8
    assert "Traceback" not in server.stderr
    if workers == 1:
        assert "Finished server process [1]" in server.stderr


def test_pid1_graceful_deadline_comes_before_the_kill(serve):
    """A request longer than --timeout-graceful-shutdown is cut at that deadline and the
    server exits by itself: the container's grace period (docker --stop-timeout,
    terminationGracePeriodSeconds) only has to be longer than the deadline."""
    server = serve("tests.apps.basic:app", "--timeout-graceful-shutdown", "1",
                   wrap=UNSHARE, tls=None)
    init = namespace_init(server.pid)
    k = uuid.uuid4().hex
    thread = threading.Thread(target=lambda: _quiet_get(server.url + "/slow",
                                                        {"delay": "30", "id": k}))
    thread.start()
    wait_events(server, k, lambda e: "started" in e)
    started = time.monotonic()
    init.send_signal(signal.SIGTERM)
    code = server.wait(10)
    elapsed = time.monotonic() - started
    thread.join(10)
    assert 0.9 < elapsed < 5, elapsed
    assert code == 0, server.stderr


def _quiet_get(url: str, params: dict[str, str]) -> None:
    try:
        httpx.get(url, params=params, timeout=15)
    except httpx.TransportError:
        pass  # cut by the graceful-shutdown deadline, as the test intends
