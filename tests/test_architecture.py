"""Checks of the layering and the public surface, run like any other test.

The layers import one way: ``backends/`` -> ``protocol/`` (and ``_parser``) -> ``asgi/``; the
protocol cores and the ASGI layer are fed bytes and never pull in an event loop. Each rule is
checked twice, on the files found under each layer's folder (a new file is checked without an
edit here): statically, on every import, from-import and cimport of the ``.py``, ``.pyx``,
``.pxd`` and ``.pxi`` sources, and dynamically, by importing each module in a fresh interpreter
and looking at ``sys.modules``. The self-tests at the end prove that both checks can fail.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "fastcorn"
EVENT_LOOPS = ("asyncio", "trio", "uvloop", "anyio")
SOURCES = (".py", ".pyx", ".pxd", ".pxi")


@dataclass(frozen=True)
class Layer:
    name: str
    files: tuple[str, ...]  # glob patterns under the package folder
    forbidden: tuple[str, ...]  # modules (and their submodules); {pkg} is the package name

    def forbidden_in(self, package: str) -> tuple[str, ...]:
        return tuple(name.format(pkg=package) for name in self.forbidden)


LAYERS = (
    Layer("asgi", ("asgi/**/*",),
          ("{pkg}.protocol", "{pkg}.backends", "{pkg}.server", "{pkg}._parser", *EVENT_LOOPS)),
    Layer("protocol", ("protocol/**/*", "_parser.*"),
          ("{pkg}.backends", "{pkg}.server", *EVENT_LOOPS)),
)  # fmt: skip


def layer_files(package_dir: Path, layer: Layer) -> list[Path]:
    """The sources of ``layer`` under ``package_dir``, found by its globs."""
    found = {path for pattern in layer.files for path in package_dir.glob(pattern)
             if path.suffix in SOURCES and "__pycache__" not in path.parts}  # fmt: skip
    return sorted(found)


def module_name(package_dir: Path, path: Path) -> str:
    """``fastcorn/asgi/cycle.pyx`` -> ``fastcorn.asgi.cycle``; a package's ``__init__``
    is the package."""
    parts = path.relative_to(package_dir.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_modules(package_dir: Path, layer: Layer) -> list[str]:
    """The importable modules of ``layer``: its .py and .pyx files (a .pxd or .pxi alone is
    a declaration, not a module)."""
    return sorted({module_name(package_dir, path) for path in layer_files(package_dir, layer)
                   if path.suffix in (".py", ".pyx")})  # fmt: skip


def compiled_modules(package_dir: Path) -> list[str]:
    """Every compiled module, as setup.py finds them: each .pyx at any depth."""
    return sorted(module_name(package_dir, path) for path in package_dir.rglob("*.pyx"))


# -- the static check: every import in the sources ---------------------------------------------

# Cython sources are not Python: they are read with regular expressions, after blanking string
# literals (prefixed, triple-quoted) and comments, so that neither hides nor fakes an import.
_STRING_OR_COMMENT = re.compile(
    r"""(?:\b[rRbBuUfFcC]{1,2})?(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'"""
    r"""|"(?:\\.|[^"\\\n])*")|\#[^\n]*"""
)
_IMPORT = re.compile(r"(?:c?import)\s+(?P<names>.+)")
_FROM_IMPORT = re.compile(r"from\s+(?P<dots>\.*)\s*(?P<module>[\w.]*)\s+c?import\s+(?P<names>.+)")


def _blank(match: re.Match[str]) -> str:
    text = match.group()
    return "" if text.startswith("#") else '""' + "\n" * text.count("\n")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, statement): continuation lines joined (a trailing backslash, open
    brackets), statements split at ';'."""
    statements: list[tuple[int, str]] = []
    pending, start, depth = "", 0, 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        depth += sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        pending += line + " "
        if depth > 0:
            continue
        statements += [(start, part.strip()) for part in pending.split(";") if part.strip()]
        pending, depth = "", 0
    if pending.strip():
        statements.append((start, pending.strip()))
    return statements


def _absolute(package: str, dots: str, module: str) -> str:
    """The absolute name of a (relative) import's module, seen from ``package``."""
    if not dots:
        return module
    base = package.split(".")
    base = base[: len(base) - (len(dots) - 1)]
    return ".".join([*base, module] if module else base)


def _names(names: str) -> list[str]:
    """``(a as b, c)`` -> ``[a, c]``."""
    names = names.strip().strip("()")
    return [name.split()[0] for name in names.split(",") if name.strip() and name.split()]


