"""Every fastcorn option, declared once, as a typed field of a settings group.

A group is a small frozen dataclass per concern (:class:`ServerSettings`,
:class:`HTTP1Settings`, :class:`TimeoutSettings`, :class:`LimitSettings`,
:class:`LoggingSettings`); :class:`Config` holds one of each, so ``config.timeouts.keep_alive``
is a ``float`` to mypy and a misspelt option is a type error. From the fields come the
command line (``cli.py``), the ``FASTCORN_*`` environment variables and the keys of a TOML
file given with ``--config``: :data:`OPTIONS` is generated from them.

Each option has a flat name: the group's prefix and the field's name (``timeout_`` +
``keep_alive``). The flag (``--timeout-keep-alive``), the environment variable
(``FASTCORN_TIMEOUT_KEEP_ALIVE``), the flat TOML key and the keyword of
``Config(...)`` / :func:`fastcorn.run` use it; a TOML file may also give the option in its
group's table (``[timeouts]`` / ``keep_alive = 5``).

A new group is one more frozen dataclass whose fields are declared with :func:`setting`,
and one more field of :class:`Config` declared with :func:`group`.

Precedence, lowest first: defaults, the TOML file, the environment, the command line
(and for the Python API, keyword arguments to :func:`fastcorn.run` / :class:`Config`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from fastcorn.backends import LOOP_CHOICES
from fastcorn.errors import ConfigError
from fastcorn.logging import LEVELS

__all__ = [
    "ENV_PREFIX", "OPTIONS", "OPTIONS_BY_NAME", "GROUPS", "Config", "ConfigError", "Option",
    "ServerSettings", "HTTP1Settings", "TimeoutSettings", "LimitSettings", "LoggingSettings",
    "TLSSettings", "WorkerSettings", "HTTP2Settings", "ProxySettings",
    "MetricsSettings", "WebSocketSettings",
    "setting", "group", "load_toml", "load_env", "split_host_port",
]

ENV_PREFIX = "FASTCORN_"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if value != value:  # NaN would compare false against every limit
        raise ValueError(f"expected a number, got {text!r}")
    return value


def _parse_port(text: str) -> int:
    port = _parse_int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    return port


def _parse_positive_int(text: str) -> int:
    value = _parse_int(text)
    if value <= 0:
        raise ValueError(f"must be a positive integer, got {value}")
    return value


def _parse_non_negative_int(text: str) -> int:
    value = _parse_int(text)
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _parse_non_negative_float(text: str) -> float:
    value = _parse_float(text)
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _parse_positive_float(text: str) -> float:
    value = _parse_float(text)
    if value <= 0:
        raise ValueError(f"must be a positive number, got {value}")
    return value


def _parse_window(text: str) -> int:
    value = _parse_int(text)
    if not 65535 <= value <= 2**31 - 1:
        raise ValueError(f"must be between 65535 and 2147483647, got {value}")
    return value


def _parse_frame_size(text: str) -> int:
    value = _parse_int(text)
    if not 16384 <= value <= 2**24 - 1:
        raise ValueError(f"must be between 16384 and 16777215, got {value}")
    return value


def split_host_port(address: str) -> tuple[str, int]:
    """'HOST:PORT' or '[V6]:PORT' -> (host, port); ValueError naming the expected forms."""
    if address.startswith("["):
        host, sep, port = address[1:].partition("]:")
    else:
        host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, [V6]:PORT or unix:PATH, got {address!r}")
    return host, int(port)


def _parse_access_format(text: str) -> str:
    from fastcorn.logging import compile_access_format

    compile_access_format(text)  # an unknown field is a ValueError naming it
    return text


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _parse_header(text: str) -> str:
    name, sep, value = text.partition(":")
    if not sep or not _TOKEN.match(name.strip()):
        raise ValueError(f"expected NAME:VALUE with a valid header name, got {text!r}")
    value = value.strip()
    if any(ch in value for ch in "\r\n\0") or not value.isascii():
        raise ValueError(f"header value must be printable ASCII, got {text!r}")
    return f"{name.strip()}:{value}"


def _parse_address(text: str) -> str:
    if text.startswith("unix:"):
        if len(text) == len("unix:"):
            raise ValueError("expected unix:PATH, got 'unix:'")
        return text
    split_host_port(text)
    return text


@dataclass(frozen=True)
class Option:
    """One option as the CLI, the environment and TOML see it, generated from a field.

    ``name`` is the flat name (also the flat TOML key and the ``Config`` keyword); the
    flag and the env var derive from it. ``group`` / ``key`` are the settings group's
    table and field (None for ``app`` and ``config``, which belong to no group).
    """

    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    # A flag that may be given several times; its value is a list of parsed items.
    repeat: bool = False
    # Boolean options get --name / --no-name flags.
    is_bool: bool = False
    metavar: str | None = None
    # Options only meaningful on the command line (the app path, the config file itself).
    cli_only: bool = False
    group: str | None = None
    key: str | None = None
    # Whether None is a value (a field typed ``X | None``); the app and config paths may be.
    optional: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def toml_key(self) -> str:
        """The key in its group's table, ``table.key`` (the flat ``name`` works as well)."""
        return self.name if self.group is None else f"{self.group}.{self.key}"

    def convert(self, value: Any, label: str | None = None) -> Any:
        """Turn a value from any source (CLI text, env text, TOML or Python) into the option's type.

        Errors are ConfigError messages starting with ``label`` (the flag unless given, e.g.
        the env var name or ``file.toml: key``), so the user sees where the bad value came from.
        """
        label = self.flag if label is None else label
        if self.repeat:
            if isinstance(value, str):
                items: Iterable[Any] = [v for v in value.split(",") if v]
            elif isinstance(value, (list, tuple)):
                items = value
            else:
                raise ConfigError(f"{label}: expected a list, got {value!r}")
            return [self._convert_one(v, label) for v in items]
        return self._convert_one(value, label)

    def _convert_one(self, value: Any, label: str) -> Any:
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{label}: expected a value, got None")
        result: Any
        try:
            if self.is_bool:
                result = value if isinstance(value, bool) else _parse_bool(str(value))
            elif isinstance(value, str):
                result = self.parse(value)
            elif self.parse is str:
                raise ValueError(f"expected a string, got {value!r}")
            elif isinstance(value, bool):
                raise ValueError(f"expected a number, got {value!r}")
            else:
                result = self.parse(str(value))
        except ValueError as exc:
            raise ConfigError(f"{label}: {exc}") from None
        if self.choices is not None and result not in self.choices:
            raise ConfigError(
                f"{label}: invalid choice {result!r} (choose from {', '.join(self.choices)})"
            )
        return result


