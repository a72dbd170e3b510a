"""End-to-end smoke test of the benchmark suite (bench/run.py --quick)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)


@pytest.mark.timeout(110)
def test_quick_run_of_fastcorn_hello(tmp_path: Path) -> None:
    cmd = [
        sys.executable, str(ROOT / "bench" / "run.py"), "--quick",
        "--servers", "fastcorn-uvloop", "--scenarios", "hello", "--output", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stdout + done.stderr

    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["status"]["hello"]["fastcorn-uvloop"] == "ok", results["status"]
    runs = {r["server"]: r for r in results["runs"]}
    fastcorn = runs["fastcorn-uvloop"]
    assert fastcorn["ok"], fastcorn
    assert fastcorn["rps"] > 0
    assert fastcorn["cpu_us_per_request"] > 0
    assert "ceiling-uvloop" in runs  # the loop's ceiling comes along for the ratio

    page = (tmp_path / "latest.md").read_text()
    assert "| fastcorn-uvloop |" in page
    assert "| **fastcorn-uvloop** |" in page  # the summary table
    assert f"git commit {results['machine']['git_commit']}" in page
    assert "fastcorn under test" in page and results["fastcorn_source"] in page
    assert "](latest.png)" in page
    assert (tmp_path / "latest.png").stat().st_size > 0
    assert "Failed checks" not in page


def _fastcorn_without_tls() -> str | None:
    from tests.conftest import tls_options_missing

    return tls_options_missing()


@pytest.mark.timeout(110)
def test_quick_run_of_the_tls_scenarios(tmp_path: Path) -> None:
    """hello-tls, echo-tls and handshake-tls on fastcorn-uvloop, one short run each: the
    certificate is made, the answers are checked over verified TLS, wrk loads https."""
    reason = _fastcorn_without_tls()
    if reason:
        pytest.skip(reason)
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (bench/tls.py makes the certificate with it)")
    scenarios = ["hello-tls", "echo-tls", "handshake-tls"]
    cmd = [
        sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--duration", "1",
        "--warmup", "0", "--servers", "fastcorn-uvloop", "--scenarios", ",".join(scenarios),
        "--output", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stdout + done.stderr

    results = json.loads((tmp_path / "latest.json").read_text())
    for name in scenarios:
        assert results["status"][name] == {"fastcorn-uvloop": "ok", "ceiling-uvloop": "n/a"}
        assert results["scenarios"][name]["tls"] is True
        assert results["tls"]["sessions"][name]["fastcorn-uvloop"].startswith("TLSv1.")
        (run,) = [r for r in results["runs"] if r["scenario"] == name]
        assert run["ok"] and run["requests"] > 0 and run["cpu_us_per_request"] > 0, run
    assert results["scenarios"]["handshake-tls"]["connection_close"] is True
    assert "--ssl-certfile tls/cert.pem" in results["commands"]["fastcorn-uvloop"]
    page = (tmp_path / "latest.md").read_text()
    assert "Over TLS (HTTP/1.1" in page
    assert "## handshake-tls:" in page
    assert "Failed checks" not in page
