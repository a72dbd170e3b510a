"""bench/run.py's choice of output directory and exit status, and the committed results page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import report, run

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


@pytest.mark.parametrize(
    ("argv", "partial"),
    [
        ([], False),
        (["--quick"], True),
        (["--servers", "uvicorn"], True),
        (["--scenarios", "hello"], True),
        (["--repeat", "7"], True),
        (["--duration", "1"], True),
        (["--warmup", "0"], True),
        (["--no-ceilings"], True),
    ],
)
def test_only_the_full_default_run_writes_the_committed_results(
    argv: list[str], partial: bool
) -> None:
    args = run.parse_args(argv)
    assert args.partial is partial
    assert args.output == (run.PARTIAL_OUTPUT if partial else run.DEFAULT_OUTPUT)


def test_output_names_the_directory_whatever_the_run(tmp_path: Path) -> None:
    assert run.parse_args(["--quick", "--output", str(tmp_path)]).output == tmp_path
    assert run.parse_args(["--output", str(tmp_path)]).output == tmp_path


def _results(status: dict[str, dict[str, str]], runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": status, "runs": runs}


def test_a_wrong_answer_fails_the_run() -> None:
    results = _results(
        {"hello": {"fastcorn-uvloop": "wrong answer: exited with 1: no module", "uvicorn": "ok"}},
        [],
    )
    (line,) = report.failed_checks(results)
    assert line.startswith("hello fastcorn-uvloop: wrong answer")


def test_any_failed_fastcorn_run_fails_the_run() -> None:
    runs = [
        {"scenario": "echo", "server": "fastcorn-trio", "repeat": 1, "ok": False,
         "problem": "server exited: Traceback"},
        {"scenario": "echo", "server": "uvicorn", "repeat": 0, "ok": False,
         "problem": "wrong answer: response 1: status 500"},
    ]  # fmt: skip
    assert report.failed_checks(_results({"echo": {}}, runs)) == [
        "echo fastcorn-trio run 2: server exited: Traceback",
        "echo uvicorn run 1: wrong answer: response 1: status 500",
    ]


def test_unsupported_protocols_and_peers_crashing_under_load_do_not_fail_the_run() -> None:
    status = {"h2": {"fastcorn-uvloop": "not yet supported", "uvicorn": "not supported",
                     "hypercorn-trio": "ok", "ceiling-trio": "n/a"}}  # fmt: skip
    runs = [{"scenario": "h2", "server": "hypercorn-trio", "repeat": 0, "ok": False,
             "problem": "server exited: trio.BusyResourceError"}]  # fmt: skip
    assert report.failed_checks(_results(status, runs)) == []


def test_the_committed_page_is_what_report_writes_from_the_committed_runs() -> None:
    """bench/results/latest.md is generated, never edited: its figures and commit agree."""
    results = json.loads((RESULTS / "latest.json").read_text())
    page = (RESULTS / "latest.md").read_text()
    assert page == report.markdown(results), "re-render it: python bench/report.py"
    commit = results["machine"]["git_commit"]
    assert f"git commit {commit}" in page
    assert "](latest.png)" in page
    assert (RESULTS / "latest.png").stat().st_size > 0
