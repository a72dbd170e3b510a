"""Server instructions per new TLS connection (handshake, one request, close), callgrind.

``python bench/handshake_instructions.py [--servers a,b] [-n N]`` starts each server under
``valgrind --tool=callgrind`` with the bench certificate (bench/tls.py: ECDSA P-256), makes
20 TLS connections to warm it up, zeroes the counters (``callgrind_control -z``), makes N
fresh connections, each a full handshake and one ``GET`` with ``connection: close``, dumps
the counters (``callgrind_control -d``) and prints the instructions per connection. Unlike
wall-clock timing on this noisy 2-core machine, the count repeats to within about 1%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.callgrind import (  # noqa: E402
    count_around,
    measured_dump,
    stop,
    total_instructions,
    wait_started,
)
from bench.tls import CERT, KEY, make_certificate  # noqa: E402

PORT = 8943
APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Hello, world!"})
"""
TLS_ARGS = ["--ssl-certfile", CERT, "--ssl-keyfile", KEY]
SERVERS = {
    "fastcorn-uvloop": ["-m", "fastcorn", "app:app", "--loop", "uvloop", "--no-access-log"],
    "fastcorn-asyncio": ["-m", "fastcorn", "app:app", "--loop", "asyncio", "--no-access-log"],
    "fastcorn-trio": ["-m", "fastcorn", "app:app", "--loop", "trio", "--no-access-log"],
    "uvicorn": ["-m", "uvicorn", "app:app", "--loop", "uvloop", "--http", "httptools",
                "--no-access-log"],
}


def one_connection(context: ssl.SSLContext) -> None:
    with socket.create_connection(("127.0.0.1", PORT), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer {data[:80]!r}")


def measure(name: str, n: int, workdir: Path) -> float:
    out = workdir / f"callgrind.{name}"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
            *SERVERS[name], "--port", str(PORT), *TLS_ARGS]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(workdir)]))
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        context = ssl.create_default_context(cafile=str(workdir / CERT))
        wait_started(name, proc, lambda: one_connection(context))
        for _ in range(20):
            one_connection(context)

        def measured_connections() -> None:
            for _ in range(n):
                one_connection(context)

        count_around(proc.pid, measured_connections)
    finally:
        stop(proc)
    return total_instructions(measured_dump(workdir, f"callgrind.{name}")) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("-n", type=int, default=100, help="measured connections")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="fastcorn-handshake-") as tmp:
        workdir = Path(tmp)
        make_certificate(workdir)
        (workdir / "app.py").write_text(APP)
        for name in args.servers.split(","):
            per = measure(name, args.n, workdir)
            print(f"{name}: {per:,.0f} instructions per TLS connection (N={args.n})",
                  flush=True)


if __name__ == "__main__":
    main()
