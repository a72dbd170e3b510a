"""fastcorn.logging at the function level: the lines the compiled core asks for (access,
rejected requests, connections, raw data), their escaping, logging configuration (fastcorn's
handlers, a program's own, ``log_config`` files), ASGI tracing and the asyncio-on-trio hint.

Records are collected by a real ``logging.Handler``; the asyncio errors are the real ones,
raised by asyncio code run under ``trio.run``.
"""

from __future__ import annotations

import asyncio
import builtins
import io
import json
import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastcorn.config import ConfigError
from fastcorn.logging import (
    TRACE,
    AppErrorLogger,
    access_logger,
    configure_logging,
    debug_enabled,
    error_logger,
    escape,
    format_access,
    log_access,
    log_connection,
    log_data,
    log_rejected,
    trace_app,
    trace_enabled,
)
from tests.logging_state import saved_logging


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int | None = None) -> list[str]:
        return [r.getMessage() for r in self.records if level is None or r.levelno == level]


def no_root_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the root handlers pytest adds for each test phase (call it in the test body)."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """fastcorn's loggers as a fresh process has them (see no_root_handlers for the root)."""
    with saved_logging():
        for logger in (logging.getLogger("fastcorn"), error_logger, access_logger):
            logger.handlers.clear()
            logger.setLevel(logging.NOTSET)
            logger.propagate = True
        import fastcorn.logging as fl

        fl._our_handlers.clear()
        fl._our_levels.clear()
        fl._applied_log_config = None
        yield


@pytest.fixture
def collect(clean_logging: None) -> Iterator[Collect]:
    """fastcorn's records, everything from TRACE up, in one list."""
    handler = Collect()
    for logger in (error_logger, access_logger):
        logger.addHandler(handler)
        logger.setLevel(TRACE)
        logger.propagate = False
    yield handler


# --------------------------------------------------------------------------------------------
# access lines


def test_format_access_logs_the_target_as_sent() -> None:
    line = format_access(("127.0.0.1", 53210), "GET", "/admin/login/?next=/admin/", "1.1",
                         302, 0, 0.0004)
    assert line == '127.0.0.1:53210 - "GET /admin/login/?next=/admin/ HTTP/1.1" 302 0 0.4ms'
    line = format_access(("::1", 8), "POST", "/a%20b?q=%22x%22", "2", 201, 13, 0.25)
    assert line == '[::1]:8 - "POST /a%20b?q=%22x%22 HTTP/2" 201 13 250.0ms'
    assert format_access(None, "GET", "/", "1.1", 204, 0, 0).startswith('- - "GET / HTTP/1.1"')
    assert format_access(("/tmp/s.sock",), "GET", "*", "1.1", 200, 0, 0).startswith(
        '/tmp/s.sock - "GET * HTTP/1.1"')


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/plain?x=1&y=%0A", "/plain?x=1&y=%0A"),
        ("/a\nb", "/a\\x0Ab"),  # a newline cannot start a forged line
        ("/a\r\n127.0.0.1 - \"GET /", "/a\\x0D\\x0A127.0.0.1\\x20-\\x20\\x22GET\\x20/"),
        ('/q"', "/q\\x22"),  # a quote cannot end the request field
        ("/back\\slash", "/back\\x5Cslash"),  # so that \x22 above is unambiguous
        ("/caf\xc3\xa9", "/caf\\xC3\\xA9"),  # UTF-8 bytes as sent (latin-1 decoded)
        ("/\x7f\x00", "/\\x7F\\x00"),
        ("/\u2028", "/\\xE2\\x80\\xA8"),  # a str that did not come from latin-1 bytes
    ],
)
def test_access_line_escapes_what_could_forge_a_line(target: str, logged: str) -> None:
    line = format_access(("10.0.0.1", 1), "GET", target, "1.1", 404, 0, 0)
    assert line == f'10.0.0.1:1 - "GET {logged} HTTP/1.1" 404 0 0.0ms'
    assert line.isprintable() and line.count('"') == 2


