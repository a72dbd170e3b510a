"""A real browser against fastcorn: headless Chromium loads a page whose JavaScript
``fetch()``es a JSON endpoint and writes the answer into the DOM (tests/apps/browser.py),
over http and https (the ``tls`` marker), on every backend.

Over https Chromium trusts the session's test CA for real: a fresh HOME holds an NSS
database (``~/.pki/nssdb``, which Chromium on Linux reads) with the CA added by
``certutil``. Where ``certutil`` (Debian: libnss3-tools) is missing, the server's exact key
is pinned with ``--ignore-certificate-errors-spki-list`` instead. A control run with
neither shows the certificate is checked at all. Skipped, with the reason, where Chromium
is not installed (.ci/run installs it).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(90)]

APP = "tests.apps.browser:app"
CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)
CERTUTIL = shutil.which("certutil")
BROWSER_TIMEOUT = 60

if CHROMIUM is None:
    pytestmark.append(pytest.mark.skip(
        reason="Chromium is not installed (apt-get install chromium)"))


def _der_items(data: bytes) -> list[bytes]:
    """The encoded elements (tag, length and content) in a DER sequence's content."""
    items = []
    i = 0
    while i < len(data):
        length, header = data[i + 1], 2
        if length & 0x80:
            size = length & 0x7F
            length, header = int.from_bytes(data[i + 2:i + 2 + size], "big"), 2 + size
        items.append(data[i:i + header + length])
        i += header + length
    return items


def _der_content(item: bytes) -> bytes:
    """The content of one encoded element (past its tag and length)."""
    return item[2 + (item[1] & 0x7F if item[1] & 0x80 else 0):]


def spki_sha256(cert_pem: bytes) -> str:
    """Chromium's SPKI pin of the first certificate in ``cert_pem``: the base64 SHA-256 of
    its DER SubjectPublicKeyInfo (the element after the subject in the TBSCertificate)."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem.decode("ascii"))
    tbs = _der_items(_der_content(der))[0]
    fields = _der_items(_der_content(tbs))
    if fields[0][0] == 0xA0:  # [0] EXPLICIT version
        fields = fields[1:]
    # serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo
    return base64.b64encode(hashlib.sha256(fields[5]).digest()).decode()


def nss_trust(home: Path, ca_path: Path) -> None:
    """Make ``home``'s NSS database (the one Chromium reads) trust ``ca_path`` for TLS."""
    assert CERTUTIL is not None
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    for args in (["-N", "--empty-password"],
                 ["-A", "-t", "C,,", "-n", "fastcorn test CA", "-i", str(ca_path)]):
        done = subprocess.run([CERTUTIL, "-d", f"sql:{db}", *args],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"certutil {args}: {done.stdout}{done.stderr}"


def dump_dom(url: str, home: Path, *flags: str, virtual_time: bool = True) -> str:
    """Chromium's DOM of ``url`` once the page's fetch has settled, with HOME=``home``;
    without ``virtual_time``, at the page's load event (a page that talks over a WebSocket
    holds it: virtual time paused by a pending fetch can hold the WebSocket too)."""
    assert CHROMIUM is not None
    argv = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
        "--disable-extensions", "--disable-background-networking", "--disable-sync",
        f"--user-data-dir={home / 'profile'}",
        # Virtual time waits for pending network requests: the DOM is dumped after the
        # fetch settled, not at the load event.
        *(["--virtual-time-budget=10000"] if virtual_time else []),
        *flags, "--dump-dom", url,
    ]
    env = dict(os.environ, HOME=str(home))
    env.pop("DISPLAY", None)
    done = subprocess.run(argv, capture_output=True, text=True, env=env,
                          timeout=BROWSER_TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (
        f"chromium exited with {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return done.stdout


def result_text(dom: str) -> str | None:
    match = re.search(r'<p id="result">(.*?)</p>', dom, re.S)
    return match.group(1) if match else None


def open_page(server, home: Path, *flags: str) -> tuple[str, str]:
    """Chromium opens the page with a fresh token: (the expected result, the DOM)."""
    token = uuid.uuid4().hex
    dom = dump_dom(f"{server.url}/?token={token}", home, *flags)
    # Over https Chromium negotiates HTTP/2 by ALPN; over http it never tries h2c.
    version = "2" if server.scheme == "https" else "1.1"
    return f"reversed={token[::-1]} scheme={server.scheme} http={version}", dom


@pytest.mark.tls
def test_page_fetches_json_into_the_dom(serve, scheme, tmp_path):
    """Over https the test CA is trusted through NSS (the key pinned where certutil is
    missing)."""
    server = serve(APP, "--no-access-log")
    flags: list[str] = []
    if scheme == "https":
        if CERTUTIL is not None:
            nss_trust(tmp_path, server.tls.ca_path)
        else:
            flags.append(f"--ignore-certificate-errors-spki-list={pin(server)}")
    expected, dom = open_page(server, tmp_path, *flags)
    assert result_text(dom) == expected, dom[-3000:]


def pin(server) -> str:
    return spki_sha256(server.tls.cert_path.read_bytes())


HTTPS_ONLY = pytest.mark.parametrize("scheme", ["https"], indirect=True)


@HTTPS_ONLY
def test_pinned_key_is_accepted(serve, scheme, tmp_path):
    """The fallback without certutil: the server's exact key pinned, no CA trusted."""
    server = serve(APP, "--no-access-log")
    expected, dom = open_page(server, tmp_path,
                              f"--ignore-certificate-errors-spki-list={pin(server)}")
    assert result_text(dom) == expected, dom[-3000:]


@HTTPS_ONLY
def test_untrusted_certificate_is_refused(serve, scheme, tmp_path):
    """The control: with neither the CA trusted nor the key pinned, the page never loads."""
    server = serve(APP, "--no-access-log")
    expected, dom = open_page(server, tmp_path)
    assert expected.split()[0] not in dom, dom[-3000:]
    assert result_text(dom) is None, dom[-3000:]  # Chromium's error page, not ours


@pytest.mark.tls
def test_fifty_parallel_fetches_and_a_streamed_response(serve, scheme, tmp_path):
    """Over https Chromium negotiates HTTP/2 by ALPN: the 50 fetches are 50 streams on one
    connection and the streamed response arrives as DATA frames; over http (Chromium never
    tries h2c) the same page runs on HTTP/1.1 connections."""
    server = serve(APP, "--no-access-log")
    flags: list[str] = []
    if scheme == "https":
        if CERTUTIL is not None:
            nss_trust(tmp_path, server.tls.ca_path)
        else:
            flags.append(f"--ignore-certificate-errors-spki-list={pin(server)}")
    version = "2" if scheme == "https" else "1.1"
    expected = f"good=50 versions={version} streamed=one;two;three;four;five"
    token = uuid.uuid4().hex
    dom = dump_dom(f"{server.url}/parallel?token={token}", tmp_path, *flags)
    assert result_text(dom) == expected, (progress_text(dom), dom[-3000:])


def progress_text(dom: str) -> str | None:
    match = re.search(r'<p id="progress">(.*?)</p>', dom, re.S)
    return match.group(1) if match else None
