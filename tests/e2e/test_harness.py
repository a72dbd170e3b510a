"""The fixtures themselves: a server that cannot start fails clearly, with its stderr."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.timeout(30)


def test_a_server_that_cannot_start_fails_with_its_stderr(serve):
    with pytest.raises(pytest.fail.Exception) as failure:
        serve("tests.apps.does_not_exist:app")
    message = str(failure.value)
    assert "fastcorn did not start" in message
    assert "exited with status 2" in message
    assert "cannot import module 'tests.apps.does_not_exist'" in message


def test_stop_returns_the_exit_code_and_the_process_is_gone(serve):
    server = serve("tests.apps.basic:app")
    assert httpx.get(server.url + "/", timeout=5).text == "hello"
    assert server.stop() == 0
    assert server.proc.poll() == 0
    assert "fastcorn listening on" in server.stderr
    assert server.stdout == ""