def test_escape_keeps_printable_ascii_untouched() -> None:
    text = "/" + "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')
    assert escape(text) is text
    assert escape("a b", keep_space=True) == "a b"
    assert escape("a b") == "a\\x20b"


def test_log_access(collect: Collect) -> None:
    log_access(("1.2.3.4", 5), "GET", "/x?y=1", "1.1", 200, 2, 0.001)
    assert collect.lines() == ['1.2.3.4:5 - "GET /x?y=1 HTTP/1.1" 200 2 1.0ms']
    assert collect.records[0].name == "fastcorn.access"
    access_logger.setLevel(logging.WARNING)
    log_access(("1.2.3.4", 5), "GET", "/", "1.1", 200, 2, 0.001)
    assert len(collect.records) == 1


# --------------------------------------------------------------------------------------------
# rejected requests


@pytest.mark.parametrize(
    ("status", "reason", "request_line", "warning", "access"),
    [
        (400, "invalid header", "GET /x HTTP/1.1",
         "Rejected request from 127.0.0.1:5000: 400 Bad Request (invalid header)",
         '127.0.0.1:5000 - "GET /x HTTP/1.1" 400 - -'),
        (408, "request head not received in time", None,
         "Rejected request from 127.0.0.1:5000: 408 Request Timeout "
         "(request head not received in time)",
         '127.0.0.1:5000 - "-" 408 - -'),
        (431, "", "GET /big HTTP/1.1",
         "Rejected request from 127.0.0.1:5000: 431 Request Header Fields Too Large",
         '127.0.0.1:5000 - "GET /big HTTP/1.1" 431 - -'),
        (501, "transfer coding gzip", "POST /up HTTP/1.1",
         "Rejected request from 127.0.0.1:5000: 501 Not Implemented (transfer coding gzip)",
         '127.0.0.1:5000 - "POST /up HTTP/1.1" 501 - -'),
        (505, "HTTP/3.0", "GET / HTTP/3.0",
         "Rejected request from 127.0.0.1:5000: 505 HTTP Version Not Supported (HTTP/3.0)",
         '127.0.0.1:5000 - "GET / HTTP/3.0" 505 - -'),
        (503, "--limit-concurrency", "GET /slow HTTP/1.1",
         "Rejected request from 127.0.0.1:5000: 503 Service Unavailable (--limit-concurrency)",
         '127.0.0.1:5000 - "GET /slow HTTP/1.1" 503 - -'),
        (499, "odd", "", "Rejected request from 127.0.0.1:5000: 499 (odd)",
         '127.0.0.1:5000 - "-" 499 - -'),
    ],
)
def test_log_rejected(collect: Collect, status: int, reason: str, request_line: str | None,
                      warning: str, access: str) -> None:
    log_rejected(("127.0.0.1", 5000), status, reason, request_line)
    assert [(r.name, r.levelno, r.getMessage()) for r in collect.records] == [
        ("fastcorn.error", logging.WARNING, warning),
        ("fastcorn.access", logging.INFO, access),
    ]


def test_log_rejected_escapes_and_bounds_the_request_line(collect: Collect) -> None:
    log_rejected(("::1", 7), 400, 'bad\nreason', 'GET /x\r\n"forged" HTTP/1.1')
    warning, access = collect.lines()
    assert warning == "Rejected request from [::1]:7: 400 Bad Request (bad\\x0Areason)"
    assert access == '[::1]:7 - "GET /x\\x0D\\x0A\\x22forged\\x22 HTTP/1.1" 400 - -'
    log_rejected(None, 431, "", "GET /" + "a" * 5000 + " HTTP/1.1")
    line = collect.lines()[-1]
    assert line.startswith('- - "GET /aaa') and line.endswith('..." 431 - -')
    assert len(line) < 600