# -- declaring options --------------------------------------------------------------------

_SETTING = "fastcorn.setting"
_GROUP_PREFIX = "fastcorn.prefix"


@dataclass(frozen=True)
class _Spec:
    help: str
    parse: Callable[[str], Any] | None
    choices: tuple[str, ...] | None
    metavar: str | None
    name: str | None = None


def setting(
    default: Any,
    help: str,
    *,
    parse: Callable[[str], Any] | None = None,
    choices: Iterable[str] | None = None,
    metavar: str | None = None,
    name: str | None = None,
) -> Any:
    """A settings field: its default, help text and (when its type is not enough) the
    parser of its text form, its choices and the metavar shown in ``--help``. ``name``
    replaces the flat name the group's prefix would give (``--ws`` rather than
    ``--ws-protocol``).

    The field's type gives the rest: ``bool`` makes ``--x / --no-x`` flags, ``int`` and
    ``float`` parse numbers, ``tuple[str, ...]`` makes a repeatable flag (a comma
    separated list in the environment), ``X | None`` allows None. ``name`` replaces the
    flat name the group's prefix would give (a group's on/off switch reads better as
    ``--http2`` than as ``--http2-enabled``).
    """
    spec = _Spec(help, parse, None if choices is None else tuple(choices), metavar, name)
    return field(default=default, metadata={_SETTING: spec})


