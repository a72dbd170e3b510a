"""The workers scenarios of bench/: who serves them, with which flags, unpinned, and how the
workers' spread is computed and shown (the load runs themselves are bench/run.py's)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import report, run
from bench.scenarios import SCENARIOS
from bench.servers import SERVERS

WORKERS = ("workers", "workers-reuseport", "workers-close", "workers-close-reuseport")


@pytest.mark.parametrize("name", WORKERS)
def test_two_workers_of_fastcorn_uvicorn_and_granian(name: str) -> None:
    scenario = SCENARIOS[name]
    assert scenario.workers == 2 and not scenario.pinned
    assert "fairness" in scenario.about and "not scaling" in scenario.about
    serving = {server for server, spec in SERVERS.items() if spec.serves(scenario)}
    fastcorns = {"fastcorn-uvloop", "fastcorn-asyncio", "fastcorn-trio"}
    # SO_REUSEPORT listeners per worker are a fastcorn option; uvicorn and granian share one
    assert serving == (fastcorns if scenario.reuse_port else fastcorns | {"uvicorn", "granian"})
    for server in serving:
        command = SERVERS[server].command(8000, scenario)
        flag = "--workers"
        assert command[command.index(flag) + 1] == "2", command
        assert ("--reuse-port" in command) is scenario.reuse_port


def test_one_worker_elsewhere() -> None:
    hello = SCENARIOS["hello"]
    assert hello.pinned
    assert "--workers" not in SERVERS["fastcorn-uvloop"].command(8000, hello)
    uvicorn = SERVERS["uvicorn"].command(8000, hello)
    assert uvicorn[uvicorn.index("--workers") + 1] == "1"


def test_placement_unpins_server_and_load_generator_with_workers() -> None:
    assert run.placement(SCENARIOS["hello"], (0, 1), "0,1") == (0, 1, 0)
    assert run.placement(SCENARIOS["workers"], (0, 1), "0,1") == ("0,1", "0,1", None)


def test_worker_shares_leave_out_the_parent_and_idle_helpers() -> None:
    # the parent (supervisor) and a resource tracker are not workers
    per_process = {100: 0.05, 101: 1.5, 102: 0.5, 103: 0.0}
    assert run.worker_shares(per_process, 100, 2) == [0.75, 0.25]
    assert run.worker_shares({100: 0.1, 101: 0.0, 102: 0.0}, 100, 2) == []


def _row(shares: list[list[float]]) -> Any:
    runs = max(1, len(shares))
    return report.Row("fastcorn-uvloop", "uvloop", [1000.0] * runs, [20.0] * runs,
                      [1.0] * runs, [2.0] * runs, 30, 0, 0.9, 0.5, 0, 0, shares)  # fmt: skip


def test_the_table_shows_the_split_of_the_median_run_and_its_range() -> None:
    rows = {"fastcorn-uvloop": _row([[0.6, 0.4], [0.52, 0.48], [0.55, 0.45]])}
    lines = report.scenario_table("workers", rows, {"fastcorn-uvloop": "ok"}, {})
    assert lines[0].endswith(" workers' CPU split |")
    assert lines[2].endswith(" 55/45 (52–60%) |")
    assert lines[1].count("|") == lines[0].count("|") == lines[2].count("|")
    two = report.scenario_table("workers", {"fastcorn-uvloop": _row([[0.51, 0.49], [1.0, 0.0]])},
                                {}, {})
    assert two[2].endswith(" 100/0 (51–100%) |")  # of two runs, the less even one
    single = report.scenario_table("hello", {"fastcorn-uvloop": _row([])}, {}, {})
    assert "split" not in single[0]