def cython_imports(text: str, package: str) -> list[tuple[int, str]]:
    """(line, module) for each import, cimport, from-import and from-cimport of a Cython
    source whose package is ``package``; a from-import also yields ``module.name`` for each
    name, since the name may be a submodule (``from fastcorn import server``)."""
    found: list[tuple[int, str]] = []
    for line, statement in _logical_lines(_STRING_OR_COMMENT.sub(_blank, text)):
        if match := _FROM_IMPORT.fullmatch(statement):
            module = _absolute(package, match["dots"], match["module"])
            found.append((line, module))
            found += [(line, f"{module}.{name}") for name in _names(match["names"])
                      if name != "*"]  # fmt: skip
        elif match := _IMPORT.fullmatch(statement):
            found += [(line, name) for name in _names(match["names"])]
        elif re.search(r"\bc?import\b", statement):  # a form this scan does not know: say so
            raise ValueError(f"line {line}: cannot read the import in {statement!r}")
    return found


def python_imports(text: str, package: str, filename: str) -> list[tuple[int, str]]:
    """Like :func:`cython_imports`, for Python parsed with ``ast`` (imports anywhere: in
    functions, under TYPE_CHECKING) plus ``importlib.import_module`` / ``__import__`` of a
    constant name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(text, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(package, "." * node.level, node.module or "")
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names
                      if alias.name != "*"]  # fmt: skip
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def static_violations(root: Path, package: str = PACKAGE) -> list[str]:
    """``path:line: the LAYER layer imports MODULE`` for each forbidden import under ``root``."""
    package_dir = root / package
    violations = []
    for layer in LAYERS:
        forbidden = layer.forbidden_in(package)
        for path in layer_files(package_dir, layer):
            name = module_name(package_dir, path)
            own_package = name if path.stem == "__init__" else name.rpartition(".")[0]
            text = path.read_text()
            imports = (python_imports(text, own_package, str(path)) if path.suffix == ".py"
                       else cython_imports(text, own_package))  # fmt: skip
            for line, module in imports:
                if any(module == bad or module.startswith(bad + ".") for bad in forbidden):
                    violations.append(f"{path.relative_to(root)}:{line}: the {layer.name} "
                                      f"layer imports {module}")  # fmt: skip
    return violations


def test_layers_import_one_way_in_the_sources() -> None:
    assert not static_violations(ROOT), "\n".join(static_violations(ROOT))


# -- the dynamic check: what importing each module loads ---------------------------------------

# Each module alone, in a fresh interpreter, with the package's __init__ replaced by an empty
# package: fastcorn/__init__.py loads the whole server (config, the backend registry), which
# would hide what the module itself pulls in. -I: neither PYTHONPATH nor the current directory.
_LOADED = """
import importlib, os, sys, types
root, package, module, *forbidden = sys.argv[1:]
stub = types.ModuleType(package)
stub.__path__ = [os.path.join(root, package)]
sys.modules[package] = stub
importlib.import_module(module)
print(" ".join(bad for bad in forbidden
               if any(m == bad or m.startswith(bad + ".") for m in sys.modules)))