def group(prefix: str = "") -> Any:
    """A :class:`Config` field holding a settings group; ``prefix`` + a field's name is
    the option's flat name (``timeout_`` + ``keep_alive``). The field's type is the group."""
    return field(metadata={_GROUP_PREFIX: prefix})


def _base_type(hint: Any) -> tuple[Any, bool, bool]:
    """(the type under ``X | None`` and ``tuple[X, ...]``, whether it is a tuple, whether
    None is allowed)."""
    optional = False
    if typing.get_origin(hint) in (Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = True
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], True, optional
    return hint, False, optional


_PARSERS: dict[Any, Callable[[str], Any]] = {int: _parse_int, float: _parse_float, str: str}


def _group_options(table: str, prefix: str, cls: type) -> tuple[Option, ...]:
    hints = typing.get_type_hints(cls)
    options = []
    for each in dataclasses.fields(cls):
        spec = each.metadata.get(_SETTING)
        if not isinstance(spec, _Spec):
            raise TypeError(f"{cls.__name__}.{each.name} is not declared with setting()")
        kind, repeat, optional = _base_type(hints[each.name])
        is_bool = kind is bool
        parse = spec.parse if spec.parse is not None else _PARSERS.get(kind, str)
        default: Any = each.default
        if repeat:
            default = list(default)  # as the CLI gives it (the group keeps a tuple)
        options.append(Option(
            spec.name or prefix + each.name, default, spec.help, parse=parse,
            choices=spec.choices,
            repeat=repeat, is_bool=is_bool, metavar=spec.metavar, group=table, key=each.name,
            optional=optional,
        ))
    return tuple(options)


class _Settings:
    """What every settings group shares: its values are converted and checked as they
    are set, so a group built directly (``TimeoutSettings(keep_alive=5)``) is as valid as
    one built from the command line."""

    def __post_init__(self) -> None:
        for option in _OPTIONS_OF_CLASS[type(self)]:
            assert option.key is not None
            value = option.convert(getattr(self, option.key))
            object.__setattr__(self, option.key, tuple(value) if option.repeat else value)


# -- the groups -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSettings(_Settings):
    """Where to listen, which loop, and how to find and start the app."""

    host: str = setting("127.0.0.1", "Address to bind (IPv4 or IPv6).", metavar="HOST")
    port: int = setting(8000, "Port to bind.", parse=_parse_port, metavar="PORT")
    bind: tuple[str, ...] = setting(
        (), "Bind HOST:PORT, [V6]:PORT or unix:PATH; repeatable. Overrides host/port.",
        parse=_parse_address, metavar="ADDRESS")
    insecure_bind: tuple[str, ...] = setting(
        (), "Bind HOST:PORT, [V6]:PORT or unix:PATH for cleartext HTTP beside the TLS "
        "listeners (--ssl-certfile makes every --bind/--host listener TLS); repeatable.",
        parse=_parse_address, metavar="ADDRESS")
    fd: int | None = setting(
        None, "Serve on an already bound, inherited socket file descriptor.",
        parse=_parse_non_negative_int, metavar="FD")
    backlog: int = setting(2048, "Listen backlog.", parse=_parse_positive_int, metavar="N")
    loop: str = setting("auto", "Event loop backend; auto picks uvloop when it is installed.",
                        choices=LOOP_CHOICES)
    lifespan: str = setting(
        "auto", "Lifespan protocol: auto serves apps that do not support it.",
        choices=("auto", "on", "off"))
    factory: bool = setting(
        False, "Treat APP as a factory: call it with no arguments to get the app.")
    app_dir: str = setting(".", "Directory to put first on sys.path when importing the app.",
                           metavar="DIR")
    root_path: str = setting("", "ASGI root_path for apps mounted below a URL prefix.",
                             metavar="PATH")
    env_file: str | None = setting(
        None, "A .env file (NAME=value lines) whose variables are set, unless already set, "
        "before the app is imported.", metavar="PATH")


