"""--header, --date-header, --env-file and --limit-max-requests on every backend."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.proxies import get

APP = "tests.apps.proxied:app"


def test_extra_headers_and_no_date(serve) -> None:
    server = serve(APP, "--header", "X-Frame-Options: DENY", "--header", "strict:1",
                   "--no-date-header")
    with httpx.Client(verify=server.verify) as client:
        response = client.get(server.url)
        again = client.get(server.url)  # the headers hold on the next response too
    for each in (response, again):
        assert each.headers["x-frame-options"] == "DENY" and each.headers["strict"] == "1"
        assert "date" not in each.headers and each.headers["server"] == "fastcorn"
        assert each.headers["x-upstream"] == "fastcorn"  # the app's own headers stay


def test_date_header_by_default(serve) -> None:
    server = serve(APP, tls=None)
    answer = get(server.port, source="127.0.0.1")
    assert answer.headers["date"].endswith(" GMT") and "x-frame-options" not in answer.headers


def test_env_file_reaches_the_app_before_import(serve, tmp_path: Path) -> None:
    (tmp_path / "envapp.py").write_text(
        "import os\n"
        "AT_IMPORT = os.environ.get('GREETING', '-')\n"
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    body = AT_IMPORT + '|' + os.environ.get('KEPT', '-')\n"
        "    await send({'type': 'http.response.body', 'body': body.encode()})\n")
    env_file = tmp_path / "app.env"
    env_file.write_text('GREETING="hello world"\nKEPT=from-file\n')
    server = serve("envapp:app", "--app-dir", str(tmp_path), "--env-file", str(env_file),
                   env={"KEPT": "from-environment"}, tls=None)
    assert get(server.port, source="127.0.0.1").body == b"hello world|from-environment"


def test_bad_env_file_is_a_usage_error(serve, tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nthis is not an assignment\n")
    server = serve(APP, "--env-file", str(bad), ready=False, tls=None)
    assert server.wait(20) == 2
    assert f"fastcorn: error: --env-file: {bad}:2: expected NAME=value" in server.stderr


def test_limit_max_requests_shuts_down_gracefully(serve) -> None:
    server = serve(APP, "--limit-max-requests", "3", tls=None)
    for _ in range(3):
        assert get(server.port, source="127.0.0.1").status == 200
    assert server.wait(10) == 0
    assert "Served 3 requests (--limit-max-requests): shutting down." in server.stderr
