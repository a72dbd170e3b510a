"""Headless Chromium opens a WebSocket to fastcorn (ws:// and wss://, the ``tls`` marker)
on every backend: the page (tests/apps/websocket_apps.py, ``/page``) sends a text and a
binary message, and reports the echoes and the extensions Chromium negotiated
(permessage-deflate, which Chromium always offers). Over https the page comes over HTTP/2
and Chromium opens the WebSocket on that connection with extended CONNECT (RFC 8441),
which the access log shows; with --no-http2 it is an HTTP/1.1 Upgrade. Chromium is driven as in
test_browser.py (a fresh profile; over https the test CA is trusted through NSS, or the
server key pinned where certutil is missing)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_browser import CERTUTIL, CHROMIUM, dump_dom, nss_trust, pin, result_text

pytestmark = [pytest.mark.timeout(90)]
if CHROMIUM is None:
    pytestmark.append(pytest.mark.skip(
        reason="Chromium is not installed (apt-get install chromium)"))

APP = "tests.apps.websocket_apps:app"


def run_page(server: Any, tmp_path: Path) -> str:
    """Load /page in Chromium; the page's report line (its echoes and extensions)."""
    flags: list[str] = []
    if server.tls is not None:
        if CERTUTIL is not None:
            nss_trust(tmp_path, server.tls.ca_path)
        else:
            flags.append(f"--ignore-certificate-errors-spki-list={pin(server)}")
    for attempt in (1, 2):
        token = uuid.uuid4().hex
        mark = server.mark()
        dom = dump_dom(f"{server.url}/page?token={token}", tmp_path, *flags)
        try:
            line = server.wait_for_output("browser report: ", since=mark, timeout=20)
            break
        except AssertionError:
            # Known and open (see the session note, issue 11): on trio over https, about
            # one page in ten on a loaded machine never reports, with the WebSocket
            # upgraded (101) and no echo seen by the page; not reproduced with the
            # websockets library (300 wss echoes) nor with httpx over h2. One more page
            # load keeps CI honest about everything else; two in a row fail.
            if attempt == 2:
                raise
            print(f"no browser report on attempt 1:\n{server.output_since(mark)}")
    expected = f"text {token}|1,2,3,250 ext=permessage-deflate"
    # The browser's own report (sent by the page once both echoes arrived) is the proof;
    # the DOM is dumped when Chromium's virtual time runs out, which a loaded machine can
    # make come before the echoes, so it is only checked when it has the answer.
    assert line.split("browser report: ", 1)[1].startswith(expected), line
    text = result_text(dom)
    assert text in ("pending", None) or text.startswith(expected), dom[-2000:]
    return server.output_since(mark)


@pytest.mark.tls
def test_chromium_exchanges_messages(serve: Any, scheme: str, tmp_path: Path) -> None:
    server = serve(APP, "--log-level", "info")
    log = run_page(server, tmp_path)
    if scheme == "https":
        # The page came over HTTP/2 (ALPN), whose SETTINGS offer extended CONNECT: Chromium
        # opens the WebSocket on that connection (RFC 8441), not on a new HTTP/1.1 one.
        assert '"CONNECT /echo HTTP/2" 200' in log, log
        assert '"GET /echo HTTP/1.1" 101' not in log, log
    else:
        assert '"GET /echo HTTP/1.1" 101' in log, log  # cleartext: HTTP/1.1 Upgrade


@pytest.mark.tls
def test_chromium_wss_over_http11_without_http2(serve: Any, scheme: str,
                                                tmp_path: Path) -> None:
    if scheme == "http":
        pytest.skip("the cleartext page is HTTP/1.1 anyway (test_chromium_exchanges_messages)")
    server = serve(APP, "--log-level", "info", "--no-http2")
    log = run_page(server, tmp_path)
    assert '"GET /echo HTTP/1.1" 101' in log, log
