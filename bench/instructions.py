"""Instructions per request on the HTTP/1.1 fast path, under callgrind.

``python bench/instructions.py`` runs, for each target, this same script in
``--inner`` mode under ``valgrind --tool=callgrind`` twice: pushing N and then
2N keep-alive requests through one connection, with a minimal ASGI app and no
sockets. Start-up, imports and warm-up are the same in both runs, so
``(I(2N) - I(N)) / N`` is the cost of one request.

Targets:

- ``fastcorn``: ``fastcorn.testing.Harness`` feeds bytes to the HTTP/1.1 core,
  no event loop, no sockets.
- ``fastcorn-h2``: the HTTP/2 core (``fastcorn.protocol.h2.H2Connection``) through the
  same harness, as ``h2load -m10`` drives it: 10 GET requests on new streams per read,
  their 10 responses in one write. The client's bytes are made beforehand by an h2
  client connection talking to a throwaway core (``h2_wire``, outside the measured
  process: written to a file the inner run replays), so the count is the server's alone.
- ``uvicorn``: uvicorn's ``HttpToolsProtocol`` fed through a fake transport, as
  its own tests do. It cannot run an app without an event loop (each request is
  an asyncio Task), so a uvloop loop turns once per request; that is part of
  its real cost. Its Date/Server default headers are empty here.

``--profile`` also prints the functions with the largest self cost (callgrind)
and a cProfile of the same loop, to say where the instructions go.

``--many`` measures the real server instead (the ``many`` scenario's question: why a
request costs more with 1,000 keep-alive connections than with 64). Each of
``--servers`` (default fastcorn-uvloop and its ceiling, started as bench/run.py starts
them) runs under callgrind twice, serving the same number of requests (``--requests``)
over 64 and then 1,000 connections. The client keeps one request in flight per
connection and writes every connection's request before reading any answer, as wrk
does when the server is the bottleneck: each loop turn finds many connections ready.
Counters are zeroed (``callgrind_control -z``) after the connections are open and warm,
and dumped after the measured requests, so the count is per request, connections'
set-up excluded. With ``--profile``, the functions whose inclusive cost per request
grows most from 64 to 1,000 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: import fastcorn from this checkout
    sys.path.insert(0, str(HERE.parent))
FASTCORN_PATH: list[str] = []  # the directory holding the fastcorn under test (main sets it)
REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"  # what wrk sends
BODY = b"Hello, world!"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
WARMUP = 200


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The minimal app: 200 and a 13-byte body, whatever the request."""
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def fastcorn_driver() -> Callable[[], bytes]:
    from fastcorn.testing import Harness

    harness = Harness(app)
    return lambda: harness.feed(REQUEST)


def fastcorn_metrics_driver() -> Callable[[], bytes]:
    """fastcorn with metrics on (--metrics-bind's recorder), the access log off."""
    from fastcorn.metrics import install
    from fastcorn.testing import Harness

    harness = Harness(app)
    install(harness.state, False, None)
    return lambda: harness.feed(REQUEST)


