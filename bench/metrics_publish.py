"""How a worker's metrics reach its supervisor: the cost of one publication, two ways.

``python bench/metrics_publish.py`` counts real requests with the compiled recorder (the
HTTP/1.1 core fed through ``fastcorn.testing.Harness``: several methods, statuses and a
rejected request, so the label sets are those of a real worker), then times, per
publication (each worker publishes once per heartbeat, at most once a second):

- ``pipe``: what fastcorn does: ``Metrics.snapshot()`` (every series as JSON) sent as one
  SOCK_SEQPACKET message, received and summed by ``FleetMetrics.update`` on the other end;
- ``shm``: the alternative: the same numbers packed (``struct.pack_into``) at fixed offsets
  of a shared ``mmap`` block per worker, and unpacked by the reader.

and the supervisor's scrape (``prometheus_text()``) over 2 and 16 workers' snapshots.
Neither way touches the request path: both copy what the recorder counted, from the
worker's heartbeat task.
"""

from __future__ import annotations

import mmap
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: import fastcorn from this checkout
    sys.path.insert(0, str(HERE.parent))

ROUNDS = 2000


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    status = 404 if scope["path"] == "/missing" else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def per_call(function: Any, rounds: int = ROUNDS) -> float:
    """Microseconds per call (the best of three batches)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            function()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6


def main() -> None:
    from fastcorn.metrics import FleetMetrics, install
    from fastcorn.testing import Harness

    harness = Harness(app)
    metrics = install(harness.state, True, None)
    for method in ("GET", "POST", "HEAD", "PUT", "DELETE"):
        for path in ("/", "/missing"):
            harness.feed(f"{method} {path} HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n"
                         .encode())
    Harness(app).feed(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
    series = metrics.counters()
    values = [float(value) for _, _, _, value in series]
    print(f"{len(series)} series; snapshot {len(metrics.snapshot())} bytes")

    # pipe: the worker encodes and sends, the supervisor receives and keeps it
    worker_end, supervisor_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fleet = FleetMetrics(lambda: 2, keep_samples=False)

    def pipe() -> None:
        worker_end.send(b"s" + metrics.snapshot())
        fleet.update(1, supervisor_end.recv(1 << 18)[1:])

    # shm: the same numbers at fixed offsets of a shared block (the layout known to both)
    layout = struct.Struct(f"{len(values)}d")
    block = mmap.mmap(-1, layout.size)

    def shm() -> None:
        numbers = [float(value) for _, _, _, value in metrics.counters()]
        layout.pack_into(block, 0, *numbers)
        layout.unpack_from(block, 0)

    print(f"publish, pipe (snapshot + send + receive + sum): {per_call(pipe):.1f} µs")
    print(f"publish, shm (counters + pack + unpack):          {per_call(shm):.1f} µs")
    print(f"  of which reading the recorder (counters()):     "
          f"{per_call(metrics.counters):.1f} µs")
    for workers in (2, 16):
        fleet = FleetMetrics(lambda: workers, keep_samples=False)  # noqa: B023
        payload = metrics.snapshot()
        for pid in range(workers):
            fleet.update(pid, payload)
        print(f"scrape over {workers} workers (prometheus_text): "
              f"{per_call(fleet.prometheus_text, 200):.0f} µs")


if __name__ == "__main__":
    main()
