"""Run the fastcorn benchmark suite: ``python bench/run.py [--quick]``.

Servers run pinned to CPU 0, load generators to CPU 1 (in the workers scenarios
both are unpinned, and each run records the workers' shares of the server's CPU time).
For each scenario every
server is started, its answer checked byte for byte, and then the repetitions
are interleaved (no server runs twice in a row), each one warmed up first.
Writes ``latest.json`` (every raw run), ``latest.md`` (the results page) and
``latest.png`` (its chart): in ``bench/results/`` for the full suite with its
default settings, in ``bench/results/partial/`` for any other run, unless
``--output`` names a directory. Exits 1 when a server fails an answer check or
fastcorn fails a run, 2 when a load generator or fastcorn's build is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import checks, loadgen, report, tls
from bench.measure import TreeMonitor, machine, tree
from bench.scenarios import SCENARIOS, Scenario
from bench.servers import ALIASES, CEILING_OF_LOOP, SERVERS, RunningServer, ServerSpec, snapshot

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"
PARTIAL_OUTPUT = DEFAULT_OUTPUT / "partial"  # not committed: see .gitignore


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="smoke pass: each run once, ~2 s")
    p.add_argument("--servers", help=f"comma-separated, from: {', '.join(SERVERS)}")
    p.add_argument("--scenarios", help=f"comma-separated, from: {', '.join(SCENARIOS)}")
    p.add_argument("--repeat", type=int, help="measured runs per server and scenario (3)")
    p.add_argument("--duration", type=float, help="seconds per measured run (3)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up before each run (1)")
    p.add_argument("--output", type=Path,
                   help="default: bench/results/ for a full run with default settings, "
                   "bench/results/partial/ for any other")  # fmt: skip
    p.add_argument("--no-ceilings", action="store_true",
                   help="do not add the ceiling servers of the chosen servers' loops")  # fmt: skip
    args = p.parse_args(argv)
    quick = args.quick
    # Only the documented full run may replace the committed results.
    args.partial = bool(quick or args.servers or args.scenarios or args.no_ceilings
                        or args.repeat or args.duration or args.warmup is not None)  # fmt: skip
    if args.output is None:
        args.output = PARTIAL_OUTPUT if args.partial else DEFAULT_OUTPUT
    args.repeat = args.repeat or (1 if quick else 3)
    args.duration = args.duration or (2.0 if quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else 1.0
    args.tls_cert = None  # bench/tls.py's certificate, made by main() for TLS scenarios
    args.every_cpu = None  # every CPU, as taskset takes them (run_all, before pinning)
    return args


def _pick(names: str | None, known: dict[str, Any], what: str) -> list[str]:
    if not names:
        return list(known)
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def choose_servers(args: argparse.Namespace) -> list[ServerSpec]:
    given = args.servers and ",".join(
        ALIASES.get(n.strip(), n.strip()) for n in args.servers.split(","))
    names = _pick(given, SERVERS, "server")
    if args.servers and not args.no_ceilings:
        for name in list(names):
            ceiling = CEILING_OF_LOOP[SERVERS[name].loop]
            if ceiling not in names:
                names.append(ceiling)
    return [SERVERS[n] for n in names]


def pin_cpus() -> tuple[int | None, int | None]:
    """(server CPU, client CPU); the runner itself stays on the client's CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print("warning: fewer than 2 CPUs available; nothing is pinned", file=sys.stderr)
        return None, None
    os.sched_setaffinity(0, {cpus[1]})
    return cpus[0], cpus[1]


def placement(
    scenario: Scenario, cpus: tuple[int | None, int | None], every_cpu: str | None
) -> tuple[int | str | None, int | str | None, int | None]:
    """(server's CPUs, load generator's CPUs, the CPU whose noise is measured).

    One worker: the pinned pair. Workers: every CPU for both (the runner itself is pinned
    to the client's CPU, and what it starts would inherit that), and no noise figure.
    """
    if scenario.pinned:
        return cpus[0], cpus[1], cpus[0]
    return every_cpu, every_cpu, None


