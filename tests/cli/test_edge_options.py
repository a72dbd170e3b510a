"""The options of issue 13 as the command line, the environment and TOML give them:
[proxy], --access-log-format, --header, --date-header, --env-file, --limit-max-requests.
What they do is tested end to end in tests/e2e (test_proxy_*, test_access_log_format,
test_response_options)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fastcorn.cli import UsageError, resolve_options
from fastcorn.config import Config, ConfigError
from fastcorn.envfile import load_env_file, parse_env_file
from fastcorn.logging import compile_access_format
from fastcorn.server import date_headers, extra_headers


def options(*argv: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    return resolve_options(["app:app", *argv], env or {})


def test_defaults() -> None:
    config = Config()
    assert config.proxy.proxy_headers is True and config.proxy.proxy_protocol is False
    assert config.proxy.forwarded_allow_ips == "127.0.0.1"
    assert config.logging.access_log_format is None
    assert config.http1.date_header is True and config.http1.header == ()
    assert config.server.env_file is None and config.limits.max_requests is None


def test_proxy_options_from_every_source(tmp_path: Path) -> None:
    got = options("--no-proxy-headers", "--proxy-protocol", "--forwarded-allow-ips",
                  "10.0.0.0/8, ::1,unix")
    assert got["proxy_headers"] is False and got["proxy_protocol"] is True
    assert got["forwarded_allow_ips"] == "10.0.0.0/8,::1,unix"
    env = options(env={"FASTCORN_FORWARDED_ALLOW_IPS": "*", "FASTCORN_PROXY_PROTOCOL": "1"})
    assert env["forwarded_allow_ips"] == "*" and env["proxy_protocol"] is True
    toml = tmp_path / "f.toml"
    toml.write_text('[proxy]\nforwarded_allow_ips = "192.0.2.0/24"\nproxy_headers = false\n')
    got = options("--config", str(toml))
    assert got["forwarded_allow_ips"] == "192.0.2.0/24" and got["proxy_headers"] is False


@pytest.mark.parametrize(("argv", "needle"), [
    (["--forwarded-allow-ips", "localhost"], "--forwarded-allow-ips: not an IP address"),
    (["--forwarded-allow-ips", "10.0.0.0/40"], "--forwarded-allow-ips: not an IP network"),
    (["--access-log-format", "{client} {nope}"], "unknown access log field {nope}"),
    (["--access-log-format", "{request_header:}"], "unknown access log field"),
    (["--access-log-format", "{status"], "unmatched"),
    (["--header", "no-colon"], "--header: expected NAME:VALUE"),
    (["--header", "bad name:x"], "--header: expected NAME:VALUE"),
    (["--header", "x-a:caf\u00e9"], "--header: header value must be printable ASCII"),
    (["--limit-max-requests", "0"], "--limit-max-requests: must be a positive integer"),
])
def test_bad_values_are_one_line_errors(argv: list[str], needle: str) -> None:
    with pytest.raises((ConfigError, UsageError), match=None) as info:
        options(*argv)
    assert needle in str(info.value)


def test_header_repeats_and_date_header() -> None:
    got = options("--header", "X-Frame-Options: DENY", "--header", "x-b:2", "--no-date-header")
    assert got["header"] == ["X-Frame-Options:DENY", "x-b:2"] and got["date_header"] is False
    fields = extra_headers(tuple(got["header"]))
    assert fields == ((b"x-frame-options", b"DENY"), (b"x-b", b"2"))
    assert [name for name, _ in date_headers(True, True, fields)] == [
        b"date", b"server", b"x-frame-options", b"x-b"]
    assert [name for name, _ in date_headers(True, False)] == [b"server"]
    assert date_headers(True, True, ((b"server", b"mine"),))[1:] == [(b"server", b"mine")]
    env = options(env={"FASTCORN_HEADER": "x-a:1,x-b:2"})
    assert env["header"] == ["x-a:1", "x-b:2"]


def test_env_file_parsing() -> None:
    text = """
