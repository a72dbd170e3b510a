"""The lifespan protocol: startup/shutdown, state, a failed startup, an app without it."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.timeout(30)


def test_startup_and_shutdown_run(serve, tmp_path):
    markers = tmp_path / "markers.txt"
    server = serve("tests.apps.basic:app", env={"FASTCORN_TEST_MARKERS": str(markers)})
    assert markers.read_text() == "startup\n"  # before the server listened
    assert httpx.get(server.url + "/", timeout=5).text == "hello"
    assert server.stop() == 0
    assert markers.read_text() == "startup\nshutdown\n"


def test_lifespan_state_reaches_requests(basic_server):
    assert httpx.get(basic_server.url + "/state", timeout=5).json() == {"db": "connected"}


def test_lifespan_off_skips_it(serve, tmp_path):
    markers = tmp_path / "markers.txt"
    server = serve("tests.apps.basic:app", "--lifespan", "off",
                   env={"FASTCORN_TEST_MARKERS": str(markers)})
    assert httpx.get(server.url + "/state", timeout=5).json() == {}
    assert server.stop() == 0
    assert not markers.exists()


def test_startup_failure_exits_non_zero(serve):
    server = serve("tests.apps.lifespan_fail:app", ready=False)
    code = server.wait(15)
    assert code != 0
    assert "boom db" in server.stderr
    assert "fastcorn listening on" not in server.stderr


def test_app_without_lifespan_is_served_under_auto(serve):
    server = serve("tests.apps.no_lifespan:app", "--lifespan", "auto")
    assert httpx.get(server.url + "/", timeout=5).text == "no lifespan here"
    assert server.stop() == 0
    lines = [line for line in server.stderr.splitlines() if "lifespan" in line.lower()]
    assert len(lines) == 1, server.stderr
    assert "unsupported" in lines[0] or "not supported" in lines[0], lines
    assert "Traceback" not in server.stderr


def test_app_without_lifespan_fails_under_on(serve):
    server = serve("tests.apps.no_lifespan:app", "--lifespan", "on", ready=False)
    assert server.wait(15) != 0
    assert "unsupported scope type 'lifespan'" in server.stderr
    assert "fastcorn listening on" not in server.stderr
