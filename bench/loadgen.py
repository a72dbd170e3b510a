"""The load generators, run on CPU 1: wrk (HTTP/1.1), h2load (h2c) and the
bench WebSocket client. Each returns the same shape of result."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.scenarios import Scenario

HERE = Path(__file__).resolve().parent
TOOLS = {"wrk": "wrk", "h2load": "nghttp2-client"}  # binary -> Debian package


def missing_tools(needed: set[str]) -> dict[str, str]:
    """The load generators ``needed`` that are not installed, with their Debian package."""
    return {tool: TOOLS[tool] for tool in sorted(needed & set(TOOLS)) if not shutil.which(tool)}


CPUs = int | str | None  # one CPU, a taskset list ("0,1"), or as the runner


def _pin(cpu: CPUs) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def _run(
    name: str, cmd: list[str], env: dict[str, str] | None, timeout: float
) -> tuple[str, float]:
    """Run a client; return its output and its CPU use as a share of one core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    return done.stdout, cpu / wall


def _bench_json(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line[len("BENCH_JSON ") :]))
    raise RuntimeError(f"no result line in: {output.strip()[-300:]}")


def run_wrk(scenario: Scenario, port: int, duration: float, cpu: CPUs) -> dict[str, Any]:
    script = "pipeline.lua" if scenario.pipeline > 1 else "request.lua"
    env = dict(
        os.environ,
        BENCH_LUA_DIR=str(HERE / "lua"),
        BENCH_METHOD=scenario.method,
        BENCH_BODY_SIZE=str(len(scenario.body)),
        BENCH_DEPTH=str(scenario.pipeline),
    )
    if scenario.body and scenario.body != b"x" * len(scenario.body):
        env["BENCH_BODY"] = scenario.body.decode()
    close = ["-H", "Connection: close"] if scenario.close else []
    cmd = _pin(cpu) + [
        "wrk", "-t1", f"-c{scenario.connections}", f"-d{max(1, round(duration))}s",
        "--timeout", "5s", *close, "-s", str(HERE / "lua" / script),
        f"{scenario.scheme}://127.0.0.1:{port}{scenario.path}",
    ]  # fmt: skip
    out, client_cpu = _run("wrk", cmd, env, duration + 30)
    result = _bench_json(out)
    result["client_cpu_util"] = client_cpu
    return result


def run_h2load(scenario: Scenario, port: int, duration: float, cpu: CPUs) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "h2load.log"
        cmd = _pin(cpu) + [
            "h2load", "-t1", f"-c{scenario.connections}", "-m10", f"-D{max(1, round(duration))}",
            "--log-file", str(log), f"{scenario.scheme}://127.0.0.1:{port}{scenario.path}",
        ]  # fmt: skip
        out, client_cpu = _run("h2load", cmd, None, duration + 30)
        durations = sorted(
            int(line.split("\t")[2]) for line in log.read_text().splitlines() if line
        )
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out)  # fmt: skip
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not (m and req and codes):
        raise RuntimeError(f"cannot read h2load output: {out.strip()[-300:]}")
    seconds = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)

    def pct(p: float) -> float:
        return (
            float(durations[min(len(durations) - 1, int(p * len(durations)))]) if durations else 0
        )

    return {
        "requests": int(codes.group(1)),
        "duration_us": int(seconds * 1e6),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "errors": {
            "failed": int(req.group(5)),
            "errored": int(req.group(6)),
            "timeout": int(req.group(7)),
            "status": sum(int(codes.group(i)) for i in (2, 3, 4)),
        },
        "client_cpu_util": client_cpu,
    }


def run_ws(scenario: Scenario, port: int, duration: float, cpu: CPUs) -> dict[str, Any]:
    cmd = _pin(cpu) + [
        sys.executable, str(HERE / "ws_client.py"), "--port", str(port), "--path", scenario.path,
        "--connections", str(scenario.connections), "--size", str(len(scenario.expected)),
        "--duration", str(duration),
        *(["--text"] if scenario.ws_text else []), *(["--deflate"] if scenario.ws_deflate else []),
    ]  # fmt: skip
    out, client_cpu = _run("ws client", cmd, None, duration + 60)
    result = _bench_json(out)
    result["client_cpu_util_process"] = client_cpu  # including start-up and handshakes
    return result


def run(scenario: Scenario, port: int, duration: float, cpu: CPUs) -> dict[str, Any]:
    runner = {"wrk": run_wrk, "h2load": run_h2load, "ws": run_ws}[scenario.tool]
    return runner(scenario, port, duration, cpu)