class FakeTransport:
    """Enough of an asyncio transport for uvicorn's protocol."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: Any) -> None:
        pass


def uvicorn_driver() -> Callable[[], bytes]:
    import uvloop
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    config = Config(app=app, http="httptools", lifespan="off", access_log=False)
    config.load()
    protocol = HttpToolsProtocol(
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]

    async def turn() -> None:
        pass

    def one() -> bytes:
        transport.out.clear()
        protocol.data_received(REQUEST)
        while not transport.out.endswith(BODY):  # the app task runs in one loop turn
            loop.run_until_complete(turn())
        return bytes(transport.out)

    return one


H2_STREAMS_PER_READ = 10  # h2load -m10
H2_REQUEST = [(b":method", b"GET"), (b":path", b"/hello"), (b":scheme", b"http"),
              (b":authority", b"127.0.0.1:8000"), (b"accept-encoding", b"gzip, deflate"),
              (b"user-agent", b"h2load nghttp2/1.52.0")]  # what h2load sends
H2_WIRE_ENV = "FASTCORN_BENCH_H2_WIRE"


def h2_core_harness() -> Any:
    import functools

    from fastcorn.config import Config
    from fastcorn.protocol.h2 import H2Connection
    from fastcorn.testing import Harness

    config = Config(None)
    return Harness(app, factory=lambda state: functools.partial(H2Connection, state, config))


def h2_wire(reads: int) -> list[bytes]:
    """What an h2 client sends to make ``reads`` x 10 requests, one read per 10 (the first
    item: its preface and SETTINGS). Made against a real core, whose answers the client
    reads (the SETTINGS it acknowledges, the responses that close its streams)."""
    import h2.config
    import h2.connection
    import h2.settings

    harness = h2_core_harness()
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None))
    # h2load's windows (-w 30 -W 30): no WINDOW_UPDATE is owed in the run
    client.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.ENABLE_PUSH: 0,
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**30 - 1})
    client.initiate_connection()
    client.increment_flow_control_window(2**30 - 65535)
    wire = [client.data_to_send()]
    client.receive_data(harness.feed(wire[0]))
    for _ in range(reads):
        for _ in range(H2_STREAMS_PER_READ):
            client.send_headers(client.get_next_available_stream_id(), H2_REQUEST,
                                end_stream=True)
        wire.append(client.data_to_send())
        out = harness.feed(wire[-1])
        client.receive_data(out)
        if not out.endswith(BODY):
            raise RuntimeError(f"fastcorn-h2: wrong answer {out[-60:]!r}")
    return wire


def fastcorn_h2_driver() -> Callable[[], bytes]:
    import pickle

    path = os.environ.get(H2_WIRE_ENV)
    if path:
        with open(path, "rb") as f:
            wire: list[bytes] = pickle.load(f)
    else:
        wire = h2_wire(WARMUP)  # availability check, cProfile
    harness = h2_core_harness()
    harness.feed(wire[0])
    reads = iter(wire[1:])
    return lambda: harness.feed(next(reads))


DRIVERS = {"fastcorn": fastcorn_driver, "uvicorn": uvicorn_driver,
           "fastcorn-metrics": fastcorn_metrics_driver, "fastcorn-h2": fastcorn_h2_driver}
# requests one call of the driver serves
PER_CALL = {"fastcorn-h2": H2_STREAMS_PER_READ}


def profile_only(directory: Path, n: int) -> None:
    for target in DRIVERS:
        short = directory / f"callgrind.{target}.n.out"
        if short.exists():
            print(f"== {target}")
            print(per_request_profile(short, directory / f"callgrind.{target}.2n.out", n, 25))


def inner(target: str, n: int) -> None:
    one = DRIVERS[target]()
    per_call = PER_CALL.get(target, 1)
    first = one()
    if not (first.startswith(b"HTTP/1.1 200") or per_call > 1) or not first.endswith(BODY):
        sys.exit(f"{target}: wrong response {first!r}")
    for _ in range(WARMUP // per_call):
        one()
    for _ in range(n // per_call):
        one()


def calls_needed(target: str, n: int) -> int:
    """Driver calls the inner run makes for n requests (the first, warm-up, measured)."""
    per_call = PER_CALL.get(target, 1)
    return 1 + WARMUP // per_call + n // per_call


def callgrind(target: str, n: int, out: Path) -> int:
    cmd = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
        sys.executable, str(Path(__file__).resolve()), "--inner", target, "-n", str(n),
    ]  # fmt: skip
    path = os.pathsep.join([*FASTCORN_PATH, str(HERE.parent)])
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=path)
    if target in PER_CALL:
        env[H2_WIRE_ENV] = str(out.parent / f"{target}.wire")  # see main()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{target}: {done.stderr.strip()[-600:]}")
    m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(errors="replace"), re.M)
    if not m:
        raise RuntimeError(f"{target}: no instruction total in {out}")
    return int(m.group(1))


def costs(out: Path, inclusive: bool) -> dict[str, int]:
    """Instructions per function (self or inclusive), from callgrind_annotate."""
    cmd = ["callgrind_annotate", "--auto=no", "--threshold=100", str(out)]
    if inclusive:
        cmd.insert(1, "--inclusive=yes")
    done = subprocess.run(cmd, capture_output=True, text=True)
    table: dict[str, int] = {}
    for line in done.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[(.*)\])?$", line)
        if m and "PROGRAM TOTALS" not in line and "=>" not in line:
            name = m.group(2).rsplit("/", 1)[-1]  # file:function, without the build path
            obj = Path(m.group(3)).name if m.group(3) else ""
            key = f"{name} [{obj}]" if obj else name
            table[key] = table.get(key, 0) + int(m.group(1).replace(",", ""))
    return table


def per_request_profile(short: Path, long: Path, n: int, limit: int) -> str:
    """Functions whose cost grows with the request count, (I(2N) - I(N)) / N: by self
    cost, then by inclusive cost for compiled extension code (not the interpreter)."""
    if not shutil.which("callgrind_annotate"):
        return "(callgrind_annotate not found)"
    out = []
    for inclusive in (False, True):
        a, b = costs(short, inclusive), costs(long, inclusive)
        delta = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in b}
        if inclusive:  # compiled extension modules only: not the interpreter, libc, loader
            delta = {k: v for k, v in delta.items() if ".cpython-" in k}
            out.append("inclusive, extension code only:")
        else:
            out.append("self cost:")
        rows = sorted(delta.items(), key=lambda kv: -kv[1])[:limit]
        out += [f"{v:>9,.0f}  {k}" for k, v in rows]
    return "\n".join(out)


def python_profile(target: str, n: int, limit: int) -> None:
    import cProfile
    import pstats

    if target == "fastcorn-h2":
        import pickle

        with tempfile.NamedTemporaryFile(suffix=".wire") as f:
            pickle.dump(h2_wire(calls_needed(target, n)), f)
            f.flush()
            os.environ[H2_WIRE_ENV] = f.name
            one = DRIVERS[target]()
    else:
        one = DRIVERS[target]()
    per_call = PER_CALL.get(target, 1)
    for _ in range(WARMUP // per_call):
        one()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n // per_call):
        one()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(limit)


MANY_CONNECTIONS = (64, 1000)  # the hello and many scenarios' connection counts
MANY_WARMUP_ROUNDS = 3  # rounds (one request per connection) before the counters are zeroed


class RoundClient:
    """Keep-alive connections to one server, one request in flight on each: a round
    writes every connection's request, then reads every answer."""

    def __init__(self, port: int, connections: int) -> None:
        self.socks: list[socket.socket] = []
        for _ in range(connections):
            self.socks.append(socket.create_connection(("127.0.0.1", port), timeout=120))
        self.selector = selectors.DefaultSelector()
        for sock in self.socks:
            sock.setblocking(False)

    def round(self) -> None:
        for sock in self.socks:
            sock.send(REQUEST)  # a few dozen bytes: the socket buffer always has room
        received = {sock: b"" for sock in self.socks}
        for sock in self.socks:
            self.selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + 300  # a server under valgrind is slow, not stuck
        while received:
            events = self.selector.select(timeout=5)
            if not events and time.monotonic() > deadline:
                raise RuntimeError(f"{len(received)} answers missing")
            for key, _ in events:
                sock = cast(socket.socket, key.fileobj)
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError(f"connection closed after {received[sock][:200]!r}")
                data = received[sock] + chunk
                if data.endswith(BODY):  # every answer is the same short one
                    if not data.startswith(b"HTTP/1.1 200") or data.count(b"HTTP/1.1") != 1:
                        raise RuntimeError(f"unexpected answer {data[:200]!r}")
                    self.selector.unregister(sock)
                    del received[sock]
                else:
                    received[sock] = data

    def close(self) -> None:
        self.selector.close()
        for sock in self.socks:
            sock.close()


