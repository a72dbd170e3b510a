"""``--env-file``: variables from a ``.env`` file, set before the app is imported.

The format is the common one (python-dotenv's, docker's ``--env-file``): ``NAME=value``
lines, ``#`` comments, an optional ``export`` prefix, values unquoted (an inline ``#``
after a space starts a comment), in single quotes (taken as they are) or in double quotes
(with ``\\n``, ``\\t``, ``\\"`` and ``\\\\`` escapes). A variable already set in the
environment keeps its value, as with python-dotenv and uvicorn. Any problem is a one-line
ConfigError naming the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping

from fastcorn.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def _double_quoted(text: str, where: str) -> str:
    out = []
    i = 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
            i += 2
            continue
        if char == '"':
            rest = text[i + 1:].strip()
            if rest and not rest.startswith("#"):
                raise ConfigError(f"{where}: unexpected text after the closing quote")
            return "".join(out)
        out.append(char)
        i += 1
    raise ConfigError(f"{where}: no closing double quote")


def parse_env_file(text: str, label: str) -> dict[str, str]:
    """The variables of a .env file's text; ``label`` names it in errors."""
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{label}:{number}"
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export"):].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise ConfigError(f"{where}: expected NAME=value, got {raw.strip()[:80]!r}")
        value = value.strip()
        if value.startswith("'"):
            end = value.find("'", 1)
            if end < 0:
                raise ConfigError(f"{where}: no closing single quote")
            rest = value[end + 1:].strip()
            if rest and not rest.startswith("#"):
                raise ConfigError(f"{where}: unexpected text after the closing quote")
            value = value[1:end]
        elif value.startswith('"'):
            value = _double_quoted(value, where)
        else:
            value = re.split(r"\s#", value, maxsplit=1)[0].rstrip()
        result[name] = value
    return result


def load_env_file(path: str, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the variables of ``path`` that ``environ`` (os.environ) does not have yet;
    returns the file's variables."""
    label = f"--env-file: {path}"
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text") from None
    variables = parse_env_file(text, label)
    target = os.environ if environ is None else environ
    for name, value in variables.items():
        target.setdefault(name, value)
    return variables