def worker_shares(per_process: dict[int, float], root: int, workers: int) -> list[float]:
    """Each worker's share of the workers' CPU time, largest first: the ``workers`` busiest
    processes under the server's first process (a supervisor, uvicorn's or granian's
    parent), which is left out."""
    busiest = sorted((cpu for pid, cpu in per_process.items() if pid != root), reverse=True)
    busiest = busiest[:workers]
    total = sum(busiest)
    return [round(cpu / total, 4) for cpu in busiest] if total else []


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, flush=True)


def measure_one(
    server: RunningServer,
    scenario: Scenario,
    args: argparse.Namespace,
    cpus: tuple[int | None, int | None],
) -> dict[str, Any]:
    """Check the answer, warm up, then measure one run of one server."""
    _, client_cpu, monitor_cpu = placement(scenario, cpus, args.every_cpu)
    run: dict[str, Any] = {"server": server.spec.name, "scenario": scenario.name}
    if not server.alive():
        return run | {"ok": False, "problem": f"server exited: {server.log_tail()}"}
    problem = checks.check(scenario, "127.0.0.1", server.port, args.tls_cert)
    if problem:
        return run | {"ok": False, "problem": f"wrong answer: {problem}"}
    try:
        if args.warmup > 0:
            loadgen.run(scenario, server.port, args.warmup, client_cpu)
        with TreeMonitor(server.pid, monitor_cpu) as monitor:
            result = loadgen.run(scenario, server.port, args.duration, client_cpu)
    except (RuntimeError, OSError) as exc:
        return run | {"ok": False, "problem": f"load run failed: {exc}"}
    requests = int(result["requests"])
    seconds = result["duration_us"] / 1e6
    run |= result
    run |= {
        "ok": requests > 0,
        "rps": requests / seconds if seconds else 0.0,
        "server_cpu_s": monitor.cpu_seconds,
        "server_cpu_util": monitor.cpu_seconds / monitor.wall_seconds,
        "cpu_us_per_request": monitor.cpu_seconds * 1e6 / requests if requests else None,
        "peak_rss_mib": monitor.peak_rss / 2**20,
        "server_processes": len(tree(server.pid)),
        "server_cpu_steal": monitor.steal,
        "server_cpu_other_load": monitor.other_load,
    }
    if scenario.workers > 1:
        run["worker_cpu_shares"] = worker_shares(
            monitor.per_process, server.pid, scenario.workers
        )
    if requests == 0:
        run["problem"] = "no request completed"
    return run


def run_scenario(
    scenario: Scenario,
    specs: list[ServerSpec],
    args: argparse.Namespace,
    cpus: tuple[int | None, int | None],
    results: dict[str, Any],
) -> None:
    server_cpu = placement(scenario, cpus, args.every_cpu)[0]
    status: dict[str, str] = results["status"].setdefault(scenario.name, {})
    servers: list[RunningServer] = []
    try:
        for spec in specs:
            if not spec.serves(scenario):
                status[spec.name] = "n/a"
                continue
            servers.append(
                RunningServer(spec, scenario, server_cpu, args.output / "logs", args.workdir)
            )
        ready: list[RunningServer] = []
        for server in servers:
            results["commands"][server.spec.name] = shlex.join(server.command)
            problem = server.wait_ready() or checks.check(
                scenario, "127.0.0.1", server.port, args.tls_cert
            )
            if problem is None:
                status[server.spec.name] = "ok"
                ready.append(server)
                if scenario.tls:
                    results["tls"]["sessions"].setdefault(scenario.name, {})[server.spec.name] = (
                        tls.session("127.0.0.1", server.port, args.tls_cert)
                    )
            elif scenario.http1:
                status[server.spec.name] = f"wrong answer: {problem}"
            else:
                status[server.spec.name] = server.spec.unsupported_label()
                results["probes"].setdefault(scenario.name, {})[server.spec.name] = problem
            log(f"{scenario.name:>9} {server.spec.name:<17} {status[server.spec.name][:100]}")
        for rep in range(args.repeat):
            shift = rep % len(ready) if ready else 0
            for server in ready[shift:] + ready[:shift]:
                run = measure_one(server, scenario, args, cpus) | {"repeat": rep}
                results["runs"].append(run)
                if run["ok"]:
                    split = run.get("worker_cpu_shares")
                    log(f"{scenario.name:>9} {server.spec.name:<17} rep {rep + 1}: "
                        f"{run['rps']:>10,.0f} req/s {run['cpu_us_per_request']:>7.1f} µs CPU/req "
                        f"p99 {run['p99_us'] / 1000:.2f} ms"
                        + (f" workers' CPU {'/'.join(f'{s:.0%}' for s in split)}"
                           if split else ""))  # fmt: skip
                else:
                    log(f"{scenario.name:>9} {server.spec.name:<17} rep {rep + 1}: "
                        f"{run['problem'][:150]}")  # fmt: skip
    finally:
        for server in servers:
            server.stop()


