"""Build the compiled parts of fastcorn.

Every ``.pyx`` under ``fastcorn/`` (at any depth) is one extension module named after its
path (``fastcorn/asgi/cycle.pyx`` is ``fastcorn.asgi.cycle``): a new compiled module needs no
edit here. Directives are set once here (house rule 7); generated .c files are never committed.
Set FASTCORN_ANNOTATE=1 to write Cython's HTML annotation next to each .pyx.
"""

import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent


def discover_extensions(package: str = "fastcorn") -> list[Extension]:
    """One Extension per ``.pyx`` under ``package``, with a source path relative to setup.py
    (setuptools wants relative paths) and the dotted module name of that path."""
    extensions = []
    for source in sorted((HERE / package).rglob("*.pyx")):
        relative = source.relative_to(HERE)
        name = ".".join(relative.with_suffix("").parts)
        extensions.append(Extension(name, [relative.as_posix()]))
    if not extensions:
        raise SystemExit(f"setup.py: no .pyx file under {HERE / package}")
    return extensions


setup(
    ext_modules=cythonize(
        discover_extensions(),
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            "boundscheck": False,
            "wraparound": False,
            # No pickling support or doctest dict: nothing uses them, and the .pyi stubs
            # (checked by stubtest) stay exactly the public surface.
            "auto_pickle": False,
            "autotestdict": False,
        },
        annotate=bool(os.environ.get("FASTCORN_ANNOTATE")),
    ),
)
