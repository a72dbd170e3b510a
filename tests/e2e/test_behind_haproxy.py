"""fastcorn behind Debian's real HAProxy, on every backend: ``option forwardfor`` in HTTP
mode, and the PROXY protocol from ``send-proxy`` (v1), ``send-proxy-v2`` with a CRC32C
checksum, and ``send-proxy-v2-ssl-cn`` behind TLS that HAProxy terminates (the SSL TLV
makes the scheme https). The client connects from 127.0.0.2, with a port the app must see
too: the PROXY header carries it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.proxies import CLIENT_ADDRESS, ProxyProcess, get, start_haproxy

APP = "tests.apps.proxied:app"


@pytest.fixture
def haproxy(serve, tls_certs, tmp_path: Path) -> Iterator[tuple[ProxyProcess, Any, Any]]:
    plain = serve(APP, tls=None)
    proxied = serve(APP, "--proxy-protocol", tls=None)
    pem = tmp_path / "haproxy.pem"
    pem.write_bytes(tls_certs.cert_path.read_bytes() + tls_certs.key_path.read_bytes())
    proxy = start_haproxy(tmp_path / "haproxy", plain.port, proxied.port, pem)
    yield proxy, plain, proxied
    proxy.stop()


def test_http_mode_forwardfor(haproxy) -> None:
    proxy, plain, _ = haproxy
    answer = get(proxy.ports["http"], "/", {"x-forwarded-for": "6.6.6.6"})
    assert answer.status == 200, proxy.output()
    seen = answer.json()
    assert seen["client"] == [CLIENT_ADDRESS, 0] and seen["scheme"] == "http"


@pytest.mark.parametrize("frontend", ["v1", "v2"])
def test_send_proxy_gives_the_client_address_and_port(haproxy, frontend: str) -> None:
    proxy, _, proxied = haproxy
    answer = get(proxy.ports[frontend], "/", {"x-forwarded-for": "6.6.6.6"})
    assert answer.status == 200, proxy.output() + proxied.stderr
    seen = answer.json()
    assert seen["client"] == [CLIENT_ADDRESS, answer.local[1]]
    assert seen["server"] == ["127.0.0.1", proxy.ports[frontend]]
    assert seen["scheme"] == "http"


def test_send_proxy_v2_ssl_behind_haproxy_tls(haproxy, tls_certs) -> None:
    proxy, _, proxied = haproxy
    answer = get(proxy.ports["tls"], "/", tls=tls_certs.client_context())
    assert answer.status == 200, proxy.output() + proxied.stderr
    seen = answer.json()
    assert seen["client"] == [CLIENT_ADDRESS, answer.local[1]]
    assert seen["scheme"] == "https"
    proxied.wait_for_output(rf'^127\.0\.0\.2:{answer.local[1]} - "GET / HTTP/1\.1" 200')
