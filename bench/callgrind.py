"""What the callgrind-driven counters share: a real server's counters zeroed after its
warm-up and dumped after the measured work, the server stopped, the measured dump found."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def wait_started(name: str, proc: subprocess.Popen[bytes],
                 probe: Callable[[], object]) -> None:
    """Wait (up to 120 s: valgrind starts slowly) until ``probe()`` stops raising OSError."""
    deadline = time.monotonic() + 120
    while True:
        try:
            probe()
            return
        except OSError as exc:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{name} did not start under valgrind") from exc
            time.sleep(0.5)


def connects(port: int) -> Callable[[], object]:
    """The usual probe: a TCP connection to 127.0.0.1:``port``, closed at once."""
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=5).close()


def count_around(pid: int, work: Callable[[], object]) -> None:
    """Zero the counters of the callgrind process ``pid``, do ``work``, dump them: the dump
    holds exactly what ``work`` cost the server."""
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    work()
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, group: bool = False) -> None:
    """Ask the server to exit with ``sig`` (to its process group with ``group``); kill it
    if it has not within a minute (callgrind writes its final dump slowly)."""
    send = (lambda s: os.killpg(proc.pid, s)) if group else proc.send_signal
    send(sig)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()


def measured_dump(directory: Path, prefix: str) -> Path:
    """The newest numbered dump (``prefix.N``): the one ``count_around`` asked for, not the
    one callgrind writes at exit."""
    dumps = [p for p in directory.glob(f"{prefix}.*") if re.fullmatch(r".*\.\d+", p.name)]
    return max(dumps, key=lambda p: p.stat().st_mtime)


def total_instructions(dump: Path) -> int:
    """The instructions a dump counted (its ``summary:``/``totals:`` line)."""
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")