def server_callgrind(name: str, connections: int, requests: int, out: Path) -> float:
    """Instructions per request of the server ``name`` (bench.servers) with this many
    connections, from a callgrind dump of the measured requests only."""
    from bench.callgrind import connects, count_around, measured_dump, stop, wait_started
    from bench.scenarios import SCENARIOS
    from bench.servers import SERVERS, free_port

    port = free_port()
    command = SERVERS[name].command(port, SCENARIOS["many"])
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command]
    path = os.pathsep.join([*FASTCORN_PATH, str(HERE.parent)])
    env = dict(os.environ, PYTHONPATH=path, PYTHONHASHSEED="0")
    proc = subprocess.Popen(argv, cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    client = None
    try:
        wait_started(name, proc, connects(port))
        client = RoundClient(port, connections)
        for _ in range(MANY_WARMUP_ROUNDS):
            client.round()
        rounds = max(1, requests // connections)
        round_client = client

        def measured_rounds() -> None:
            for _ in range(rounds):
                round_client.round()

        count_around(proc.pid, measured_rounds)
    finally:
        if client is not None:
            client.close()
        stop(proc, signal.SIGTERM, group=True)
    dump = measured_dump(out.parent, out.name)
    dump.replace(out)  # the dump of the measured requests, under the name asked for
    for p in out.parent.glob(f"{out.name}.*"):
        p.unlink()
    return program_total(out) / (rounds * connections)


def program_total(out: Path) -> int:
    m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(errors="replace"), re.M)
    if not m:
        raise RuntimeError(f"no instruction total in {out}")
    return int(m.group(1))


def growth_profile(few: Path, many: Path, requests: tuple[int, int], limit: int) -> str:
    """Functions by how much their cost per request grows from the run with few
    connections to the one with many: self cost (what grows), then inclusive cost
    (callgrind_annotate --inclusive=yes: where it is reached from)."""
    if not shutil.which("callgrind_annotate"):
        return "(callgrind_annotate not found)"
    # The program's outer frames (main, the loop's run, the interpreter around them) hold
    # nearly all of both runs and would fill the list with the total: left out.
    totals = [program_total(few), program_total(many)]
    lines = []
    for inclusive, count in ((False, limit // 2), (True, limit)):
        a, b = costs(few, inclusive), costs(many, inclusive)
        outer = {k for k in {*a, *b} if a.get(k, 0) > 0.9 * totals[0]
                 or b.get(k, 0) > 0.9 * totals[1]}
        rows = [(b.get(k, 0) / requests[1] - a.get(k, 0) / requests[0], k)
                for k in {*a, *b} - outer]
        rows.sort(key=lambda row: -abs(row[0]))
        lines.append(f"{'growth':>9} {'few':>9} {'many':>9}  "
                     f"{'inclusive' if inclusive else 'self'}: function [object]")
        lines += [f"{d:>+9,.0f} {a.get(k, 0) / requests[0]:>9,.0f} "
                  f"{b.get(k, 0) / requests[1]:>9,.0f}  {k}" for d, k in rows[:count]]
    return "\n".join(lines)


def many(servers: list[str], requests: int, directory: Path, profile: bool,
         say: Callable[[str], None]) -> None:
    for name in servers:
        figures: list[float] = []
        measured: list[int] = []
        for connections in MANY_CONNECTIONS:
            out = directory / f"callgrind.{name}.c{connections}.out"
            figures.append(server_callgrind(name, connections, requests, out))
            measured.append(max(1, requests // connections) * connections)
            say(f"{name:>16}, {connections:>4} connections: {figures[-1]:,.0f} "
                f"instructions per request ({measured[-1]} requests)")
        say(f"{name:>16}: x{figures[1] / figures[0]:.2f} per request with "
            f"{MANY_CONNECTIONS[1]} connections")
        if profile:
            files = [directory / f"callgrind.{name}.c{c}.out" for c in MANY_CONNECTIONS]
            say(f"inclusive instructions per request, {MANY_CONNECTIONS[0]} -> "
                f"{MANY_CONNECTIONS[1]} connections:")
            say(growth_profile(files[0], files[1], (measured[0], measured[1]), 40))


def available(target: str) -> str | None:
    try:
        DRIVERS[target]()
    except Exception as exc:  # ImportError while fastcorn.testing is not built, etc.
        return f"{type(exc).__name__}: {exc}"
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("-n", type=int, default=2000, help="requests in the short run (default 2000)")
    p.add_argument("--targets", default="fastcorn,uvicorn")
    p.add_argument("--profile", action="store_true", help="show where the instructions go")
    p.add_argument("--keep", type=Path, help="keep the callgrind files in this directory")
    p.add_argument("--output", type=Path, help="also write DIR/instructions.md")
    p.add_argument("--many", action="store_true",
                   help="the real server with 64 and with 1,000 connections (see above)")
    p.add_argument("--servers", default="fastcorn-uvloop,ceiling-uvloop",
                   help="with --many: servers of bench/servers.py")
    p.add_argument("--requests", type=int, default=10000,
                   help="with --many: measured requests per run (default 10000)")
    p.add_argument("--inner", metavar="TARGET", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inner:
        inner(args.inner, args.n)
        return
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed: apt-get install valgrind")
    from bench.servers import locate_fastcorn

    try:  # the checkout's build, else the installed fastcorn: the same choice as run.py
        package, origin = locate_fastcorn()
    except LookupError as exc:
        sys.exit(str(exc))
    FASTCORN_PATH[:] = [str(package.parent)]
    sys.path.insert(0, str(package.parent))
    print(f"fastcorn under test: {origin}", flush=True)
    report: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        report.append(text)

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        if args.many:
            many(args.servers.split(","), args.requests, directory, args.profile, say)
        for target in ([] if args.many else args.targets.split(",")):
            problem = available(target)
            if problem:
                say(f"{target:>9}: not measured ({problem})")
                continue
            if target in PER_CALL:
                # the client's bytes for the longer run, made here (not measured); both
                # runs load the same file, so its cost cancels out in I(2N) - I(N)
                import pickle

                with open(directory / f"{target}.wire", "wb") as f:
                    pickle.dump(h2_wire(calls_needed(target, 2 * args.n)), f)
            short = callgrind(target, args.n, directory / f"callgrind.{target}.n.out")
            long = callgrind(target, 2 * args.n, directory / f"callgrind.{target}.2n.out")
            per_request = (long - short) / args.n
            say(f"{target:>9}: {per_request:,.0f} instructions per request "
                f"(I({2 * args.n}) - I({args.n})) / {args.n}; start-up and warm-up "
                f"{short - args.n * per_request:,.0f})")  # fmt: skip
            if args.profile:
                say("per request (instructions, function [object]):")
                files = [directory / f"callgrind.{target}.{k}.out" for k in ("n", "2n")]
                say(per_request_profile(files[0], files[1], args.n, 25))
                python_profile(target, 20000, 25)
    if args.output:
        write_report(args.output, report, args.n)


def write_report(directory: Path, lines: list[str], n: int) -> None:
    from bench.measure import machine

    m = machine()
    packages = cast(dict[str, str], m["packages"])
    versions = ", ".join(f"{k} {v}" for k, v in packages.items() if v != "absent")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "instructions.md").write_text(
        "# Instructions per request (callgrind)\n\n"
        f"`python bench/instructions.py -n {n}{' --profile' if len(lines) > 2 else ''}`, "
        f"{m['date']}, git commit {m['git_commit']}, Python {m['python']}; {versions}.\n\n"
        "```\n" + "\n".join(lines) + "\n```\n"
    )


if __name__ == "__main__":
    main()
