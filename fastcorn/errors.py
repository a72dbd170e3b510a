"""fastcorn's user-facing error types, importable from anywhere without an import cycle."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad option value; its message is one line that names the option."""
