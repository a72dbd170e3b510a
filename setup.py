"""Build the compiled parts of fastcorn.

Directives are set once here (house rule 7); generated .c files are never committed.
Set FASTCORN_ANNOTATE=1 to write Cython's HTML annotation next to each .pyx.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension("fastcorn._parser", ["fastcorn/_parser.pyx"]),
    Extension("fastcorn.asgi.cycle", ["fastcorn/asgi/cycle.pyx"]),
    Extension("fastcorn.asgi.scope", ["fastcorn/asgi/scope.pyx"]),
    Extension("fastcorn.protocol.h1", ["fastcorn/protocol/h1.pyx"]),
]

setup(
    ext_modules=cythonize(
        extensions,
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
