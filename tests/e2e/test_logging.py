"""Logging a user can act on, on every backend, read from a real server's stderr.

The access line (the request target as sent; its duration up to the response, not up to
the end of background work), rejected requests, debug and trace levels, lifespan failures
reported once, the start/finish pair, bind failures, and ``--log-config`` files given by
flag, environment variable and TOML key.
"""

from __future__ import annotations

import json
import re
import socket
import textwrap
import threading
import time
import uuid

import httpx
import pytest

from tests.e2e.rawhttp import Connection, connect, read_response, request

pytestmark = pytest.mark.timeout(40)

ACCESS = re.compile(r'^(\S+) - "(\S+) (\S+) HTTP/([\d.]+)" (\d{3}) (\S+) (\S+)$', re.M)


def access_lines(text: str) -> list[tuple[str, ...]]:
    return ACCESS.findall(text)


# --------------------------------------------------------------------------------------------
# the access line


def test_access_line_logs_the_target_as_sent(serve):
    server = serve("tests.apps.logging_apps:app")
    mark = server.mark()
    with Connection(server) as conn:
        port = conn.sock.getsockname()[1]
        response = conn.get("/admin/login/?next=/admin/")
        assert response.status == 200 and response.body == b"login, then /admin/"
        # Percent-encoding stays as the client sent it (the path is not decoded).
        assert conn.get("/admin/login/?next=%2Fa%20b%22").status == 200
    line = server.wait_for_output(r'"GET /admin/login/\?next=%2F', since=mark)
    lines = access_lines(server.output_since(mark))
    assert lines[:2] == [
        (f"127.0.0.1:{port}", "GET", "/admin/login/?next=/admin/", "1.1", "200", "19",
         lines[0][6]),
        (f"127.0.0.1:{port}", "GET", "/admin/login/?next=%2Fa%20b%22", "1.1", "200",
         lines[1][5], lines[1][6]),
    ], line


def test_access_duration_ends_with_the_response_not_the_background_task(serve):
    server = serve("tests.apps.logging_apps:app")
    mark = server.mark()
    started = time.monotonic()
    response = httpx.post(server.url + "/bgslow", content=b"x" * 15, timeout=10)
    client_seconds = time.monotonic() - started
    assert response.status_code == 200 and response.text == "accepted"
    assert client_seconds < 1.5
    # Logged when the response completed: well before the 3 s background task ends.
    line = server.wait_for_output(r'"POST /bgslow HTTP/1.1" 200', timeout=1.5, since=mark)
    duration = float(re.search(r" ([\d.]+)ms$", line.rstrip()).group(1))
    assert duration < 1000, line
    # One line per request, not a second one when the background task ends.
    time.sleep(3.5)
    assert len(re.findall(r'"POST /bgslow', server.output_since(mark))) == 1


def test_no_access_log(serve):
    server = serve("tests.apps.basic:app", "--no-access-log")
    mark = server.mark()
    assert httpx.get(server.url + "/", timeout=5).status_code == 200
    assert server.stop() == 0
    assert access_lines(server.output_since(mark)) == []


# --------------------------------------------------------------------------------------------
# rejected requests: a warning with the reason, and an access line


@pytest.fixture(scope="module")
def strict_server(backend):
    from tests.conftest import start_server

    server = start_server(backend, "tests.apps.basic:app", "--limit-request-head", "4096",
                          "--timeout-request-head", "1")
    yield server
    server.cleanup()


HOST = b"Host: e2e.test\r\n"

REJECTED = {
    "garbage": (400, b"THIS IS NOT HTTP\r\n\r\n", None),
    "bad-header": (400, b"GET /h HTTP/1.1\r\n" + HOST + b"Bad Name: v\r\n\r\n", "/h"),
    "content-length-list": (
        400, b"POST /echo HTTP/1.1\r\n" + HOST + b"Content-Length: 5, 6\r\n\r\nhello", "/echo"),
    "head-too-large": (
        431, b"GET /big HTTP/1.1\r\n" + HOST + b"X-Pad: " + b"p" * 8000 + b"\r\n\r\n", None),
    "transfer-encoding-gzip": (
        501, b"POST /up HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip\r\n\r\n", "/up"),
    "http-version": (505, b"GET /old HTTP/0.9\r\n" + HOST + b"\r\n", "/old"),
    "slow-head": (408, b"GET /slowloris HTTP/1.1\r\n" + HOST, "/slowloris"),
}
PHRASES = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large",
           501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported"}