# a comment
PLAIN=value
export EXPORTED = spaced   # inline comment
SINGLE='its #not a comment'
DOUBLE="line\\nbreak \\"quoted\\" # kept"
EMPTY=
HASH=a#b
"""
    parsed = parse_env_file(text.replace("SINGLE='its #not a comment'",
                                         "SINGLE='its #not a comment'"), "f")
    assert parsed == {"PLAIN": "value", "EXPORTED": "spaced", "SINGLE": "its #not a comment",
                      "DOUBLE": 'line\nbreak "quoted" # kept', "EMPTY": "", "HASH": "a#b"}


@pytest.mark.parametrize(("text", "needle"), [
    ("NO_EQUALS", "f:1: expected NAME=value"),
    ("\n1BAD=x", "f:2: expected NAME=value"),
    ("A='open", "f:1: no closing single quote"),
    ('A="open', "f:1: no closing double quote"),
    ('A="x" y', "f:1: unexpected text after the closing quote"),
])
def test_env_file_errors_name_the_line(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_env_file(text, "f")


def test_env_file_does_not_override(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=from-file\nB=from-file\n")
    environ = {"A": "set"}
    load_env_file(str(path), environ)
    assert environ == {"A": "set", "B": "from-file"}
    with pytest.raises(ConfigError, match="--env-file: .*cannot read"):
        load_env_file(str(tmp_path / "missing"), {})


def fake_cycle(**overrides: Any) -> SimpleNamespace:
    scope = {"client": ("10.0.0.7", 4321), "method": "GET", "path": "/a b",
             "raw_path": b"/a%20b", "query_string": b"q=1", "scheme": "https",
             "http_version": "1.1",
             "headers": [(b"user-agent", b'curl "8"'), (b"x-request-id", b"req-1")]}
    values: dict[str, Any] = {
        "scope": scope, "status": 201, "response_bytes": 13, "request_bytes": 5,
        "response_headers": [(b"Content-Type", b"text/plain")],
        "start_time": time.perf_counter() - 0.0123, "target": b"/a%20b?q=1"}
    values.update(overrides)
    return SimpleNamespace(**values)


def test_access_format_fields() -> None:
    render = compile_access_format(
        '{client} {client_host} {client_port} "{method} {target} {protocol}" {status} '
        "{bytes} {bytes_in} {path} {query} {scheme} {http_version} {request_id} "
        'ua="{request_header:User-Agent}" ct={response_header:content-type} '
        "missing={request_header:x-none} {{literal}}")
    line = render(fake_cycle())
    assert line == (
        '10.0.0.7:4321 10.0.0.7 4321 "GET /a%20b?q=1 HTTP/1.1" 201 13 5 /a\\x20b q=1 https '
        '1.1 req-1 ua="curl \\x228\\x22" ct=text/plain missing=- {literal}')
    durations = compile_access_format("{duration_ms} {duration_us} {duration_s} {time}")(
        fake_cycle()).split()
    assert 12.0 <= float(durations[0]) < 1000 and 12000 <= int(durations[1])
    assert 0.012 <= float(durations[2]) and "T" in durations[3]
    # no X-Request-ID: a fresh id, the same wherever the line repeats it
    no_id = fake_cycle(scope={"client": None, "method": "GET", "path": "/",
                              "http_version": "2", "headers": []}, target=None)
    first, second, client = compile_access_format("{request_id} {request_id} {client}")(
        no_id).split()
    assert first == second and len(first) == 32 and client == "-"


def test_access_format_json() -> None:
    record = json.loads(compile_access_format("json")(fake_cycle()))
    assert record["client"] == "10.0.0.7:4321" and record["target"] == "/a%20b?q=1"
    assert record["status"] == 201 and record["bytes"] == 13 and record["bytes_in"] == 5
    assert record["protocol"] == "HTTP/1.1" and record["request_id"] == "req-1"
    assert record["user_agent"] == 'curl "8"' and record["referer"] is None
    assert record["duration_ms"] >= 12.0
    evil = fake_cycle(target=b"/\r\n{\"forged\": 1}")
    line = compile_access_format("json")(evil)
    assert "\n" not in line and json.loads(line)["target"] == '/\r\n{"forged": 1}'
