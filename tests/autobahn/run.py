"""Run the Autobahn WebSocket test suite (fuzzingclient) against fastcorn on each backend.

    python tests/autobahn/run.py                      # every case, asyncio uvloop trio
    python tests/autobahn/run.py --cases 1.* 2.* 5.*  # a subset
    python tests/autobahn/run.py --backends uvloop

Autobahn's ``wstest`` runs on Python 2.7 (``autobahntestsuite``). Give its path with
``--wstest`` or ``$WSTEST``; without either, ``wstest`` is looked up on PATH. To make one
(pyenv lists 2.7.18 on these machines)::

    PY=$(pyenv root)/versions/2.7.18/bin/python
    $PY -m pip install virtualenv && $PY -m virtualenv /tmp/ab-venv
    /tmp/ab-venv/bin/pip install autobahntestsuite
    WSTEST=/tmp/ab-venv/bin/wstest python tests/autobahn/run.py

For each backend it starts ``python -m fastcorn tests.apps.websocket_apps:app`` (an echo
server) on a free port, runs the fuzzing client with a generated spec, and reads the
report's index.json. It prints one line per backend (cases by behavior: OK, NON-STRICT,
FAILED, INFORMATIONAL, UNIMPLEMENTED; close behavior not OK) and the cases that are not OK,
and exits 1 if any case FAILED or was NON-STRICT (INFORMATIONAL and UNIMPLEMENTED are
Autobahn's own verdicts of "no requirement" and "not negotiated").

wstest writes its reports only when its whole run is over, and the full suite is long with
wstest under Python 2.7 as the slow end (measured on 2 shared cores, three backends at
once: cases 1-10 in about 2.5 minutes per backend; 12.x/13.x sizes 1-9, 108 cases, about 35
minutes; sizes 10-18 of each of the 12 compression groups, 9 cases, about 9 minutes each).
Give it in parts with ``--cases`` (exact ids such as ``12.1.10``, or patterns such as
``12.1.*``) and a separate ``--outdir`` each, so that what has finished is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP = "tests.apps.websocket_apps:app"
BAD = ("FAILED", "NON-STRICT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(backend: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "fastcorn", APP, "--loop", backend, "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--ws-ping-interval", "0"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"fastcorn ({backend}) did not start; see {log}")


def run_backend(wstest: str, backend: str, cases: list[str], exclude: list[str],
                outdir: Path) -> dict[str, dict[str, str]]:
    port = free_port()
    agent = f"fastcorn-{backend}"
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": agent, "url": f"ws://127.0.0.1:{port}/"}],
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    }
    spec_path = outdir / f"spec-{backend}.json"
    outdir.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(spec, indent=2))
    server = start_server(backend, port, outdir / f"server-{backend}.log")
    try:
        with (outdir / f"wstest-{backend}.log").open("wb") as log:
            subprocess.run([wstest, "-m", "fuzzingclient", "-s", str(spec_path)],
                           cwd=outdir, stdout=log, stderr=subprocess.STDOUT, check=True)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    index = json.loads((outdir / "index.json").read_text())
    return dict(index[agent])


def case_key(case: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", case))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["asyncio", "uvloop", "trio"])
    parser.add_argument("--cases", nargs="+", default=["*"])
    parser.add_argument("--exclude", nargs="+", default=[])
    parser.add_argument("--wstest", default=os.environ.get("WSTEST") or shutil.which("wstest"))
    parser.add_argument("--outdir", type=Path, default=None,
                        help="where the reports go (default: a temporary directory)")
    args = parser.parse_args(argv)
    if not args.wstest:
        print("wstest not found: give --wstest or $WSTEST (see this script's docstring)")
        return 2
    root = args.outdir or Path(tempfile.mkdtemp(prefix="autobahn-"))
    status = 0
    for backend in args.backends:
        started = time.monotonic()
        results = run_backend(args.wstest, backend, args.cases, args.exclude, root / backend)
        behaviors = Counter(result["behavior"] for result in results.values())
        closes = sum(result["behaviorClose"] not in ("OK", "INFORMATIONAL")
                     for result in results.values())
        summary = ", ".join(f"{count} {name}" for name, count in sorted(behaviors.items()))
        print(f"{backend}: {len(results)} cases in {time.monotonic() - started:.0f}s: "
              f"{summary}; close behavior not OK: {closes}")
        for case in sorted(results, key=case_key):
            result = results[case]
            if result["behavior"] in BAD or result["behaviorClose"] in BAD:
                print(f"  {case}: {result['behavior']} (close: {result['behaviorClose']})")
                status = 1
    print(f"reports: {root}")
    return status


if __name__ == "__main__":
    sys.exit(main())
