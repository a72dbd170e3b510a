"""Every fastcorn option, declared once.

The command line (``cli.py``), the ``FASTCORN_*`` environment variables and the keys of a
TOML file given with ``--config`` are all generated from :data:`OPTIONS`, so an option's
name, type, default and help text live in exactly one place.

Precedence, lowest first: defaults, the TOML file, the environment, the command line
(and for the Python API, keyword arguments to :func:`fastcorn.run` / :class:`Config`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "FASTCORN_"


class ConfigError(ValueError):
    """A bad option value; its message is one line that names the option."""


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


def split_host_port(address: str) -> tuple[str, int]:
    """'HOST:PORT' or '[V6]:PORT' -> (host, port); ValueError naming the expected forms."""
    if address.startswith("["):
        host, sep, port = address[1:].partition("]:")
    else:
        host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, [V6]:PORT or unix:PATH, got {address!r}")
    return host, int(port)


def _parse_address(text: str) -> str:
    if text.startswith("unix:"):
        if len(text) == len("unix:"):
            raise ValueError("expected unix:PATH, got 'unix:'")
        return text
    split_host_port(text)
    return text


@dataclass(frozen=True)
class Option:
    """One option: its Python name is also the TOML key; the flag and env var derive from it."""

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

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

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
            return None
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


OPTIONS: tuple[Option, ...] = (
    Option("app", None, "The ASGI app as 'module:attribute'.", cli_only=True, metavar="APP"),
    Option("config", None, "A TOML file of options (keys are option names with underscores).",
           cli_only=True, metavar="PATH"),
    Option("host", "127.0.0.1", "Address to bind (IPv4 or IPv6).", metavar="HOST"),
    Option("port", 8000, "Port to bind.", parse=_parse_port, metavar="PORT"),
    Option("bind", [], "Bind HOST:PORT, [V6]:PORT or unix:PATH; repeatable. Overrides host/port.",
           parse=_parse_address, repeat=True, metavar="ADDRESS"),
    Option("fd", None, "Serve on an already bound, inherited socket file descriptor.",
           parse=_parse_non_negative_int, metavar="FD"),
    Option("backlog", 2048, "Listen backlog.", parse=_parse_positive_int, metavar="N"),
    Option("loop", "auto", "Event loop backend; auto picks uvloop when it is installed.",
           choices=("auto", "asyncio", "uvloop", "trio")),
    Option("lifespan", "auto", "Lifespan protocol: auto serves apps that do not support it.",
           choices=("auto", "on", "off")),
    Option("factory", False, "Treat APP as a factory: call it with no arguments to get the app.",
           is_bool=True),
    Option("app_dir", ".", "Directory to put first on sys.path when importing the app.",
           metavar="DIR"),
    Option("root_path", "", "ASGI root_path for apps mounted below a URL prefix.",
           metavar="PATH"),
    Option("log_level", "info", "Log level.",
           choices=("critical", "error", "warning", "info", "debug", "trace")),
    Option("log_config", None,
           "A logging configuration file for fastcorn's loggers and your own: JSON or YAML "
           "(a logging.config.dictConfig dictionary) or INI (logging.config.fileConfig). "
           "Its handlers replace fastcorn's stderr ones.", metavar="PATH"),
    Option("access_log", True, "Log one line per request on 'fastcorn.access'.", is_bool=True),
    Option("server_header", True, "Send 'server: fastcorn' on every response.", is_bool=True),
    Option("timeout_keep_alive", 65.0,
           "Seconds an idle keep-alive connection is kept open. Longer than the 60 s idle "
           "timeout of common load balancers so that the balancer, not fastcorn, closes first.",
           parse=_parse_non_negative_float, metavar="SECONDS"),
    Option("timeout_request_head", 10.0,
           "Seconds a client has to send a complete request head (slowloris guard; 408).",
           parse=_parse_non_negative_float, metavar="SECONDS"),
    Option("timeout_request_body", 60.0,
           "Seconds a request body may pause between reads before the request is cut (408 if "
           "not yet answered); 0 disables.",
           parse=_parse_non_negative_float, metavar="SECONDS"),
    Option("timeout_write", 60.0,
           "Seconds a client may stop reading a response (no progress while writing is "
           "paused) before the connection is cut; 0 disables.",
           parse=_parse_non_negative_float, metavar="SECONDS"),
    Option("timeout_graceful_shutdown", 30.0,
           "Seconds in-flight requests get to finish after SIGINT/SIGTERM.",
           parse=_parse_non_negative_float, metavar="SECONDS"),
    Option("limit_request_head", 65536, "Largest request head in bytes (431 above it).",
           parse=_parse_positive_int, metavar="BYTES"),
    Option("limit_concurrency", None, "Most requests in flight at once (503 above it).",
           parse=_parse_positive_int, metavar="N"),
)

OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def load_toml(path: str) -> dict[str, Any]:
    """Read a TOML options file; unknown keys and bad values raise ConfigError."""
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
    for key, value in data.items():
        name = key.replace("-", "_")
        option = OPTIONS_BY_NAME.get(name)
        # 'app' is allowed (the app path may live in the file); 'config' is not.
        if option is None or name == "config":
            raise ConfigError(f"--config: unknown option {key!r} in {path}")
        result[name] = option.convert(value, f"{path}: {key}")
    return result


def load_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every FASTCORN_* variable that names an option (FASTCORN_APP too, not _CONFIG)."""
    environ = os.environ if environ is None else environ
    result: dict[str, Any] = {}
    for option in OPTIONS:
        if option.env in environ and option.name != "config":
            result[option.name] = option.convert(environ[option.env], option.env)
    return result


@dataclass
class Config:
    """The resolved options of one server. Build it with keyword arguments named as in OPTIONS."""

    app: Any = None
    values: dict[str, Any] = field(default_factory=dict)

    def __init__(self, app: Any = None, **options: Any) -> None:
        self.app = app
        self.values = {}
        for option in OPTIONS:
            if option.cli_only:
                continue
            default = option.default
            self.values[option.name] = list(default) if isinstance(default, list) else default
        for name, value in options.items():
            given = OPTIONS_BY_NAME.get(name)
            if given is None or given.cli_only:
                raise ConfigError(f"unknown option {name!r}")
            self.values[name] = given.convert(value)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None
