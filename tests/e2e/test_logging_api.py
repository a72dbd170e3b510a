"""The Python API logs like the command: ``await fastcorn.serve(app, config)`` inside a
running asyncio, uvloop or trio program prints the start, listening, access and finish
lines through the ``fastcorn.*`` loggers; a program's own logging configuration is kept;
``log_config=`` plugs in a file; a bind failure is logged and returned as exit code 1.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.e2e.test_python_api import APP, REPO, run_program

RUNNER = '''
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

SERVE = APP + '''
import fastcorn
from fastcorn import Config

backend, fd = sys.argv[1], int(sys.argv[2])
PROLOGUE

async def main():
    code = await fastcorn.serve(app, Config(fd=fd, loop=backend OPTIONS))
    print("serve returned", code, flush=True)
''' + RUNNER


def program(prologue: str = "", options: str = "") -> str:
    return SERVE.replace("PROLOGUE", prologue).replace(" OPTIONS", options)


def test_serve_logs_like_run(tmp_path: Path, backend: str) -> None:
    code, out, err = run_program(tmp_path, program(), backend)
    assert code == 0, err
    assert "serve returned 0" in out
    lines = err.splitlines()
    assert re.fullmatch(r"\[fastcorn\] INFO: Started server process \[\d+\]", lines[0]), err
    assert re.search(r"^\[fastcorn\] INFO: fastcorn listening on http://127\.0\.0\.1:\d+ "
                     rf"\(loop: {backend}\)$", err, re.M), err
    assert re.search(r'^127\.0\.0\.1:\d+ - "GET /hi HTTP/1\.1" 200 13 [\d.]+ms$', err, re.M), err
    assert re.fullmatch(r"\[fastcorn\] INFO: Finished server process \[\d+\]", lines[-1]), err


def test_a_program_that_configured_logging_keeps_it(tmp_path: Path, backend: str) -> None:
    prologue = textwrap.dedent('''
        import logging
        logging.basicConfig(format="PROGRAM %(name)s %(levelname)s %(message)s",
                            level=logging.INFO)
        ''')
    code, out, err = run_program(tmp_path, program(prologue), backend)
    assert code == 0, err
    assert "[fastcorn]" not in err  # fastcorn added no handler of its own
    assert re.search(r"^PROGRAM fastcorn\.error INFO fastcorn listening on ", err, re.M), err
    assert re.search(r'^PROGRAM fastcorn\.access INFO 127\.0\.0\.1:\d+ - "GET /hi HTTP/1\.1" '
                     r"200 ", err, re.M), err
    assert err.count("listening on") == 1  # and no line twice


def test_log_config_in_the_python_api(tmp_path: Path, backend: str) -> None:
    log_file = tmp_path / "fastcorn.log"
    config = tmp_path / "logging.json"
    config.write_text(json.dumps({
        "version": 1,
        "formatters": {"f": {"format": "FILE %(name)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "formatter": "f",
                              "filename": str(log_file)}},
        "loggers": {"fastcorn": {"handlers": ["file"], "level": "INFO",
                                 "propagate": False}},
    }))
    source = program(options=f", log_config={str(config)!r}")
    code, out, err = run_program(tmp_path, source, backend)
    assert code == 0, err
    assert "fastcorn" not in err, err
    logged = log_file.read_text()
    assert re.search(r"^FILE fastcorn\.error fastcorn listening on ", logged, re.M), logged
    assert re.search(r'^FILE fastcorn\.access 127\.0\.0\.1:\d+ - "GET /hi HTTP/1\.1" 200',
                     logged, re.M), logged
    assert re.search(r"^FILE fastcorn\.error Finished server process", logged, re.M), logged


def test_serve_reports_a_bind_failure(tmp_path: Path, backend: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        script = tmp_path / "program.py"
        script.write_text(APP + textwrap.dedent(f'''
            import fastcorn
            backend = sys.argv[1]

            async def main():
                code = await fastcorn.serve(app, port={port}, loop=backend)
                print("serve returned", code, flush=True)
            ''') + RUNNER)
        result = subprocess.run([sys.executable, str(script), backend, "-", str(REPO)],
                                cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "serve returned 1\n"
    assert result.stderr == (f"[fastcorn] ERROR: Cannot bind 127.0.0.1:{port}: "
                             "address already in use\n")
