"""Real nginx and HAProxy in front of fastcorn, for the e2e tests of proxy headers and the
PROXY protocol; and a raw client that can pick its source address.

Each proxy runs from a config generated into a tmp directory, in the foreground, on
127.0.0.1 ports picked free just before; it is stopped by PID. A missing binary skips the
test with its name. The client connects from 127.0.0.2 by default (Linux routes all of
127.0.0.0/8 to loopback), so the real client's address is not the proxy's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLIENT_ADDRESS = "127.0.0.2"
STARTUP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.path.exists(p)), None)
    if path is None:
        pytest.skip(f"{name} is not installed (the e2e proxy tests need the real {name})")
    return path


@dataclass
class ProxyProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int]

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)


def _wait_listening(proxy: ProxyProcess) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    pending = set(proxy.ports.values())
    while pending and time.monotonic() < deadline:
        if proxy.proc.poll() is not None:
            break
        for port in list(pending):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                pending.discard(port)
            except OSError:
                pass
        if pending:
            time.sleep(0.05)
    if pending:
        proxy.stop()
        pytest.fail(f"{proxy.name} did not listen on {sorted(pending)}:\n{proxy.output()}",
                    pytrace=False)


def start(name: str, argv: list[str], directory: Path, ports: dict[str, int]) -> ProxyProcess:
    log = directory / f"{name}.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=directory, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    proxy = ProxyProcess(name, proc, log, ports)
    _wait_listening(proxy)
    return proxy


def start_nginx(directory: Path, upstream: str, cert: Path, key: Path,
                locations: str = "") -> ProxyProcess:
    """nginx with a cleartext and a TLS listener proxying to ``upstream`` (``HOST:PORT`` or
    ``unix:PATH``) the way its documentation recommends: an HTTP/1.1 keep-alive upstream,
    X-Forwarded-For appended, X-Forwarded-Proto/-Host/-Port set, WebSocket upgrades passed."""
    nginx = binary("nginx")
    directory.mkdir(parents=True, exist_ok=True)
    ports = {"http": free_port(), "https": free_port()}
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach our tmp files
    temp = "\n".join(f"  {kind}_temp_path {directory}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = f"""
{user}
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 128; }}
http {{
  access_log off;
{temp}
  upstream fastcorn {{ server {upstream}; keepalive 8; }}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  server {{
    listen 127.0.0.1:{ports["http"]};
    listen 127.0.0.1:{ports["https"]} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{
      proxy_pass http://fastcorn;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Port $server_port;
    }}
{locations}
  }}
}}
"""
    path = directory / "nginx.conf"
    path.write_text(config)
    return start("nginx", [nginx, "-e", str(directory / "stderr.log"), "-p", str(directory),
                           "-c", str(path)], directory, ports)


HAPROXY_DEFAULTS = """
global
  maxconn 256
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
"""


def run_haproxy(directory: Path, sections: str, ports: dict[str, int]) -> ProxyProcess:
    """HAProxy with ``sections`` (frontends and backends) after the test defaults: the
    config checked with ``haproxy -c`` first (a mistake fails the test with HAProxy's
    words), then run in the foreground."""
    haproxy = binary("haproxy")
    directory.mkdir(parents=True, exist_ok=True)
    config = HAPROXY_DEFAULTS + sections
    path = directory / "haproxy.cfg"
    path.write_text(config)
    check = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True)
    if check.returncode != 0:
        pytest.fail(f"haproxy rejected its test config:\n{check.stdout}{check.stderr}")
    return start("haproxy", [haproxy, "-db", "-f", str(path)], directory, ports)


def start_haproxy(directory: Path, http_upstream: int, proxy_upstream: int,
                  pem: Path) -> ProxyProcess:
    """HAProxy with four frontends: ``http`` (mode http, ``option forwardfor``) in front of
    the plain server on ``http_upstream``; ``v1`` and ``v2`` (mode tcp, ``send-proxy`` and
    ``send-proxy-v2`` with a CRC32C checksum) and ``tls`` (TLS terminated by HAProxy,
    ``send-proxy-v2-ssl-cn``) in front of the --proxy-protocol server on
    ``proxy_upstream``."""
    ports = {"http": free_port(), "v1": free_port(), "v2": free_port(), "tls": free_port()}
    sections = f"""