@dataclass(frozen=True)
class HTTP1Settings(_Settings):
    """What only HTTP/1.1 has: its request head and its response headers."""

    limit_request_head: int = setting(
        65536, "Largest request head in bytes (431 above it).",
        parse=_parse_positive_int, metavar="BYTES")
    server_header: bool = setting(True, "Send 'server: fastcorn' on every response.")
    date_header: bool = setting(True, "Send a 'date' header on every response.")
    header: tuple[str, ...] = setting(
        (), "A header sent on every response, NAME:VALUE; repeatable.",
        parse=_parse_header, metavar="NAME:VALUE")


@dataclass(frozen=True)
class TimeoutSettings(_Settings):
    """Seconds before a connection, a request or the server gives up."""

    keep_alive: float = setting(
        65.0,
        "Seconds an idle keep-alive connection is kept open. Longer than the 60 s idle "
        "timeout of common load balancers so that the balancer, not fastcorn, closes first.",
        parse=_parse_non_negative_float, metavar="SECONDS")
    request_head: float = setting(
        10.0, "Seconds a client has to send a complete request head (slowloris guard; 408).",
        parse=_parse_non_negative_float, metavar="SECONDS")
    request_body: float = setting(
        60.0,
        "Seconds a request body may pause between reads before the request is cut (408 if "
        "not yet answered); 0 disables.",
        parse=_parse_non_negative_float, metavar="SECONDS")
    write: float = setting(
        60.0,
        "Seconds a client may stop reading a response (no progress while writing is "
        "paused) before the connection is cut; 0 disables.",
        parse=_parse_non_negative_float, metavar="SECONDS")
    graceful_shutdown: float = setting(
        30.0, "Seconds in-flight requests get to finish after SIGINT/SIGTERM.",
        parse=_parse_non_negative_float, metavar="SECONDS")


@dataclass(frozen=True)
class LimitSettings(_Settings):
    """Server-wide limits on the work taken on."""

    concurrency: int | None = setting(
        None, "Most requests in flight at once (503 above it).",
        parse=_parse_positive_int, metavar="N")
    max_requests: int | None = setting(
        None, "Shut down gracefully after serving this many requests (a supervisor or "
        "--workers starts a fresh process): bounds what a leaking app can grow to.",
        parse=_parse_positive_int, metavar="N")


@dataclass(frozen=True)
class LoggingSettings(_Settings):
    """fastcorn's loggers: their level, an optional configuration file, the access log."""

    log_level: str = setting("info", "Log level.", choices=LEVELS)
    log_config: str | None = setting(
        None,
        "A logging configuration file for fastcorn's loggers and your own: JSON or YAML "
        "(a logging.config.dictConfig dictionary) or INI (logging.config.fileConfig). "
        "Its handlers replace fastcorn's stderr ones.", metavar="PATH")
    access_log: bool = setting(True, "Log one line per request on 'fastcorn.access'.")
    access_log_format: str | None = setting(
        None, "The access line: a template of {field} names (client, method, target, "
        "protocol, status, bytes, duration_ms, duration_us, request_id, "
        "{request_header:NAME}, {response_header:NAME}...), or 'json' for JSON lines.",
        parse=_parse_access_format, metavar="FORMAT")


