"""Keep-alive, pipelining, HEAD, response heads and Upgrade, on a shared server per backend;
the httpx tests of ASGI semantics (the scope, HEAD, an app's error) over HTTP/2 as well."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest

from tests.e2e.protocols import both_protocols, client, version
from tests.e2e.rawhttp import Connection, chunked, exchange, request

# Every test here runs over http and https (the tls marker: tests/conftest.py).
pytestmark = [pytest.mark.timeout(30), pytest.mark.tls]

IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$")


def test_listening_line_names_the_scheme(basic_server, scheme):
    assert basic_server.address.startswith(f"{scheme}://127.0.0.1:"), basic_server.address


@both_protocols
def test_keep_alive_httpx(basic_server, protocol):
    ports = set()
    with client(basic_server, protocol) as c:
        for i in range(5):
            response = c.get("/info", params={"i": i})
            assert response.status_code == 200
            assert response.http_version == version(protocol)
            assert response.json()["query_string"] == f"i={i}"
            ports.add(tuple(response.json()["client"]))
    assert len(ports) == 1, f"the requests used {len(ports)} connections, not one"


@both_protocols
def test_scope_httpx(basic_server, protocol):
    with client(basic_server, protocol) as c:
        response = c.get("/info", params={"q": "a b"}, headers={"x-test": "v", "cookie": "a=1"})
    scope = response.json()
    assert scope["http_version"] == ("2" if protocol == "h2" else "1.1")
    assert scope["method"] == "GET" and scope["path"] == "/info"
    assert scope["query_string"] == "q=a+b"
    headers = scope["headers"]
    assert not any(name.startswith(":") for name, _ in headers)  # never pseudo-headers
    # HTTP/2's :authority is the host header
    assert [name for name, _ in headers].count("host") == 1
    assert ["host", f"127.0.0.1:{basic_server.port}"] in headers
    assert ["x-test", "v"] in headers and ["cookie", "a=1"] in headers
    assert scope["server"] == ["127.0.0.1", basic_server.port]


def test_pipelining_three_requests_in_one_send(basic_server):
    with Connection(basic_server) as conn:
        conn.send(request("GET", "/info?n=1")
                  + request("POST", "/echo", body=b"second")
                  + request("GET", "/info?n=3"))
        first, second, third = conn.response(), conn.response(), conn.response()
        assert first.status == second.status == third.status == 200
        assert first.json()["query_string"] == "n=1"
        assert second.body == b"second"
        assert third.json()["query_string"] == "n=3"
        # and the connection still serves
        assert conn.get("/").body == b"hello"


def test_head_has_length_and_no_body(basic_server):
    with Connection(basic_server) as conn:
        conn.send(request("HEAD", "/"))
        head = conn.response("HEAD")
        assert head.status == 200
        assert head.header("content-length") == "5"
        assert head.header("transfer-encoding") is None
        # No body bytes: the next bytes on the connection are the next response.
        get = conn.get("/")
        assert get.status_line == b"HTTP/1.1 200 OK\r\n"
        assert get.body == b"hello"



@both_protocols
def test_head_httpx(basic_server, protocol):
    with client(basic_server, protocol) as c:
        response = c.head("/")
        assert response.status_code == 200 and response.http_version == version(protocol)
        assert response.headers["content-length"] == "5"
        assert response.content == b""
        assert c.get("/").text == "hello"  # no stray body on the connection


def test_status_line_has_reason_phrase(basic_server):
    response = exchange(basic_server, request("GET", "/"))
    assert response.status_line == b"HTTP/1.1 200 OK\r\n"
    response = exchange(basic_server, request("GET", "/missing"))
    assert response.status_line == b"HTTP/1.1 404 Not Found\r\n"


def test_date_and_server_headers(basic_server):
    response = exchange(basic_server, request("GET", "/"))
    assert response.get_all("server") == ["fastcorn"]
    dates = response.get_all("date")
    assert len(dates) == 1
    assert IMF_FIXDATE.match(dates[0]), dates[0]
    when = parsedate_to_datetime(dates[0])
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 5


def test_no_server_header(serve):
    server = serve("tests.apps.basic:app", "--no-server-header")
    response = exchange(server, request("GET", "/"))
    assert response.status == 200
    assert response.header("server") is None
    assert IMF_FIXDATE.match(response.header("date") or ""), response.headers


def test_app_exception_is_a_plain_500(basic_server):
    mark = basic_server.mark()
    with Connection(basic_server) as conn:
        response = conn.get("/error")
        assert response.status_line == b"HTTP/1.1 500 Internal Server Error\r\n"
        assert b"Traceback" not in response.body
        assert b"deliberate failure" not in response.body
        conn.assert_closed()
    basic_server.wait_for_output("deliberate failure in the app", since=mark)
    assert exchange(basic_server, request("GET", "/")).status == 200


@both_protocols
def test_app_exception_is_a_plain_500_httpx(basic_server, protocol):
    mark = basic_server.mark()
    with client(basic_server, protocol) as c:
        response = c.get("/error")
        assert response.status_code == 500 and response.http_version == version(protocol)
        assert b"Traceback" not in response.content
        assert b"deliberate failure" not in response.content
        # HTTP/1.1 closes the connection after it; HTTP/2 resets nothing but the stream
        assert c.get("/").text == "hello"
    basic_server.wait_for_output("deliberate failure in the app", since=mark)


def test_upgrade_to_an_unknown_protocol_is_served_as_http(basic_server):
    upgrade = [
        ("Connection", "Upgrade"),
        ("Upgrade", "example-protocol/1"),
    ]
    with Connection(basic_server) as conn:
        response = conn.get("/info", upgrade)
        assert response.status == 200, response
        names = {name for name, _ in response.json()["headers"]}
        assert {"upgrade", "connection"} <= names
        # Not switched: the connection still speaks HTTP/1.1 if the server kept it open.
        if response.header("connection") != "close":
            assert conn.get("/").body == b"hello"


def test_curl_keep_alive_and_chunked_upload(basic_server):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    result = subprocess.run(
        [curl, "-sS", "-v", "--max-time", "10", "--http1.1", *basic_server.curl_args,
         f"{basic_server.url}/", "-o", "/dev/null",
         f"{basic_server.url}/info", "-o", "/dev/null"],
        capture_output=True, text=True, timeout=15)
    assert result.returncode == 0, result.stderr
    assert "Re-using existing connection" in result.stderr or "Reusing" in result.stderr, (
        result.stderr)
    result = subprocess.run(
        [curl, "-sS", "--max-time", "10", "--http1.1", *basic_server.curl_args,
         "-H", "Transfer-Encoding: chunked",
         "--data-binary", "@-", f"{basic_server.url}/echo"],
        input="hello from curl", capture_output=True, text=True, timeout=15)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from curl"


def test_chunked_helper_roundtrip(basic_server):
    """Sanity check of the raw client itself against the server's chunked decoding."""
    body = chunked(b"abc", b"defg")
    response = exchange(basic_server, request(
        "POST", "/echo", [("Transfer-Encoding", "chunked")], body))
    assert response.body == b"abcdefg"
