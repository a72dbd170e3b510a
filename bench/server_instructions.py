"""Server instructions per request on a real server and a real loop, callgrind.

``python bench/server_instructions.py [--servers a,b] [--scenarios hello,echo] [-n N]``
starts each server as bench/run.py does (``bench.servers``, ``bench.apps:app``) under
``valgrind --tool=callgrind``, opens ``--connections`` keep-alive connections, warms up,
zeroes the counters (``callgrind_control -z``), sends N requests (one request in flight
per connection, or a scenario's pipeline of them in one write, N rounded down to whole
rounds; all connections written before any is read: several requests per loop turn, as
under wrk), dumps the counters (``callgrind_control -d``) and prints the
instructions per request. Unlike ``bench/instructions.py`` (the HTTP/1.1 core alone, fed
by hand) this counts everything the server process does per request: the loop, the
socket calls, the app task. The count repeats to within about 1% on a noisy machine,
which wall-clock CPU time does not; the ceilings give the ratio to aim at.

``--keep DIR`` keeps the callgrind files for ``callgrind_annotate --inclusive=yes``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.callgrind import (  # noqa: E402
    connects,
    count_around,
    measured_dump,
    stop,
    total_instructions,
    wait_started,
)
from bench.scenarios import SCENARIOS, Scenario  # noqa: E402
from bench.servers import SERVERS, free_port  # noqa: E402

WARMUP = 300


def request(scenario: Scenario) -> bytes:
    head = f"{scenario.method} {scenario.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if scenario.body:
        head += f"Content-Length: {len(scenario.body)}\r\n"
    return head.encode() + b"\r\n" + scenario.body


class Client:
    """Keep-alive connections, each with one request (or one write of ``pipeline``
    requests, as wrk's pipelined script sends them) in flight at a time."""

    def __init__(self, port: int, connections: int, scenario: Scenario) -> None:
        self.request = request(scenario) * scenario.pipeline
        self.expected = scenario.expected
        self.pipeline = scenario.pipeline
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=60)
                      for _ in range(connections)]

    def round(self) -> None:
        for sock in self.socks:
            sock.sendall(self.request)
        for sock in self.socks:
            data = b""
            while not (data.endswith(self.expected)  # every body here is distinctive
                       and data.count(self.expected) >= self.pipeline):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError(f"connection closed after {data[:200]!r}")
                data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer {data[:200]!r}")

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def measure(name: str, scenario: Scenario, n: int, connections: int, workdir: Path) -> float:
    port = free_port()
    out = workdir / f"callgrind.{name}.{scenario.name}"
    command = SERVERS[name].command(port, scenario)
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), PYTHONHASHSEED="0")
    proc = subprocess.Popen(argv, cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_started(name, proc, connects(port))
        client = Client(port, connections, scenario)
        for _ in range(WARMUP // connections + 1):
            client.round()
        rounds = max(1, n // connections)

        def measured_rounds() -> None:
            for _ in range(rounds):
                client.round()

        count_around(proc.pid, measured_rounds)
        client.close()
    finally:
        stop(proc)
    requests = rounds * connections * scenario.pipeline
    return total_instructions(measured_dump(out.parent, out.name)) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--servers", default="fastcorn-uvloop,ceiling-uvloop")
    parser.add_argument("--scenarios", default="hello,echo")
    parser.add_argument("-n", type=int, default=2000, help="measured requests")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="keep the callgrind files here")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    print(f"Python {sys.version.split()[0]} ({sys.executable})", flush=True)
    with tempfile.TemporaryDirectory(prefix="fastcorn-server-instr-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for scenario_name in args.scenarios.split(","):
            scenario = SCENARIOS[scenario_name]
            for name in args.servers.split(","):
                per = measure(name, scenario, args.n, args.connections, workdir)
                print(f"{scenario.name:>6} {name:>16}: {per:,.0f} instructions per request "
                      f"(N={args.n}, {args.connections} connections)", flush=True)


if __name__ == "__main__":
    main()
