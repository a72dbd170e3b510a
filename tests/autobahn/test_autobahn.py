"""A fast subset of the Autobahn fuzzing client (framing, pings, reserved bits and opcodes,
fragmentation, UTF-8, close handling, auto-fragmentation: cases 1-7 and 10, about 250
cases in ~15 s per backend) against fastcorn on every backend, through tests/autobahn/run.py.

It needs Autobahn's ``wstest`` (Python 2.7; see run.py's docstring), found through
``$WSTEST`` or on PATH, and is skipped, with the reason, without it. The full suite (9.x
limits and performance, 12.x/13.x compression) is a manual run: ``python
tests/autobahn/run.py`` (several minutes per backend on two cores)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.autobahn import run

WSTEST = os.environ.get("WSTEST") or shutil.which("wstest")

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(WSTEST is None, reason="Autobahn's wstest is not installed "
                       "(see tests/autobahn/run.py; set $WSTEST)"),
]

CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"]


def test_autobahn_subset(backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                         ) -> None:
    status = run.main(["--backends", backend, "--cases", *CASES, "--wstest", str(WSTEST),
                       "--outdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert " OK" in out and "FAILED" not in out and "NON-STRICT" not in out, out