def test_log_rejected_follows_the_access_log_option(clean_logging: None) -> None:
    configure_logging("info", access_log=False)
    handler = Collect()
    error_logger.addHandler(handler)
    access_logger.addHandler(handler)
    log_rejected(("127.0.0.1", 1), 400, "", None)
    assert handler.lines() == ["Rejected request from 127.0.0.1:1: 400 Bad Request"]
    configure_logging("error", access_log=True)  # warnings off, access lines stay INFO
    log_rejected(("127.0.0.1", 1), 400, "", None)
    assert handler.lines()[1:] == []  # --log-level error: access lines are silenced too


# --------------------------------------------------------------------------------------------
# debug and trace


def test_log_connection(collect: Collect) -> None:
    log_connection("connection open", ("127.0.0.1", 5000))
    log_connection("connection closed", ("127.0.0.1", 5000), "keep-alive timeout")
    log_connection("closing", None, "client sent\nConnection: close")
    assert collect.lines(logging.DEBUG) == [
        "127.0.0.1:5000 - connection open",
        "127.0.0.1:5000 - connection closed (keep-alive timeout)",
        "- - closing (client sent\\x0AConnection: close)",
    ]
    error_logger.setLevel(logging.INFO)
    log_connection("connection open", ("127.0.0.1", 5000))
    assert len(collect.records) == 3


def test_log_data(collect: Collect) -> None:
    log_data(("127.0.0.1", 1), "read", b"GET / HTTP/1.1\r\n\r\n")
    log_data(("127.0.0.1", 1), "write", b"x" * 1000)
    first, second = collect.lines(TRACE)
    assert first == "127.0.0.1:1 - read 18 bytes: b'GET / HTTP/1.1\\r\\n\\r\\n'"
    assert second.startswith("127.0.0.1:1 - write 1000 bytes: b'xxx") and second.endswith("'...")
    error_logger.setLevel(logging.DEBUG)
    log_data(("127.0.0.1", 1), "read", b"x")
    assert len(collect.records) == 2


def test_levels_for_the_core_to_cache(clean_logging: None) -> None:
    configure_logging("info", access_log=True)
    assert not debug_enabled() and not trace_enabled()
    configure_logging("debug", access_log=True)
    assert debug_enabled() and not trace_enabled()
    configure_logging("trace", access_log=True)
    assert debug_enabled() and trace_enabled()


def test_core_hooks_cost_nothing_below_debug(clean_logging: None) -> None:
    from fastcorn.server import _log_hooks

    configure_logging("info", access_log=True)
    hooks = _log_hooks()
    assert hooks["log_rejected"] is log_rejected  # rejections are rare: always logged
    assert hooks["log_connection"] is None  # the core then tests one pointer per connection
    configure_logging("debug", access_log=True)
    assert _log_hooks()["log_connection"] is log_connection


