"""The servers under test and how each is started: one worker (two in the workers
scenarios), access logs off, pinned to CPU 0 (unpinned with workers), the same
``bench.apps:app``."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.machinery import EXTENSION_SUFFIXES, PathFinder
from pathlib import Path

from bench import tls
from bench.scenarios import Scenario

ROOT = Path(__file__).resolve().parent.parent
APP = "bench.apps:app"
PY = sys.executable
GRANIAN_THREADS = {"runtime_threads": 1, "blocking_threads": 1, "runtime_mode": "st"}


@dataclass(frozen=True)
class ServerSpec:
    name: str
    loop: str  # the loop whose ceiling it is compared with: uvloop, asyncio or trio
    command: Callable[[int, Scenario], list[str]]
    family: str
    ceiling: bool = False
    settings: dict[str, object] = field(default_factory=dict)

    def serves(self, scenario: Scenario) -> bool:
        """Ceilings only speak cleartext HTTP/1.1; everyone else is probed for h2 and ws.
        With workers: fastcorn, uvicorn and granian; SO_REUSEPORT listeners per worker are
        fastcorn's alone (uvicorn and granian share the parent's socket)."""
        if scenario.workers > 1:
            if scenario.reuse_port:
                return self.family == "fastcorn"
            return self.family in WORKER_FAMILIES
        if self.ceiling:
            return scenario.http1 and scenario.with_ceilings and not scenario.tls
        return True

    def unsupported_label(self) -> str:
        return "not yet supported" if self.family == "fastcorn" else "not supported"


def _tls(scenario: Scenario, cert_flag: str, key_flag: str) -> list[str]:
    """Each server's own flags for bench/tls.py's certificate, in a TLS scenario."""
    return [cert_flag, tls.CERT, key_flag, tls.KEY] if scenario.tls else []


def _workers(scenario: Scenario, flag: str = "--workers") -> list[str]:
    return [flag, str(scenario.workers)] if scenario.workers > 1 else []


def _fastcorn(loop: str) -> Callable[[int, Scenario], list[str]]:
    def command(port: int, scenario: Scenario) -> list[str]:
        return [PY, "-m", "fastcorn", APP, "--loop", loop, "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log", "--lifespan", "off",
                "--log-level", "warning", *_workers(scenario),
                *(["--reuse-port"] if scenario.reuse_port else []),
                *_tls(scenario, "--ssl-certfile", "--ssl-keyfile")]  # fmt: skip

    return command


def _uvicorn(port: int, scenario: Scenario) -> list[str]:
    return [PY, "-m", "uvicorn", APP, "--loop", "uvloop", "--http", "httptools",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
            "--log-level", "warning", "--lifespan", "off",
            "--workers", str(scenario.workers),
            *_tls(scenario, "--ssl-certfile", "--ssl-keyfile")]  # fmt: skip


def _hypercorn(worker: str) -> Callable[[int, Scenario], list[str]]:
    def command(port: int, scenario: Scenario) -> list[str]:
        # HTTP/2: hypercorn ends a connection with GOAWAY after keep_alive_max_requests
        # (1000) requests, which h2load does not replace, so its load would thin out
        # during a run; bench/hypercorn_h2.py lifts that limit (fastcorn and granian have
        # none).
        h2 = ["-c", "python:bench.hypercorn_h2"] if scenario.http2 else []
        return [PY, "-m", "hypercorn", "-k", worker, "-w", "1", "-b", f"127.0.0.1:{port}",
                "--log-level", "warning", *h2, *_tls(scenario, "--certfile", "--keyfile"),
                APP]  # fmt: skip

    return command


def _granian(port: int, scenario: Scenario) -> list[str]:
    t = GRANIAN_THREADS
    return [PY, "-m", "granian", "--interface", "asgi", "--workers", str(scenario.workers),
            "--runtime-threads", str(t["runtime_threads"]),
            "--blocking-threads", str(t["blocking_threads"]),
            "--runtime-mode", str(t["runtime_mode"]), "--loop", "uvloop",
            "--no-access-log", "--log-level", "warning",
            *(["--http", "2"] if scenario.http2 else []),
            *_tls(scenario, "--ssl-certificate", "--ssl-keyfile"),
            "--host", "127.0.0.1", "--port", str(port), APP]  # fmt: skip


def _ceiling(script: str, *extra: str) -> Callable[[int, Scenario], list[str]]:
    def command(port: int, scenario: Scenario) -> list[str]:
        body = scenario.expected
        canned = (
            ["--body-size", str(len(body))]
            if body == b"x" * len(body)
            else ["--body", body.decode("latin-1")]
        )
        return [PY, str(ROOT / "bench" / script), "--port", str(port), *extra, *canned,
                "--request-body", str(len(scenario.body))]  # fmt: skip

    return command


SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("fastcorn-uvloop", "uvloop", _fastcorn("uvloop"), "fastcorn"),
        ServerSpec("fastcorn-asyncio", "asyncio", _fastcorn("asyncio"), "fastcorn"),
        ServerSpec("fastcorn-trio", "trio", _fastcorn("trio"), "fastcorn"),
        ServerSpec("uvicorn", "uvloop", _uvicorn, "uvicorn"),
        ServerSpec("hypercorn-uvloop", "uvloop", _hypercorn("uvloop"), "hypercorn"),
        ServerSpec("hypercorn-asyncio", "asyncio", _hypercorn("asyncio"), "hypercorn"),
        ServerSpec("hypercorn-trio", "trio", _hypercorn("trio"), "hypercorn"),
        ServerSpec("granian", "uvloop", _granian, "granian", settings=dict(GRANIAN_THREADS)),
        ServerSpec(
            "ceiling-uvloop",
            "uvloop",
            _ceiling("ceiling_uvloop.py", "--loop", "uvloop"),
            "ceiling",
            ceiling=True,
        ),
        ServerSpec(
            "ceiling-asyncio",
            "asyncio",
            _ceiling("ceiling_uvloop.py", "--loop", "asyncio"),
            "ceiling",
            ceiling=True,
        ),
        ServerSpec("ceiling-trio", "trio", _ceiling("ceiling_trio.py"), "ceiling", ceiling=True),
    )
}
WORKER_FAMILIES = ("fastcorn", "uvicorn", "granian")  # the workers scenarios' servers
# other names --servers takes: hypercorn at its fastest (its uvloop worker)
ALIASES = {"hypercorn": "hypercorn-uvloop"}
CEILING_OF_LOOP = {"uvloop": "ceiling-uvloop", "asyncio": "ceiling-asyncio", "trio": "ceiling-trio"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _compiled(package: Path) -> list[Path]:
    """Every compiled module in ``package``, built for this interpreter, or [] if one is not.

    The compiled modules are the checkout's ``.pyx`` files at any depth (``asgi/cycle.pyx``
    is ``asgi/cycle.cpython-*.so``), as setup.py finds them: no list to keep up to date.
    """
    checkout = ROOT / "fastcorn"
    stems = [path.relative_to(checkout).with_suffix("") for path in checkout.rglob("*.pyx")]
    found = [
        next((package / f"{stem}{suffix}" for suffix in EXTENSION_SUFFIXES
              if (package / f"{stem}{suffix}").is_file()), None)
        for stem in sorted(stems)
    ]  # fmt: skip
    return [path for path in found if path is not None] if stems and all(found) else []


def _installed_fastcorn() -> Path | None:
    """The fastcorn package this interpreter imports when the checkout is not on sys.path."""
    elsewhere = [p for p in sys.path if Path(p or os.curdir).resolve() != ROOT]
    spec = PathFinder.find_spec("fastcorn", elsewhere)
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def _differing_sources(package: Path) -> list[str]:
    """The checkout's ``fastcorn/**/*.py`` files that ``package`` lacks or has otherwise."""
    checkout = ROOT / "fastcorn"
    return [
        str(path.relative_to(checkout))
        for path in sorted(checkout.glob("**/*.py"))
        if not (package / path.relative_to(checkout)).is_file()
        or (package / path.relative_to(checkout)).read_bytes() != path.read_bytes()
    ]


