"""Turn the raw runs (``latest.json``) into the results page, ``latest.md``, and its chart,
``latest.png``: machine, versions, commit, a summary, every table.

``python bench/report.py [DIR]`` re-renders them from ``DIR/latest.json`` (default
``bench/results/``). The READMEs link to this page instead of copying its figures, so
every figure is shown next to the commit and machine that produced it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

if __package__ in (None, ""):  # run as a script: import bench from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scenarios import SEED_ARTICLE, SEED_ARTICLE_SOURCE
from bench.servers import CEILING_OF_LOOP


@dataclass
class Row:
    server: str
    loop: str
    rps: list[float]
    cpu_us: list[float]
    p50_us: list[float]
    p99_us: list[float]
    rss_mib: float
    errors: int
    server_util: float
    client_util: float
    steal: float
    other_load: float
    worker_shares: list[list[float]]  # workers scenarios: each run's CPU split, largest first

    @property
    def rps_median(self) -> float:
        return median(self.rps)

    @property
    def cpu_median(self) -> float:
        return median(self.cpu_us)


def _errors(run: dict[str, Any]) -> int:
    return sum(int(v) for v in run.get("errors", {}).values())


def summarize(results: dict[str, Any]) -> dict[str, dict[str, Row]]:
    by: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for run in results["runs"]:
        if run.get("ok"):
            by.setdefault(run["scenario"], {}).setdefault(run["server"], []).append(run)
    table: dict[str, dict[str, Row]] = {}
    for scenario, servers in by.items():
        for server, runs in servers.items():
            table.setdefault(scenario, {})[server] = Row(
                server=server,
                loop=results["servers"][server]["loop"],
                rps=[r["rps"] for r in runs],
                cpu_us=[r["cpu_us_per_request"] for r in runs],
                p50_us=[r["p50_us"] for r in runs],
                p99_us=[r["p99_us"] for r in runs],
                rss_mib=max(r["peak_rss_mib"] for r in runs),
                errors=sum(_errors(r) for r in runs),
                server_util=median(r["server_cpu_util"] for r in runs),
                client_util=median(r.get("client_cpu_util", 0.0) for r in runs),
                steal=max(r.get("server_cpu_steal", 0.0) for r in runs),
                other_load=max(r.get("server_cpu_other_load", 0.0) for r in runs),
                worker_shares=[r["worker_cpu_shares"] for r in runs if r.get("worker_cpu_shares")],
            )
    return table


def _spread(values: list[float], fmt: str) -> str:
    mid = format(median(values), fmt)
    if len(values) < 2:
        return mid
    return f"{mid} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def _split(shares: list[list[float]]) -> str:
    """The workers' CPU split of the median run (by its largest share; of two, the less
    even), with the range of the largest share over the runs: ``52/48 (51–55%)``."""
    if not shares:
        return "–"
    ordered = sorted(shares, key=lambda split: split[0])
    mid = "/".join(f"{share * 100:.0f}" for share in ordered[len(ordered) // 2])
    if len(ordered) < 2:
        return mid
    return f"{mid} ({ordered[0][0] * 100:.0f}–{ordered[-1][0] * 100:.0f}%)"


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}" if base else "–"


def ceiling_of(row: Row, rows: dict[str, Row]) -> Row | None:
    """The ceiling server of the row's loop in the same scenario (uvloop's for uvicorn and
    granian, trio's for the trio servers...), if it ran."""
    return rows.get(CEILING_OF_LOOP.get(row.loop, ""))


def cpu_over_ceiling(row: Row, rows: dict[str, Row]) -> str:
    """The row's CPU per request as a multiple of its loop's ceiling's: ``1.80×``."""
    ceiling = ceiling_of(row, rows)
    return f"{row.cpu_median / ceiling.cpu_median:.2f}×" if ceiling else "–"


