"""256 MiB through the server both ways, with the server's memory bounded (back-pressure)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.rawhttp import Connection, RssSampler, read_head, request

pytestmark = pytest.mark.timeout(40)

# Over https (the scheme fixture, tests/conftest.py) one framing each way, not all four:
# TLS changes how the bytes are buffered on the way to the socket, not the framing, and each
# 256 MiB run over TLS costs ~5 s of CI time per backend.
UPLOADS = [("http", "chunked"), ("http", "content-length"), ("https", "chunked")]
DOWNLOADS = [("http", "0"), ("http", "1"), ("https", "1")]

SIZE = 256 * 1024 * 1024
PIECE = b"u" * (256 * 1024)
RSS_ALLOWANCE = 100 * 1024 * 1024
MiB = 1024 * 1024


def upload_chunks():
    for _ in range(SIZE // len(PIECE)):
        yield PIECE


def assert_bounded(sampler: RssSampler, idle: int) -> None:
    assert sampler.peak, "no RSS sample was taken"
    assert sampler.peak - idle < RSS_ALLOWANCE, (
        f"server RSS grew by {(sampler.peak - idle) / MiB:.0f} MiB "
        f"(idle {idle / MiB:.0f} MiB, peak {sampler.peak / MiB:.0f} MiB)")


@pytest.mark.parametrize(("scheme", "framing"), UPLOADS, indirect=["scheme"])
def test_upload_256_mib_to_a_slow_reader(basic_server, scheme, framing):
    idle = basic_server.rss()
    headers = {"content-length": str(SIZE)} if framing == "content-length" else {}
    started = time.monotonic()
    with RssSampler(basic_server) as sampler, \
            httpx.Client(timeout=30, verify=basic_server.verify) as client:
        # The app sleeps 50 ms per message for its first 2 s: the client must be held back.
        response = client.post(basic_server.url + "/count", params={"slow": "2"},
                               content=upload_chunks(), headers=headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["bytes"] == SIZE
    assert_bounded(sampler, idle)
    assert elapsed < 20, f"the upload took {elapsed:.1f}s"


@pytest.mark.parametrize(("scheme", "length"), DOWNLOADS, indirect=["scheme"],
                         ids=[f"{s}-{'chunked' if n == '0' else 'content-length'}"
                              for s, n in DOWNLOADS])
def test_download_256_mib_to_a_slow_reader(basic_server, scheme, length):
    idle = basic_server.rss()
    started = time.monotonic()
    received = 0
    with RssSampler(basic_server) as sampler, Connection(basic_server, timeout=30) as conn:
        conn.send(request("GET", f"/download?size={SIZE}&length={length}"))
        _, status, headers = read_head(conn.reader)
        assert status == 200
        if length == "1":
            assert dict(headers)["content-length"] == str(SIZE)
        else:
            assert dict(headers)["transfer-encoding"] == "chunked"
        # Read slowly for a while: 64 KiB every 20 ms for ~2 s, then as fast as possible.
        slow_until = time.monotonic() + 2
        while time.monotonic() < slow_until:
            received += len(conn.reader.read1(65536))
            time.sleep(0.02)
        while True:
            data = conn.reader.read1(1024 * 1024)
            if not data:
                break
            received += len(data)
            if length == "1" and received >= SIZE:
                break
            if length == "0" and data.endswith(b"\r\n0\r\n\r\n"):
                break
    elapsed = time.monotonic() - started
    if length == "1":
        assert received == SIZE
    else:
        # the chunk framing adds ~10 bytes per 64 KiB chunk
        assert SIZE < received < SIZE * 1.001
    assert_bounded(sampler, idle)
    assert elapsed < 20, f"the download took {elapsed:.1f}s"


ONE_BODY = 50 * MiB
# The body itself, made by the app, is 50 MiB of the growth; the rest is the transport's and
# the kernel's buffers. A copy of the body (into the head's buffer, a transport's buffer or
# a chunk) would make it 100.
ONE_BODY_ALLOWANCE = 75 * MiB


@pytest.mark.tls
@pytest.mark.parametrize("length", ["1", "0"], ids=["content-length", "chunked"])
def test_one_large_body_to_a_slow_reader_is_not_copied(basic_server, scheme, length):
    """A single 50 MiB http.response.body to a client that reads slowly costs the server
    about the body itself, not twice that (issue 14)."""
    with Connection(basic_server, timeout=30) as conn:
        conn.get("/")  # the connection (and a TLS session) set up before the baseline
        idle = basic_server.rss()
        with RssSampler(basic_server) as sampler:
            conn.send(request("GET", f"/one-body?size={ONE_BODY}&length={length}"))
            _, status, headers = read_head(conn.reader)
            assert status == 200
            framing = "content-length" if length == "1" else "transfer-encoding"
            assert framing in dict(headers), headers
            received = 0
            tail = b""  # the last bytes read, whatever the reads' boundaries
            slow_until = time.monotonic() + 1.5
            while time.monotonic() < slow_until:  # the body sits in the server meanwhile
                data = conn.reader.read1(65536)
                received += len(data)
                tail = (tail + data)[-7:]
                time.sleep(0.02)
            while not (received >= ONE_BODY if length == "1" else tail == b"\r\n0\r\n\r\n"):
                data = conn.reader.read1(1024 * 1024)
                assert data, f"the body ended after {received} bytes"
                received += len(data)
                tail = (tail + data)[-7:]
    if length == "1":
        assert received == ONE_BODY
    else:
        assert ONE_BODY < received < ONE_BODY + 100
    assert sampler.peak - idle < ONE_BODY_ALLOWANCE, (
        f"server RSS grew by {(sampler.peak - idle) / MiB:.0f} MiB for a "
        f"{ONE_BODY // MiB} MiB body")
