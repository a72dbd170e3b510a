"""The ``--ssl-*`` options: a bad certificate, key, password or CA file is one line naming
the option and the file, exit status 2, before anything binds (the port in use is never
reported); the Python API raises ConfigError with the same line."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

import fastcorn
from fastcorn.backends.tls import tls_listener
from fastcorn.config import Config, ConfigError

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    other = ca.issue_cert("127.0.0.1")
    paths = {name: directory / f"{name}.pem" for name in
             ("ca", "cert", "key", "other_key", "encrypted_key", "garbage", "combined")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    leaf.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    other.private_key_pem.write_to_path(str(paths["other_key"]))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(paths["combined"]))
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    paths["encrypted_key"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    paths["garbage"].write_text("not a certificate\n")
    paths["missing"] = directory / "missing.pem"
    return paths


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port already listened on: a server that got as far as binding would fail with 1."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def run_fastcorn(*args: str, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastcorn", "tests.apps.basic:app", "--loop", "asyncio",
         "--port", str(port), *args],
        cwd=REPO, capture_output=True, text=True, timeout=30)


CASES = [
    # (arguments by file name, the flag the line names, the file it names)
    (["--ssl-certfile", "missing", "--ssl-keyfile", "key"], "--ssl-certfile", "missing"),
    (["--ssl-certfile", "garbage", "--ssl-keyfile", "key"], "--ssl-certfile", "garbage"),
    (["--ssl-certfile", "cert", "--ssl-keyfile", "missing"], "--ssl-keyfile", "missing"),
    (["--ssl-certfile", "cert", "--ssl-keyfile", "garbage"], "--ssl-keyfile", "garbage"),
    (["--ssl-certfile", "cert", "--ssl-keyfile", "other_key"], "--ssl-keyfile", "other_key"),
    (["--ssl-certfile", "cert", "--ssl-keyfile", "encrypted_key"], "--ssl-keyfile",
     "encrypted_key"),
    (["--ssl-certfile", "cert", "--ssl-keyfile", "encrypted_key",
      "--ssl-keyfile-password", "wrong"], "--ssl-keyfile-password", "encrypted_key"),
    (["--ssl-keyfile", "key"], "--ssl-keyfile", "key"),
    (["--ssl-certfile", "cert", "--ssl-keyfile", "key", "--ssl-ca-certs", "missing"],
     "--ssl-ca-certs", "missing"),
    (["--ssl-certfile", "cert", "--ssl-keyfile", "key", "--ssl-ca-certs", "garbage"],
     "--ssl-ca-certs", "garbage"),
]


@pytest.mark.parametrize(("args", "flag", "named"), CASES,
                         ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_bad_tls_files_are_one_line_and_exit_2(
        files: dict[str, Path], busy_port: int, args: list[str], flag: str,
        named: str) -> None:
    argv = [str(files[a]) if a in files else a for a in args]
    result = run_fastcorn(*argv, port=busy_port)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"fastcorn: error: {flag}: "), lines
    assert str(files[named]) in lines[0], lines


def test_cert_reqs_needs_ca_certs(files: dict[str, Path], busy_port: int) -> None:
    result = run_fastcorn("--ssl-certfile", str(files["cert"]), "--ssl-keyfile",
                          str(files["key"]), "--ssl-cert-reqs", "required", port=busy_port)
    assert result.returncode == 2
    assert result.stderr.startswith("fastcorn: error: --ssl-cert-reqs: required needs "
                                    "--ssl-ca-certs"), result.stderr


@pytest.mark.parametrize(("flag", "value"), [("--ssl-cert-reqs", "sometimes"),
                                             ("--ssl-min-version", "TLSv1.1"),
                                             ("--ssl-handshake-timeout", "0")])
def test_bad_values(busy_port: int, flag: str, value: str) -> None:
    result = run_fastcorn(flag, value, port=busy_port)
    assert result.returncode == 2
    assert result.stderr.startswith(f"fastcorn: error: {flag}: "), result.stderr


def test_good_files_load(files: dict[str, Path]) -> None:
    for options in ({"ssl_certfile": str(files["combined"])},
                    {"ssl_certfile": str(files["cert"]), "ssl_keyfile": str(files["key"])},
                    {"ssl_certfile": str(files["cert"]),
                     "ssl_keyfile": str(files["encrypted_key"]),
                     "ssl_keyfile_password": "s3cret", "ssl_ca_certs": str(files["ca"]),
                     "ssl_cert_reqs": "optional", "ssl_min_version": "TLSv1.3",
                     "ssl_ciphers": "ECDHE+AESGCM"}):
        listener = tls_listener(Config(**options).tls)
        assert listener is not None
        context = listener.context
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert context.options & ssl.OP_NO_COMPRESSION
        assert listener.current is context
    assert tls_listener(Config().tls) is None


def test_python_api_raises_config_error(files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="--ssl-keyfile: .*does not match"):
        fastcorn.run("tests.apps.basic:app", port=0, ssl_certfile=str(files["cert"]),
                     ssl_keyfile=str(files["other_key"]))