def assert_rejection_logged(server, mark, port, status, target):
    client = f"127.0.0.1:{port}"
    warning = server.wait_for_output(
        rf"WARNING: Rejected request from {re.escape(client)}: {status} ", since=mark)
    assert f"{status} {PHRASES[status]}" in warning, warning
    access = server.wait_for_output(rf'^{re.escape(client)} - ".*" {status} ', since=mark)
    if target is not None:
        assert target in access, access
    # A client's mistake is a warning, not an error with a traceback.
    output = server.output_since(mark)
    assert "Traceback" not in output and "ERROR" not in output


@pytest.mark.parametrize("name", list(REJECTED))
def test_rejected_request_is_logged(strict_server, name):
    status, data, target = REJECTED[name]
    mark = strict_server.mark()
    with connect(strict_server, timeout=6) as sock, sock.makefile("rb") as reader:
        port = sock.getsockname()[1]
        sock.sendall(data)
        response = read_response(reader)
        assert response.status == status, response
    assert_rejection_logged(strict_server, mark, port, status, target)


def test_over_limit_concurrency_is_logged(serve):
    server = serve("tests.apps.basic:app", "--limit-concurrency", "1")
    k = uuid.uuid4().hex
    mark = server.mark()
    thread = threading.Thread(target=lambda: httpx.get(
        server.url + "/slow", params={"delay": "1.5", "id": k}, timeout=10))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while True:
            with connect(server) as sock, sock.makefile("rb") as reader:
                port = sock.getsockname()[1]
                sock.sendall(request("GET", f"/events?id={k}"))
                response = read_response(reader)
            if response.status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert response.status == 503
    finally:
        thread.join(10)
    assert_rejection_logged(server, mark, port, 503, f"/events?id={k}")


# --------------------------------------------------------------------------------------------
# levels


def test_info_level_has_no_debug_or_trace_lines(basic_server):
    mark = basic_server.mark()
    assert httpx.get(basic_server.url + "/", timeout=5).status_code == 200
    basic_server.wait_for_output(r'"GET / HTTP/1.1" 200', since=mark)
    assert "DEBUG" not in basic_server.stderr and "TRACE" not in basic_server.stderr


def test_debug_level_logs_startup_and_lifespan_decisions(serve):
    server = serve("tests.apps.basic:app", "--log-level", "debug", "--limit-concurrency", "7")
    out = server.stderr
    assert re.search(r"DEBUG: Loop (asyncio|uvloop|trio); options: .*limit_concurrency=7", out)
    assert "DEBUG: Application startup complete." in out
    assert server.stop() == 0
    assert "DEBUG: Application shutdown complete." in server.stderr
    assert "TRACE" not in server.stderr


def test_debug_level_logs_connections(serve):
    server = serve("tests.apps.basic:app", "--log-level", "debug")
    mark = server.mark()
    with Connection(server) as conn:
        port = conn.sock.getsockname()[1]
        assert conn.get("/").status == 200
    client = re.escape(f"127.0.0.1:{port}")
    server.wait_for_output(rf"DEBUG: {client} - connection open", since=mark)
    server.wait_for_output(rf"DEBUG: {client} - connection closed", since=mark)


def test_trace_level_logs_asgi_messages(serve):
    server = serve("tests.apps.basic:app", "--log-level", "trace")
    assert re.search(r"TRACE: - - ASGI \[\d+\] lifespan scope:", server.stderr)
    mark = server.mark()
    with Connection(server) as conn:
        port = conn.sock.getsockname()[1]
        conn.send(request("POST", "/echo", body=b"ping"))
        assert conn.response("POST").body == b"ping"
    client = re.escape(f"127.0.0.1:{port}")
    server.wait_for_output(rf"TRACE: {client} - ASGI \[\d+\] completed", since=mark)
    out = server.output_since(mark)
    assert re.search(rf"TRACE: {client} - ASGI \[\d+\] http scope: .*'method': 'POST'", out)
    assert re.search(rf"{client} - ASGI \[\d+\] receive: {{'type': 'http.request', "
                     r"'body': b'ping'", out)
    assert re.search(rf"{client} - ASGI \[\d+\] send: {{'type': 'http.response.start', "
                     r"'status': 200", out)
    assert "DEBUG" in server.stderr  # trace includes debug


# --------------------------------------------------------------------------------------------
# lifecycle lines and failures


def test_started_and_finished_server_process(serve):
    server = serve("tests.apps.basic:app")
    assert server.stderr.splitlines()[0].endswith(f"Started server process [{server.pid}]")
    assert server.stop() == 0
    assert server.stderr.splitlines()[-1].endswith(f"Finished server process [{server.pid}]")


