"""The Python API on every backend: ``fastcorn.run(...)`` as a program's entry point, and
``await fastcorn.serve(app, config)`` inside an asyncio, uvloop or trio program that is
already running. Each runs as a real program in a subprocess, serving a socket the test
bound and handed over (``fd=``), stopped with SIGINT like any server.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]

# The programs serve the README's example app, importable from the repository root.
APP = """
import sys
sys.path.insert(0, sys.argv[3])
from examples.hello import app
"""

RUN_PROGRAM = APP + '''
import fastcorn
fastcorn.run(app, fd=int(sys.argv[2]), loop=sys.argv[1], access_log=False)
print("run returned", flush=True)
'''

SERVE_PROGRAM = APP + '''
import fastcorn
from fastcorn import Config

backend, fd = sys.argv[1], int(sys.argv[2])
config = Config(fd=fd, loop=backend, access_log=False)

async def main():
    code = await fastcorn.serve(app, config)
    print("serve returned", code, flush=True)

if backend == "trio":
    import trio
    trio.run(main)
elif backend == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    import asyncio
    asyncio.run(main())
'''


def run_program(tmp_path: Path, source: str, backend: str) -> tuple[int, str, str]:
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(source))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(script), backend, str(listener.fileno()), str(REPO)],
        cwd=REPO, pass_fds=[listener.fileno()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    listener.close()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/hi", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "the program never answered"
                time.sleep(0.05)
        assert response.status_code == 200
        assert response.content == b"Hello, world!"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out.decode(), err.decode()


def test_fastcorn_run(tmp_path: Path, backend: str) -> None:
    code, out, err = run_program(tmp_path, RUN_PROGRAM, backend)
    assert code == 0, err
    assert "run returned" in out
    assert "Traceback" not in err


def test_await_serve_inside_a_running_program(tmp_path: Path, backend: str) -> None:
    code, out, err = run_program(tmp_path, SERVE_PROGRAM, backend)
    assert code == 0, err
    assert "serve returned 0" in out
    assert "Traceback" not in err
