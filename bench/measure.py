"""What is read from the operating system: server CPU time, memory, the machine.

CPU is read from ``/proc/<pid>/stat`` (utime + stime, which already sums every
thread of a process) for every process in the server's tree, before and after
the measured window. Processes that start during the window count from zero.
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from importlib import metadata

import psutil

TICKS = os.sysconf("SC_CLK_TCK")
PACKAGES = (
    "fastcorn",
    "uvicorn",
    "httptools",
    "uvloop",
    "hypercorn",
    "h11",
    "h2",
    "wsproto",
    "websockets",
    "granian",
    "trio",
    "psutil",
    "matplotlib",
)


def tree(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def cpu_ticks(pids: list[int]) -> dict[int, int]:
    """utime + stime in clock ticks for each pid still alive."""
    out: dict[int, int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        out[pid] = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return out


def cpu_seconds_between(before: dict[int, int], after: dict[int, int]) -> float:
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / TICKS


def tree_rss(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def cpu_stat(cpu: int | None) -> list[int]:
    """The /proc/stat jiffies line of one CPU (or all): user nice system idle iowait
    irq softirq steal ..."""
    name = b"cpu" if cpu is None else b"cpu%d" % cpu
    with open("/proc/stat", "rb") as f:
        for line in f:
            fields = line.split()
            if fields[0] == name:
                return [int(x) for x in fields[1:]]
    return []


def _delta(before: list[int], after: list[int]) -> list[int]:
    return [b - a for a, b in zip(before, after, strict=False)]


def steal_share(before: list[int], after: list[int]) -> float:
    """Share of the CPU's time the hypervisor gave to someone else (noise)."""
    delta = _delta(before, after)
    total = sum(delta[:8])
    return delta[7] / total if total and len(delta) > 7 else 0.0


def busy_seconds(before: list[int], after: list[int]) -> float:
    """Time the CPU spent running anything: user nice system irq softirq."""
    delta = _delta(before, after)
    if len(delta) < 7:
        return 0.0
    return (delta[0] + delta[1] + delta[2] + delta[5] + delta[6]) / TICKS


class TreeMonitor:
    """CPU seconds and peak RSS of a process tree over a ``with`` block, and the
    steal time of the CPU it is pinned to."""

    def __init__(self, pid: int, cpu: int | None = None, interval: float = 0.1) -> None:
        self.pid = pid
        self.cpu = cpu
        self.steal = 0.0
        self.other_load = 0.0
        self.interval = interval
        self.peak_rss = 0
        self.cpu_seconds = 0.0
        self.per_process: dict[int, float] = {}  # CPU seconds of each process of the tree
        self.wall_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, tree_rss(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMonitor:
        self._stat = cpu_stat(self.cpu)
        self._before = cpu_ticks(tree(self.pid))
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        after = cpu_ticks(tree(self.pid))
        stat = cpu_stat(self.cpu)
        self.steal = steal_share(self._stat, stat)
        self.wall_seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, tree_rss(self.pid))
        self.cpu_seconds = cpu_seconds_between(self._before, after)
        self.per_process = {pid: (ticks - self._before.get(pid, 0)) / TICKS
                            for pid, ticks in after.items()}  # fmt: skip
        if self.cpu is not None:  # anything else that ran on the server's CPU: noise
            other = busy_seconds(self._stat, stat) - self.cpu_seconds
            self.other_load = max(0.0, other) / self.wall_seconds


def _command_output(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "absent"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else "absent"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    out = _command_output(["git", "-C", here, "rev-parse", "--short", "HEAD"])
    if "fatal" in out:
        return "none"
    status = subprocess.run(
        ["git", "-C", here, "status", "--porcelain", "--", "../fastcorn"],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return out + (" (fastcorn/ has uncommitted changes)" if status.strip() else "")


def _module_version(name: str) -> str:
    """The version of a package importable but not installed (a source checkout)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return "absent"
    return f"{getattr(module, '__version__', '?')} (not installed: {module.__file__})"


def machine() -> dict[str, object]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = _module_version(name)
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        "packages": versions,
        "wrk": _command_output(["wrk", "-v"]).split(" Copyright")[0],
        "h2load": _command_output(["h2load", "--version"]),
        "git_commit": _git_commit(),
        "load_average": os.getloadavg(),
    }