def test_failing_lifespan_startup_prints_one_traceback(serve):
    server = serve("tests.apps.logging_apps:failing_startup", ready=False)
    assert server.wait(15) == 3
    err = server.stderr
    assert err.count("Traceback (most recent call last)") == 1, err
    assert err.count("RuntimeError: cannot connect to db") == 2, err  # traceback + summary
    assert "ERROR: Application startup failed: RuntimeError: cannot connect to db" in err
    assert f"Started server process [{server.pid}]" in err
    assert f"Finished server process [{server.pid}]" in err
    assert "listening on" not in err


def test_failing_lifespan_shutdown_prints_one_traceback(serve):
    server = serve("tests.apps.logging_apps:failing_shutdown")
    assert server.stop() == 0
    err = server.stderr
    assert err.count("Traceback (most recent call last)") == 1, err
    assert "ERROR: Application shutdown failed: RuntimeError: cannot flush the queue" in err


def test_bind_failure_names_the_address(serve):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = serve("tests.apps.basic:app", "--bind", f"127.0.0.1:{port}", ready=False)
        assert server.wait(15) == 1
    lines = server.stderr.splitlines()
    assert lines == [f"[fastcorn] ERROR: Cannot bind 127.0.0.1:{port}: address already in use"]


# --------------------------------------------------------------------------------------------
# --log-config


def dict_config(fmt: str) -> dict:
    return {
        "version": 1,
        "formatters": {"custom": {"format": fmt}},
        "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "custom",
                             "stream": "ext://sys.stderr"}},
        "loggers": {"fastcorn": {"handlers": ["err"], "propagate": False}},
    }


def write_log_config(tmp_path, kind):
    fmt = "CUSTOM %(name)s %(levelname)s %(message)s"
    if kind == "json":
        path = tmp_path / "logging.json"
        path.write_text(json.dumps(dict_config(fmt)))
    elif kind == "yaml":
        pytest.importorskip("yaml", reason="YAML log configs need PyYAML")
        path = tmp_path / "logging.yaml"
        path.write_text(textwrap.dedent("""\
            version: 1
            formatters:
              custom: {format: "CUSTOM %(name)s %(levelname)s %(message)s"}
            handlers:
              err: {class: logging.StreamHandler, formatter: custom, stream: ext://sys.stderr}
            loggers:
              fastcorn: {handlers: [err], propagate: false}
            """))
    else:
        path = tmp_path / "logging.ini"
        path.write_text(textwrap.dedent("""\
            [loggers]
            keys=root,fastcorn

            [handlers]
            keys=err

            [formatters]
            keys=custom

            [logger_root]
            handlers=

            [logger_fastcorn]
            handlers=err
            propagate=0
            qualname=fastcorn

            [handler_err]
            class=StreamHandler
            formatter=custom
            args=(sys.stderr,)

            [formatter_custom]
            format=CUSTOM %(name)s %(levelname)s %(message)s
            """))
    return path


@pytest.mark.parametrize(("kind", "source"), [("json", "flag"), ("yaml", "env"),
                                              ("ini", "toml")])
def test_log_config_file(serve, tmp_path, kind, source):
    path = write_log_config(tmp_path, kind)
    args: list[str] = []
    env = None
    if source == "flag":
        args = ["--log-config", str(path)]
    elif source == "env":
        env = {"FASTCORN_LOG_CONFIG": str(path)}
    else:
        toml = tmp_path / "fastcorn.toml"
        toml.write_text(f"log_config = {json.dumps(str(path))}\n")
        args = ["--config", str(toml)]
    server = serve("tests.apps.basic:app", *args, env=env)
    mark = server.mark()
    assert httpx.get(server.url + "/?x=1", timeout=5).status_code == 200
    server.wait_for_output(r'^CUSTOM fastcorn\.access INFO 127\.0\.0\.1:\d+ - "GET /\?x=1 ',
                           since=mark)
    assert server.stop() == 0
    err = server.stderr
    assert re.search(r"^CUSTOM fastcorn\.error INFO Started server process", err, re.M)
    assert re.search(r"^CUSTOM fastcorn\.error INFO fastcorn listening on", err, re.M)
    assert "[fastcorn]" not in err  # fastcorn's own handlers are not installed


@pytest.mark.parametrize(("content", "needle"), [
    (None, "cannot read"),
    ("{not json", "is not valid JSON"),
    ('{"version": 1, "handlers": {"h": {"class": "nope.Nope"}}}',
     "is not a valid logging configuration"),
])
def test_bad_log_config_is_a_usage_error(serve, tmp_path, content, needle):
    path = tmp_path / "logging.json"
    if content is not None:
        path.write_text(content)
    server = serve("tests.apps.basic:app", "--log-config", str(path), ready=False)
    assert server.wait(15) == 2
    lines = server.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastcorn: error: --log-config: "), lines
    assert needle in lines[0]
