"""fastcorn's two loggers, the lines it writes on them, and how they are configured.

``fastcorn.error`` carries server messages (startup, shutdown, app errors, rejected
requests, and at debug/trace level connection and ASGI events), ``fastcorn.access`` one
line per request. Both are plain stdlib loggers; :func:`configure_logging` gives them
fastcorn's stderr handlers only when nobody else configured logging: a ``log_config``
file (``--log-config``) or a program that set up logging itself keeps its own handlers.

The compiled core calls :func:`log_access`, :func:`log_rejected` and :func:`log_connection`;
everything they format is escaped, so a client cannot forge or break a log line.
"""

from __future__ import annotations

import itertools
import json
import logging
import logging.config
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

from fastcorn.errors import ConfigError

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}

ERROR_FORMAT = "[fastcorn] %(levelname)s: %(message)s"
ACCESS_FORMAT = "%(message)s"
# A worker process under the supervisor names itself in every server line.
WORKER_ERROR_FORMAT = "[fastcorn %(process)d] %(levelname)s: %(message)s"

error_logger = logging.getLogger("fastcorn.error")
access_logger = logging.getLogger("fastcorn.access")

Client = tuple[str, int] | tuple[str] | None

# What configure_logging did, so that a second call (fastcorn.run twice in one process, a
# test) updates its own settings and never mistakes them for the user's.
_our_handlers: dict[str, logging.Handler] = {}
_our_levels: dict[str, int] = {}
# log_rejected writes access lines only when the access log is on (--no-access-log).
_access_log_on = True
# The log_config file applied last: the CLI configures logging before importing the app
# and the server again as it starts; the file is applied once.
_applied_log_config: str | None = None


# -- configuration ------------------------------------------------------------------------


def load_log_config(path: str) -> None:
    """Apply a ``logging.config`` file: ``.json`` and ``.yaml``/``.yml`` hold a dictConfig
    dictionary (YAML needs PyYAML), anything else is an INI file for ``fileConfig``.

    Loggers the file does not name keep working (``disable_existing_loggers`` defaults to
    false, for fastcorn's loggers are created at import). Any problem is a one-line
    :class:`ConfigError` naming ``--log-config``.
    """
    label = f"--log-config: {path}"
    lowered = path.lower()
    try:
        if lowered.endswith((".json", ".yaml", ".yml")):
            with open(path, encoding="utf-8") as fh:
                if lowered.endswith(".json"):
                    import json

                    try:
                        data = json.load(fh)
                    except ValueError as exc:
                        raise ConfigError(f"{label} is not valid JSON: {exc}") from None
                else:
                    try:
                        import yaml
                    except ImportError:
                        raise ConfigError(
                            f"{label}: reading YAML needs PyYAML (pip install pyyaml)"
                        ) from None
                    try:
                        data = yaml.safe_load(fh)
                    except yaml.YAMLError as exc:
                        raise ConfigError(f"{label} is not valid YAML: {exc}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"{label}: expected a dictConfig mapping at the top level")
            data.setdefault("version", 1)
            data.setdefault("disable_existing_loggers", False)
            logging.config.dictConfig(data)
        else:
            with open(path, encoding="utf-8"):
                pass  # fileConfig reports a missing file as "no section", not as missing
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except OSError as exc:
        raise ConfigError(f"--log-config: cannot read {path}: {exc.strerror}") from None
    except ConfigError as exc:
        raise ConfigError(" ".join(str(exc).split())) from None  # one line, always
    except Exception as exc:  # dictConfig / fileConfig: ValueError, KeyError, ...
        reason = " ".join(str(exc).split())
        raise ConfigError(f"{label} is not a valid logging configuration: {reason}") from None


def _configured_elsewhere() -> bool:
    """True when the program (or a log_config file) already gave handlers to the root
    logger or to fastcorn's loggers: then fastcorn adds none and its records propagate."""
    loggers = (logging.getLogger(), logging.getLogger("fastcorn"), error_logger, access_logger)
    ours = set(_our_handlers.values())
    return any(h not in ours for logger in loggers for h in logger.handlers)


def _level_is_ours(logger: logging.Logger) -> bool:
    """Whether fastcorn may set this logger's level: nobody set it, or fastcorn did."""
    parent = logging.getLogger("fastcorn")
    for each in (logger, parent):
        if each.level != logging.NOTSET and _our_levels.get(each.name) != each.level:
            return False
    return True


def _remove_our_handlers() -> None:
    for name, handler in _our_handlers.items():
        logger = logging.getLogger(name)
        if handler in logger.handlers:
            logger.removeHandler(handler)
            logger.propagate = True
    _our_handlers.clear()


def configure_logging(level: str, access_log: bool, log_config: str | None = None) -> None:
    """Set up fastcorn's loggers for one server (``log_level``, ``access_log``, ``log_config``).

    - With ``log_config``, that file is applied first and decides handlers and formats.
    - Without it, if neither the root logger nor fastcorn's loggers have handlers, fastcorn
      logs to stderr with its own handlers (which do not propagate, so a root handler the
      app adds later does not print every line twice). If the program configured logging
      itself, fastcorn adds no handler and its records propagate to the program's.
    - ``level`` sets ``fastcorn.error`` (and ``fastcorn.access``, never below INFO) unless the
      user's configuration set a level on them or on ``fastcorn``.
    - ``access_log`` false silences access lines (the server then does not produce them).

    Raises ValueError for an unknown level, ConfigError for a bad ``log_config`` file.
    """
    global _access_log_on, _applied_log_config
    try:
        numeric = LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}") from None

    if log_config is not None and log_config != _applied_log_config:
        _remove_our_handlers()
        _our_levels.clear()
        load_log_config(log_config)
        _applied_log_config = log_config
    install = log_config is None and not _configured_elsewhere()
    _access_log_on = access_log

    for logger, logger_level, fmt in (
        (error_logger, numeric, ERROR_FORMAT),
        # Access lines are INFO: a level above INFO silences them.
        (access_logger, max(numeric, logging.INFO), ACCESS_FORMAT),
    ):
        if _level_is_ours(logger):
            logger.setLevel(logger_level)
            _our_levels[logger.name] = logger_level
        if install and not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(fmt))
            logger.addHandler(handler)
            logger.propagate = False
            _our_handlers[logger.name] = handler