"""


def loaded_forbidden(root: Path, module: str, forbidden: tuple[str, ...],
                     package: str = PACKAGE) -> list[str]:  # fmt: skip
    """The entries of ``forbidden`` that importing ``module`` (alone) loads, or a submodule of."""
    done = subprocess.run([sys.executable, "-I", "-c", _LOADED, str(root), package, module,
                           *forbidden], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, f"import {module} failed (built?):\n{done.stderr}"
    return sorted(done.stdout.split())


LAYER_MODULES = [(layer, module) for layer in LAYERS
                 for module in layer_modules(ROOT / PACKAGE, layer)]  # fmt: skip


@pytest.mark.parametrize(("layer", "module"), LAYER_MODULES,
                         ids=[module for _, module in LAYER_MODULES])  # fmt: skip
def test_layer_module_loads_nothing_it_must_not(layer: Layer, module: str) -> None:
    loaded = loaded_forbidden(ROOT, module, layer.forbidden_in(PACKAGE))
    assert not loaded, f"importing {module} (the {layer.name} layer) loads {', '.join(loaded)}"


# The package as users import it, and the in-memory harness, load no event loop either.
@pytest.mark.parametrize("module", [PACKAGE, f"{PACKAGE}.testing"])
def test_package_imports_no_event_loop(module: str) -> None:
    code = (
        f"import sys; import {module}; "
        f"bad = [m for m in {EVENT_LOOPS!r} if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    assert out == "", f"{module} imports {out}"


# -- the checks can fail: a package with a bad file in each layer ------------------------------

FAKE = "layercheck_fake"  # not fastcorn: an installed (editable) fastcorn cannot interfere


def _fake_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in {"__init__.py": "", "asgi/__init__.py": "",
                           "protocol/__init__.py": "", **files}.items():  # fmt: skip
        path = root / FAKE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_static_check_finds_forbidden_imports_and_only_those(tmp_path: Path) -> None:
    _fake_tree(tmp_path, {
        "server.py": "",
        "asgi/ok.py": (
            "import logging\nfrom . import types\n"
            "# import asyncio\ns = 'from layercheck_fake import server'\n"
        ),
        "asgi/bad.py": "def f():\n    from .. import server\n",
        "asgi/bad_lazy.py": "import importlib\nimportlib.import_module('trio')\n",
        "asgi/cycle.pxd": "from layercheck_fake._parser cimport Parser\n",
        "asgi/cycle.pyx": (
            '"""Imports neither asyncio\nnor trio.\n"""\n'
            "from libc.string cimport memcpy  # not: import asyncio\n"
            'cdef extern from "asyncio.h":\n    pass\n'
            "x = 1; from ..protocol import (\n    h1,\n)\n"
            "y = __import__; z = importlib.import_module\n"
        ),
        "_parser.pyx": "cimport cython\nimport os, uvloop as loop\nfrom .asgi.cycle cimport S\n",
        "protocol/h1.pxd": "from layercheck_fake.asgi.cycle cimport Stream\n",
        "protocol/h1.pyx": "from layercheck_fake.backends \\\n    import asyncio as aio\n",
        "protocol/deep/__init__.py": "",
        "protocol/deep/neg.py": "from ...server import x\nfrom ..h1 import H1Connection\n",
        "backends/asyncio.py": "import asyncio\nfrom layercheck_fake import server\n",
    })
    with pytest.raises(ValueError, match="line 2: cannot read the import in 'if x: import os'"):
        cython_imports("cimport cython\nif x: import os\n", FAKE)
    found = sorted(static_violations(tmp_path, FAKE))
    assert found == sorted([
        f"{FAKE}/asgi/bad.py:2: the asgi layer imports {FAKE}.server",
        "layercheck_fake/asgi/bad_lazy.py:2: the asgi layer imports trio",
        f"{FAKE}/asgi/cycle.pxd:1: the asgi layer imports {FAKE}._parser",
        f"{FAKE}/asgi/cycle.pxd:1: the asgi layer imports {FAKE}._parser.Parser",
        f"{FAKE}/asgi/cycle.pyx:7: the asgi layer imports {FAKE}.protocol",
        f"{FAKE}/asgi/cycle.pyx:7: the asgi layer imports {FAKE}.protocol.h1",
        f"{FAKE}/_parser.pyx:2: the protocol layer imports uvloop",
        f"{FAKE}/protocol/h1.pyx:1: the protocol layer imports {FAKE}.backends",
        f"{FAKE}/protocol/h1.pyx:1: the protocol layer imports {FAKE}.backends.asyncio",
        f"{FAKE}/protocol/deep/neg.py:1: the protocol layer imports {FAKE}.server",
        f"{FAKE}/protocol/deep/neg.py:1: the protocol layer imports {FAKE}.server.x",
    ]), "\n".join(found)  # fmt: skip


def test_dynamic_check_finds_what_an_import_loads(tmp_path: Path) -> None:
    _fake_tree(tmp_path, {
        "__init__.py": "raise ImportError('the package __init__ is not what is checked')\n",
        "server.py": "",
        "asgi/types.py": "",
        "asgi/quiet.py": "from . import types\n",
        "asgi/bad.py": "def serve():\n    pass\nfrom .. import server\nimport asyncio\n",
        "protocol/h1.py": "from ..asgi import types\n",
    })
    asgi, protocol = LAYERS
    assert layer_modules(tmp_path / FAKE, asgi) == [
        f"{FAKE}.asgi", f"{FAKE}.asgi.bad", f"{FAKE}.asgi.quiet", f"{FAKE}.asgi.types"]
    assert loaded_forbidden(tmp_path, f"{FAKE}.asgi.quiet", asgi.forbidden_in(FAKE), FAKE) == []
    assert loaded_forbidden(tmp_path, f"{FAKE}.asgi.bad", asgi.forbidden_in(FAKE), FAKE) == [
        "asyncio", f"{FAKE}.server"]
    assert loaded_forbidden(tmp_path, f"{FAKE}.protocol.h1", protocol.forbidden_in(FAKE),
                            FAKE) == []  # fmt: skip


# -- the public surface and the tools ----------------------------------------------------------


def test_compiled_modules_are_found() -> None:
    assert f"{PACKAGE}._parser" in compiled_modules(ROOT / PACKAGE)


def test_compiled_stubs_match_the_modules(tmp_path: Path) -> None:
    """stubtest, on every compiled module (each .pyx): its .pyi is exactly its surface.

    The stubs are read for the running Python (mypy's configured python_version would pick
    the wrong branch of a ``sys.version_info`` check in a stub against this runtime), with
    the project's mypy settings otherwise."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    settings["python_version"] = f"{sys.version_info.major}.{sys.version_info.minor}"
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n" + "".join(
        f"{key} = {str(value).lower() if isinstance(value, bool) else value}\n"
        for key, value in settings.items() if not isinstance(value, (list, dict))))
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", str(config),
         *compiled_modules(ROOT / PACKAGE)],
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