frontend http
  mode http
  bind 127.0.0.1:{ports["http"]}
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  default_backend plain
backend plain
  mode http
  server app 127.0.0.1:{http_upstream}
frontend v1
  mode tcp
  bind 127.0.0.1:{ports["v1"]}
  default_backend proxy_v1
backend proxy_v1
  mode tcp
  server app 127.0.0.1:{proxy_upstream} send-proxy
frontend v2
  mode tcp
  bind 127.0.0.1:{ports["v2"]}
  default_backend proxy_v2
backend proxy_v2
  mode tcp
  server app 127.0.0.1:{proxy_upstream} send-proxy-v2 proxy-v2-options crc32c
frontend tls
  mode tcp
  bind 127.0.0.1:{ports["tls"]} ssl crt {pem}
  default_backend proxy_v2_ssl
backend proxy_v2_ssl
  mode tcp
  server app 127.0.0.1:{proxy_upstream} send-proxy-v2-ssl-cn proxy-v2-options crc32c
"""
    return run_haproxy(directory, sections, ports)


def start_haproxy_to_tls(directory: Path, tls_upstream: int) -> ProxyProcess:
    """HAProxy in front of a TLS --proxy-protocol server on ``tls_upstream``, three ways:
    ``reencrypt_v1`` and ``reencrypt_v2`` (mode http: HAProxy takes the client's plain
    HTTP and opens its own TLS to fastcorn, ``ssl verify none`` with ``send-proxy`` or
    ``send-proxy-v2``), and ``passthrough`` (mode tcp, ``send-proxy-v2``: the client's
    own TLS goes through to fastcorn untouched, ALPN included)."""
    ports = {"reencrypt_v1": free_port(), "reencrypt_v2": free_port(),
             "passthrough": free_port()}
    sections = f"""
frontend reencrypt_v1
  mode http
  bind 127.0.0.1:{ports["reencrypt_v1"]}
  default_backend tls_v1
backend tls_v1
  mode http
  server app 127.0.0.1:{tls_upstream} ssl verify none send-proxy
frontend reencrypt_v2
  mode http
  bind 127.0.0.1:{ports["reencrypt_v2"]}
  default_backend tls_v2
backend tls_v2
  mode http
  server app 127.0.0.1:{tls_upstream} ssl verify none send-proxy-v2
frontend passthrough
  mode tcp
  bind 127.0.0.1:{ports["passthrough"]}
  default_backend tls_passthrough
backend tls_passthrough
  mode tcp
  server app 127.0.0.1:{tls_upstream} send-proxy-v2
"""
    return run_haproxy(directory, sections, ports)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    local: tuple[str, int]  # the client's own address, as the proxy saw it

    def json(self) -> Any:
        return json.loads(self.body)


def get(port: int, path: str = "/", headers: dict[str, str] | None = None, *,
        tls: ssl.SSLContext | None = None, source: str = CLIENT_ADDRESS,
        preamble: bytes = b"", host: str = "localhost") -> Answer:
    """One request on its own connection (``connection: close``), from ``source``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    local = sock.getsockname()
    conn: socket.socket = sock
    try:
        if tls is not None:
            conn = tls.wrap_socket(sock, server_hostname=host)
        fields = {"host": host, "connection": "close", **(headers or {})}
        head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        conn.sendall(preamble + head.encode("latin-1") + b"\r\n")
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        conn.close()
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    if not lines[0]:
        return Answer(0, {}, b"", local)
    status = int(lines[0].split()[1])
    parsed = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return Answer(status, {k.lower(): v for k, v in parsed.items()}, body, local)