def name_worker_process() -> None:
    """In a worker process: fastcorn's own stderr handler writes the worker's PID in every
    server line (``[fastcorn 4242] INFO: ...``). Handlers of a log_config file or of the
    program keep their formats (``%(process)d`` is theirs to use)."""
    handler = _our_handlers.get(error_logger.name)
    if handler is not None:
        handler.setFormatter(logging.Formatter(WORKER_ERROR_FORMAT))


def debug_enabled() -> bool:
    """Whether debug lines (connections, protocol decisions) are wanted; read it once."""
    return error_logger.isEnabledFor(logging.DEBUG)


def trace_enabled() -> bool:
    """Whether trace lines (raw bytes, ASGI messages) are wanted; read it once."""
    return error_logger.isEnabledFor(TRACE)


# -- formatting -----------------------------------------------------------------------------


def format_client(client: Client) -> str:
    """``127.0.0.1:5000``, ``[::1]:5000``, a unix socket's name, or ``-``."""
    if not client:
        return "-"
    host = client[0]
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if len(client) > 1:
        return f"{host}:{client[1]}"
    return host


# Printable ASCII but '"' and '\' is logged as is; everything else as \xHH (nginx's way).
_UNSAFE = re.compile(r'[^\x21-\x7e]|["\\]')
_UNSAFE_KEEP_SPACE = re.compile(r'[^\x20-\x7e]|["\\]')


