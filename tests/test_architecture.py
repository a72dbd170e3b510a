"""Checks of the layering and the public surface, run like any other test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The protocol cores and the shared ASGI layer: fed bytes, they must never pull in an event loop.
LOOP_FREE = ["fastcorn._parser", "fastcorn._asgi", "fastcorn.asgi.lifespan", "fastcorn.testing"]


@pytest.mark.parametrize("module", LOOP_FREE)
def test_protocol_layer_imports_no_event_loop(module: str) -> None:
    code = (
        f"import sys; import {module}; "
        "bad = [m for m in ('asyncio', 'trio', 'uvloop', 'anyio') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "", f"{module} imports {out}"


def test_compiled_stubs_match_the_modules() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", "pyproject.toml",
         "fastcorn._asgi", "fastcorn._parser"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "fastcorn"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_documents_every_option() -> None:
    import dataclasses

    from fastcorn.config import GROUPS, OPTIONS

    readme = (ROOT / "README.md").read_text()
    by_field = {(option.group, option.key): option for option in OPTIONS}
    for table, cls in GROUPS.items():
        assert f"**`[{table}]`**" in readme, f"README has no section for [{table}]"
        for each in dataclasses.fields(cls):
            option = by_field[table, each.name]
            assert f"`{option.flag}" in readme, f"README does not document {option.flag}"
            assert f"`{option.env}`" in readme, f"README does not document {option.env}"
            assert f"`{table}.{each.name}`" in readme, f"README lacks TOML {table}.{each.name}"
