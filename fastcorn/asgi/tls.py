"""The ASGI ``tls`` extension of a TLS connection's scopes, built once per connection.

From the connection's ``ssl.SSLObject`` (asyncio and uvloop give it as the transport's
``ssl_object`` extra info; the trio transport too). The server certificate's PEM text is
not on the SSLObject: the backends put it on the context they build, under
:data:`SERVER_CERT_ATTR`.
"""

from __future__ import annotations

import ssl
from typing import Any

# The attribute of a server context holding the PEM of the certificate it sends
# (fastcorn.backends.tls sets it; the same name there).
SERVER_CERT_ATTR = "fastcorn_server_cert"

TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

# OpenSSL's attribute names (as getpeercert() spells them) -> RFC 4514 short names.
_SHORT_NAMES = {
    "commonName": "CN", "localityName": "L", "stateOrProvinceName": "ST",
    "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
    "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID",
}

# cipher name -> IANA id, filled from each context's get_ciphers() as names are met.
_CIPHER_IDS: dict[str, int] = {}


def _escape(value: str) -> str:
    """An RFC 4514 attribute value: specials escaped, leading '#'/space, trailing space."""
    out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and len(out) > 1:
        out = out[:-1] + "\\ "
    return out.replace("\x00", "\\00")


def rfc4514_name(subject: Any) -> str:
    """getpeercert()'s subject (RDNs, most significant first) as an RFC 4514 string
    (least significant first, multi-valued RDNs joined with '+')."""
    rdns = []
    for rdn in reversed(subject):
        rdns.append("+".join(f"{_SHORT_NAMES.get(name, name)}={_escape(value)}"
                             for name, value in rdn))
    return ",".join(rdns)


def cipher_id(ssl_object: Any, name: str) -> int | None:
    found = _CIPHER_IDS.get(name)
    if found is None:
        for cipher in ssl_object.context.get_ciphers():
            _CIPHER_IDS.setdefault(cipher["name"], cipher["id"] & 0xFFFF)
        found = _CIPHER_IDS.get(name)
    return found


def tls_extension(ssl_object: Any) -> dict[str, Any]:
    """The ``scope["extensions"]["tls"]`` dict of a connection, once its handshake is done."""
    chain: list[str] = []
    name: str | None = None
    verified_chain = getattr(ssl_object, "get_verified_chain", None)  # Python >= 3.13
    peer = ssl_object.getpeercert(binary_form=True)
    if peer is not None:
        if verified_chain is not None:  # DER bytes, the client's certificate first
            chain = [ssl.DER_cert_to_PEM_cert(der) for der in verified_chain() or ()]
        if not chain:
            chain = [ssl.DER_cert_to_PEM_cert(peer)]
        decoded = ssl_object.getpeercert()
        if decoded:
            name = rfc4514_name(decoded.get("subject", ()))
    cipher = ssl_object.cipher()
    return {
        "server_cert": getattr(ssl_object.context, SERVER_CERT_ATTR, None),
        "client_cert_chain": chain,
        "client_cert_name": name,
        # A certificate that failed verification fails the handshake: never set here.
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None if cipher is None else cipher_id(ssl_object, cipher[0]),
    }