@dataclass(frozen=True)
class TLSSettings(_Settings):
    """TLS on every --bind/--host listener, on when a certificate file is given."""

    certfile: str | None = setting(
        None, "PEM file of the server certificate (and its chain); turns TLS on for every "
        "--bind/--host listener. Reloaded on SIGHUP and when the file changes.",
        metavar="PATH")
    keyfile: str | None = setting(
        None, "PEM file of the private key (default: the one in --ssl-certfile).",
        metavar="PATH")
    keyfile_password: str | None = setting(
        None, "Password of an encrypted private key.", metavar="PASSWORD")
    ca_certs: str | None = setting(
        None, "PEM file of the CA certificates client certificates are checked against "
        "(mutual TLS).", metavar="PATH")
    cert_reqs: str = setting(
        "none", "Client certificates: none, optional (checked when sent) or required.",
        choices=("none", "optional", "required"))
    ciphers: str = setting(
        "", "OpenSSL cipher list for TLS 1.2 (empty: Python's default list).",
        metavar="CIPHERS")
    min_version: str = setting(
        "TLSv1.2", "Oldest TLS version accepted.", choices=("TLSv1.2", "TLSv1.3"))
    handshake_timeout: float = setting(
        10.0, "Seconds a client has from connecting to a completed TLS handshake (the PROXY "
        "protocol header before it included).",
        parse=_parse_positive_float, metavar="SECONDS")


@dataclass(frozen=True)
class WorkerSettings(_Settings):
    """Worker processes under a supervisor: how many, when to replace them, reload."""

    workers: int = setting(
        1, "Worker processes. 1: one process, no supervisor (unless --reload, "
        "--max-requests or --max-worker-memory asks for one).",
        parse=_parse_positive_int, metavar="N")
    reuse_port: bool = setting(
        False, "Give every worker its own SO_REUSEPORT listener on the address, so that "
        "the kernel spreads connections evenly (default: the workers share the listeners).")
    max_requests: int = setting(
        0, "Replace a worker after it has served this many requests (0: never); the "
        "replacement serves before the old worker drains.",
        parse=_parse_non_negative_int, metavar="N")
    max_requests_jitter: int = setting(
        0, "Add a random 0..N to each worker's --max-requests, so workers do not all "
        "restart at once.", parse=_parse_non_negative_int, metavar="N")
    max_worker_memory: float = setting(
        0.0, "Replace a worker whose resident memory (RSS) exceeds this many MiB (0: never); "
        "the replacement serves before the old worker drains.",
        parse=_parse_non_negative_float, metavar="MIB")
    timeout_worker_healthcheck: float = setting(
        30.0, "Seconds a serving worker's event loop may go without a heartbeat (blocked "
        "by the app) before the worker is killed and replaced.",
        parse=_parse_positive_float, metavar="SECONDS")
    max_startup_failures: int = setting(
        5, "Workers that may fail to start in a row (with a growing delay between "
        "attempts) before the supervisor gives up and exits.",
        parse=_parse_positive_int, metavar="N")
    reload: bool = setting(
        False, "Development: restart the workers when a watched file changes (needs the "
        "'reload' extra, watchfiles).")
    reload_dir: tuple[str, ...] = setting(
        (), "Directory to watch with --reload; repeatable (default: the current directory "
        "and --app-dir).", metavar="DIR")
    reload_include: tuple[str, ...] = setting(
        (), "Glob of file names to watch with --reload, in addition to *.py; repeatable.",
        metavar="GLOB")
    reload_exclude: tuple[str, ...] = setting(
        (), "Glob of file names or paths not to watch with --reload, in addition to "
        ".*, *.py[cod], *.sw?, *~; repeatable.", metavar="GLOB")
    pid: str | None = setting(
        None, "Write the PID of the supervisor (or of the single server process) to this "
        "file, removed at exit.", metavar="PATH")


