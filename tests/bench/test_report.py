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


def _run(scenario: str, server: str, cpu_us: float) -> dict[str, Any]:
    return {"scenario": scenario, "server": server, "ok": True, "rps": 1e6 / cpu_us,
            "cpu_us_per_request": cpu_us, "p50_us": 1000, "p99_us": 2000,
            "peak_rss_mib": 30, "server_cpu_util": 1.0}  # fmt: skip


def _table_results() -> dict[str, Any]:
    loops = {"fastcorn-uvloop": "uvloop", "granian": "uvloop", "fastcorn-trio": "trio",
             "ceiling-uvloop": "uvloop", "ceiling-trio": "trio"}  # fmt: skip
    cpu = {
        "hello": {"fastcorn-uvloop": 7.0, "granian": 13.5, "ceiling-uvloop": 3.5,
                  "fastcorn-trio": 20.0, "ceiling-trio": 16.0},
        "many": {"fastcorn-uvloop": 14.6, "granian": 12.4, "ceiling-uvloop": 4.0,
                 "fastcorn-trio": 30.0, "ceiling-trio": 20.0},
    }  # fmt: skip
    return {
        "servers": {name: {"loop": loop} for name, loop in loops.items()},
        "scenarios": {name: {"about": name} for name in cpu},
        "status": {name: {server: "ok" for server in loops} for name in cpu},
        "runs": [_run(name, server, us) for name, row in cpu.items() for server, us in row.items()],
    }


def test_the_summary_shows_many_and_each_rows_cpu_over_its_own_loops_ceiling() -> None:
    lines = report.short_table(_table_results()).splitlines()
    assert "many µs/req | many × ceiling" in lines[0]
    cells = {line.split(" | ")[0].strip("|* "): line.split(" | ")[1:] for line in lines[2:]}
    # hello: µs, × ceiling, req/s; then many: µs, × ceiling, req/s
    assert cells["fastcorn-uvloop"][:2] == ["7.0", "2.00×"]
    assert cells["fastcorn-uvloop"][3:5] == ["14.6", "3.65×"]
    assert cells["granian"][3:5] == ["12.4", "3.10×"]  # granian runs on uvloop
    assert cells["fastcorn-trio"][3:5] == ["30.0", "1.50×"]  # trio's own ceiling, not uvloop's
    assert cells["ceiling-trio"][3:5] == ["20.0", "1.00×"]


def test_every_scenario_table_row_has_its_cpu_over_the_ceiling() -> None:
    results = _table_results()
    table = report.summarize(results)
    lines = report.scenario_table("many", table["many"], results["status"]["many"], {})
    assert lines[0].split(" | ")[3] == "CPU × ceiling"
    ratios = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[3] for line in lines[2:]}
    assert ratios == {"fastcorn-uvloop": "3.65×", "granian": "3.10×", "ceiling-uvloop": "1.00×",
                      "fastcorn-trio": "1.50×", "ceiling-trio": "1.00×"}  # fmt: skip
    assert all(line.count("|") == lines[1].count("|") for line in lines)


def test_a_scenario_without_its_ceiling_shows_no_ratio() -> None:
    results = _table_results()
    results["runs"] = [r for r in results["runs"] if r["server"] != "ceiling-trio"]
    table = report.summarize(results)
    lines = report.scenario_table("many", table["many"], {}, {})
    ratios = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[3] for line in lines[2:]}
    assert ratios["fastcorn-trio"] == "–"
    assert ratios["fastcorn-uvloop"] == "3.65×"
    summary = report.ratios(results)
    many = next(line for line in summary if line.startswith("- many"))
    assert "fastcorn-uvloop 3.65× its ceiling's (10.6 µs above)" in many
    assert "fastcorn-uvloop 1.18× granian's" in many
    assert "fastcorn-trio" not in many.split("granian's")[1]
