"""--access-log-format on every backend: named fields and JSON lines, written by a real
server for real requests; a proxied client shows in them."""

from __future__ import annotations

import json

import httpx

from tests.e2e.proxies import get

APP = "tests.apps.proxied:app"


def test_template_fields(serve) -> None:
    server = serve(APP, "--access-log-format",
                   '{client_host} "{method} {target} {protocol}" {status} {bytes} in={bytes_in} '
                   "{duration_us}us id={request_id} ua={request_header:user-agent} "
                   "type={response_header:x-upstream}")
    with httpx.Client(verify=server.verify) as client:
        response = client.post(f"{server.url}/p?q=1", content=b"hello",
                               headers={"user-agent": "tester 1", "x-request-id": "abc"})
    assert response.status_code == 200
    line = server.wait_for_output(r'^127\.0\.0\.1 "POST /p\?q=1 HTTP/1\.1" 200 ')
    assert f" {len(response.content)} in=5 " in line
    assert " id=abc ua=tester 1 type=fastcorn" in line
    assert int(line.split("us id=")[0].rsplit(" ", 1)[1]) > 0


def test_json_lines_with_a_proxied_client(serve) -> None:
    server = serve(APP, "--access-log-format", "json", tls=None)
    get(server.port, "/j%22x", {"x-forwarded-for": "203.0.113.9", "referer": "http://r/"},
        source="127.0.0.1")
    line = server.wait_for_output(r'^\{"time"')
    record = json.loads(line)
    assert record["client"] == "203.0.113.9:0" and record["target"] == "/j%22x"
    assert record["status"] == 200 and record["referer"] == "http://r/"
    assert record["protocol"] == "HTTP/1.1" and len(record["request_id"]) == 32


def test_no_access_log_means_no_line(serve) -> None:
    server = serve(APP, "--no-access-log", "--access-log-format", "json", tls=None)
    mark = server.mark()
    assert get(server.port, "/quiet", source="127.0.0.1").status == 200
    assert get(server.port, "/quiet2", source="127.0.0.1").status == 200
    assert "quiet" not in server.output_since(mark)