def _stop_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops the servers


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)  # also when started in the background
    args = parse_args(argv)
    specs = choose_servers(args)
    scenarios = [SCENARIOS[n] for n in _pick(args.scenarios, SCENARIOS, "scenario")]
    missing = loadgen.missing_tools({s.tool for s in scenarios})
    if missing:
        for tool, package in missing.items():
            print(f"{tool} is not installed: apt-get install {package}", file=sys.stderr)
        return 2
    workdir = tempfile.TemporaryDirectory(prefix="fastcorn-bench-")
    try:
        args.workdir = Path(workdir.name)
        try:
            build, origin = snapshot(args.workdir, any(s.family == "fastcorn" for s in specs))
        except LookupError as exc:
            print(exc, file=sys.stderr)
            return 2
        if any(s.tls for s in scenarios):
            try:
                args.tls_cert = tls.make_certificate(args.workdir)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                print(f"cannot make the TLS certificate: {exc}", file=sys.stderr)
                return 2
        return run_all(argv, args, specs, scenarios, build, origin)
    finally:
        workdir.cleanup()


def run_all(
    argv: list[str] | None,
    args: argparse.Namespace,
    specs: list[ServerSpec],
    scenarios: list[Scenario],
    build: dict[str, str],
    origin: str,
) -> int:
    args.every_cpu = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    cpus = pin_cpus()
    args.output.mkdir(parents=True, exist_ok=True)
    log(f"fastcorn under test: {origin}")
    runs_planned = sum(len([s for s in specs if s.serves(sc)]) for sc in scenarios) * args.repeat
    log(f"{runs_planned} runs planned, about "
        f"{runs_planned * (args.duration + args.warmup + 0.6) / 60:.0f} min, "
        f"results in {args.output}")  # fmt: skip
    started = time.time()
    results: dict[str, Any] = {
        "command": shlex.join(["python", "bench/run.py", *(argv or sys.argv[1:])]),
        "options": {
            "quick": args.quick,
            "repeat": args.repeat,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "server_cpu": cpus[0],
            "client_cpu": cpus[1],
        },  # fmt: skip
        "machine": machine(),
        "fastcorn_build": build,
        "fastcorn_source": origin,
        "servers": {s.name: {"loop": s.loop, "settings": s.settings} for s in specs},
        "scenarios": {
            s.name: {
                "tool": s.tool,
                "path": s.path,
                "method": s.method,
                "request_body_bytes": len(s.body),
                "connections": s.connections,
                "pipeline": s.pipeline,
                "tls": s.tls,
                "connection_close": s.close,
                "workers": s.workers,
                "reuse_port": s.reuse_port,
                "about": s.about,
            }
            for s in scenarios
        },  # fmt: skip
        "commands": {},
        "status": {},
        "probes": {},
        # TLS scenarios: the certificate, and what each server negotiated with the check
        "tls": {"certificate": tls.ABOUT if args.tls_cert else None, "sessions": {}},
        "runs": [],
    }
    for scenario in scenarios:
        run_scenario(scenario, specs, args, cpus, results)
    results["elapsed_s"] = round(time.time() - started, 1)
    (args.output / "latest.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    report.write(results, args.output)
    log(f"done in {results['elapsed_s'] / 60:.1f} min: {args.output / 'latest.md'}")
    failed = report.failed_checks(results)
    for line in failed:
        log(f"FAILED: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