@dataclass(frozen=True)
class HTTP2Settings(_Settings):
    """HTTP/2 (h2c with prior knowledge or Upgrade, and ALPN "h2" over TLS): what the
    server advertises in its SETTINGS and the budgets a hostile client meets.

    The header list limit is --limit-request-head (one limit for a request head, whichever
    protocol carries it). The windows are far above the protocol's 64 KiB default, which
    would throttle an upload to 64 KiB per round trip; the stream window bounds what one
    request buffers for an app that reads slowly, the connection window what all of a
    connection's requests buffer together.
    """

    enabled: bool = setting(
        True, "Serve HTTP/2: h2c (prior knowledge and Upgrade) on cleartext listeners, "
        "ALPN 'h2' on TLS ones.", name="http2")
    max_concurrent_streams: int = setting(
        100, "Most streams a client may have open on one connection (REFUSED_STREAM above).",
        parse=_parse_positive_int, metavar="N")
    stream_window: int = setting(
        1024 * 1024, "Initial flow-control window of each stream, in bytes: how much "
        "request body one stream may buffer before the app reads it.",
        parse=_parse_window, metavar="BYTES")
    connection_window: int = setting(
        4 * 1024 * 1024, "Flow-control window of a whole connection, in bytes: the request "
        "body all of its streams may buffer together.", parse=_parse_window, metavar="BYTES")
    max_frame_size: int = setting(
        16384, "Largest frame payload a client may send (16384 to 16777215).",
        parse=_parse_frame_size, metavar="BYTES")
    max_control_frames: int = setting(
        1000, "PING, SETTINGS, PRIORITY, WINDOW_UPDATE, RST_STREAM, empty DATA and unknown "
        "frames a client may send per 10 seconds beyond those its requests and our "
        "responses account for; above it the connection ends with ENHANCE_YOUR_CALM.",
        parse=_parse_positive_int, metavar="N")
    max_reset_streams: int = setting(
        200, "Streams a client may cancel (RST_STREAM before their response completed) or "
        "have refused per 10 seconds; above it the connection ends with ENHANCE_YOUR_CALM "
        "(the rapid reset attack, CVE-2023-44487).",
        parse=_parse_positive_int, metavar="N")


def _parse_trusted(text: str) -> str:
    from fastcorn.asgi.proxy import trusted_entries

    return ",".join(trusted_entries(text))


@dataclass(frozen=True)
class ProxySettings(_Settings):
    """Behind a proxy or a load balancer: who may say who the client is, and how."""

    proxy_headers: bool = setting(
        True, "From a trusted peer (--forwarded-allow-ips), take the client address, scheme "
        "and host from X-Forwarded-For/-Proto/-Host/-Port or RFC 7239 Forwarded.")
    forwarded_allow_ips: str = setting(
        "127.0.0.1", "Comma separated peers trusted with proxy headers and the PROXY "
        "protocol: IP addresses, CIDR networks, '*' (everyone), 'unix' (every unix-socket "
        "connection) or unix:PATH.", parse=_parse_trusted, metavar="LIST")
    proxy_protocol: bool = setting(
        False, "Every connection starts with a PROXY protocol v1 or v2 header (HAProxy "
        "send-proxy / send-proxy-v2), which gives the client and server addresses. "
        "Accepted from --forwarded-allow-ips peers only; other connections are closed, as "
        "are those without a valid header. On TLS listeners the header comes before the "
        "TLS handshake (TLS passed through the balancer, or re-encrypted by it).")


def _parse_host_port(text: str) -> str:
    split_host_port(text)
    return text


def _parse_statsd_tag(text: str) -> str:
    if not text or any(ch in text for ch in "|#,\n") or not text.isascii():
        raise ValueError(f"a tag is name or name:value without '|', '#' or ',', got {text!r}")
    return text


@dataclass(frozen=True)
class MetricsSettings(_Settings):
    """Metrics: a Prometheus endpoint on its own listener, and statsd/DogStatsD."""

    metrics_bind: str | None = setting(
        None, "Serve Prometheus metrics (text format) on HOST:PORT, a listener of their "
        "own; off by default.", parse=_parse_host_port, metavar="HOST:PORT")
    statsd_host: str | None = setting(
        None, "Send metrics to statsd at HOST:PORT (UDP) once a second.",
        parse=_parse_host_port, metavar="HOST:PORT")
    statsd_prefix: str = setting("fastcorn", "Prefix of the statsd metric names.",
                                 metavar="PREFIX")
    statsd_dogstatsd: bool = setting(
        False, "Send DogStatsD lines (labels as tags) instead of plain statsd (labels in "
        "the metric name); implied by --statsd-tags.")
    statsd_tags: tuple[str, ...] = setting(
        (), "A DogStatsD tag (name:value) sent with every metric; repeatable.",
        parse=_parse_statsd_tag, metavar="TAG")


