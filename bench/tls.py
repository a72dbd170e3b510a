"""The certificate the TLS scenarios are served with, and the client side of the checks.

One self-signed ECDSA P-256 certificate for 127.0.0.1 (the common choice for new sites; an
RSA-2048 handshake costs the server several times more), made with the ``openssl`` command
at the start of a run in the snapshot directory the servers run from, so every server
command names the same relative paths. wrk does not verify certificates; the answer checks
do, against this certificate, and record the TLS version and cipher each server negotiated
with them (OpenSSL's defaults, as wrk's).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

CERT = "tls/cert.pem"  # relative to the directory servers run in (servers.snapshot)
KEY = "tls/key.pem"  # PKCS#8, which granian requires
ABOUT = "self-signed ECDSA P-256 certificate for 127.0.0.1 (openssl req -x509)"


def make_certificate(workdir: Path) -> Path:
    """Write ``CERT`` and ``KEY`` under ``workdir``; returns the certificate's path."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed (apt-get install openssl)")
    cert, key = workdir / CERT, workdir / KEY
    cert.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert


def client_context(cert: Path, alpn: list[str] | None = None) -> ssl.SSLContext:
    """Trusts ``cert`` (self-signed) and nothing else; the host name is checked. No ALPN
    offered unless ``alpn`` (as by wrk; h2load offers h2)."""
    context = ssl.create_default_context(cafile=str(cert))
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def wrap(
    sock: socket.socket, cert: Path, host: str, alpn: list[str] | None = None
) -> ssl.SSLSocket:
    return client_context(cert, alpn).wrap_socket(sock, server_hostname=host)


def session(host: str, port: int, cert: Path, timeout: float = 5.0) -> str:
    """The TLS version and cipher a server negotiates with OpenSSL's client defaults (or
    what went wrong: this only describes, it never stops a run)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with wrap(raw, cert, host) as sock:
                cipher = sock.cipher()
                return f"{sock.version()} {cipher[0] if cipher else '?'}"
    except (OSError, ssl.SSLError) as exc:
        return f"unknown ({type(exc).__name__}: {exc})"
