"""The ``fastcorn`` command. Every flag is generated from :data:`fastcorn.config.OPTIONS`
(itself generated from the fields of the settings groups in ``fastcorn/config.py``).

Precedence, lowest first: defaults, the ``--config`` TOML file, ``FASTCORN_*`` environment
variables, flags given on the command line. Every user error is one line on stderr,
``fastcorn: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import difflib
import os
import platform
import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from fastcorn.backends import BackendUnavailable, resolve_loop
from fastcorn.backends.tls import tls_listener
from fastcorn.config import (
    GROUPS,
    OPTIONS,
    OPTIONS_BY_NAME,
    Config,
    ConfigError,
    Option,
    load_env,
    load_toml,
)
from fastcorn.envfile import load_env_file
from fastcorn.importer import AppImportError, load_app
from fastcorn.logging import configure_logging

PROG = "fastcorn"
USAGE_EXIT = 2

class UsageError(Exception):
    """A one-line user error (the message is printed after ``fastcorn: error: ``)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # "argument --port: expected one argument" -> "--port: expected one argument"
        match = re.match(r"argument ([^:/\s]+)(?:/\S+)?: ", message)
        if match:
            message = f"{match.group(1)}: {message[match.end() :]}"
        raise UsageError(message)


def _version() -> str:
    import fastcorn

    number = getattr(fastcorn, "__version__", "unknown")
    return (
        f"{PROG} {number} ({platform.python_implementation()} {platform.python_version()}"
        f" on {platform.system()})"
    )


def _help(option: Option) -> str:
    parts = [option.help]
    if option.is_bool:
        parts.append(f"[default: {'yes' if option.default else 'no'}]")
    elif option.default not in (None, [], ""):
        parts.append(f"[default: {option.default}]")
    if option.name != "config":  # the config file is named on the command line only
        parts.append(f"[env: {option.env}]")
    return " ".join(parts).replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one argument per entry of OPTIONS; every default is SUPPRESS,
    so the namespace holds exactly the flags given on the command line, as given."""
    parser = _Parser(
        prog=PROG,
        description="A fast, correct ASGI server.",
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,
    )
    # One --help section per settings group ("timeouts options: ..."), in declaration order.
    sections: dict[str, Any] = {}
    for option in OPTIONS:
        target: Any = parser
        if option.group is not None:
            if option.group not in sections:
                cls = GROUPS[option.group]
                doc = (cls.__doc__ or "").strip().splitlines()[0]
                sections[option.group] = parser.add_argument_group(
                    f"[{option.group}] options", doc.replace("%", "%%"))
            target = sections[option.group]
        kwargs: dict[str, Any] = {"help": _help(option), "default": argparse.SUPPRESS}
        if option.choices is not None:
            # Shown in --help; validated by Option.convert so the error is ours, one line.
            kwargs["metavar"] = "{" + ",".join(option.choices) + "}"
        elif option.metavar is not None:
            kwargs["metavar"] = option.metavar
        if option.name == "app":
            target.add_argument("app", nargs="?", **kwargs)
        elif option.is_bool:
            kwargs.pop("metavar", None)
            target.add_argument(option.flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif option.repeat:
            target.add_argument(option.flag, action="append", dest=option.name, **kwargs)
        else:
            target.add_argument(option.flag, dest=option.name, **kwargs)
    parser.add_argument("--version", action="version", version=_version())
    return parser


def _unknown_arguments(extras: list[str]) -> str:
    for arg in extras:
        if arg.startswith("-"):
            flag = arg.partition("=")[0]
            flags = [o.flag for o in OPTIONS] + [f"--no-{o.flag[2:]}" for o in OPTIONS if o.is_bool]
            close = difflib.get_close_matches(flag, flags, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return f"{flag}: unknown option{hint}"
    return f"unexpected argument {extras[0]!r}"


def resolve_options(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Parse ``argv`` and merge every source; returns ``{option name: value}`` for every
    option but ``config`` (``app`` is the import path string, or None).

    Raises UsageError or ConfigError with a one-line message. ``--help`` / ``--version``
    raise SystemExit(0) as argparse does.
    """
    parser = build_parser()
    namespace, extras = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if extras:
        raise UsageError(_unknown_arguments(extras))
    given: dict[str, Any] = vars(namespace)

    values: dict[str, Any] = {}
    for option in OPTIONS:
        if option.name != "config":
            default = option.default
            values[option.name] = list(default) if isinstance(default, list) else default
    config_path = given.pop("config", None)
    if config_path is not None:
        values.update(load_toml(config_path))
    values.update(load_env(os.environ if environ is None else environ))
    for name, value in given.items():
        values[name] = OPTIONS_BY_NAME[name].convert(value)
    return values


def check_backend(loop: str) -> None:
    """Raise UsageError if the chosen loop backend's optional dependency is not installed."""
    try:
        resolve_loop(loop)  # the one registry of loops and the extras that install them
    except BackendUnavailable as exc:
        raise UsageError(str(exc)) from None


def _fail(message: str) -> int:
    # One line, whatever the message holds (a TOML decode error, a repr with newlines...).
    line = " ".join(message.split())
    print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)
    return USAGE_EXIT


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastcorn`` command; returns the process exit status."""
    try:
        options = resolve_options(argv)
        app_path = options.pop("app")
        if not app_path:
            raise UsageError(
                "no app given: pass APP as 'module:attribute' "
                "(or set FASTCORN_APP, or 'app' in the --config file)"
            )
        check_backend(options["loop"])
        # The TLS context is built (files read, key checked against the certificate) before
        # the app is imported and anything binds: a bad file is one line, exit status 2.
        tls_listener(Config(**options).tls)
        from fastcorn import supervisor

        # Worker options that cannot work, before anything binds or is imported.
        supervisor.check(Config(app=app_path, **options))
    except (UsageError, ConfigError) as exc:
        return _fail(str(exc))

    try:
        # Before the app is imported: a bad --log-config stops here, and the handlers are
        # fastcorn's (or the file's) whatever logging setup the app's import does.
        configure_logging(options["log_level"], options["access_log"], options["log_config"])
    except ConfigError as exc:
        return _fail(str(exc))

    if supervisor.wanted(Config(**options).processes):
        # The supervisor binds, then its workers import the app: never imported here.
        try:
            return supervisor.run(Config(app=app_path, **options))
        except ConfigError as exc:
            return _fail(str(exc))

    try:
        if options["env_file"] is not None:
            load_env_file(options["env_file"])  # before the app reads its environment
        app = load_app(app_path, options["app_dir"], options["factory"])
    except (AppImportError, ConfigError) as exc:
        return _fail(str(exc))
    except Exception as exc:
        # The app's own code failed while importing (or in its factory): the traceback is
        # what the user needs, followed by our one-line summary.
        traceback.print_exc()
        return _fail(f"importing app {app_path!r} raised {type(exc).__name__}: {exc}")

    # The factory has been applied and the app is already ASGI 3; record that, so that the
    # server does not call the factory a second time.
    options["factory"] = False

    # server.run configures logging (fastcorn.logging.configure_logging) itself; a bad
    # --log-config file is a usage error like any other bad option. supervisor.run is
    # server.run here (one process), with the --pid file around it.
    try:
        return supervisor.run(Config(app=app, **options))
    except ConfigError as exc:
        return _fail(str(exc))