@dataclass(frozen=True)
class WebSocketSettings(_Settings):
    """WebSocket (RFC 6455) over HTTP/1.1 Upgrade or HTTP/2 extended CONNECT (RFC 8441): the
    engine, its limits and keepalive."""

    protocol: str = setting(
        "auto", "WebSocket engine: auto is wsproto with a compiled lane for plain data "
        "frames; wsproto is wsproto alone; none answers upgrade requests as plain HTTP.",
        choices=("auto", "wsproto", "none"), name="ws")
    max_size: int = setting(
        16 * 1024 * 1024,
        "Largest WebSocket message in bytes, after permessage-deflate inflation (close "
        "1009 above it).", parse=_parse_positive_int, metavar="BYTES")
    ping_interval: float = setting(
        20.0, "Seconds between the server's pings on an open WebSocket; 0 disables.",
        parse=_parse_non_negative_float, metavar="SECONDS")
    ping_timeout: float = setting(
        20.0, "Seconds a ping's pong may take before the WebSocket is closed (1011).",
        parse=_parse_positive_float, metavar="SECONDS")
    per_message_deflate: bool = setting(
        True, "Accept permessage-deflate (RFC 7692) when the client offers it.")


# -- the resolved options of one server -----------------------------------------------------


@dataclass(init=False)
class Config:
    """The resolved options of one server: the app and one settings object per group.

    ``Config(app, port=9, timeout_keep_alive=5)`` takes the flat option names (as
    :func:`fastcorn.run` does) and checks them as the CLI does; a whole group may be given
    as well (``Config(app, timeouts=TimeoutSettings(keep_alive=5))``), flat options of the
    same group applying on top of it.
    """

    app: Any
    server: ServerSettings = group()
    http1: HTTP1Settings = group()
    timeouts: TimeoutSettings = group(prefix="timeout_")
    limits: LimitSettings = group(prefix="limit_")
    logging: LoggingSettings = group()
    tls: TLSSettings = group(prefix="ssl_")
    processes: WorkerSettings = group()
    http2: HTTP2Settings = group(prefix="http2_")
    proxy: ProxySettings = group()
    metrics: MetricsSettings = group()
    ws: WebSocketSettings = group(prefix="ws_")

    def __init__(self, app: Any = None, **options: Any) -> None:
        self.app = app
        given: dict[str, Any] = {}
        changes: dict[str, dict[str, Any]] = {table: {} for table in GROUPS}
        for name, value in options.items():
            if name in GROUPS and (isinstance(value, GROUPS[name])
                                   or name not in OPTIONS_BY_NAME):
                # A whole group; a group's switch may share its name (http2=False, ws="none").
                if not isinstance(value, GROUPS[name]):
                    raise ConfigError(
                        f"{name}: expected a {GROUPS[name].__name__}, got {value!r}")
                given[name] = value
                continue
            option = OPTIONS_BY_NAME.get(name)
            if option is None or option.group is None:
                raise ConfigError(f"unknown option {name!r}")
            changes[option.group][option.key] = value  # type: ignore[index]
        for table, cls in GROUPS.items():
            base = given.get(table)
            # The group's __post_init__ converts and checks the values (labelled by flag).
            settings = cls(**changes[table]) if base is None else dataclasses.replace(
                base, **changes[table])
            setattr(self, table, settings)

    def flat(self) -> dict[str, Any]:
        """Every option by its flat name (``timeout_keep_alive``), as the CLI names it."""
        return {
            option.name: getattr(getattr(self, option.group), option.key)
            for option in OPTIONS if option.group is not None and option.key is not None
        }