def _hex(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x100:  # a latin-1 decoded byte of the request, as sent
        return f"\\x{code:02X}"
    return "".join(f"\\x{byte:02X}" for byte in char.encode("utf-8"))


def escape(text: str, keep_space: bool = False) -> str:
    """``text`` with control characters, non-ASCII, quotes, backslashes (and spaces unless
    ``keep_space``) written as ``\\xHH``, so it can neither end a log line nor a quoted field.
    """
    # The common case, checked by C string methods: ~4x cheaper than the regex search.
    if (text.isascii() and text.isprintable() and '"' not in text and "\\" not in text
            and (keep_space or " " not in text)):
        return text
    return (_UNSAFE_KEEP_SPACE if keep_space else _UNSAFE).sub(_hex, text)


def format_access(
    client: Client,
    method: str,
    target: str,
    http_version: str,
    status: int,
    nbytes: int,
    duration: float,
) -> str:
    """One access-log line: ``127.0.0.1:53210 - "GET /p?q=1 HTTP/1.1" 200 13 0.4ms``.

    ``target`` is the request target as the client sent it (the raw bytes, latin-1
    decoded: path and query string, not percent-decoded), ``duration`` is in seconds, from
    the request to the end of its response, ``nbytes`` the response body size.
    """
    # The method needs no escaping: llhttp accepts only token characters in it.
    return (
        f'{format_client(client)} - "{method} {escape(target)} HTTP/{http_version}" '
        f"{status} {nbytes} {duration * 1000.0:.1f}ms"
    )


def log_access(
    client: Client,
    method: str,
    target: str,
    http_version: str,
    status: int,
    nbytes: int,
    duration: float,
) -> None:
    """Log one request on ``fastcorn.access`` (formatting is skipped when it is disabled)."""
    if access_logger.isEnabledFor(logging.INFO):
        access_logger.info(
            format_access(client, method, target, http_version, status, nbytes, duration)
        )


# -- --access-log-format ------------------------------------------------------------------------

# The named fields of --access-log-format, and what each is.
ACCESS_FIELDS: dict[str, str] = {
    "client": "the client, host:port (what scope['client'] says, proxies applied)",
    "client_host": "the client's address",
    "client_port": "the client's port",
    "method": "the request method",
    "target": "the request target as sent (path and query, not decoded)",
    "path": "the decoded path",
    "query": "the query string",
    "scheme": "http or https (proxies applied)",
    "protocol": "HTTP/1.1, HTTP/2...",
    "http_version": "1.1, 2...",
    "status": "the response status",
    "bytes": "response body bytes",
    "bytes_in": "request body bytes",
    "duration_ms": "milliseconds from the request to the end of its response, 0.1 ms steps",
    "duration_us": "the same in whole microseconds",
    "duration_s": "the same in seconds, 6 decimals",
    "request_id": "the request's X-Request-ID, else a new random id",
    "time": "when the response ended, ISO 8601 with the local UTC offset",
}
# {request_header:NAME} and {response_header:NAME} take a header by name.
HEADER_FIELDS = ("request_header", "response_header")
ACCESS_FORMAT_JSON = "json"
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_Getter = Callable[[Any, dict[str, Any]], str]


def _header(headers: Any, name: bytes) -> str | None:
    if headers:
        for key, value in headers:
            if bytes(key).lower() == name:
                return bytes(value).decode("latin-1")
    return None


def _request_id(cycle: Any, memo: dict[str, Any]) -> str:
    if "request_id" not in memo:
        given = _header(cycle.scope.get("headers"), b"x-request-id")
        memo["request_id"] = escape(given[:200]) if given else uuid.uuid4().hex
    return str(memo["request_id"])


def _duration(cycle: Any, memo: dict[str, Any]) -> float:
    if "duration" not in memo:
        memo["duration"] = max(0.0, time.perf_counter() - cycle.start_time)
    return float(memo["duration"])


def _target(cycle: Any) -> str:
    target = cycle.target
    if target is not None:
        return escape(bytes(target).decode("latin-1"))
    scope = cycle.scope
    query = scope.get("query_string") or b""
    path = escape(scope.get("raw_path", b"").decode("latin-1") or scope.get("path", ""))
    return f"{path}?{escape(query.decode('latin-1'))}" if query else path


def _client_part(cycle: Any, index: int) -> str:
    client = cycle.scope.get("client")
    if not client or len(client) <= index or client[index] is None:
        return "-"
    return str(client[index])


_GETTERS: dict[str, _Getter] = {
    "client": lambda c, m: format_client(c.scope.get("client")),
    "client_host": lambda c, m: _client_part(c, 0),
    "client_port": lambda c, m: _client_part(c, 1),
    "method": lambda c, m: str(c.scope.get("method", "-")),
    "target": lambda c, m: _target(c),
    "path": lambda c, m: escape(c.scope.get("path", "")) or "-",
    "query": lambda c, m: escape(c.scope.get("query_string", b"").decode("latin-1")) or "-",
    "scheme": lambda c, m: str(c.scope.get("scheme", "-")),
    "protocol": lambda c, m: f"HTTP/{c.scope.get('http_version', '-')}",
    "http_version": lambda c, m: str(c.scope.get("http_version", "-")),
    "status": lambda c, m: str(c.status),
    "bytes": lambda c, m: str(c.response_bytes),
    "bytes_in": lambda c, m: str(c.request_bytes),
    "duration_ms": lambda c, m: f"{_duration(c, m) * 1000.0:.1f}",
    "duration_us": lambda c, m: str(int(_duration(c, m) * 1_000_000)),
    "duration_s": lambda c, m: f"{_duration(c, m):.6f}",
    "request_id": _request_id,
    "time": lambda c, m: datetime.now().astimezone().isoformat(timespec="milliseconds"),
}


def _header_getter(kind: str, name: str) -> _Getter:
    key = name.strip().lower().encode("latin-1")
    if kind == "request_header":
        def request_header(cycle: Any, memo: dict[str, Any]) -> str:
            value = _header(cycle.scope.get("headers"), key)
            return "-" if value is None else escape(value, keep_space=True)
        return request_header

    def response_header(cycle: Any, memo: dict[str, Any]) -> str:
        value = _header(cycle.response_headers, key)
        return "-" if value is None else escape(value, keep_space=True)
    return response_header


def compile_access_format(template: str) -> Callable[[Any], str]:
    """``--access-log-format``: a template of ``{field}`` names (:data:`ACCESS_FIELDS`,
    ``{request_header:NAME}``, ``{response_header:NAME}``; ``{{``/``}}`` for braces), or
    ``json`` for one JSON object per line. Returns the function that renders one finished
    request (an ``HTTPCycle``); ValueError names an unknown field."""
    if template.strip() == ACCESS_FORMAT_JSON:
        return _render_json
    parts: list[str | _Getter] = []
    pos = 0
    for match in _FIELD.finditer(template):
        if match.start() > pos:
            parts.append(template[pos:match.start()])
        pos = match.end()
        token = match.group()
        if token in ("{{", "}}"):
            parts.append(token[0])
            continue
        name = match.group(1)
        if name is None:
            raise ValueError(f"unmatched {token!r} in the access log format (write {token * 2})")
        kind, sep, header = name.partition(":")
        if sep:
            if kind not in HEADER_FIELDS or not header.strip():
                raise ValueError(f"unknown access log field {{{name}}}; a header is "
                                 "{request_header:NAME} or {response_header:NAME}")
            parts.append(_header_getter(kind, header))
        elif name in _GETTERS:
            parts.append(_GETTERS[name])
        else:
            raise ValueError(f"unknown access log field {{{name}}} (fields: "
                             f"{', '.join(ACCESS_FIELDS)}, request_header:NAME, "
                             "response_header:NAME)")
    if pos < len(template):
        parts.append(template[pos:])

    def render(cycle: Any) -> str:
        memo: dict[str, Any] = {}
        return "".join(part if isinstance(part, str) else part(cycle, memo) for part in parts)

    return render


def _render_json(cycle: Any) -> str:
    memo: dict[str, Any] = {}
    scope = cycle.scope
    client = scope.get("client")
    record = {
        "time": _GETTERS["time"](cycle, memo),
        "client": format_client(client),
        "method": scope.get("method"),
        "target": (bytes(cycle.target).decode("latin-1") if cycle.target is not None
                   else scope.get("path")),
        "protocol": f"HTTP/{scope.get('http_version')}",
        "scheme": scope.get("scheme"),
        "status": cycle.status,
        "bytes": cycle.response_bytes,
        "bytes_in": cycle.request_bytes,
        "duration_ms": round(_duration(cycle, memo) * 1000.0, 3),
        "request_id": _request_id(cycle, memo),
        "user_agent": _header(scope.get("headers"), b"user-agent"),
        "referer": _header(scope.get("headers"), b"referer"),
    }
    # json.dumps escapes control characters and non-ASCII: one line, whatever was sent.
    return json.dumps(record, separators=(",", ":"))


def log_request_default(cycle: Any) -> None:
    """The default access line from a finished cycle (what the cycle's own call to
    :func:`log_access` writes), for when another ``log_request`` hook (metrics) runs."""
    scope = cycle.scope
    target = cycle.target
    log_access(scope.get("client"), scope["method"],
               bytes(target).decode("latin-1") if target is not None else scope["path"],
               scope["http_version"], cycle.status, cycle.response_bytes,
               time.perf_counter() - cycle.start_time)


def access_log_request(template: str) -> Callable[[Any], None]:
    """The ``ServerState.log_request`` hook that logs each request with ``template``."""
    render = compile_access_format(template)

    def log_request(cycle: Any) -> None:
        if access_logger.isEnabledFor(logging.INFO):
            access_logger.info(render(cycle))

    return log_request


REQUEST_LINE_LIMIT = 512


def log_rejected(client: Client, status: int, reason: str, request_line: str | None) -> None:
    """A request the server answered itself with an error (400, 408, 431, 501, 505, 503).

    Logs a WARNING on ``fastcorn.error``, ``Rejected request from 127.0.0.1:5000: 400 Bad
    Request (invalid header)``, and an access line, ``127.0.0.1:5000 - "GET /x HTTP/1.1"
    400 - -``, with ``"-"`` for a request line that never arrived whole. ``request_line``
    is the line as received (latin-1 decoded), ``reason`` the core's short explanation.
    """
    who = format_client(client)
    if error_logger.isEnabledFor(logging.WARNING):
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        text = f"{status} {phrase}".rstrip()
        if reason:
            text = f"{text} ({escape(reason, keep_space=True)})"
        error_logger.warning("Rejected request from %s: %s", who, text)
    if _access_log_on and access_logger.isEnabledFor(logging.INFO):
        if request_line:
            line = escape(request_line[:REQUEST_LINE_LIMIT], keep_space=True)
            if len(request_line) > REQUEST_LINE_LIMIT:
                line += "..."
        else:
            line = "-"
        access_logger.info('%s - "%s" %d - -', who, line, status)


def log_connection(event: str, client: Client, detail: str = "") -> None:
    """A DEBUG line about a connection: ``127.0.0.1:5000 - connection open``, ``... -
    connection closed (keep-alive timeout)``, or a protocol decision (``event`` a short
    phrase, ``detail`` why). The core calls it only when :func:`debug_enabled` was true."""
    if error_logger.isEnabledFor(logging.DEBUG):
        if detail:
            error_logger.debug("%s - %s (%s)", format_client(client), event,
                               escape(detail, keep_space=True))
        else:
            error_logger.debug("%s - %s", format_client(client), event)


DATA_LIMIT = 256


def log_data(client: Client, direction: str, data: bytes) -> None:
    """A TRACE line with raw bytes read or written (``direction`` "read" or "write"), the
    first 256 of them shown. For the core to call only when :func:`trace_enabled` was true."""
    if error_logger.isEnabledFor(TRACE):
        shown = repr(bytes(data[:DATA_LIMIT])) + ("..." if len(data) > DATA_LIMIT else "")
        error_logger.log(TRACE, "%s - %s %d bytes: %s", format_client(client), direction,
                         len(data), shown)


# -- ASGI messages at trace level -----------------------------------------------------------


def _describe(message: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    parts = []
    for key, value in message.items():
        if key in skip:
            continue
        if isinstance(value, (bytes, bytearray, memoryview)) and len(value) > DATA_LIMIT:
            text = f"{bytes(value[:DATA_LIMIT])!r}... ({len(value)} bytes)"
        else:
            text = repr(value)
        parts.append(f"{key!r}: {text}")
    return "{" + ", ".join(parts) + "}"


ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
_trace_ids = itertools.count(1)


def trace_app(app: ASGIApp) -> ASGIApp:
    """``app`` wrapped to log its scope and every message it receives and sends at TRACE.

    The server wraps the app only when trace logging is on, so it costs nothing otherwise.
    """

    async def traced(scope: Any, receive: Any, send: Any) -> None:
        ident = next(_trace_ids)
        who = format_client(scope.get("client"))
        log = error_logger.log
        log(TRACE, "%s - ASGI [%d] %s scope: %s", who, ident, scope.get("type"),
            _describe(scope, skip=("state", "app")))

        async def traced_receive() -> Any:
            message = await receive()
            log(TRACE, "%s - ASGI [%d] receive: %s", who, ident, _describe(message))
            return message

        async def traced_send(message: Any) -> None:
            log(TRACE, "%s - ASGI [%d] send: %s", who, ident, _describe(message))
            await send(message)

        try:
            await app(scope, traced_receive, traced_send)
        except BaseException as exc:
            log(TRACE, "%s - ASGI [%d] raised %s", who, ident, type(exc).__name__)
            raise
        log(TRACE, "%s - ASGI [%d] completed", who, ident)

    traced.asgi_version = getattr(app, "asgi_version", "3.0")  # type: ignore[attr-defined]
    return traced


# -- asyncio-only apps on trio --------------------------------------------------------------

# Messages of the errors an asyncio-only library raises when it runs under trio.
_ASYNCIO_NEEDED = (
    "no running event loop",  # asyncio.get_running_loop(), create_task(), wait(), ...
    "no current event loop",  # asyncio.get_event_loop()
    "unrecognized yield message",  # trio, when an asyncio future is awaited in it
    "unknown async library",  # sniffio.AsyncLibraryNotFoundError
)


def _needs_asyncio(exc: BaseException) -> BaseException | None:
    """The exception in ``exc``'s chain (or group) that says asyncio was needed, if any."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen or len(seen) > 50:
            continue
        seen.add(id(current))
        text = str(current).lower()
        if type(current).__name__ == "AsyncLibraryNotFoundError" or (
            isinstance(current, (RuntimeError, TypeError))
            and any(needle in text for needle in _ASYNCIO_NEEDED)
        ):
            return current
        if isinstance(current, RuntimeError):
            # Any other RuntimeError raised from inside asyncio itself.
            tb = current.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                module = str(tb.tb_frame.f_globals.get("__name__", ""))
                if module == "asyncio" or module.startswith("asyncio."):
                    return current
        todo.extend(getattr(current, "exceptions", ()) or ())
        todo.append(current.__cause__)  # type: ignore[arg-type]
        todo.append(current.__context__)  # type: ignore[arg-type]
    return None


class AppErrorLogger:
    """The logger the server hands to the compiled core and to lifespan for app errors.

    It logs through ``fastcorn.error`` like a Logger, with one addition on trio: an app
    that fails because it needs asyncio (Django, Quart, anything that calls asyncio
    directly) gets one clear ERROR line saying so and how to run it, instead of a
    traceback per request; later failures of the same kind go to DEBUG with their traceback.
    """

    def __init__(self, loop: str, logger: logging.Logger = error_logger) -> None:
        self.loop = loop
        self.logger = logger
        self.hinted = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.logger, name)

    def _asyncio_cause(self, args: tuple[Any, ...], exc_info: Any) -> str | None:
        if self.loop != "trio":
            return None
        if exc_info is True:
            exc_info = sys.exc_info()[1]
        elif isinstance(exc_info, tuple):
            exc_info = exc_info[1]
        if isinstance(exc_info, BaseException):
            found = _needs_asyncio(exc_info)
            if found is not None:
                text = str(found).split("\n", 1)[0]
                text = text.split(". ", 1)[0][:100]
                return f"{type(found).__name__}: {text}"
        for arg in args:  # a lifespan failure message, as the app sent it
            if isinstance(arg, str):
                lowered = arg.lower()
                for needle in _ASYNCIO_NEEDED:
                    if needle in lowered:
                        return needle
        return None

    def _hint(self, cause: str) -> None:
        if not self.hinted:
            self.hinted = True
            self.logger.error(
                "The application needs an asyncio event loop and cannot run on trio (%s): "
                "run it with --loop asyncio or --loop uvloop.", cause)

    def asyncio_needed(self, exc: BaseException) -> bool:
        """True (after logging the hint, once) if ``exc`` says the app needs asyncio."""
        cause = self._asyncio_cause((), exc)
        if cause is None:
            return False
        self._hint(cause)
        return True

    def error(self, msg: Any, *args: Any, exc_info: Any = None, **kwargs: Any) -> None:
        cause = self._asyncio_cause(args, exc_info)
        if cause is None:
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)
            return
        self._hint(cause)
        self.logger.debug(msg, *args, exc_info=exc_info, **kwargs)