def scenario_table(
    name: str, rows: dict[str, Row], status: dict[str, str], problems: dict[str, str]
) -> list[str]:
    pipelined = name == "pipelined"
    uvicorn = rows.get("uvicorn")
    lines = [
        "| server | req/s median (min–max) | CPU µs/req (min–max) | CPU × ceiling | × ceiling "
        "| × uvicorn | CPU × uvicorn | p50 ms | p99 ms | peak RSS MiB | errors | server CPU "
        "| client CPU | noise |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in sorted(rows.values(), key=lambda r: -r.rps_median):
        ceiling = ceiling_of(row, rows)
        latency = (
            "– | –"  # wrk's per-request latency is not meaningful when pipelining
            if pipelined
            else f"{median(row.p50_us) / 1000:.2f} | {median(row.p99_us) / 1000:.2f}"
        )
        lines.append(
            f"| {row.server} | {_spread(row.rps, ',.0f')} | {_spread(row.cpu_us, '.1f')} "
            f"| {cpu_over_ceiling(row, rows)} "
            f"| {_ratio(row.rps_median, ceiling.rps_median if ceiling else None)} "
            f"| {_ratio(row.rps_median, uvicorn.rps_median if uvicorn else None)} "
            f"| {_ratio(row.cpu_median, uvicorn.cpu_median if uvicorn else None)} "
            f"| {latency} "
            f"| {row.rss_mib:.0f} | {row.errors} "
            f"| {row.server_util:.0%} | {row.client_util:.0%} | {row.steal + row.other_load:.0%} |"
        )
    for server, state in status.items():
        if server not in rows and state != "n/a":
            shown = state if state != "ok" else f"failed: {problems.get(server, '?')[:160]}"
            shown = shown.replace("|", "/")
            lines.append(f"| {server} | {shown} |" + " |" * 13)
    if any(row.worker_shares for row in rows.values()):  # a workers scenario: one more column
        lines[0] += " workers' CPU split |"
        lines[1] += "--:|"
        for i, line in enumerate(lines[2:], 2):
            found = rows.get(line.split(" | ", 1)[0].removeprefix("| "))
            lines[i] = line + (f" {_split(found.worker_shares)} |" if found else " |")
    return lines


def seed_table(table: dict[str, dict[str, Row]]) -> list[str]:
    lines = [
        "| loop | method | hypercorn 0.4.0, 2018 (article, another machine) "
        "| hypercorn today | fastcorn | × hypercorn today |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for scenario, method in (("seed-get", "GET"), ("seed-post", "POST")):
        rows = table.get(scenario, {})
        for loop in ("trio", "asyncio", "uvloop"):
            hyper = rows.get(f"hypercorn-{loop}")
            ours = rows.get(f"fastcorn-{loop}")
            versus = _ratio(ours.rps_median, hyper.rps_median if hyper else None) if ours else "–"
            lines.append(
                f"| {loop} | {method} | {SEED_ARTICLE[scenario][loop]:,} "
                f"| {f'{hyper.rps_median:,.0f}' if hyper else '–'} "
                f"| {f'{ours.rps_median:,.0f}' if ours else '–'} "
                f"| {versus} |"
            )
    return lines


def _machine_lines(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    o = results["options"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return [
        f"- Command: `{results['command']}` ({results.get('elapsed_s', 0) / 60:.1f} min)",
        f"- Date: {m['date']}; git commit {m['git_commit']}",
        f"- Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB; "
        f"kernel {m['kernel']}; load average at start "
        + " ".join(f"{x:.2f}" for x in m["load_average"]),
        f"- Python {m['python']}; {packages}",
        f"- Tools: {m['wrk']}; {m['h2load']}",
        "- fastcorn under test (copied at start, sha256 of the extensions): "
        + (", ".join(f"{k} {v}" for k, v in results.get("fastcorn_build", {}).items()) or "?")
        + (f"; {results['fastcorn_source']}" if results.get("fastcorn_source") else ""),
        f"- Method: servers pinned to CPU {o['server_cpu']}, load generator to CPU "
        f"{o['client_cpu']}; {o['repeat']} interleaved run(s) of {o['duration_s']:g} s per "
        f"server, each after {o['warmup_s']:g} s of warm-up and a byte-for-byte answer check. "
        "Medians, with min–max. CPU µs/req is utime+stime of the whole server process tree "
        "(all threads) over the measured window, divided by completed requests.",
    ]


def failures(results: dict[str, Any], scenario: str) -> dict[str, str]:
    """The distinct problems of each server in a scenario, in order."""
    seen: dict[str, list[str]] = {}
    for run in results["runs"]:
        if run["scenario"] == scenario and not run.get("ok"):
            problem = str(run.get("problem", "?"))[:60]
            if problem not in seen.setdefault(run["server"], []):
                seen[run["server"]].append(problem)
    return {server: "; then ".join(problems) for server, problems in seen.items()}


def failed_checks(results: dict[str, Any]) -> list[str]:
    """Every answer check a server failed and every run fastcorn failed, one line each.

    ``bench/run.py`` exits 1 when there is any. Other servers' failures under load (a
    crash, no request completed) are in the tables but are not fastcorn's to fail on, and
    "not supported" after an h2 or ws probe is an answer, not a failure.
    """
    out = []
    for scenario, statuses in results["status"].items():
        for server, state in statuses.items():
            if state.startswith("wrong answer"):
                out.append(f"{scenario} {server}: {state[:200]}")
    for run in results["runs"]:
        problem = str(run.get("problem", "?"))
        if not run.get("ok") and (
            problem.startswith("wrong answer") or run["server"].startswith("fastcorn")
        ):
            out.append(
                f"{run['scenario']} {run['server']} run {run.get('repeat', 0) + 1}: {problem[:200]}"
            )
    return out


WORKERS_NOTE = (
    "With 2 workers on a 2-CPU machine, unpinned and sharing the CPUs with the load "
    "generator: this shows fairness, not scaling (there is no idle core to scale onto). "
    "workers' CPU split is each worker's share of the workers' CPU time over the window "
    "(utime+stime from /proc/PID/stat, the same for every server; with one app, work "
    "follows requests): for the median run, then the range of the larger share over the "
    "runs. No ceiling and no noise figure (nothing is pinned)."
)
SUMMARY_SCENARIOS = ("hello", "echo", "pipelined", "many")
TLS_SUMMARY_SCENARIOS = ("hello-tls", "echo-tls", "handshake-tls")


def short_table(results: dict[str, Any], scenarios: tuple[str, ...] = SUMMARY_SCENARIOS) -> str:
    """One line per server: CPU µs/req (and its multiple of the same loop's ceiling's) and
    req/s for a few scenarios; fastcorn in bold."""
    table = summarize(results)
    scenarios = tuple(n for n in scenarios if n in table)
    servers = [s for s in results["servers"] if any(s in table.get(n, {}) for n in scenarios)]
    head = "| server | " + " | ".join(
        f"{n} µs/req | {n} × ceiling | {n} req/s" for n in scenarios) + " |"
    lines = [head, "|---|" + "--:|--:|--:|" * len(scenarios)]
    for server in servers:
        cells = []
        for n in scenarios:
            rows = table.get(n, {})
            row = rows.get(server)
            cells += ([f"{row.cpu_median:.1f}", cpu_over_ceiling(row, rows),
                       f"{row.rps_median:,.0f}"] if row else ["–", "–", "–"])
        name = f"**{server}**" if server.startswith("fastcorn") else server
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(results: dict[str, Any]) -> list[str]:
    """Sentences comparing fastcorn's CPU per request with its peers', per scenario."""
    table = summarize(results)
    pairs = (
        ("fastcorn-uvloop", "uvicorn"),
        ("fastcorn-uvloop", "granian"),
        ("fastcorn-trio", "hypercorn-trio"),
        ("fastcorn-asyncio", "hypercorn-asyncio"),
    )
    out = []
    for scenario in SUMMARY_SCENARIOS + TLS_SUMMARY_SCENARIOS:
        rows = table.get(scenario, {})
        parts = [
            f"{ours} {rows[ours].cpu_median / rows[theirs].cpu_median:.2f}× {theirs}'s"
            for ours, theirs in pairs
            if ours in rows and theirs in rows
        ]
        for ours in ("fastcorn-uvloop", "fastcorn-trio", "fastcorn-asyncio"):
            ceiling = ceiling_of(rows[ours], rows) if ours in rows else None
            if ceiling is not None:
                parts.append(f"{ours} {cpu_over_ceiling(rows[ours], rows)} its ceiling's "
                             f"({rows[ours].cpu_median - ceiling.cpu_median:.1f} µs above)")
        if parts:
            out.append(f"- {scenario}, CPU per request: " + "; ".join(parts) + ".")
    return out


def tls_lines(results: dict[str, Any], scenario: str) -> list[str]:
    """How a TLS scenario was served: the certificate, and what each server negotiated."""
    info = results.get("tls") or {}
    sessions = info.get("sessions", {}).get(scenario, {})
    line = f"Over TLS with a {info.get('certificate') or 'test certificate'}; no ceiling (they "
    line += "are cleartext)."
    if sessions:
        line += " Negotiated with the answer check (OpenSSL's client defaults, as wrk's): "
        line += "; ".join(f"{server} {session}" for server, session in sessions.items()) + "."
    return [line, ""]


def markdown(results: dict[str, Any]) -> str:
    table = summarize(results)
    out = ["# fastcorn benchmark results", ""]
    out += [
        "Written by `bench/report.py` from [latest.json](latest.json), every raw run of the "
        "command below; do not edit by hand.",
        "",
        *_machine_lines(results),
        "",
    ]
    failed = failed_checks(results)
    if failed:
        out += ["**Failed checks** (the run exited 1):", ""]
        out += [f"- {line}" for line in failed]
        out.append("")
    out += ["## Summary", "", "Medians of server CPU µs per request (lower is better) and "
            "requests per second:", ""]  # fmt: skip
    if any(n in table for n in SUMMARY_SCENARIOS):
        out += [short_table(results), ""]
    if any(n in table for n in TLS_SUMMARY_SCENARIOS):
        out += ["Over TLS (HTTP/1.1; handshake-tls opens a connection per request):", ""]
        out += [short_table(results, TLS_SUMMARY_SCENARIOS), ""]
    summary = ratios(results)
    if summary:
        out += [*summary, ""]
    if any(n in table for n in results["scenarios"]):
        out += ["![CPU µs per request and requests per second, per scenario](latest.png)", ""]
    out += [
        "CPU µs/req is the headline: lower is better and it is the least noisy figure on a "
        "shared machine. CPU × ceiling divides it by the CPU µs/req of the ceiling server "
        "of the same loop (a server that parses nothing and answers with a canned response: "
        "uvloop's for the uvloop servers, trio's for trio's, asyncio's for asyncio's), and "
        "× ceiling compares req/s with it. server CPU near "
        "100% means the server was the bottleneck; client CPU near 100% means the load "
        "generator was. noise is the largest share of the server CPU's time, over the runs, "
        "taken by anything else: other processes on that CPU plus hypervisor steal.",
        "",
    ]
    for name, about in ((n, s["about"]) for n, s in results["scenarios"].items()):
        if name.startswith("seed"):
            continue
        out += [f"## {name}: {about}", ""]
        if name == "pipelined":
            out += ["(No latency: wrk does not time pipelined requests one by one.)", ""]
        if results["scenarios"][name].get("tls"):
            out += tls_lines(results, name)
        if results["scenarios"][name].get("workers", 1) > 1:
            out += [WORKERS_NOTE, ""]
        status = results["status"].get(name, {})
        out += scenario_table(name, table.get(name, {}), status, failures(results, name))
        out.append("")
    seeds = [n for n in results["scenarios"] if n.startswith("seed")]
    if seeds:
        out += ["## seed: the echo benchmark of the article that introduced trio support", ""]
        out += [f"Source: {SEED_ARTICLE_SOURCE}. Its figures come from another machine in "
                "2018, so compare loops with each other, not absolute numbers.", ""]  # fmt: skip
        out += seed_table(table)
        out.append("")
        for name in seeds:
            out += [f"### {name}", ""]
            status = results["status"].get(name, {})
            out += scenario_table(name, table.get(name, {}), status, failures(results, name))
            out.append("")
    if results.get("servers", {}).get("granian"):
        out += [f"granian settings: {results['servers']['granian']['settings']}", ""]
    out += ["## Server commands", ""]
    out += [f"- {name}: `{cmd}`" for name, cmd in results["commands"].items()]
    return "\n".join(out) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarize(results)
    names = [n for n in results["scenarios"] if n in table]
    if not names:
        return
    fig, axes = plt.subplots(len(names), 2, figsize=(13, 2.2 + 1.9 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        rows = sorted(table[name].values(), key=lambda r: r.rps_median)
        labels = [r.server for r in rows]
        colors = [_color(r.server) for r in rows]
        for j, (values, title) in enumerate((
            ([r.cpu_median for r in rows], "CPU µs per request (lower is better)"),
            ([r.rps_median for r in rows], "requests per second"),
        )):  # fmt: skip
            ax = axes[i][j]
            ax.barh(labels, values, color=colors)
            ax.set_title(f"{name}: {title}", fontsize=9, loc="left")
            ax.tick_params(labelsize=7)
            for y, v in enumerate(values):
                ax.text(v, y, f" {v:,.1f}" if j == 0 else f" {v:,.0f}", va="center", fontsize=6)
            ax.margins(x=0.18)
    m = results["machine"]
    fig.suptitle(f"fastcorn bench, {m['date'][:10]}, commit {m['git_commit'].split()[0]}, "
                 f"Python {m['python']}, {m['cpu']}", fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _color(server: str) -> str:
    for prefix, color in (("fastcorn", "#d62728"), ("uvicorn", "#1f77b4"),
                          ("hypercorn", "#2ca02c"), ("granian", "#9467bd")):  # fmt: skip
        if server.startswith(prefix):
            return color
    return "#7f7f7f"


def write(results: dict[str, Any], output: Path) -> None:
    (output / "latest.md").write_text(markdown(results))
    chart(results, output / "latest.png")


if __name__ == "__main__":  # re-render from an existing latest.json
    import json

    directory = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results")
    data = json.loads((directory / "latest.json").read_text())
    write(data, directory)
    print(f"wrote {directory / 'latest.md'} and {directory / 'latest.png'}")