def _collect_groups() -> dict[str, tuple[type[_Settings], str]]:
    hints = typing.get_type_hints(Config)
    return {
        each.name: (hints[each.name], each.metadata[_GROUP_PREFIX])
        for each in dataclasses.fields(Config) if _GROUP_PREFIX in each.metadata
    }


# table name -> settings class, in declaration order.
GROUPS: dict[str, type[_Settings]] = {
    table: cls for table, (cls, _) in _collect_groups().items()
}
_OPTIONS_OF_CLASS: dict[type, tuple[Option, ...]] = {
    cls: _group_options(table, prefix, cls)
    for table, (cls, prefix) in _collect_groups().items()
}

OPTIONS: tuple[Option, ...] = (
    Option("app", None, "The ASGI app as 'module:attribute'.", cli_only=True, metavar="APP"),
    Option("config", None,
           "A TOML file of options: flat keys named as the options (port = 8000), or one "
           "table per group ([timeouts] keep_alive = 5).", cli_only=True, metavar="PATH"),
    *(option for options in _OPTIONS_OF_CLASS.values() for option in options),
)

OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}

# table name -> {key in the table: option}
_TABLES: dict[str, dict[str, Option]] = {
    table: {option.key: option for option in _OPTIONS_OF_CLASS[cls] if option.key}
    for table, cls in GROUPS.items()
}


def load_toml(path: str) -> dict[str, Any]:
    """Read a TOML options file; unknown keys and bad values raise ConfigError.

    Returns ``{flat option name: value}``. Options may be flat keys (``timeout_keep_alive``)
    or keys of their group's table (``[timeouts]`` ``keep_alive``); dashes may stand for
    underscores. Giving one option twice is an error.
    """
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None
    # Accept both a flat file and a [tool.fastcorn] table inside pyproject.toml.
    if "tool" in data:
        tool = data["tool"]
        if not isinstance(tool, dict) or not isinstance(tool.get("fastcorn"), dict):
            raise ConfigError(f"--config: {path} has no [tool.fastcorn] table")
        data = tool["fastcorn"]
    result: dict[str, Any] = {}
    seen: dict[str, str] = {}  # option name -> the key that set it

    def put(option: Option, key: str, value: Any) -> None:
        if option.name in seen:
            raise ConfigError(
                f"--config: {seen[option.name]!r} and {key!r} both set {option.name} in {path}")
        seen[option.name] = key
        result[option.name] = option.convert(value, f"{path}: {key}")

    for key, value in data.items():
        name = key.replace("-", "_")
        table = _TABLES.get(name)
        if table is not None and (isinstance(value, dict) or name not in OPTIONS_BY_NAME):
            # A group's table; a group's switch may share its name (http2 = false, ws = "none").
            if not isinstance(value, dict):
                raise ConfigError(f"--config: {key!r} in {path} must be a table ([{key}])")
            for sub, sub_value in value.items():
                option = table.get(sub.replace("-", "_"))
                if option is None:
                    raise ConfigError(f"--config: unknown option '{key}.{sub}' in {path}")
                put(option, f"{key}.{sub}", sub_value)
            continue
        option = OPTIONS_BY_NAME.get(name)
        # 'app' is allowed (the app path may live in the file); 'config' is not.
        if option is None or name == "config":
            if isinstance(value, dict):
                raise ConfigError(f"--config: unknown table [{key}] in {path} "
                                  f"(tables: {', '.join(_TABLES)})")
            raise ConfigError(f"--config: unknown option {key!r} in {path}")
        put(option, key, value)
    return result


def load_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every FASTCORN_* variable that names an option (FASTCORN_APP too, not _CONFIG)."""
    environ = os.environ if environ is None else environ
    result: dict[str, Any] = {}
    for option in OPTIONS:
        if option.env in environ and option.name != "config":
            result[option.name] = option.convert(environ[option.env], option.env)
    return result
