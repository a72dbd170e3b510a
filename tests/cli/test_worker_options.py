"""The [processes] options from the command line: one line and exit status 2 for what
cannot work, before anything binds or the app is imported; a bind error is exit 1 with no
worker started; the Python API refuses an app object for workers."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

import fastcorn
from fastcorn.config import Config, ConfigError
from fastcorn.supervisor import check, wanted
from tests.conftest import REPO, server_env


def fastcorn_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastcorn", "tests.apps.workers:app", *args],
                          cwd=REPO, env=server_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "--workers: must be a positive integer, got 0"),
    (["--max-requests-jitter", "5"], "--max-requests-jitter needs --max-requests"),
    (["--reload", "--reload-dir", "/no/such/dir"], "--reload-dir: /no/such/dir is not a "
                                                   "directory"),
    (["--workers", "2", "--pid", "/no/such/dir/f.pid", "--port", "0"],
     "--pid: cannot write /no/such/dir/f.pid: No such file or directory"),
    (["--timeout-worker-healthcheck", "0"],
     "--timeout-worker-healthcheck: must be a positive number, got 0.0"),
])
def test_bad_worker_option_is_one_line_and_exit_2(args, message):
    result = fastcorn_cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"fastcorn: error: {message}\n"


def test_bind_failure_starts_no_worker():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fastcorn_cli("--workers", "2", "--port", str(port))
    assert result.returncode == 1
    assert f"Cannot bind 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Started worker" not in result.stderr


def test_supervisor_only_when_asked():
    assert not wanted(Config().processes)
    assert wanted(Config(workers=2).processes)
    assert wanted(Config(reload=True).processes)
    assert wanted(Config(max_requests=10).processes)
    assert wanted(Config(max_worker_memory=100).processes)
    assert not wanted(Config(reuse_port=True, pid="x.pid").processes)


def test_python_api_needs_an_import_string_for_workers():
    async def app(scope, receive, send):  # pragma: no cover - never served
        pass

    with pytest.raises(ConfigError, match="import string"):
        fastcorn.run(app, workers=2)
    check(Config("tests.apps.workers:app", workers=2))  # a string is fine