def locate_fastcorn() -> tuple[Path, str]:
    """The fastcorn package to benchmark, and a line saying which one it is.

    The checkout's ``fastcorn/`` when it is built for this interpreter (``pip install -e``
    builds it in place); otherwise the installed fastcorn (``pip install .``), as long as
    it is a different directory. Raises ``LookupError`` when neither is built.
    """
    checkout = ROOT / "fastcorn"
    built = _compiled(checkout)
    if built:
        oldest = min(path.stat().st_mtime for path in built)
        sources = [*checkout.rglob("*.pyx"), *checkout.rglob("*.pxd")]
        stale = [str(path.relative_to(checkout)) for path in sources
                 if path.stat().st_mtime > oldest]  # fmt: skip
        note = "the checkout's fastcorn/, built in place"
        if stale:
            note += f" (warning: {', '.join(sorted(stale))} changed after the build)"
        return checkout, note
    installed = _installed_fastcorn()
    if installed is not None and installed.resolve() != checkout.resolve() and _compiled(installed):
        differ = _differing_sources(installed)
        note = f"the installed fastcorn, {installed}"
        if differ:
            note += f" (warning: differs from the checkout in {', '.join(differ[:5])}"
            note += f" and {len(differ) - 5} more)" if len(differ) > 5 else ")"
        return installed, note
    raise LookupError(
        "fastcorn is not built for this Python: `pip install -e '.[bench]'` builds the "
        "checkout in place, `pip install '.[bench]'` installs a built copy"
    )


def snapshot(into: Path, with_fastcorn: bool = True) -> tuple[dict[str, str], str]:
    """Copy the fastcorn package under test (``locate_fastcorn``) and ``bench/`` into ``into``.

    Servers run from the copy, so a rebuild or reinstall during a run (other people work
    in the checkout) cannot change the code under test halfway. Returns the sha256 (first
    12 hex digits) of every compiled extension copied, to identify the build, and the line
    saying which fastcorn was copied.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.c", "*.html", "results")
    shutil.copytree(ROOT / "bench", into / "bench", ignore=ignore)
    if not with_fastcorn:
        return {}, "not benchmarked"
    package, origin = locate_fastcorn()
    shutil.copytree(package, into / "fastcorn", ignore=ignore)
    build = {
        str(path.relative_to(into)): hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in sorted((into / "fastcorn").glob("**/*.so"))
    }
    return build, origin


class RunningServer:
    """One server process (and its children) in its own session, pinned to a CPU,
    started in ``workdir`` (a snapshot of the checkout, see ``snapshot``)."""

    def __init__(
        self,
        spec: ServerSpec,
        scenario: Scenario,
        cpu: int | str | None,  # a CPU, or a taskset list ("0,1": every CPU, unpinned)
        log_dir: Path,
        workdir: Path,
    ):
        self.spec = spec
        self.port = free_port()
        self.command = spec.command(self.port, scenario)
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{spec.name}-{scenario.name}.log"
        self._log = open(self.log_path, "wb")
        env = dict(os.environ, PYTHONPATH=str(workdir), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            pin + self.command, cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 20.0) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return f"exited with {self.proc.returncode}: {self.log_tail()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return None
            except OSError:
                time.sleep(0.1)
        return f"not listening after {timeout:.0f} s: {self.log_tail()}"

    def log_tail(self, lines: int = 5) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM to the session this process leads (the server and its workers)."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        self._log.close()
