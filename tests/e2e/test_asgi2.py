"""An ASGI 2 (double-callable) class app on every loop: tests/apps/asgi2_clock.py."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def clock_server(backend):
    from tests.conftest import start_server

    server = start_server(backend, "tests.apps.asgi2_clock:App")
    yield server
    server.cleanup()


def test_root_answers_the_utc_time(clock_server):
    response = httpx.get(clock_server.url + "/", timeout=5)
    assert response.status_code == 200
    when = datetime.fromisoformat(response.text)
    assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 5


def test_other_paths_are_404(clock_server):
    response = httpx.get(clock_server.url + "/nope", timeout=5)
    assert response.status_code == 404
    assert response.text == "Not Found"


def test_keep_alive_and_a_body(clock_server):
    with httpx.Client(base_url=clock_server.url, timeout=5) as client:
        assert client.post("/", content=b"ignored " * 1000).status_code == 200
        assert client.get("/nope").status_code == 404
        assert client.get("/").status_code == 200


def test_lifespan_and_clean_exit(serve):
    server = serve("tests.apps.asgi2_clock:App")
    assert httpx.get(server.url + "/", timeout=5).status_code == 200
    assert server.stop() == 0
    assert "lifespan" not in server.stderr.lower(), server.stderr  # supported: nothing to say
    assert "Traceback" not in server.stderr