def test_trace_app_logs_every_asgi_message(collect: Collect) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"y" * 600})

    app.asgi_version = "2.0"  # type: ignore[attr-defined]
    traced = trace_app(app)
    assert traced.asgi_version == "2.0"  # type: ignore[attr-defined]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"hello", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "client": ("127.0.0.1", 9),
             "state": {"secret": 1}}
    asyncio.run(traced(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    lines = collect.lines(TRACE)
    assert len(lines) == 5, lines
    ident = lines[0].split("[")[1].split("]")[0]
    assert lines[0].startswith(f"127.0.0.1:9 - ASGI [{ident}] http scope: {{'type': 'http'")
    assert "'state'" not in lines[0]
    assert lines[1] == (f"127.0.0.1:9 - ASGI [{ident}] receive: {{'type': 'http.request', "
                        "'body': b'hello', 'more_body': False}")
    assert lines[2].endswith("send: {'type': 'http.response.start', 'status': 200, "
                             "'headers': []}")
    assert "... (600 bytes)" in lines[3]
    assert lines[4] == f"127.0.0.1:9 - ASGI [{ident}] completed"

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        asyncio.run(trace_app(failing)({"type": "lifespan"}, receive, send))
    assert collect.lines(TRACE)[-1].endswith("raised KeyError")


# --------------------------------------------------------------------------------------------
# configuration


def test_fastcorn_handlers_when_nothing_is_configured(
    clean_logging: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_root_handlers(monkeypatch)
    configure_logging("info", access_log=True)
    error_logger.info("hello")
    error_logger.debug("hidden")
    log_access(("1.2.3.4", 5), "GET", "/", "1.1", 200, 2, 0.001)
    assert capsys.readouterr().err == (
        '[fastcorn] INFO: hello\n1.2.3.4:5 - "GET / HTTP/1.1" 200 2 1.0ms\n')
    assert not error_logger.propagate and not access_logger.propagate

    # Called again (the server after the CLI): nothing doubled, the new level applies.
    configure_logging("trace", access_log=True)
    assert len(error_logger.handlers) == 1 and len(access_logger.handlers) == 1
    error_logger.debug("shown")
    assert capsys.readouterr().err == "[fastcorn] DEBUG: shown\n"
    configure_logging("warning", access_log=True)
    error_logger.info("hidden")
    log_access(("1.2.3.4", 5), "GET", "/", "1.1", 200, 2, 0.001)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("loud", access_log=True)


def test_a_program_that_configured_logging_keeps_its_configuration(
    clean_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_root_handlers(monkeypatch)
    stream = io.StringIO()
    logging.basicConfig(stream=stream, format="PROGRAM %(name)s %(levelname)s %(message)s",
                        level=logging.WARNING)
    configure_logging("info", access_log=True)
    assert error_logger.handlers == [] and access_logger.handlers == []
    error_logger.info("fastcorn listening on x")
    log_access(("1.2.3.4", 5), "GET", "/", "1.1", 200, 2, 0.001)
    assert stream.getvalue().splitlines() == [
        "PROGRAM fastcorn.error INFO fastcorn listening on x",
        'PROGRAM fastcorn.access INFO 1.2.3.4:5 - "GET / HTTP/1.1" 200 2 1.0ms',
    ]


def test_levels_the_program_set_are_kept(clean_logging: None) -> None:
    mine = Collect()
    error_logger.addHandler(mine)
    error_logger.setLevel(logging.WARNING)
    configure_logging("debug", access_log=True)
    assert error_logger.handlers == [mine]
    assert error_logger.level == logging.WARNING
    # A level on the 'fastcorn' parent counts as the program's choice too.
    error_logger.setLevel(logging.NOTSET)
    logging.getLogger("fastcorn").setLevel(logging.ERROR)
    configure_logging("debug", access_log=True)
    assert error_logger.level == logging.NOTSET
    assert error_logger.getEffectiveLevel() == logging.ERROR


JSON_CONFIG = {
    "version": 1,
    "formatters": {"plain": {"format": "JSONCFG %(name)s %(levelname)s %(message)s"}},
    "handlers": {"file": {"class": "logging.FileHandler", "formatter": "plain",
                          "filename": "PLACEHOLDER"}},
    "loggers": {
        "fastcorn.access": {"level": "WARNING"},
        "myapp": {"level": "INFO"},
    },
    "root": {"handlers": ["file"], "level": "INFO"},
}


def _write_config(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    out = tmp_path / "out.log"
    if kind == "json":
        data = json.loads(json.dumps(JSON_CONFIG))
        data["handlers"]["file"]["filename"] = str(out)
        path = tmp_path / "logging.json"
        path.write_text(json.dumps(data))
    elif kind == "yaml":
        pytest.importorskip("yaml", reason="YAML log configs need PyYAML")
        path = tmp_path / "logging.yaml"
        path.write_text(textwrap.dedent(f"""\
            version: 1
            formatters:
              plain: {{format: "JSONCFG %(name)s %(levelname)s %(message)s"}}
            handlers:
              file: {{class: logging.FileHandler, formatter: plain, filename: "{out}"}}
            loggers:
              fastcorn.access: {{level: WARNING}}
            root: {{handlers: [file], level: INFO}}
            """))
    else:
        path = tmp_path / "logging.ini"
        path.write_text(textwrap.dedent(f"""\
            [loggers]
            keys=root,access

            [handlers]
            keys=file

            [formatters]
            keys=plain

            [logger_root]
            level=INFO
            handlers=file

            [logger_access]
            level=WARNING
            handlers=
            qualname=fastcorn.access

            [handler_file]
            class=FileHandler
            formatter=plain
            args=({str(out)!r},)

            [formatter_plain]
            format=JSONCFG %(name)s %(levelname)s %(message)s
            """))
    return path, out


@pytest.mark.parametrize("kind", ["json", "yaml", "ini"])
def test_log_config_file(clean_logging: None, tmp_path: Path, kind: str,
                         capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    no_root_handlers(monkeypatch)
    path, out = _write_config(tmp_path, kind)
    configure_logging("debug", access_log=True, log_config=str(path))
    error_logger.debug("debug line")  # --log-level applies: the file sets no level on it
    error_logger.info("info line")
    log_access(("1.2.3.4", 5), "GET", "/", "1.1", 200, 2, 0.001)  # the file: WARNING
    logging.getLogger("myapp").info("the app's own line")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert out.read_text().splitlines() == [
        "JSONCFG fastcorn.error DEBUG debug line",
        "JSONCFG fastcorn.error INFO info line",
        "JSONCFG myapp INFO the app's own line",
    ]
    assert capsys.readouterr().err == ""  # no fastcorn handler besides the file's
    assert access_logger.level == logging.WARNING
    # Applied once: the server's second call (after the CLI's) does not reopen it.
    handlers = list(logging.getLogger().handlers)
    configure_logging("debug", access_log=True, log_config=str(path))
    assert logging.getLogger().handlers == handlers


def test_log_config_replaces_fastcorn_handlers_installed_before(
    clean_logging: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_root_handlers(monkeypatch)
    configure_logging("info", access_log=True)
    assert len(error_logger.handlers) == 1
    path, out = _write_config(tmp_path, "json")
    configure_logging("info", access_log=True, log_config=str(path))
    assert error_logger.handlers == [] and error_logger.propagate
    error_logger.info("through the file")
    assert out.read_text() == "JSONCFG fastcorn.error INFO through the file\n"


@pytest.mark.parametrize(
    ("name", "content", "needles"),
    [
        ("absent.json", None, ["--log-config: cannot read", "absent.json"]),
        ("bad.json", "{", ["bad.json is not valid JSON"]),
        ("list.json", "[1, 2]", ["expected a dictConfig mapping"]),
        ("bad.yaml", "a: [", ["bad.yaml is not valid YAML"]),
        ("handler.json", '{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}',
         ["handler.json is not a valid logging configuration"]),
        ("version.json", '{"version": 2}', ["not a valid logging configuration"]),
        ("absent.ini", None, ["--log-config: cannot read", "absent.ini"]),
        ("empty.ini", "[loggers]\nkeys=root\n", ["empty.ini is not a valid logging"]),
    ],
)
def test_bad_log_config(clean_logging: None, tmp_path: Path, name: str, content: str | None,
                        needles: list[str]) -> None:
    if name.endswith(".yaml"):
        pytest.importorskip("yaml", reason="YAML log configs need PyYAML")
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        configure_logging("info", access_log=True, log_config=str(path))
    message = str(info.value)
    assert "\n" not in message.strip()
    for needle in needles:
        assert needle in message, message


# --------------------------------------------------------------------------------------------
# asyncio-only apps on trio


def _under_trio(body: Any) -> BaseException:
    """The exception ``body()`` raises when run by trio, as an asyncio-only library would."""
    trio = pytest.importorskip("trio")

    async def main() -> BaseException:
        try:
            await body()
        except BaseException as exc:  # noqa: BLE001 - the test wants the real exception
            return exc
        raise AssertionError("expected an exception")

    result: BaseException = trio.run(main)
    return result


async def _create_task() -> None:
    asyncio.get_running_loop()  # what create_task, wait, gather... do first


async def _await_asyncio_future() -> None:
    loop = asyncio.new_event_loop()
    try:
        await asyncio.Future(loop=loop)  # yields the future to trio, as Django's gather does
    finally:
        loop.close()


async def _wrapped() -> None:
    try:
        await _create_task()
    except RuntimeError as exc:
        raise ValueError("the framework wrapped it") from exc


def _sniffio_error() -> BaseException:
    sniffio = pytest.importorskip("sniffio")
    try:
        sniffio.current_async_library()  # outside any async library
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("expected AsyncLibraryNotFoundError")


@pytest.mark.parametrize("make", [
    pytest.param(lambda: _under_trio(_create_task), id="no-running-loop"),
    pytest.param(lambda: _under_trio(_await_asyncio_future), id="asyncio-future-in-trio"),
    pytest.param(lambda: _under_trio(_wrapped), id="chained"),
    pytest.param(_sniffio_error, id="sniffio"),
])
def test_app_error_logger_gives_one_clear_line_on_trio(collect: Collect, make: Any) -> None:
    exc = make()
    logger = AppErrorLogger("trio")
    for _ in range(3):
        logger.error("Exception in ASGI application", exc_info=exc)
    errors = collect.lines(logging.ERROR)
    assert len(errors) == 1, errors
    assert errors[0].startswith("The application needs an asyncio event loop and cannot run "
                                "on trio (")
    assert errors[0].endswith("run it with --loop asyncio or --loop uvloop.")
    assert "\n" not in errors[0] and len(errors[0]) < 300
    assert all(r.exc_info is None for r in collect.records if r.levelno == logging.ERROR)
    # The tracebacks are still there for --log-level debug.
    debug = [r for r in collect.records if r.levelno == logging.DEBUG]
    assert len(debug) == 3 and all(r.exc_info for r in debug)


def test_app_error_logger_passes_other_errors_through(collect: Collect) -> None:
    logger = AppErrorLogger("trio")
    try:
        raise ValueError("a real bug")
    except ValueError as exc:
        logger.error("Exception in ASGI application", exc_info=exc)
    asyncio_exc = _under_trio(_create_task)
    AppErrorLogger("asyncio").error("Exception in ASGI application", exc_info=asyncio_exc)
    AppErrorLogger("uvloop").error("Application shutdown failed: %s", "no running event loop")
    records = [(r.levelno, r.getMessage(), bool(r.exc_info)) for r in collect.records]
    assert records == [
        (logging.ERROR, "Exception in ASGI application", True),
        (logging.ERROR, "Exception in ASGI application", True),
        (logging.ERROR, "Application shutdown failed: no running event loop", False),
    ]
    # The rest of the Logger interface is fastcorn.error's.
    assert logger.isEnabledFor(logging.DEBUG) and logger.name == "fastcorn.error"


def test_app_error_logger_reads_lifespan_failure_messages(collect: Collect) -> None:
    logger = AppErrorLogger("trio")
    logger.error("Application shutdown failed: %s", "no running event loop")
    assert collect.lines(logging.ERROR) == [
        "The application needs an asyncio event loop and cannot run on trio (no running "
        "event loop): run it with --loop asyncio or --loop uvloop."]
    assert logger.asyncio_needed(_under_trio(_create_task))
    assert not logger.asyncio_needed(ValueError("x"))
    assert len(collect.lines(logging.ERROR)) == 1


def test_exception_groups_are_searched(collect: Collect) -> None:
    group_type = getattr(builtins, "BaseExceptionGroup", None)
    if group_type is None:
        group_type = pytest.importorskip("exceptiongroup").BaseExceptionGroup
    group = group_type("tasks failed", [ValueError("other"), _under_trio(_create_task)])
    assert AppErrorLogger("trio").asyncio_needed(group)
    assert not AppErrorLogger("trio").asyncio_needed(group_type("x", [ValueError("other")]))
