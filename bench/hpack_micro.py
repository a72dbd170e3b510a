"""Per header block: fastcorn's compiled HPACK and header checks against the `hpack` package
and h2's own validation, the pieces h2 spends most of a request in (ARCHITECTURE.md 6).

``python bench/hpack_micro.py`` prints nanoseconds per block (timeit, best of 7 rounds) for:

- decode: a request block as h2load sends it and one as a browser does, the first on a
  connection (literals, Huffman, a fresh decoder) and a repeat (indexed fields only);
- encode: a response head, first on a connection and repeated;
- checks: h2's inbound passes (normalize_inbound_headers + validate_headers) on a decoded
  request against check_request_headers, and h2's outbound passes
  (normalize_outbound_headers + validate_outbound_headers) against check_response_headers.

``--instructions`` counts instructions per block instead, under callgrind: the script runs
itself N and 2N times per case and reports (I(2N) - I(N)) / N, start-up cancelling out.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: import fastcorn from this checkout
    sys.path.insert(0, str(HERE.parent))

import hpack  # noqa: E402
from h2.utilities import (  # noqa: E402
    HeaderValidationFlags,
    normalize_inbound_headers,
    normalize_outbound_headers,
    validate_headers,
    validate_outbound_headers,
)

from fastcorn.protocol import h2headers  # noqa: E402
from fastcorn.protocol import hpack as fast  # noqa: E402

H2LOAD = [
    (b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"),
    (b":authority", b"127.0.0.1:8000"), (b"user-agent", b"h2load nghttp2/1.64.0"),
]  # fmt: skip
BROWSER = [
    (b":method", b"GET"), (b":authority", b"example.com"), (b":scheme", b"https"),
    (b":path", b"/static/app.js?v=3"),
    (b"sec-ch-ua", b'"Chromium";v="131", "Not_A Brand";v="24"'),
    (b"sec-ch-ua-mobile", b"?0"), (b"sec-ch-ua-platform", b'"Linux"'),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                    b"Chrome/131.0.0.0 Safari/537.36"),
    (b"accept", b"*/*"), (b"sec-fetch-site", b"same-origin"), (b"sec-fetch-mode", b"no-cors"),
    (b"sec-fetch-dest", b"script"), (b"referer", b"https://example.com/"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"), (b"accept-language", b"en-US,en;q=0.9"),
    (b"cookie", b"session=4f2a9c"), (b"cookie", b"theme=dark"), (b"priority", b"u=1"),
]  # fmt: skip
APP_RESPONSE = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")]
RESPONSE = [(b":status", b"200"), *APP_RESPONSE, (b"date", b"Tue, 03 Jun 2025 10:00:00 GMT"),
            (b"server", b"fastcorn")]  # fmt: skip
REQUEST_FLAGS = HeaderValidationFlags(False, False, False, False)
RESPONSE_FLAGS = HeaderValidationFlags(False, False, True, False)


def cases() -> dict[str, Callable[[], object]]:
    """name -> a callable doing one block's work."""
    found: dict[str, Callable[[], object]] = {}
    for label, request in (("h2load", H2LOAD), ("browser", BROWSER)):
        encoder = hpack.Encoder()
        first, repeat = encoder.encode(request), encoder.encode(request)
        for impl, module in (("hpack", hpack), ("fast", fast)):
            found[f"decode {label} first/{impl}"] = (
                lambda m=module, b=first: m.Decoder().decode(b, raw=True)
            )
            decoder = module.Decoder()
            decoder.decode(first, raw=True)
            found[f"decode {label} repeat/{impl}"] = (
                lambda d=decoder, b=repeat: d.decode(b, raw=True)
            )
        decoded = fast.Decoder().decode(first, raw=True)
        found[f"check request {label}/h2"] = lambda h=decoded: list(
            validate_headers(normalize_inbound_headers(h, REQUEST_FLAGS), REQUEST_FLAGS)
        )
        found[f"check request {label}/fast"] = lambda h=decoded: h2headers.check_request_headers(h)
    for impl, module in (("hpack", hpack), ("fast", fast)):
        found[f"encode response first/{impl}"] = lambda m=module: m.Encoder().encode(RESPONSE)
        encoder = module.Encoder()
        encoder.encode(RESPONSE)
        found[f"encode response repeat/{impl}"] = lambda e=encoder: e.encode(RESPONSE)
    found["check response/h2"] = lambda: list(
        validate_outbound_headers(
            normalize_outbound_headers(RESPONSE, RESPONSE_FLAGS), RESPONSE_FLAGS
        )
    )
    found["check response/fast"] = lambda: h2headers.check_response_headers(200, APP_RESPONSE)
    return found


def time_all() -> None:
    rows = []
    for name, call in cases().items():
        number = 20000
        best = min(timeit.repeat(call, number=number, repeat=7)) / number
        rows.append((name, best * 1e9))
    print(f"{'case':40} {'ns/block':>10}")
    for name, ns in rows:
        print(f"{name:40} {ns:10.0f}")


def count_instructions(name: str, n: int) -> int:
    out = tempfile.mktemp(prefix="callgrind.", dir=tempfile.gettempdir())
    try:
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, __file__, "--inner", name, str(n)],
            check=True, capture_output=True,
        )  # fmt: skip
        text = Path(out).read_text()
        match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        assert match, "no total in the callgrind output"
        return int(match.group(1))
    finally:
        if os.path.exists(out):
            os.unlink(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instructions", action="store_true", help="callgrind, not timeit")
    parser.add_argument("--inner", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, default=2000, help="blocks per callgrind run (N)")
    args = parser.parse_args()
    if args.inner:
        call = cases()[args.inner[0]]
        for _ in range(int(args.inner[1])):
            call()
        return
    if not args.instructions:
        time_all()
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    print(f"{'case':40} {'instr/block':>12}")
    for name in cases():
        once, twice = count_instructions(name, args.n), count_instructions(name, 2 * args.n)
        print(f"{name:40} {(twice - once) / args.n:12.0f}", flush=True)


if __name__ == "__main__":
    main()
