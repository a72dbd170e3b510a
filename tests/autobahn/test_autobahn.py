"""A subset of the Autobahn fuzzing client against fastcorn on every backend, through
tests/autobahn/run.py: all of framing, pings, reserved bits and opcodes, fragmentation,
UTF-8, close handling and auto-fragmentation (cases 1-7 and 10), with a sample of the
limits and performance cases (9.x: large, fragmented and chopped messages) and of
permessage-deflate (12.x payloads, 13.x every parameter set, auto-fragmented ones too):
about 300 cases, well under a minute per backend.

It needs Autobahn's ``wstest`` (Python 2.7; see run.py's docstring; .ci/run makes one from
pyenv's 2.7), found through ``$WSTEST`` or on PATH, and is skipped, with the reason,
without it. The full suite (all 517 cases: every 9.x, 12.x and 13.x size) is a manual run,
``python tests/autobahn/run.py``: hours per backend on two shared cores, wstest under
Python 2.7 being the slow end."""

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
# 9.x: messages of 64 KiB to 8 MiB whole, 4 MiB in fragments of 64 KiB and 4 MiB, 1 MiB in
# chops of 256 and 2048 bytes, 1000 small messages in a row (each 9.x case sends more than
# the last; the 64-byte fragments of 9.3.1 alone take wstest 40 s).
LIMITS = ["9.1.1", "9.1.2", "9.1.3", "9.1.4", "9.1.5", "9.2.1", "9.2.2", "9.2.3", "9.2.4",
          "9.3.5", "9.3.9", "9.4.5", "9.4.9", "9.5.3", "9.5.6", "9.6.3", "9.6.6", "9.7.1",
          "9.7.3", "9.8.1", "9.8.3"]
# 12.x: each payload (JSON, bitmap, text, HTML, PDF) and 256-byte fragments of compressed
# messages; 13.x: each offer (context takeover, window bits 8 and 15, both), and
# fragmented with window bits 8.
COMPRESSION = ["12.1.1", "12.1.2", "12.2.1", "12.3.1", "12.4.1", "12.5.1", "12.1.11",
               "12.3.11", "13.1.1", "13.2.1", "13.3.1", "13.4.1", "13.5.1", "13.6.1",
               "13.7.1", "13.2.2", "13.6.2", "13.3.11", "13.5.11"]


def test_autobahn_subset(backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                         ) -> None:
    status = run.main(["--backends", backend, "--cases", *CASES, *LIMITS, *COMPRESSION,
                       "--wstest", str(WSTEST), "--outdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert " OK" in out and "FAILED" not in out and "NON-STRICT" not in out, out
