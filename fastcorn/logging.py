"""fastcorn's two loggers and the access-log line.

``fastcorn.error`` carries server messages (startup, shutdown, app errors), ``fastcorn.access``
one line per request. Both are plain stdlib loggers, so an embedding application can attach
its own handlers; :func:`configure_logging` only adds handlers to loggers that have none.
"""

from __future__ import annotations

import logging
import sys

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

error_logger = logging.getLogger("fastcorn.error")
access_logger = logging.getLogger("fastcorn.access")


def configure_logging(level: str, access_log: bool) -> None:
    """Set the loggers' levels and, where they have no handlers yet, log to stderr.

    ``level`` is one of :data:`LEVELS` (``log_level`` option). With ``access_log`` false the
    access logger is silenced. Handlers installed here do not propagate to the root logger,
    so an app that configured the root logger does not see every line twice.
    """
    try:
        numeric = LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}") from None

    error_logger.setLevel(numeric)
    if not error_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[fastcorn] %(levelname)s: %(message)s"))
        error_logger.addHandler(handler)
        error_logger.propagate = False

    # Access lines are INFO; a level above INFO (or access_log off) silences them.
    access_logger.setLevel(max(numeric, logging.INFO) if access_log else logging.CRITICAL + 1)
    if not access_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_logger.addHandler(handler)
        access_logger.propagate = False


def _format_client(client: tuple[str, int] | tuple[str] | None) -> str:
    if not client:
        return "-"
    host = client[0]
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if len(client) > 1:
        return f"{host}:{client[1]}"  # type: ignore[misc]
    return host


def _escape(text: str) -> str:
    # The path is percent-decoded: a request for /%0A would otherwise forge a log line.
    if text.isprintable() and '"' not in text:
        return text
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')


def format_access(
    client: tuple[str, int] | tuple[str] | None,
    method: str,
    path: str,
    http_version: str,
    status: int,
    nbytes: int,
    duration: float,
) -> str:
    """One access-log line: ``127.0.0.1:53210 - "GET /path HTTP/1.1" 200 13 0.4ms``.

    ``duration`` is in seconds, ``nbytes`` the response body size.
    """
    return (
        f'{_format_client(client)} - "{method} {_escape(path)} HTTP/{http_version}" '
        f"{status} {nbytes} {duration * 1000.0:.1f}ms"
    )


def log_access(
    client: tuple[str, int] | tuple[str] | None,
    method: str,
    path: str,
    http_version: str,
    status: int,
    nbytes: int,
    duration: float,
) -> None:
    """Log one request on ``fastcorn.access`` (formatting is skipped when it is disabled)."""
    if access_logger.isEnabledFor(logging.INFO):
        access_logger.info(
            format_access(client, method, path, http_version, status, nbytes, duration)
        )
