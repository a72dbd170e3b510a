"""Packaging: every import is declared in pyproject.toml, an unbuilt checkout says what to do,
and the sdist and wheel hold every module, found from the tree (no hand-kept list).

CI proves the editable install in a brand-new venv (``.ci/run``); these checks say which
declaration is missing, and run in a second, except the one that builds the sdist and the wheel
and installs the wheel into a fresh venv (about half a minute).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import site as sitelib
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from importlib import metadata
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the oldest Python
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"fastcorn", "bench", "tests", "examples"}
# The standard library of every supported Python (tomllib is new in 3.11; 3.10 gets tomli).
STDLIB = set(sys.stdlib_module_names) | {"tomllib"}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*extras: str) -> set[str]:
    """The distributions a plain install plus ``extras`` brings in directly."""
    project = PYPROJECT["project"]
    optional = project["optional-dependencies"]
    names: set[str] = set()
    pending = [*project["dependencies"], *(req for extra in extras for req in optional[extra])]
    while pending:
        requirement = pending.pop()
        match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", requirement)
        assert match, requirement
        name, wanted = _normalize(match.group(1)), match.group(2)
        if name == "fastcorn":  # a self-reference such as fastcorn[uvloop,trio]
            pending += [req for extra in (wanted or "").split(",") for req in optional[extra]]
        else:
            names.add(name)
    return names


def third_party_imports(folder: Path) -> dict[str, list[str]]:
    """Top-level modules imported anywhere under ``folder`` that are neither standard library,
    first party nor a module of the folder itself, with the files importing them."""
    files = sorted(folder.glob("**/*.py"))
    local = {path.stem for path in files} | {path.name for path in folder.glob("**/")}
    found: dict[str, list[str]] = {}
    for path in files:
        imports = _RequiredImports()
        imports.visit(ast.parse(path.read_bytes(), str(path)))
        for module in imports.modules:
            top = module.partition(".")[0]
            if top in STDLIB or top in FIRST_PARTY or top in local:
                continue
            found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


class _RequiredImports(ast.NodeVisitor):
    """Absolute imports, except those in a ``try`` that handles ImportError (optional ones,
    such as PyYAML for a YAML log config)."""

    OPTIONAL = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}

    def __init__(self) -> None:
        self.modules: list[str] = []
        self.optional = 0

    def _handles_import_error(self, handler: ast.ExceptHandler) -> bool:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        return caught is None or any(
            isinstance(n, ast.Name) and n.id in self.OPTIONAL for n in names
        )

    def visit_Try(self, node: ast.Try) -> None:
        optional = any(self._handles_import_error(h) for h in node.handlers)
        self.optional += optional
        for statement in node.body:
            self.visit(statement)
        self.optional -= optional
        for statement in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(statement)

    def visit_Import(self, node: ast.Import) -> None:
        if not self.optional:
            self.modules += [alias.name for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not self.optional and node.level == 0 and node.module:
            self.modules.append(node.module)


def undeclared(folder: str, extras: Iterable[str]) -> list[str]:
    allowed = declared(*extras)
    installed = metadata.packages_distributions()
    missing = []
    for module, files in sorted(third_party_imports(ROOT / folder).items()):
        # The distribution that provides the module here, else (not installed) its own name.
        providers = {_normalize(d) for d in installed.get(module, [module])}
        if not providers & allowed:
            missing.append(f"{module} (from {', '.join(sorted(providers))}), "
                           f"imported by {', '.join(sorted(set(files)))}")  # fmt: skip
    return missing


@pytest.mark.parametrize(
    ("folder", "extras", "install"),
    [
        ("fastcorn", ("uvloop", "trio", "reload", "gunicorn"),
         "pip install '.[uvloop,trio,reload,gunicorn]'"),
        ("tests", ("all",), "pip install -e '.[all]'"),
        ("bench", ("bench",), "pip install -e '.[bench]'"),
        ("examples", (), "pip install ."),
    ],
)
def test_every_import_is_declared(folder: str, extras: tuple[str, ...], install: str) -> None:
    missing = undeclared(folder, extras)
    assert not missing, f"`{install}` does not install: " + "; ".join(missing)


def test_all_extra_holds_every_extra_but_bench() -> None:
    extras = set(PYPROJECT["project"]["optional-dependencies"]) - {"all", "bench"}
    assert declared("all") == declared(*extras)


# -- an unbuilt checkout in front of an installed fastcorn -------------------------------------


@pytest.fixture
def unbuilt_checkout(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """A checkout whose fastcorn/ has its Python files and no compiled module, and an
    "installed" fastcorn (this one, built) on PYTHONPATH: ``pip install .`` run from a
    fresh clone, then ``python -m fastcorn`` in the clone."""
    checkout, site = tmp_path / "checkout", tmp_path / "site"
    for path in (ROOT / "fastcorn").glob("**/*.py"):
        target = checkout / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    shutil.copytree(ROOT / "examples", checkout / "examples")
    site.mkdir()
    (site / "fastcorn").symlink_to(ROOT / "fastcorn", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FASTCORN_"))}
    # Run with -S and site-packages on PYTHONPATH: the dependencies import, but an editable
    # install's import hook (a .pth file) is not there to find the build in this checkout.
    env["PYTHONPATH"] = os.pathsep.join([str(site), *sitelib.getsitepackages()])
    return checkout, env, site / "fastcorn"


def test_python_m_fastcorn_in_an_unbuilt_checkout_says_what_to_do_in_one_line(
    unbuilt_checkout: tuple[Path, dict[str, str], Path],
) -> None:
    checkout, env, installed = unbuilt_checkout
    done = subprocess.run([sys.executable, "-S", "-m", "fastcorn", "examples.hello:app"],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(checkout / "fastcorn") in lines[0]
    assert f"installed fastcorn ({installed})" in lines[0]
    assert "`fastcorn` command" in lines[0] and "pip install -e ." in lines[0]
    assert done.stdout == ""


def test_import_in_an_unbuilt_checkout_raises_one_clear_import_error(
    unbuilt_checkout: tuple[Path, dict[str, str], Path],
) -> None:
    checkout, env, installed = unbuilt_checkout
    done = subprocess.run([sys.executable, "-S", "-c", "import fastcorn"],
                          cwd=checkout, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"ImportError: fastcorn: {checkout / 'fastcorn'} is a source checkout")
    assert "circular import" not in done.stderr
    assert "The above exception" not in done.stderr


def test_without_any_build_the_error_says_how_to_build(tmp_path: Path) -> None:
    package = tmp_path / "fastcorn"
    package.mkdir()
    for name in ("__init__.py", "_unbuilt.py"):
        shutil.copyfile(ROOT / "fastcorn" / name, package / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # -I: no user site, no PYTHONPATH; -S: no site-packages, so no installed fastcorn either.
    done = subprocess.run([sys.executable, "-I", "-S", "-c", "import fastcorn"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    # -I leaves the current directory off sys.path: put it back for this one import.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", "import sys; sys.path.insert(0, ''); import fastcorn"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
    )
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: fastcorn's compiled extension is missing in "), last
    assert "pip install ." in last and "pip install -e ." in last


def test_a_partial_build_names_the_compiled_modules_it_lacks(tmp_path: Path) -> None:
    """A checkout built before a .pyx was added: the error names the unbuilt module."""
    package = tmp_path / "fastcorn"
    for folder in (package / "asgi", package / "protocol", package / "__pycache__"):
        folder.mkdir(parents=True)
    shutil.copyfile(ROOT / "fastcorn" / "_unbuilt.py", package / "_unbuilt.py")
    (package / "_parser.pyx").write_text("")
    (package / f"_parser{EXTENSION_SUFFIXES[0]}").write_text("")
    (package / "asgi" / "cycle.pyx").write_text("")  # added after the build
    (package / "protocol" / "h1.cpython-39-x86_64-linux-gnu.so").write_text("")  # another Python
    (package / "__pycache__" / "x.cpython-311.pyc").write_text("")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from fastcorn import _unbuilt; "
        "print(sorted(_unbuilt.compiled_modules(sys.argv[1] + '/fastcorn').items())); "
        "print(_unbuilt.explain(ImportError('the loader said so')))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    found, message = done.stdout.strip().splitlines()
    assert found == str([("_parser", True), ("asgi.cycle", False), ("protocol.h1", False)])
    assert message.startswith(f"fastcorn: {package} was built before asgi.cycle, protocol.h1 ")
    assert "pip install -e ." in message and "build_ext --inplace" in message


# -- the sdist and the wheel, built from a clean copy of the checkout --------------------------


def compiled_modules(package: Path) -> list[str]:
    """The dotted name of every .pyx under ``package`` (a ``fastcorn/`` folder), at any depth:
    what setup.py builds, found the same way, so a new compiled module is checked at once."""
    return sorted(".".join(path.relative_to(package.parent).with_suffix("").parts)
                  for path in package.rglob("*.pyx"))  # fmt: skip


def _sources(package: Path, *patterns: str) -> set[str]:
    """Paths (``fastcorn/asgi/cycle.pyi``) of the files under ``package`` matching a pattern."""
    return {path.relative_to(package.parent).as_posix()
            for pattern in patterns for path in package.rglob(pattern)
            if "__pycache__" not in path.parts}  # fmt: skip


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.timeout(600)
def test_sdist_and_wheel_hold_every_module_and_the_wheel_imports_in_a_fresh_venv(
    tmp_path: Path,
) -> None:
    """``pip install fastcorn`` from the sdist, or the wheel it builds, on a clean machine.

    The sdist is built from a copy of the checkout without any build product (as CI's clean
    copy), the wheel from that sdist unpacked (so the sdist must hold every source the build
    needs), and the wheel is installed into a new venv without system site-packages, where
    each compiled module is imported by its dotted name from outside the checkout.
    """
    pytest.importorskip("Cython", reason="the build needs Cython: pip install -e '.[dev]'")
    src, dist = tmp_path / "src", tmp_path / "dist"
    src.mkdir()
    for path in ROOT.iterdir():  # setup.py, pyproject.toml, README.md, MANIFEST.in...
        if path.is_file() and not path.name.startswith("."):
            shutil.copy2(path, src / path.name)
    shutil.copytree(ROOT / "fastcorn", src / "fastcorn", ignore=shutil.ignore_patterns(
        "__pycache__", "*.so", "*.pyd", "*.c", "*.html"))
    package = src / "fastcorn"
    modules = compiled_modules(package)
    assert "fastcorn._parser" in modules, modules
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FASTCORN_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    # The sdist: every source of every package, no build product.
    _run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
          "build_meta.build_sdist(sys.argv[1])", str(dist)], cwd=src, env=env)
    (sdist,) = dist.glob("fastcorn-*.tar.gz")
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        in_sdist = {name.removeprefix(top + "/") for name in archive.getnames()}
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path / "unpacked", **safe)  # type: ignore[arg-type]
    expected = _sources(package, "*.py", "*.pyx", "*.pxd", "*.pxi", "*.pyi", "py.typed")
    assert not expected - in_sdist, f"the sdist lacks {sorted(expected - in_sdist)}"
    products = sorted(n for n in in_sdist if n.endswith((".c", ".so", ".pyd", ".html")))
    assert not products, f"the sdist holds build products {products}"

    # The wheel, built from the unpacked sdist: each compiled module, every stub, declaration
    # and Python file, py.typed; no generated C.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(dist), str(tmp_path / "unpacked" / top)], env=env)
    (wheel,) = dist.glob("fastcorn-*.whl")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    expected = _sources(package, "*.py", "*.pxd", "*.pyi", "py.typed")
    assert "fastcorn/py.typed" in expected
    assert not expected - in_wheel, f"the wheel lacks {sorted(expected - in_wheel)}"
    for module in modules:
        path = module.replace(".", "/")
        assert any(path + suffix in in_wheel for suffix in EXTENSION_SUFFIXES), (
            f"the wheel has no compiled {module} for this Python: {sorted(in_wheel)}")
        assert path + ".pyi" in in_wheel, f"the wheel has no stub for {module}"
    built = sorted(name.split(".")[0].replace("/", ".") for name in in_wheel
                   if name.endswith(tuple(EXTENSION_SUFFIXES)))  # fmt: skip
    assert built == modules, "the wheel's compiled modules are not the .pyx files"
    generated = sorted(name for name in in_wheel if name.endswith((".c", ".html")))
    assert not generated, f"the wheel holds generated files {generated}"

    # A fresh venv with the wheel and its dependencies only; imports from outside the checkout.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)],
         env=env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import importlib, sys; "
        "print('\\n'.join(importlib.import_module(m).__file__ for m in sys.argv[1:]))"
    )
    done = _run([str(python), "-I", "-c", code, *modules], cwd=elsewhere, env=env)
    files = [Path(line) for line in done.stdout.splitlines()]
    assert len(files) == len(modules), done.stdout
    for module, file in zip(modules, files, strict=True):
        assert file.resolve().is_relative_to(venv.resolve()), f"{module} came from {file}"
    _run([str(venv / "bin" / "fastcorn"), "--help"], cwd=elsewhere, env=env)
