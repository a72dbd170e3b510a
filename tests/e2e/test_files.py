"""Files as response bodies: ASGI pathsend and zerocopysend, on every backend, over http
and https, HTTP/1.1 and (over TLS, by ALPN) HTTP/2, with Starlette's FileResponse and raw
ASGI apps (tests.apps.files).

Which way the bytes went is observed, not assumed: the app wraps ``os.sendfile`` and
``/stats`` counts what went through it. Plain HTTP/1.1 must use it (zero-copy); TLS and
HTTP/2 must not (the kernel cannot encrypt or frame) and read the file in bounded pieces
instead, paced by the client: a slow reader of a large file costs the server about one
piece plus its transport buffer, never the file.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.rawhttp import Connection, RssSampler, connect, request

pytestmark = pytest.mark.tls

APP = "tests.apps.files:app"
MiB = 1024 * 1024
SMALL = 3 * MiB + 12345  # more than one read-and-send piece, not a round number


def pattern(size: int) -> bytes:
    block = hashlib.sha256(b"fastcorn").digest() * 2048  # 64 KiB that do not repeat inside
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("files")
    (directory / "small.bin").write_bytes(pattern(SMALL))
    (directory / "empty.bin").write_bytes(b"")
    with open(directory / "large.bin", "wb") as fh:
        block = pattern(4 * MiB)
        for _ in range(16):  # 64 MiB
            fh.write(block)
    return directory


@pytest.fixture
def server(serve, files):
    return serve(APP, "--no-access-log", env={"FASTCORN_TEST_FILES": str(files)})


def client(server, http2: bool = False) -> httpx.Client:
    return httpx.Client(base_url=server.url, verify=server.verify, http2=http2, timeout=30)


def versions(scheme: str) -> list[bool]:
    """HTTP/2 with httpx needs ALPN: over TLS only."""
    return [False, True] if scheme == "https" else [False]


def sendfile_bytes(server) -> int:
    with client(server) as c:
        return int(c.get("/stats").json()["sendfile_bytes"])


def test_both_extensions_are_advertised(server, scheme):
    for http2 in versions(scheme):
        with client(server, http2) as c:
            response = c.get("/raw/scope")
            assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
            extensions = response.json()
            assert "http.response.pathsend" in extensions
            assert "http.response.zerocopysend" in extensions
            assert ("tls" in extensions) == (scheme == "https")


def test_starlette_file_response(server, scheme, files):
    expected = (files / "small.bin").read_bytes()
    for http2 in versions(scheme):
        before = sendfile_bytes(server)
        with client(server, http2) as c:
            for _ in range(3):  # keep-alive: the framing left the connection usable
                response = c.get("/static/small.bin")
                assert response.status_code == 200
                assert response.headers["content-length"] == str(SMALL)
                assert "transfer-encoding" not in response.headers
                assert response.content == expected
            assert c.get("/raw/scope").status_code == 200
        zero_copy = sendfile_bytes(server) - before
        if scheme == "http" and not http2:
            assert zero_copy == 3 * SMALL
        else:
            assert zero_copy == 0


def test_starlette_ranges(server, scheme, files):
    """Starlette answers ranges itself, with http.response.body: they keep working."""
    expected = (files / "small.bin").read_bytes()
    for http2 in versions(scheme):
        with client(server, http2) as c:
            response = c.get("/static/small.bin", headers={"Range": "bytes=1000-1999"})
            assert response.status_code == 206
            assert response.headers["content-range"] == f"bytes 1000-1999/{SMALL}"
            assert response.content == expected[1000:2000]
            response = c.get("/static/small.bin", headers={"Range": f"bytes=-{MiB}"})
            assert response.status_code == 206
            assert response.content == expected[-MiB:]
            response = c.get("/static/small.bin", headers={"Range": "bytes=0-9,100-109"})
            assert response.status_code == 206
            assert response.headers["content-type"].startswith("multipart/byteranges")
            assert expected[0:10] in response.content
            assert expected[100:110] in response.content


def test_starlette_head(server, scheme):
    for http2 in versions(scheme):
        with client(server, http2) as c:
            response = c.head("/static/small.bin")
            assert response.status_code == 200
            assert response.headers["content-length"] == str(SMALL)
            assert response.content == b""
            assert c.get("/raw/scope").status_code == 200  # the connection is still sound


def test_raw_pathsend_gets_the_file_length(server, scheme, files):
    """pathsend after a start without content-length: the server adds it (HTTP/1.1 then
    needs no chunked coding and can use sendfile)."""
    expected = (files / "small.bin").read_bytes()
    for http2 in versions(scheme):
        with client(server, http2) as c:
            response = c.get("/raw/pathsend", params={"name": "small.bin"})
            assert response.headers["content-length"] == str(SMALL)
            assert "transfer-encoding" not in response.headers
            assert response.content == expected
            empty = c.get("/raw/pathsend", params={"name": "empty.bin"})
            assert empty.headers["content-length"] == "0"
            assert empty.content == b""


def test_raw_pathsend_head_sends_no_body(server):
    with Connection(server) as conn:
        conn.send(request("HEAD", "/raw/pathsend?name=small.bin"))
        response = conn.response("HEAD")
        assert response.header("content-length") == str(SMALL)
        # The next response follows at once: nothing of the file was written.
        assert conn.get("/raw/scope").status == 200


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_zerocopysend_mixed_with_body(server, scheme, files, length):
    expected = (files / "small.bin").read_bytes()
    offset, count = 4097, 2 * MiB + 3
    params = {"name": "small.bin", "offset": offset, "count": count}
    if length:
        params["length"] = 1
    for http2 in versions(scheme):
        before = sendfile_bytes(server)
        with client(server, http2) as c:
            response = c.get("/raw/zerocopy", params=params)
            assert response.content == b"<" + expected[offset:offset + count] + b">"
            if not http2:
                assert ("transfer-encoding" in response.headers) == (not length)
        zero_copy = sendfile_bytes(server) - before
        # Only identity framing on plain TCP goes by sendfile; chunked coding is read.
        assert zero_copy == (count if scheme == "http" and length and not http2 else 0)


def test_zerocopysend_reads_on_from_the_descriptor_position(server, scheme, files):
    expected = (files / "small.bin").read_bytes()
    for http2 in versions(scheme):
        with client(server, http2) as c:
            assert c.get("/raw/position", params={"name": "small.bin"}).content == \
                expected[10:210]


def test_missing_file_is_a_500_and_the_server_goes_on(server, scheme):
    for http2 in versions(scheme):
        with client(server, http2) as c:
            assert c.get("/raw/missing").status_code == 500
            assert c.get("/raw/scope").status_code == 200


def test_curl_downloads_the_large_file(server, files, tmp_path):
    """A whole 64 MiB file through a real client, checked byte for byte."""
    out = tmp_path / "out.bin"
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "60", *server.curl_args, "-o", str(out),
         f"{server.url}/static/large.bin"], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    assert os.path.getsize(out) == 64 * MiB
    assert hash_file(out) == hash_file(files / "large.bin")


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def small_window_connection(server) -> socket.socket:
    """A connection whose receive buffer is small from the start (set after the connect,
    the window shrinks and the kernel crawls on with zero-window probes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(30)
    sock.connect((server.host, server.port))
    if server.tls is None:
        return sock
    return server.tls.client_context().wrap_socket(sock, server_hostname=server.host)


def test_slow_reader_of_a_large_file_holds_little_memory(server, files):
    """64 MiB to a client that reads slowly: the server holds a bounded amount (over TLS,
    a read piece plus its transport buffer; in cleartext, the kernel's socket buffer)."""
    expected = hash_file(files / "large.bin")
    with small_window_connection(server) as sock, sock.makefile("rb") as reader:
        base = server.rss()
        sock.sendall(request("GET", "/static/large.bin"))
        with RssSampler(server) as sampler:
            digest = hashlib.sha256()
            status_line = reader.readline()
            assert status_line.startswith(b"HTTP/1.1 200"), status_line
            while reader.readline() != b"\r\n":
                pass
            received = 0
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # slowly: 256 KiB every 50 ms
                data = reader.read(256 * 1024)
                digest.update(data)
                received += len(data)
                time.sleep(0.05)
            while received < 64 * MiB:  # then the rest at full speed
                data = reader.read(min(MiB, 64 * MiB - received))
                assert data, f"the body ended after {received} bytes"
                digest.update(data)
                received += len(data)
        assert digest.hexdigest() == expected
    assert sampler.peak - base < 24 * MiB, (base, sampler.peak)


def test_slow_http2_reader_of_a_large_file_holds_little_memory(server, scheme, files):
    if scheme != "https":
        pytest.skip("HTTP/2 with httpx needs TLS (ALPN)")
    expected = hash_file(files / "large.bin")
    with client(server, http2=True) as c:
        c.get("/raw/scope")
        base = server.rss()
        with RssSampler(server) as sampler, c.stream("GET", "/static/large.bin") as response:
            assert response.http_version == "HTTP/2"
            digest = hashlib.sha256()
            deadline = time.monotonic() + 3
            for chunk in response.iter_bytes():
                digest.update(chunk)
                if time.monotonic() < deadline:
                    time.sleep(0.01)
        assert digest.hexdigest() == expected
    assert sampler.peak - base < 24 * MiB, (base, sampler.peak)


def test_write_timeout_cuts_a_stalled_file_transfer(serve, files, scheme):
    """A client that stops reading a file is cut after --timeout-write, on the sendfile
    way as on the read-and-send way, and the server answers others meanwhile."""
    server = serve(APP, "--no-access-log", "--timeout-write", "2",
                   env={"FASTCORN_TEST_FILES": str(files)})
    with small_window_connection(server) as sock:
        sock.sendall(request("GET", "/static/large.bin"))
        time.sleep(0.5)
        with client(server) as c:  # another client is served while this one stalls
            assert c.get("/raw/scope").status_code == 200
        time.sleep(4.5)  # the timeout, its once-a-second check, and the sender's re-check
        started = time.monotonic()
        received = 0
        try:
            while data := sock.recv(MiB):
                received += len(data)
        except (ConnectionResetError, OSError):
            pass
        assert received < 64 * MiB, "the stalled transfer was not cut"
        assert time.monotonic() - started < 10
    with client(server) as c:
        assert c.get("/raw/scope").status_code == 200


def test_a_client_that_leaves_mid_file_does_not_disturb_the_server(server, files):
    for _ in range(3):
        with connect(server) as sock, sock.makefile("rb") as reader:
            sock.sendall(request("GET", "/static/large.bin"))
            reader.readline()
            reader.read(MiB)
    with Connection(server) as conn:
        response = conn.get("/static/small.bin")
        assert response.body == (files / "small.bin").read_bytes()
